/* A load balancer over fixed hosts, with passive health and stats. */
#include <homing/homing.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  homing_stats_t *stats = homing_stats_new();
  const char *hosts[] = {"127.0.1.81:8080", "127.0.1.82:8080", "[::1]:8080"};
  const uint32_t weights[] = {1, 1, 2};
  homing_lb_t *lb = NULL;
  char *err = NULL;
  if (homing_lb_new("backends", HOMING_LB_RING_HASH, hosts, weights, 3, stats,
                    &lb, &err) != HOMING_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }

  /* The same key always lands on the same host; report every pick. */
  size_t first = 0, again = 0;
  const char *address = NULL;
  homing_lb_pick(lb, "client-42", HOMING_NUL_TERMINATED, &first, &address);
  homing_lb_report(lb, first, HOMING_OUTCOME_SUCCESS);
  homing_lb_pick(lb, "client-42", HOMING_NUL_TERMINATED, &again, NULL);
  homing_lb_report(lb, again, HOMING_OUTCOME_SUCCESS);
  printf("client-42 -> %s\n", address);
  if (again != first) return 1;

  /* Five 5xx answers in a row eject the host (Envoy's defaults); its keys go
   * elsewhere until it returns. */
  for (int i = 0; i < 5; ++i) {
    homing_lb_pick(lb, "client-42", HOMING_NUL_TERMINATED, &again, NULL);
    homing_lb_report(lb, again, HOMING_OUTCOME_SERVER_ERROR);
  }
  for (size_t i = 0; i < homing_lb_host_count(lb); ++i) {
    printf("%s healthy=%d\n", homing_lb_host(lb, i), homing_lb_host_healthy(lb, i));
  }
  homing_lb_pick(lb, "client-42", HOMING_NUL_TERMINATED, &again, NULL);
  homing_lb_report(lb, again, HOMING_OUTCOME_SUCCESS);
  if (homing_lb_host_healthy(lb, first) || again == first) return 1;

  /* The counters are Envoy's. */
  uint64_t total = 0, errors = 0;
  int64_t healthy = 0;
  homing_stats_counter(stats, "cluster.backends.upstream_rq_total", &total, NULL);
  homing_stats_counter(stats, "cluster.backends.upstream_rq_5xx", &errors, NULL);
  homing_stats_gauge(stats, "cluster.backends.membership_healthy", &healthy, NULL);
  printf("requests %" PRIu64 ", 5xx %" PRIu64 ", healthy hosts %" PRId64 "\n",
         total, errors, healthy);
  if (total != 8 || errors != 5 || healthy != 2) return 1;

  /* Three renderings of the same store. */
  const int formats[] = {HOMING_STATS_TEXT, HOMING_STATS_JSON,
                         HOMING_STATS_PROMETHEUS};
  for (int i = 0; i < 3; ++i) {
    char *text = NULL;
    size_t len = 0;
    if (homing_stats_render(stats, formats[i], "upstream_rq", &text, &len,
                            &err) != HOMING_OK) {
      return 1;
    }
    printf("%.*s\n", (int)len, text);
    homing_free(text);
  }
  homing_lb_free(lb);

  /* A STATIC cluster of a config, with its policy and outlier detection. */
  homing_config_t *config = NULL;
  if (homing_config_load_file(getenv("HOMING_EXAMPLE_CONFIG"), &config,
                              &err) != HOMING_OK ||
      homing_lb_new_from_config(config, "pool", stats, &lb, &err) != HOMING_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  homing_lb_pick(lb, NULL, 0, &first, &address); /* no key: round robin */
  homing_lb_report(lb, first, HOMING_OUTCOME_CONNECT_FAILURE);
  printf("pool picked %s\n", address);
  homing_lb_free(lb);
  homing_config_free(config);
  homing_stats_free(stats);
  return 0;
}
