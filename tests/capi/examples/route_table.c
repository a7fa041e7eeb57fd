/* Matching requests against a listener's routes, without a loop. */
#include <homing/homing.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void describe(const homing_route_t *route) {
  printf("route %s (virtual host %s) -> cluster %s, timeout %" PRId64 " ms\n",
         homing_route_name(route), homing_route_virtual_host(route),
         homing_route_cluster(route), homing_route_timeout_ms(route));
  if (homing_route_has_affinity(route)) {
    printf("  affinity: ask %s%s for the %s \"%s\"\n",
           homing_route_affinity_lookup_cluster(route),
           homing_route_affinity_lookup_path(route),
           homing_route_affinity_key_source(route) == HOMING_KEY_HEADER
               ? "header"
               : "query parameter",
           homing_route_affinity_key_name(route));
  }
}

int main(void) {
  homing_config_t *config = NULL;
  homing_route_table_t *table = NULL;
  char *err = NULL;
  if (homing_config_load_file(getenv("HOMING_EXAMPLE_CONFIG"), &config,
                              &err) != HOMING_OK ||
      homing_route_table_new(config, 0, &table, &err) != HOMING_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  homing_config_free(config); /* the table keeps what it needs */

  for (size_t i = 0; i < homing_route_table_route_count(table); ++i) {
    describe(homing_route_table_route(table, i));
  }

  /* One request object, reused for every request. */
  homing_request_t *request = homing_request_new();
  homing_request_set_method(request, "GET", HOMING_NUL_TERMINATED);
  homing_request_set_authority(request, "proxy.local:10000",
                               HOMING_NUL_TERMINATED);
  homing_request_set_path(request, "/join?client_id=a%20b", HOMING_NUL_TERMINATED);
  homing_request_add_header(request, "x-request-id", HOMING_NUL_TERMINATED,
                            "7f3a", 4);
  const homing_route_t *route = homing_route_table_match(table, request);
  if (route == NULL || strcmp(homing_route_name(route), "join") != 0) return 1;

  /* The affinity key, percent-decoded as the router reads it. */
  char *key = NULL;
  size_t key_len = 0;
  if (homing_route_affinity_key(route, request, &key, &key_len, &err) !=
      HOMING_OK) {
    return 1;
  }
  printf("key \"%.*s\"\n", (int)key_len, key);
  homing_free(key);

  /* The hash RING_HASH and MAGLEV balancers would use for /pool. */
  homing_request_reset(request);
  homing_request_set_method(request, "GET", 3);
  homing_request_set_path(request, "/pool?client_id=123", HOMING_NUL_TERMINATED);
  route = homing_route_table_match(table, request);
  uint64_t hash = 0;
  if (route == NULL || homing_route_hash(route, request, &hash) != HOMING_OK ||
      hash != homing_key_hash("123", 3)) {
    return 1;
  }
  printf("/pool hashes client 123 to %016" PRIx64 "\n", hash);

  /* No route: a 404 for the proxy. */
  homing_request_set_path(request, "/nowhere", HOMING_NUL_TERMINATED);
  if (homing_route_table_match(table, request) != NULL) return 1;

  homing_request_free(request);
  homing_route_table_free(table);
  return 0;
}
