/* The whole pipeline: a router over a config, on an engine. */
#include <homing/homing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void print_decision(const char *what, const homing_decision_t *d) {
  if (homing_decision_forward(d)) {
    size_t key_len = 0;
    const char *key = homing_decision_key(d, &key_len);
    /* A gateway connects to the sockaddr; the string is for logs. */
    size_t address_len = 0;
    const struct sockaddr *address = homing_decision_upstream_sockaddr(d, &address_len);
    printf("%s: route %s, cluster %s -> %s (%s, %u bytes; Host: %s, key \"%.*s\", "
           "source %d)\n",
           what, homing_decision_route_name(d), homing_decision_cluster(d),
           homing_decision_upstream(d), address->sa_family == AF_INET6 ? "IPv6" : "IPv4",
           (unsigned)address_len, homing_decision_authority(d), (int)key_len, key,
           homing_decision_lookup_source(d));
  } else {
    printf("%s: local reply %d %s: %s\n", what, homing_decision_status(d),
           homing_decision_error(d), homing_decision_detail(d));
  }
}

/* The asynchronous form: the callback keeps a copy of the decision. */
typedef struct slot {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  homing_decision_t *decision;
} slot;

static void on_decision(const homing_decision_t *decision, void *user_data) {
  slot *s = user_data;
  pthread_mutex_lock(&s->mu);
  s->decision = homing_decision_copy(decision);
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

/* On an engine, the ready callback runs on the engine thread. A host-driven
 * loop gets it from inside homing_loop_process_*(), and holds its traffic
 * until then. */
static void on_ready(homing_router_t *router, void *user_data) {
  (void)user_data;
  fprintf(stderr, "router ready: %d\n", homing_router_ready(router));
}

int main(void) {
  homing_config_t *config = NULL;
  homing_engine_t *engine = NULL;
  homing_router_t *router = NULL;
  homing_stats_t *stats = homing_stats_new();
  char *err = NULL;
  if (homing_config_load_file(getenv("HOMING_EXAMPLE_CONFIG"), &config,
                              &err) != HOMING_OK ||
      homing_engine_start(&engine, &err) != HOMING_OK ||
      homing_router_new(homing_engine_loop(engine), config, 0, stats, &router,
                        &err) != HOMING_OK ||
      homing_router_on_ready(router, on_ready, NULL, &err) != HOMING_OK ||
      homing_router_wait_ready(router, 5000, &err) != HOMING_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  homing_config_free(config);
  printf("ready: %d\n", homing_router_ready(router));

  /* The blocking form, for simple embedders. */
  homing_request_t *request = homing_request_new();
  homing_request_set_method(request, "GET", HOMING_NUL_TERMINATED);
  homing_request_set_authority(request, "proxy.local", HOMING_NUL_TERMINATED);
  homing_request_set_path(request, "/join?client_id=123", HOMING_NUL_TERMINATED);
  homing_decision_t *first = NULL;
  if (homing_router_route_sync(router, request, 5000, &first, &err) != HOMING_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  print_decision("first", first);
  if (!homing_decision_forward(first) ||
      homing_decision_lookup_source(first) != HOMING_SOURCE_RESOLVER) {
    return 1;
  }

  /* The asynchronous form: everything is cached now, so the callback runs
   * before homing_router_route() returns, and no pending handle is made. */
  slot s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL};
  homing_pending_t *pending = NULL;
  homing_router_route(router, request, on_decision, &s, &pending, &err);
  pthread_mutex_lock(&s.mu);
  while (s.decision == NULL) pthread_cond_wait(&s.cv, &s.mu);
  pthread_mutex_unlock(&s.mu);
  print_decision("second", s.decision);
  if (pending != NULL ||
      homing_decision_lookup_source(s.decision) != HOMING_SOURCE_CACHE) {
    return 1;
  }
  homing_decision_free(s.decision);

  /* The owner answered 421 Misdirected Request. homing-server names the
   * new owner in an x-homing-owner header: passed on, the next request goes
   * there without a lookup (if the allow-list agrees). Without one, the
   * resolver is asked again. */
  const char *named_owner = NULL; /* here: the 421 had no such header */
  if (named_owner != NULL) {
    homing_router_misdirected_to(router, first, named_owner, HOMING_NUL_TERMINATED,
                                 &err);
  } else {
    homing_router_misdirected(router, first, &err);
  }
  homing_decision_free(first);

  /* A load-balanced route: report how the request went. Its retry_policy
   * covers a 503: the router moves the decision to the other host. */
  homing_request_set_path(request, "/pool?client_id=123", HOMING_NUL_TERMINATED);
  homing_decision_t *pooled = NULL;
  homing_router_route_sync(router, request, 5000, &pooled, &err);
  print_decision("pool", pooled);
  int retry = 0;
  homing_router_retry(router, pooled, 503, HOMING_OUTCOME_SERVER_ERROR, &retry, &err);
  if (retry) print_decision("pool, retried", pooled);
  homing_router_report(router, pooled, HOMING_OUTCOME_SUCCESS, &err);
  homing_decision_free(pooled);

  /* A local reply is a decision too. */
  homing_request_set_path(request, "/join", HOMING_NUL_TERMINATED);
  homing_decision_t *reply = NULL;
  homing_router_route_sync(router, request, 5000, &reply, &err);
  print_decision("no key", reply);
  if (homing_decision_status(reply) != 400) return 1;
  homing_decision_free(reply);

  char *text = NULL;
  homing_stats_render(stats, HOMING_STATS_TEXT, "^http\\.ingress_http\\.", &text,
                      NULL, &err);
  printf("%s", text);
  homing_free(text);

  homing_request_free(request);
  homing_router_free(router);
  homing_stats_free(stats);
  return homing_engine_stop(engine) == HOMING_OK ? 0 : 1;
}
