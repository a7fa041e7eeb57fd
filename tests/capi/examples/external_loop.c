/* Driving homing from the host's own poll() loop, with a DNS cache on it. */
#define _POSIX_C_SOURCE 200809L
#include <homing/homing.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The host's loop: the descriptors homing asked for and one timer. */
typedef struct host_loop {
  struct pollfd fds[32];
  nfds_t count;
  int64_t timer_at_ms; /* -1: disarmed */
} host_loop;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* homing_watch_cb: add, change or drop a descriptor. */
static void on_watch(int fd, int events, void *user_data) {
  host_loop *host = user_data;
  nfds_t i = 0;
  while (i < host->count && host->fds[i].fd != fd) ++i;
  if (events == 0) {
    if (i < host->count) host->fds[i] = host->fds[--host->count];
    return;
  }
  if (i == host->count) host->fds[host->count++].fd = fd;
  host->fds[i].events = (short)(((events & HOMING_EV_READ) ? POLLIN : 0) |
                                ((events & HOMING_EV_WRITE) ? POLLOUT : 0));
}

/* homing_timer_cb: (re)arm or disarm the one timer. */
static void on_timer(int timeout_ms, void *user_data) {
  host_loop *host = user_data;
  host->timer_at_ms = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* One turn of the host's loop. Ready descriptors are copied first: homing
 * may change the watch list while it processes them. */
static void run_once(homing_loop_t *loop, host_loop *host) {
  int wait = 100;
  if (host->timer_at_ms >= 0) {
    int64_t left = host->timer_at_ms - now_ms();
    wait = left <= 0 ? 0 : left < wait ? (int)left : wait;
  }
  if (poll(host->fds, host->count, wait) > 0) {
    struct pollfd ready[32];
    nfds_t n = 0;
    for (nfds_t i = 0; i < host->count; ++i) {
      if (host->fds[i].revents != 0) ready[n++] = host->fds[i];
    }
    for (nfds_t i = 0; i < n; ++i) {
      int events = 0;
      if (ready[i].revents & (POLLIN | POLLHUP)) events |= HOMING_EV_READ;
      if (ready[i].revents & POLLOUT) events |= HOMING_EV_WRITE;
      if (ready[i].revents & (POLLERR | POLLNVAL)) events |= HOMING_EV_ERROR;
      homing_loop_process_fd(loop, ready[i].fd, events);
    }
  }
  if (host->timer_at_ms >= 0 && now_ms() >= host->timer_at_ms) {
    host->timer_at_ms = -1;
    homing_loop_process_timers(loop);
  }
}

/* What the DNS callback found. */
typedef struct answer {
  int done;
  char address[64];
  homing_status status;
} answer;

static void on_dns(const homing_dns_host_t *host, void *user_data) {
  answer *out = user_data;
  out->done = 1;
  out->status = homing_dns_host_status(host);
  if (homing_dns_host_address_count(host) > 0) {
    snprintf(out->address, sizeof(out->address), "%s",
             homing_dns_host_address(host, 0));
  }
}

int main(void) {
  host_loop host = {.count = 0, .timer_at_ms = -1};
  homing_loop_t *loop = NULL;
  char *err = NULL;
  if (homing_loop_new_external(on_watch, on_timer, &host, &loop, &err) !=
      HOMING_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }

  homing_dns_cache_options_t *options = homing_dns_cache_options_new();
  homing_dns_cache_options_set_name(options, "example");
  homing_dns_cache_options_set_lookup_family(options, HOMING_DNS_V4_ONLY);
  homing_dns_cache_options_add_resolver(options, getenv("HOMING_EXAMPLE_DNS"));
  homing_dns_cache_options_set_refresh_rate_ms(options, 60000);
  homing_dns_cache_options_set_min_refresh_rate_ms(options, 5000);
  homing_dns_cache_options_set_failure_refresh_rate_ms(options, 1000, 10000);
  homing_dns_cache_options_set_host_ttl_ms(options, 300000);
  homing_dns_cache_options_set_max_hosts(options, 64);
  homing_dns_cache_options_set_max_pending_requests(options, 64);
  homing_dns_cache_options_set_query_timeout_ms(options, 2000);
  homing_dns_cache_options_add_preresolve_hostname(
      options, "server-0.server-headless.poc-routing.svc.cluster.local:8081");
  homing_stats_t *stats = homing_stats_new();
  homing_dns_cache_t *cache = NULL;
  homing_status status = homing_dns_cache_new(loop, options, stats, &cache, &err);
  homing_dns_cache_options_free(options);
  if (status != HOMING_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }

  /* The first load goes to the DNS server: the answer comes from the loop. */
  const char *owner = "server-1.server-headless.poc-routing.svc.cluster.local:8081";
  answer first = {0, "", HOMING_OK};
  homing_pending_t *pending = NULL;
  homing_dns_cache_load(cache, owner, HOMING_NUL_TERMINATED, 80, on_dns, &first,
                        &pending, &err);
  for (int64_t deadline = now_ms() + 5000; !first.done && now_ms() < deadline;) {
    run_once(loop, &host);
  }
  if (!homing_pending_done(pending) || first.status != HOMING_OK) return 1;
  homing_pending_free(pending);
  printf("%s -> %s\n", owner, first.address);

  /* The second is answered from the cache, before the call returns. */
  answer second = {0, "", HOMING_OK};
  homing_dns_cache_load(cache, owner, HOMING_NUL_TERMINATED, 80, on_dns,
                        &second, &pending, &err);
  if (!second.done || pending != NULL) return 1;

  /* A snapshot of an entry, without loading it. */
  homing_dns_host_t *entry = NULL;
  if (homing_dns_cache_find(cache, owner, HOMING_NUL_TERMINATED, &entry) !=
      HOMING_OK) {
    return 1;
  }
  printf("%s port %u: %zu address(es), first %s, ttl %" PRId64 " ms, %s%s\n",
         homing_dns_host_name(entry), homing_dns_host_port(entry),
         homing_dns_host_address_count(entry), homing_dns_host_address(entry, 0),
         homing_dns_host_ttl_ms(entry),
         homing_strerror(homing_dns_host_status(entry)),
         homing_dns_host_error(entry));
  homing_dns_host_free(entry);

  /* Resolution failures arrive as an entry without addresses. */
  answer missing = {0, "", HOMING_OK};
  homing_dns_cache_load(cache, "server-9.server-headless.poc-routing.svc.cluster.local",
                        HOMING_NUL_TERMINATED, 8081, on_dns, &missing, NULL, &err);
  for (int64_t deadline = now_ms() + 5000; !missing.done && now_ms() < deadline;) {
    run_once(loop, &host);
  }
  printf("server-9: %s\n", homing_strerror(missing.status));
  if (missing.status != HOMING_ERR_NOT_FOUND) return 1;

  size_t count = 0;
  homing_dns_cache_host_count(cache, &count);
  /* The refresh timers are armed: the loop has a deadline. */
  printf("%zu hosts cached, next deadline in %d ms\n", count,
         homing_loop_timeout_ms(loop));
  if (count != 3 || homing_loop_timeout_ms(loop) < 0) return 1;

  homing_dns_cache_free(cache);
  homing_loop_free(loop); /* stops watching homing's descriptors */
  homing_stats_free(stats);
  return host.count == 0 ? 0 : 1;
}
