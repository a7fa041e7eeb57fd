/* The affinity lookup on an engine: homing runs its own loop thread. */
#include <homing/homing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Callbacks run on the engine thread: hand results over with a lock. */
typedef struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int ok;
  int source;
  int failure;
  char hostport[128];
  char error[256];
} waiter;

/* Runs on the engine thread while homing_pending_cancel() waits for it. */
static void on_lookup_cancelled(homing_status status, void *user_data) {
  *(int *)user_data = status == HOMING_ERR_CANCELLED;
}

static void on_owner(const homing_lookup_result_t *result, void *user_data) {
  waiter *w = user_data;
  pthread_mutex_lock(&w->mu);
  w->ok = homing_lookup_result_ok(result);
  w->source = homing_lookup_result_source(result);
  w->failure = homing_lookup_result_failure(result);
  snprintf(w->hostport, sizeof(w->hostport), "%s",
           homing_lookup_result_hostport(result));
  snprintf(w->error, sizeof(w->error), "%s: %s",
           homing_strerror(homing_lookup_result_status(result)),
           homing_lookup_result_error(result));
  w->done = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* Asks for the owner of `key` and waits for the answer. */
static void owner_of(homing_lookup_t *lookup, const char *key, waiter *w) {
  w->done = 0;
  homing_lookup_owner(lookup, key, HOMING_NUL_TERMINATED, on_owner, w, NULL,
                      NULL);
  pthread_mutex_lock(&w->mu);
  while (!w->done) pthread_cond_wait(&w->cv, &w->mu);
  pthread_mutex_unlock(&w->mu);
}

static void on_log(int level, const char *message, size_t len, void *user_data) {
  (void)user_data;
  printf("log[%d] %.*s\n", level, (int)len, message);
}

static homing_lookup_options_t *resolver_options(void) {
  homing_lookup_options_t *options = homing_lookup_options_new();
  homing_lookup_options_set_lookup_cluster(options, "resolver");
  homing_lookup_options_add_lookup_host(options, getenv("HOMING_EXAMPLE_RESOLVER"));
  homing_lookup_options_set_lookup_path(options, "/where");
  homing_lookup_options_set_key(options, HOMING_KEY_QUERY_PARAMETER, "client_id");
  homing_lookup_options_set_hostport_field(options, "hostport");
  homing_lookup_options_set_lookup_timeout_ms(options, 1000);
  homing_lookup_options_set_max_age_ms(options, 30000);
  homing_lookup_options_set_stale_age_ms(options, 60000);
  homing_lookup_options_set_max_entries(options, 10000);
  homing_lookup_options_set_max_key_length(options, 128);
  homing_lookup_options_set_max_pending_lookups(options, 256);
  homing_lookup_options_set_max_waiters_per_key(options, 256);
  return options;
}

int main(void) {
  homing_set_log_callback(on_log, NULL);
  homing_set_log_level(HOMING_LOG_DEBUG);

  homing_engine_t *engine = NULL;
  char *err = NULL;
  if (homing_engine_start(&engine, &err) != HOMING_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  homing_loop_t *loop = homing_engine_loop(engine);

  homing_lookup_options_t *options = resolver_options();
  homing_lookup_options_add_allowed_hostport(
      options, "*.server-headless.poc-routing.svc.cluster.local:8081");
  homing_lookup_options_set_default_target(options, "fallback.example:8081");
  homing_lookup_options_set_default_target(options, NULL); /* no fallback */
  homing_lookup_t *lookup = NULL;
  if (homing_lookup_new(loop, options, NULL, &lookup, &err) != HOMING_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  homing_lookup_options_free(options);

  waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, "", ""};
  owner_of(lookup, "123", &w);
  printf("123 -> %s (source %d)\n", w.hostport, w.source);
  if (!w.ok || w.source != HOMING_SOURCE_RESOLVER) return 1;

  /* Now cached: the callback runs before homing_lookup_owner() returns. */
  owner_of(lookup, "123", &w);
  if (w.source != HOMING_SOURCE_CACHE) return 1;

  /* A 421 from the owner: forget the answer. */
  size_t cached = 0;
  homing_lookup_invalidate(lookup, "123", 3);
  homing_lookup_size(lookup, &cached);
  printf("%zu key(s) cached after invalidation\n", cached);

  /* A lookup may be cancelled: no callback follows, but a cancel callback
   * registered for it runs, so the host has one cleanup path. */
  homing_pending_t *pending = NULL;
  waiter never = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, "", ""};
  homing_lookup_owner(lookup, "456", 3, on_owner, &never, &pending, &err);
  if (pending != NULL) {
    int cancelled = 0;
    homing_pending_on_cancel(pending, on_lookup_cancelled, &cancelled);
    homing_pending_cancel(pending);
    if (!homing_pending_done(pending) || !cancelled) return 1;
    homing_pending_free(pending);
  }
  homing_lookup_free(lookup);

  /* With an empty allow-list every answer is refused (and logged at debug). */
  options = resolver_options();
  if (homing_lookup_new(loop, options, NULL, &lookup, &err) != HOMING_OK) return 1;
  homing_lookup_options_free(options);
  owner_of(lookup, "789", &w);
  printf("789: failure %d, %s\n", w.failure, w.error);
  if (w.ok || w.failure != HOMING_LOOKUP_HOSTPORT_REJECTED) return 1;
  homing_lookup_free(lookup);

  homing_set_log_callback(NULL, NULL);
  return homing_engine_stop(engine) == HOMING_OK && never.done == 0 ? 0 : 1;
}
