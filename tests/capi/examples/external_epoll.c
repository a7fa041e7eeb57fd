/* An epoll host keeps its record of each descriptor in homing's slot. */
#define _POSIX_C_SOURCE 200809L
#include <homing/homing.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>

/* What the host keeps per descriptor; epoll hands it back when it is ready. */
typedef struct watched {
  int fd;
} watched;

typedef struct host_loop {
  int epoll_fd;
  int watched_count;
  int64_t timer_at_ms; /* -1: disarmed */
} host_loop;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* homing_watch2_cb: *fd_data is NULL the first time homing names a
 * descriptor, and whatever we stored there afterwards. Level-triggered: no
 * EPOLLET (homing does not read its descriptors until they would block). */
static void on_watch(int fd, int events, void **fd_data, void *user_data) {
  host_loop *host = user_data;
  watched *record = *fd_data;
  if (events == 0) {
    epoll_ctl(host->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    free(record);
    --host->watched_count;
    return;
  }
  struct epoll_event event = {.events = 0};
  if (events & HOMING_EV_READ) event.events |= EPOLLIN;
  if (events & HOMING_EV_WRITE) event.events |= EPOLLOUT;
  if (record == NULL) {
    record = malloc(sizeof(*record));
    record->fd = fd;
    *fd_data = record;
    ++host->watched_count;
    event.data.ptr = record;
    epoll_ctl(host->epoll_fd, EPOLL_CTL_ADD, fd, &event);
  } else {
    event.data.ptr = record;
    epoll_ctl(host->epoll_fd, EPOLL_CTL_MOD, fd, &event);
  }
}

static void on_timer(int timeout_ms, void *user_data) {
  host_loop *host = user_data;
  host->timer_at_ms = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

static void run_once(homing_loop_t *loop, host_loop *host) {
  int wait = 100;
  if (host->timer_at_ms >= 0) {
    int64_t left = host->timer_at_ms - now_ms();
    wait = left <= 0 ? 0 : left < wait ? (int)left : wait;
  }
  struct epoll_event ready[16];
  int n = epoll_wait(host->epoll_fd, ready, 16, wait);
  for (int i = 0; i < n; ++i) {
    const watched *record = ready[i].data.ptr;
    int events = 0;
    if (ready[i].events & (EPOLLIN | EPOLLHUP)) events |= HOMING_EV_READ;
    if (ready[i].events & EPOLLOUT) events |= HOMING_EV_WRITE;
    if (ready[i].events & EPOLLERR) events |= HOMING_EV_ERROR;
    homing_loop_process_fd(loop, record->fd, events);
  }
  if (host->timer_at_ms >= 0 && now_ms() >= host->timer_at_ms) {
    host->timer_at_ms = -1;
    homing_loop_process_timers(loop);
  }
}

static void on_dns(const homing_dns_host_t *host, void *user_data) {
  homing_status *status = user_data;
  *status = homing_dns_host_status(host);
  printf("%s -> %s\n", homing_dns_host_name(host),
         homing_dns_host_address_count(host) > 0 ? homing_dns_host_address(host, 0)
                                                 : "(none)");
}

int main(void) {
  host_loop host = {.epoll_fd = epoll_create1(EPOLL_CLOEXEC), .timer_at_ms = -1};
  homing_loop_t *loop = NULL;
  char *err = NULL;
  if (host.epoll_fd < 0 ||
      homing_loop_new_external2(on_watch, on_timer, &host, &loop, &err) != HOMING_OK) {
    fprintf(stderr, "%s\n", err ? err : "epoll_create1 failed");
    return 1;
  }
  homing_dns_cache_options_t *options = homing_dns_cache_options_new();
  homing_dns_cache_options_set_name(options, "epoll");
  homing_dns_cache_options_set_lookup_family(options, HOMING_DNS_V4_ONLY);
  homing_dns_cache_options_add_resolver(options, getenv("HOMING_EXAMPLE_DNS"));
  homing_stats_t *stats = homing_stats_new();
  homing_dns_cache_t *cache = NULL;
  homing_status status = homing_dns_cache_new(loop, options, stats, &cache, &err);
  homing_dns_cache_options_free(options);
  if (status != HOMING_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }

  homing_status answer = HOMING_ERR_TIMEOUT;
  homing_pending_t *pending = NULL;
  homing_dns_cache_load(cache, "server-0.server-headless.poc-routing.svc.cluster.local",
                        HOMING_NUL_TERMINATED, 8081, on_dns, &answer, &pending, &err);
  for (int64_t deadline = now_ms() + 5000;
       !homing_pending_done(pending) && now_ms() < deadline;) {
    run_once(loop, &host);
  }
  homing_pending_free(pending);
  printf("watching %d descriptors\n", host.watched_count);

  homing_dns_cache_free(cache);
  homing_loop_free(loop); /* every watch ends, and our record with it */
  homing_stats_free(stats);
  printf("after homing_loop_free: %d\n", host.watched_count);
  return answer == HOMING_OK && host.watched_count == 0 ? 0 : 1;
}
