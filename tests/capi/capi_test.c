/* File: tests/capi/capi_test.c
 *
 * The C ABI from C: every function of homing.h and its error paths, on real
 * parts (the shared config, dnsmasq and resolver_server.py started by
 * fixtures.c). Each test_* function is one case; the program prints one line
 * per case and fails when any CHECK did.
 */

#define _GNU_SOURCE

#include <homing/homing.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fixtures.h"

/* ------------------------------------------------------------------------ */
/* A small harness                                                          */
/* ------------------------------------------------------------------------ */

static int checks;
static int failures;

#define CHECK(cond)                                                       \
  do {                                                                    \
    ++checks;                                                             \
    if (!(cond)) {                                                        \
      ++failures;                                                         \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__,   \
              #cond);                                                     \
    }                                                                     \
  } while (0)

#define CHECK_STATUS(expr, expected)                                        \
  do {                                                                      \
    int actual_ = (int)(expr);                                              \
    ++checks;                                                               \
    if (actual_ != (int)(expected)) {                                       \
      ++failures;                                                           \
      fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s\n", __FILE__, \
              __LINE__, #expr, actual_, homing_strerror(actual_), #expected); \
    }                                                                       \
  } while (0)

#define CHECK_STR(actual, expected)                                           \
  do {                                                                        \
    const char *a_ = (actual);                                                \
    const char *e_ = (expected);                                              \
    ++checks;                                                                 \
    if (a_ == NULL || strcmp(a_, e_) != 0) {                                  \
      ++failures;                                                             \
      fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__,     \
              __LINE__, #actual, a_ ? a_ : "(null)", e_);                     \
    }                                                                         \
  } while (0)

#define CHECK_CONTAINS(actual, needle)                                        \
  do {                                                                        \
    const char *a_ = (actual);                                                \
    ++checks;                                                                 \
    if (a_ == NULL || strstr(a_, (needle)) == NULL) {                         \
      ++failures;                                                             \
      fprintf(stderr, "%s:%d: %s is \"%s\", expected to contain \"%s\"\n",    \
              __FILE__, __LINE__, #actual, a_ ? a_ : "(null)", (needle));     \
    }                                                                         \
  } while (0)

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The running fixtures and the shared config with their ports. */
static fixture_dns dns;
static fixture_resolver resolver;
static char *config_text;
static char dns_address[32];

static homing_config_t *shared_config(void) {
  homing_config_t *config = NULL;
  char *err = NULL;
  CHECK_STATUS(homing_config_parse(config_text, HOMING_NUL_TERMINATED,
                                   "router.yaml", &config, &err),
               HOMING_OK);
  if (err != NULL) fprintf(stderr, "%s\n", err);
  homing_free(err);
  return config;
}

static homing_request_t *request_for(const char *path) {
  homing_request_t *request = homing_request_new();
  homing_request_set_method(request, "GET", HOMING_NUL_TERMINATED);
  homing_request_set_authority(request, "proxy.local", HOMING_NUL_TERMINATED);
  homing_request_set_path(request, path, HOMING_NUL_TERMINATED);
  return request;
}

static void control(const char *json) {
  CHECK(fixture_resolver_control(&resolver, json) == 0);
}

/* ------------------------------------------------------------------------ */
/* Version, status codes, memory, logging                                   */
/* ------------------------------------------------------------------------ */

static void test_version(void) {
  CHECK_STR(homing_version(), HOMING_VERSION_STRING);
  CHECK(homing_version_num() == HOMING_VERSION_NUM);
  CHECK(HOMING_VERSION_NUM == ((HOMING_VERSION_MAJOR << 16) |
                               (HOMING_VERSION_MINOR << 8) |
                               HOMING_VERSION_PATCH));
  CHECK(HOMING_AT_LEAST_VERSION(0, 1, 0));
  CHECK(!HOMING_AT_LEAST_VERSION(HOMING_VERSION_MAJOR + 1, 0, 0));
}

static void test_strerror(void) {
  int code, other;
  CHECK_STR(homing_strerror(HOMING_OK), "ok");
  CHECK_STR(homing_strerror(HOMING_ERR_TIMEOUT), "timed out");
  for (code = HOMING_OK; code <= HOMING_ERR_INTERNAL; ++code) {
    CHECK(strcmp(homing_strerror(code), "unknown status") != 0);
    for (other = code + 1; other <= HOMING_ERR_INTERNAL; ++other) {
      CHECK(strcmp(homing_strerror(code), homing_strerror(other)) != 0);
    }
  }
  CHECK_STR(homing_strerror(HOMING_ERR_INTERNAL + 1), "unknown status");
  CHECK_STR(homing_strerror(-1), "unknown status");
  homing_free(NULL);
}

/* Log lines, collected by a callback (any thread). */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[8192];
static int log_levels_seen;

static void collect_log(int level, const char *message, size_t len,
                        void *user_data) {
  pthread_mutex_lock(&log_mu);
  CHECK(user_data == &log_text);
  CHECK(strlen(message) == len);
  log_levels_seen |= 1 << level;
  strncat(log_text, message, sizeof(log_text) - strlen(log_text) - 2);
  strcat(log_text, "\n");
  pthread_mutex_unlock(&log_mu);
}

static void start_collecting_logs(void) {
  pthread_mutex_lock(&log_mu);
  log_text[0] = '\0';
  log_levels_seen = 0;
  pthread_mutex_unlock(&log_mu);
  homing_set_log_callback(collect_log, &log_text);
}

static void test_log_settings(void) {
  const int saved = homing_log_level();
  CHECK_STATUS(homing_set_log_level(-1), HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_set_log_level(HOMING_LOG_OFF + 1),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK(homing_log_level() == saved);
  CHECK_STATUS(homing_set_log_level(HOMING_LOG_TRACE), HOMING_OK);
  CHECK(homing_log_level() == HOMING_LOG_TRACE);
  CHECK_STATUS(homing_set_log_level(HOMING_LOG_OFF), HOMING_OK);
  CHECK(homing_log_level() == HOMING_LOG_OFF);
  CHECK_STATUS(homing_set_log_level(saved), HOMING_OK);
  /* The callback itself is exercised where homing logs (test_loop_threads). */
  homing_set_log_callback(NULL, NULL);
}

/* ------------------------------------------------------------------------ */
/* Stats                                                                    */
/* ------------------------------------------------------------------------ */

static void test_stats(void) {
  homing_stats_t *stats = homing_stats_new();
  homing_lb_t *lb = NULL;
  const char *hosts[] = {"127.0.1.81:8080"};
  char *text = NULL, *err = NULL;
  size_t len = 0;
  uint64_t counter = 0;
  int64_t gauge = 0;
  size_t index;

  CHECK(stats != NULL);
  CHECK_STATUS(homing_stats_render(stats, HOMING_STATS_JSON, NULL, &text, &len,
                                   &err),
               HOMING_OK);
  CHECK_STR(text, "{\"stats\":[]}");
  CHECK(len == strlen(text));
  homing_free(text);

  /* Objects created with the store count in it. */
  CHECK_STATUS(homing_lb_new("s", HOMING_LB_ROUND_ROBIN, hosts, NULL, 1, stats,
                             &lb, &err),
               HOMING_OK);
  homing_lb_pick(lb, NULL, 0, &index, NULL);
  homing_lb_report(lb, index, HOMING_OUTCOME_SERVER_ERROR);
  CHECK_STATUS(homing_stats_counter(stats, "cluster.s.upstream_rq_5xx",
                                    &counter, &err),
               HOMING_OK);
  CHECK(counter == 1);
  CHECK_STATUS(homing_stats_gauge(stats, "cluster.s.membership_total", &gauge,
                                  &err),
               HOMING_OK);
  CHECK(gauge == 1);

  CHECK_STATUS(homing_stats_render(stats, HOMING_STATS_TEXT, "upstream_rq_5xx",
                                   &text, NULL, &err),
               HOMING_OK);
  CHECK_STR(text, "cluster.s.upstream_rq_5xx: 1\n");
  homing_free(text);
  CHECK_STATUS(homing_stats_render(stats, HOMING_STATS_PROMETHEUS,
                                   "membership_total", &text, NULL, &err),
               HOMING_OK);
  CHECK_CONTAINS(text, "# TYPE homing_cluster_s_membership_total gauge");
  CHECK_CONTAINS(text, "homing_cluster_s_membership_total 1");
  homing_free(text);
  CHECK_STATUS(homing_stats_render(stats, HOMING_STATS_JSON, "upstream_rq_5xx",
                                   &text, NULL, &err),
               HOMING_OK);
  CHECK_STR(text, "{\"stats\":[{\"name\":\"cluster.s.upstream_rq_5xx\",\"value\":1}]}");
  homing_free(text);

  /* Errors, with messages. */
  CHECK_STATUS(homing_stats_render(stats, 7, NULL, &text, NULL, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "unknown stats format 7");
  CHECK_STATUS(homing_stats_render(stats, HOMING_STATS_TEXT, "(", &text, NULL,
                                   &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "invalid stats filter regex \"(\"");
  CHECK_STATUS(homing_stats_render(NULL, HOMING_STATS_TEXT, NULL, &text, NULL,
                                   &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_stats_render(stats, HOMING_STATS_TEXT, NULL, NULL, NULL,
                                   &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_stats_counter(stats, "cluster.s.nope", &counter, &err),
               HOMING_ERR_NOT_FOUND);
  CHECK_STR(err, "no stat named \"cluster.s.nope\"");
  CHECK_STATUS(homing_stats_counter(stats, "cluster.s.membership_total",
                                    &counter, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "stat \"cluster.s.membership_total\" is not a counter");
  CHECK_STATUS(homing_stats_gauge(stats, "cluster.s.upstream_rq_5xx", &gauge,
                                  &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "stat \"cluster.s.upstream_rq_5xx\" is not a gauge");
  /* A name full of regex syntax is taken literally. */
  CHECK_STATUS(homing_stats_counter(stats, "cluster.s.upstream_rq_.*",
                                    &counter, &err),
               HOMING_ERR_NOT_FOUND);
  CHECK_STATUS(homing_stats_counter(NULL, "x", &counter, NULL),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_stats_gauge(stats, NULL, &gauge, NULL),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_stats_counter(stats, "x", NULL, NULL),
               HOMING_ERR_INVALID_ARGUMENT);
  homing_free(err);

  /* The balancer keeps the store alive after the caller lets go. */
  homing_stats_free(stats);
  homing_lb_pick(lb, NULL, 0, &index, NULL);
  CHECK_STATUS(homing_lb_report(lb, index, HOMING_OUTCOME_SUCCESS), HOMING_OK);
  homing_lb_free(lb);
  homing_stats_free(NULL);
}

/* ------------------------------------------------------------------------ */
/* Config                                                                   */
/* ------------------------------------------------------------------------ */

static void test_config(void) {
  homing_config_t *config = shared_config();
  homing_config_t *untouched = NULL;
  char *err = NULL;
  char path[] = "/tmp/homing-capi-config-XXXXXX";
  FILE *file;
  int fd;

  CHECK(homing_config_listener_count(config) == 1);
  CHECK_STR(homing_config_listener_name(config, 0), "listener_0");
  CHECK(homing_config_listener_name(config, 1) == NULL);
  CHECK(homing_config_cluster_count(config) == 3);
  CHECK_STR(homing_config_cluster_name(config, 0), "resolver");
  CHECK_STR(homing_config_cluster_name(config, 1), "pool");
  CHECK_STR(homing_config_cluster_name(config, 2),
            "dynamic_forward_proxy_cluster");
  CHECK(homing_config_cluster_name(config, 3) == NULL);
  CHECK(homing_config_listener_count(NULL) == 0);
  CHECK(homing_config_cluster_count(NULL) == 0);
  CHECK(homing_config_listener_name(NULL, 0) == NULL);
  CHECK(homing_config_cluster_name(NULL, 0) == NULL);
  homing_config_free(config);
  homing_config_free(NULL);

  /* A YAML syntax error: source name, line and column. */
  CHECK_STATUS(homing_config_parse("a: [1, 2\nb: c\n", HOMING_NUL_TERMINATED,
                                   "broken.yaml", &untouched, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "broken.yaml:");
  CHECK(untouched == NULL);
  /* Without a source name the text is "config". */
  CHECK_STATUS(homing_config_parse("a: [1, 2\nb: c\n", 14, NULL, &untouched,
                                   &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "config:");
  /* A configuration error: path and line. */
  CHECK_STATUS(homing_config_parse(
                   "static_resources:\n  clusters:\n  - name: a\n"
                   "    lb_policy: FOO\n",
                   HOMING_NUL_TERMINATED, "x.yaml", &untouched, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "static_resources.clusters[0].lb_policy (line 4): unknown value \"FOO\"");
  /* A length shorter than the text parses only that much. */
  CHECK_STATUS(homing_config_parse("{}garbage", 2, NULL, &config, &err),
               HOMING_OK);
  homing_config_free(config);

  CHECK_STATUS(homing_config_parse(NULL, 4, NULL, &untouched, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "homing_config_parse: text and out are required");
  CHECK_STATUS(homing_config_parse("{}", 2, NULL, NULL, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  /* errmsg may be NULL. */
  CHECK_STATUS(homing_config_parse("a: [", 4, NULL, &untouched, NULL),
               HOMING_ERR_INVALID_ARGUMENT);

  /* Files. */
  CHECK_STATUS(homing_config_load_file("/nonexistent/homing.yaml", &untouched,
                                       &err),
               HOMING_ERR_NOT_FOUND);
  CHECK_CONTAINS(err, "/nonexistent/homing.yaml");
  CHECK_STATUS(homing_config_load_file(NULL, &untouched, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  fd = mkstemp(path);
  CHECK(fd >= 0);
  file = fdopen(fd, "w");
  fputs(config_text, file);
  fclose(file);
  CHECK_STATUS(homing_config_load_file(path, &config, &err), HOMING_OK);
  CHECK(homing_config_cluster_count(config) == 3);
  homing_config_free(config);
  unlink(path);
  homing_free(err);
}

/* ------------------------------------------------------------------------ */
/* Requests and route tables                                                */
/* ------------------------------------------------------------------------ */

/* A second config: a header-keyed affinity route behind a header matcher. */
static const char header_config[] =
    "static_resources:\n"
    "  listeners:\n"
    "  - name: api\n"
    "    address: {socket_address: {address: 127.0.0.1, port_value: 10001}}\n"
    "    filter_chains:\n"
    "    - filters:\n"
    "      - name: envoy.filters.network.http_connection_manager\n"
    "        typed_config:\n"
    "          \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n"
    "          stat_prefix: api\n"
    "          route_config:\n"
    "            virtual_hosts:\n"
    "            - name: api\n"
    "              domains: [\"api.local\"]\n"
    "              routes:\n"
    "              - name: tenant\n"
    "                match:\n"
    "                  prefix: /\n"
    "                  headers: [{name: x-tenant, string_match: {exact: blue}}]\n"
    "                route: {cluster: dfp, timeout: 0s}\n"
    "                typed_per_filter_config:\n"
    "                  homing.filters.http.affinity:\n"
    "                    lookup_cluster: lookup\n"
    "                    lookup_path: /owner\n"
    "                    key: {header: x-client-id}\n"
    "                    max_key_length: 8\n"
    "                    allowed_hostports: [\"*.local:80\"]\n"
    "              - match: {prefix: /}\n"
    "                route: {cluster: lookup}\n"
    "          http_filters:\n"
    "          - name: homing.filters.http.affinity\n"
    "          - name: envoy.filters.http.dynamic_forward_proxy\n"
    "            typed_config:\n"
    "              \"@type\": type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig\n"
    "              dns_cache_config: {name: c}\n"
    "          - name: envoy.filters.http.router\n"
    "  clusters:\n"
    "  - name: lookup\n"
    "    load_assignment:\n"
    "      cluster_name: lookup\n"
    "      endpoints:\n"
    "      - lb_endpoints:\n"
    "        - endpoint: {address: {socket_address: {address: 127.0.1.90, port_value: 80}}}\n"
    "  - name: dfp\n"
    "    lb_policy: CLUSTER_PROVIDED\n"
    "    cluster_type:\n"
    "      name: envoy.clusters.dynamic_forward_proxy\n"
    "      typed_config:\n"
    "        \"@type\": type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig\n"
    "        dns_cache_config: {name: c}\n";

static void test_request_setters(void) {
  homing_request_t *request = homing_request_new();
  CHECK(request != NULL);
  CHECK_STATUS(homing_request_set_method(NULL, "GET", 3),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_request_set_authority(request, NULL, 5),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_request_set_path(request, NULL, 0), HOMING_OK);
  CHECK_STATUS(homing_request_set_path(request, NULL, HOMING_NUL_TERMINATED),
               HOMING_OK);
  CHECK_STATUS(homing_request_add_header(request, "", 0, "v", 1),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_request_add_header(request, "x", 1, NULL, 3),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_request_add_header(NULL, "x", 1, "v", 1),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_request_add_header(request, "x", 1, NULL, 0), HOMING_OK);
  homing_request_reset(request);
  homing_request_reset(NULL);
  homing_request_free(request);
  homing_request_free(NULL);
}

static void test_route_table(void) {
  homing_config_t *config = shared_config();
  homing_route_table_t *table = NULL;
  homing_request_t *request;
  const homing_route_t *route;
  char *err = NULL, *key = NULL;
  size_t key_len = 0;
  uint64_t hash = 0;
  char long_path[400];

  CHECK_STATUS(homing_route_table_new(config, 1, &table, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "listener index 1 is out of range (the config has 1 listeners)");
  CHECK_STATUS(homing_route_table_new(NULL, 0, &table, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_route_table_new(config, 0, NULL, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_route_table_new(config, 0, &table, &err), HOMING_OK);
  homing_config_free(config); /* the table does not need it */

  CHECK(homing_route_table_route_count(table) == 3);
  CHECK_STR(homing_route_name(homing_route_table_route(table, 0)), "join");
  CHECK_STR(homing_route_name(homing_route_table_route(table, 2)), "where");
  CHECK(homing_route_table_route(table, 3) == NULL);
  CHECK(homing_route_table_route_count(NULL) == 0);
  CHECK(homing_route_table_route(NULL, 0) == NULL);

  request = request_for("/join?client_id=a%20b&x=1");
  route = homing_route_table_match(table, request);
  CHECK(route == homing_route_table_route(table, 0));
  CHECK_STR(homing_route_virtual_host(route), "local");
  CHECK_STR(homing_route_cluster(route), "dynamic_forward_proxy_cluster");
  CHECK(homing_route_timeout_ms(route) == 15000);
  CHECK(homing_route_has_affinity(route) == 1);
  CHECK_STR(homing_route_affinity_lookup_cluster(route), "resolver");
  CHECK_STR(homing_route_affinity_lookup_path(route), "/where");
  CHECK(homing_route_affinity_key_source(route) == HOMING_KEY_QUERY_PARAMETER);
  CHECK_STR(homing_route_affinity_key_name(route), "client_id");
  CHECK_STATUS(homing_route_affinity_key(route, request, &key, &key_len, &err),
               HOMING_OK);
  CHECK(key_len == 3 && memcmp(key, "a b", 4) == 0);
  homing_free(key);
  /* Keys are bytes: a decoded NUL stays in. */
  homing_request_set_path(request, "/join?client_id=a%00b", HOMING_NUL_TERMINATED);
  CHECK_STATUS(homing_route_affinity_key(route, request, &key, NULL, &err),
               HOMING_OK);
  CHECK(memcmp(key, "a\0b", 4) == 0);
  homing_free(key);
  /* The router's three key errors. */
  homing_request_set_path(request, "/join", HOMING_NUL_TERMINATED);
  CHECK_STATUS(homing_route_affinity_key(route, request, &key, &key_len, &err),
               HOMING_ERR_NOT_FOUND);
  CHECK_STR(err, "query parameter \"client_id\" is required");
  homing_request_set_path(request, "/join?client_id=", HOMING_NUL_TERMINATED);
  CHECK_STATUS(homing_route_affinity_key(route, request, &key, &key_len, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "query parameter \"client_id\" is empty");
  strcpy(long_path, "/join?client_id=");
  memset(long_path + strlen(long_path), 'k', 300);
  long_path[16 + 300] = '\0';
  homing_request_set_path(request, long_path, HOMING_NUL_TERMINATED);
  CHECK_STATUS(homing_route_affinity_key(route, request, &key, &key_len, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "query parameter \"client_id\" is longer than 256 bytes");
  CHECK_STATUS(homing_route_affinity_key(NULL, request, &key, &key_len, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_route_affinity_key(route, request, NULL, &key_len, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  /* The join route has no hash policy. */
  CHECK_STATUS(homing_route_hash(route, request, &hash), HOMING_ERR_NOT_FOUND);

  /* /pool: a balanced route with a hash policy on client_id. */
  homing_request_reset(request);
  homing_request_set_path(request, "/pool?client_id=123", HOMING_NUL_TERMINATED);
  route = homing_route_table_match(table, request);
  CHECK_STR(homing_route_name(route), "pool");
  CHECK(homing_route_timeout_ms(route) == 2000);
  CHECK(homing_route_has_affinity(route) == 0);
  CHECK(homing_route_affinity_lookup_cluster(route) == NULL);
  CHECK(homing_route_affinity_lookup_path(route) == NULL);
  CHECK(homing_route_affinity_key_name(route) == NULL);
  CHECK(homing_route_affinity_key_source(route) == HOMING_KEY_NONE);
  CHECK_STATUS(homing_route_hash(route, request, &hash), HOMING_OK);
  CHECK(hash == homing_key_hash("123", 3));
  CHECK_STATUS(homing_route_affinity_key(route, request, &key, &key_len, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "route \"pool\" has no affinity policy");
  homing_request_set_path(request, "/pool", HOMING_NUL_TERMINATED);
  CHECK_STATUS(homing_route_hash(route, request, &hash), HOMING_ERR_NOT_FOUND);
  CHECK_STATUS(homing_route_hash(route, NULL, &hash), HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_route_hash(route, request, NULL),
               HOMING_ERR_INVALID_ARGUMENT);

  homing_request_set_path(request, "/nowhere", HOMING_NUL_TERMINATED);
  CHECK(homing_route_table_match(table, request) == NULL);
  CHECK(homing_route_table_match(NULL, request) == NULL);
  CHECK(homing_route_table_match(table, NULL) == NULL);

  /* NULL routes. */
  CHECK(homing_route_name(NULL) == NULL);
  CHECK(homing_route_virtual_host(NULL) == NULL);
  CHECK(homing_route_cluster(NULL) == NULL);
  CHECK(homing_route_timeout_ms(NULL) == 0);
  CHECK(homing_route_has_affinity(NULL) == 0);
  CHECK(homing_route_affinity_key_source(NULL) == HOMING_KEY_NONE);

  homing_request_free(request);
  homing_route_table_free(table);
  homing_route_table_free(NULL);
  homing_free(err);
}

static void test_header_routes(void) {
  homing_config_t *config = NULL;
  homing_route_table_t *table = NULL;
  homing_request_t *request = homing_request_new();
  const homing_route_t *route;
  char *err = NULL, *key = NULL;
  size_t key_len = 0;
  int round;

  CHECK_STATUS(homing_config_parse(header_config, sizeof(header_config) - 1,
                                   "header.yaml", &config, &err),
               HOMING_OK);
  if (err != NULL) fprintf(stderr, "%s\n", err);
  CHECK_STATUS(homing_route_table_new(config, 0, &table, &err), HOMING_OK);
  /* The same request object serves every round; the header list shrinks
   * and grows again. */
  for (round = 0; round < 3; ++round) {
    homing_request_reset(request);
    homing_request_set_method(request, "GET", 3);
    homing_request_set_authority(request, "API.local", HOMING_NUL_TERMINATED);
    homing_request_set_path(request, "/x", 2);
    homing_request_add_header(request, "X-Client-Id", HOMING_NUL_TERMINATED,
                              "c-7", 3);
    route = homing_route_table_match(table, request);
    CHECK_STR(homing_route_name(route), "api/1"); /* no x-tenant yet */
    homing_request_add_header(request, "x-tenant", HOMING_NUL_TERMINATED,
                              "blue", HOMING_NUL_TERMINATED);
    route = homing_route_table_match(table, request);
    CHECK_STR(homing_route_name(route), "tenant");
    CHECK(homing_route_timeout_ms(route) == 0);
    CHECK(homing_route_affinity_key_source(route) == HOMING_KEY_HEADER);
    CHECK_STR(homing_route_affinity_key_name(route), "x-client-id");
    CHECK_STR(homing_route_affinity_lookup_path(route), "/owner");
    CHECK_STATUS(homing_route_affinity_key(route, request, &key, &key_len, &err),
                 HOMING_OK);
    CHECK(key_len == 3 && strcmp(key, "c-7") == 0);
    homing_free(key);
  }
  /* A header key too long for max_key_length 8. */
  homing_request_reset(request);
  homing_request_set_path(request, "/x", 2);
  homing_request_add_header(request, "x-tenant", 8, "blue", 4);
  homing_request_add_header(request, "x-client-id", 11, "123456789", 9);
  homing_request_set_authority(request, "api.local", 9);
  route = homing_route_table_match(table, request);
  CHECK_STATUS(homing_route_affinity_key(route, request, &key, &key_len, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "header \"x-client-id\" is longer than 8 bytes");
  /* Another host: no virtual host, no route. */
  homing_request_set_authority(request, "other.local", HOMING_NUL_TERMINATED);
  CHECK(homing_route_table_match(table, request) == NULL);

  homing_request_free(request);
  homing_route_table_free(table);
  homing_config_free(config);
  homing_free(err);
}

/* ------------------------------------------------------------------------ */
/* Placement                                                                */
/* ------------------------------------------------------------------------ */

static void test_placement_names(void) {
  const char *names[] = {"jump", "rendezvous", "maglev", "modulo"};
  int strategy, i;
  for (i = 0; i < 4; ++i) {
    CHECK_STATUS(homing_placement_strategy_from_name(names[i], &strategy),
                 HOMING_OK);
    CHECK(strategy == i);
    CHECK_STR(homing_placement_strategy_name(i), names[i]);
  }
  CHECK(HOMING_PLACEMENT_JUMP == 0 && HOMING_PLACEMENT_MODULO == 3);
  CHECK(homing_placement_strategy_name(4) == NULL);
  CHECK(homing_placement_strategy_name(-1) == NULL);
  CHECK_STATUS(homing_placement_strategy_from_name("JUMP", &strategy),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_placement_strategy_from_name(NULL, &strategy),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_placement_strategy_from_name("jump", NULL),
               HOMING_ERR_INVALID_ARGUMENT);
  /* XXH64 of the empty string, seed 0 (the xxHash spec's vector). */
  CHECK(homing_key_hash("", 0) == UINT64_C(0xEF46DB3751D8E999));
  CHECK(homing_key_hash(NULL, 0) == UINT64_C(0xEF46DB3751D8E999));
  CHECK(homing_key_hash("abc", HOMING_NUL_TERMINATED) == homing_key_hash("abcd", 3));
}

static void test_placement(void) {
  const char *three[] = {"s-0", "s-1", "s-2"};
  const char *four[] = {"s-0", "s-1", "s-2", "s-3"};
  const char *without_middle[] = {"s-0", "s-2"};
  const char *with_null[] = {"s-0", NULL};
  const char *dup[] = {"s-0", "s-0"};
  const char *empty_name[] = {""};
  homing_placement_t *placement = NULL;
  char *err = NULL, key[32];
  size_t before[200], after, index;
  const char *member = NULL;
  int strategy, i, moved;

  CHECK_STATUS(homing_placement_new(9, three, 3, &placement, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "unknown placement strategy 9");
  CHECK_STATUS(homing_placement_new(HOMING_PLACEMENT_JUMP, three, 0, &placement,
                                    &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "empty");
  CHECK_STATUS(homing_placement_new(HOMING_PLACEMENT_JUMP, with_null, 2,
                                    &placement, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "members[1] is NULL");
  CHECK_STATUS(homing_placement_new(HOMING_PLACEMENT_JUMP, NULL, 2, &placement,
                                    &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "members is NULL");
  CHECK_STATUS(homing_placement_new(HOMING_PLACEMENT_RENDEZVOUS, dup, 2,
                                    &placement, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "s-0");
  CHECK_STATUS(homing_placement_new(HOMING_PLACEMENT_MAGLEV, empty_name, 1,
                                    &placement, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_placement_new(HOMING_PLACEMENT_JUMP, three, 3, NULL, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK(placement == NULL);

  for (strategy = HOMING_PLACEMENT_JUMP; strategy <= HOMING_PLACEMENT_MODULO;
       ++strategy) {
    CHECK_STATUS(homing_placement_new(strategy, three, 3, &placement, &err),
                 HOMING_OK);
    CHECK(homing_placement_strategy(placement) == strategy);
    CHECK(homing_placement_member_count(placement) == 3);
    CHECK_STR(homing_placement_member(placement, 2), "s-2");
    CHECK(homing_placement_member(placement, 3) == NULL);
    for (i = 0; i < 200; ++i) {
      snprintf(key, sizeof(key), "client-%d", i);
      CHECK_STATUS(homing_placement_owner(placement, key, HOMING_NUL_TERMINATED,
                                          &before[i], &member),
                   HOMING_OK);
      CHECK(before[i] < 3);
      CHECK_STR(member, three[before[i]]);
    }
    /* Scale out: jump and rendezvous move keys only to the new member. */
    CHECK_STATUS(homing_placement_set_members(placement, four, 4, &err),
                 HOMING_OK);
    moved = 0;
    for (i = 0; i < 200; ++i) {
      snprintf(key, sizeof(key), "client-%d", i);
      homing_placement_owner(placement, key, strlen(key), &after, NULL);
      if (after != before[i]) {
        ++moved;
        if (strategy == HOMING_PLACEMENT_JUMP ||
            strategy == HOMING_PLACEMENT_RENDEZVOUS) {
          CHECK(after == 3);
        }
      }
    }
    CHECK(moved > 0);
    if (strategy != HOMING_PLACEMENT_MODULO) CHECK(moved < 100);
    /* A refused membership leaves the old one. */
    CHECK_STATUS(homing_placement_set_members(placement, dup, 2, &err),
                 HOMING_ERR_INVALID_ARGUMENT);
    CHECK(homing_placement_member_count(placement) == 4);
    CHECK_STATUS(homing_placement_set_members(placement, with_null, 2, &err),
                 HOMING_ERR_INVALID_ARGUMENT);
    CHECK_STR(err, "members[1] is NULL");
    homing_placement_free(placement);
    placement = NULL;
  }

  /* Rendezvous: removing a middle member moves only that member's keys. */
  CHECK_STATUS(homing_placement_new(HOMING_PLACEMENT_RENDEZVOUS, three, 3,
                                    &placement, &err),
               HOMING_OK);
  for (i = 0; i < 200; ++i) {
    snprintf(key, sizeof(key), "k%d", i);
    homing_placement_owner(placement, key, HOMING_NUL_TERMINATED, &before[i], NULL);
  }
  CHECK_STATUS(homing_placement_set_members(placement, without_middle, 2, NULL),
               HOMING_OK);
  for (i = 0; i < 200; ++i) {
    snprintf(key, sizeof(key), "k%d", i);
    homing_placement_owner(placement, key, HOMING_NUL_TERMINATED, NULL, &member);
    if (before[i] != 1) CHECK_STR(member, three[before[i]]);
  }

  CHECK_STATUS(homing_placement_owner(NULL, "k", 1, &index, NULL),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_placement_owner(placement, NULL, 1, &index, NULL),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_placement_set_members(NULL, three, 3, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK(homing_placement_member_count(NULL) == 0);
  CHECK(homing_placement_member(NULL, 0) == NULL);
  CHECK(homing_placement_strategy(NULL) == -1);
  homing_placement_free(placement);
  homing_placement_free(NULL);
  homing_free(err);
}

/* Owners agree across threads (owner() is const). */
static void *owners_in_thread(void *arg) {
  homing_placement_t *placement = arg;
  size_t i, index, total = 0;
  char key[32];
  for (i = 0; i < 2000; ++i) {
    snprintf(key, sizeof(key), "t%zu", i);
    homing_placement_owner(placement, key, HOMING_NUL_TERMINATED, &index, NULL);
    total += index;
  }
  return (void *)total;
}

static void test_placement_threads(void) {
  const char *members[] = {"a", "b", "c", "d", "e"};
  homing_placement_t *placement = NULL;
  pthread_t threads[4];
  void *totals[4];
  int i;
  CHECK_STATUS(homing_placement_new(HOMING_PLACEMENT_MAGLEV, members, 5,
                                    &placement, NULL),
               HOMING_OK);
  for (i = 0; i < 4; ++i) {
    pthread_create(&threads[i], NULL, owners_in_thread, placement);
  }
  for (i = 0; i < 4; ++i) pthread_join(threads[i], &totals[i]);
  for (i = 1; i < 4; ++i) CHECK(totals[i] == totals[0]);
  homing_placement_free(placement);
}

/* ------------------------------------------------------------------------ */
/* Load balancers                                                           */
/* ------------------------------------------------------------------------ */

static void test_lb_errors(void) {
  const char *hosts[] = {"127.0.1.81:8080", "127.0.1.82:8080"};
  const char *bad[] = {"127.0.1.81:8080", "server:8080"};
  const char *with_null[] = {"127.0.1.81:8080", NULL};
  const uint32_t zero[] = {1, 0};
  homing_lb_t *lb = NULL;
  homing_config_t *config = shared_config();
  char *err = NULL;

  CHECK_STATUS(homing_lb_new(NULL, HOMING_LB_RANDOM, hosts, NULL, 2, NULL, &lb,
                             &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "homing_lb_new: a name and out are required");
  CHECK_STATUS(homing_lb_new("", HOMING_LB_RANDOM, hosts, NULL, 2, NULL, &lb,
                             &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lb_new("x", HOMING_LB_RANDOM, hosts, NULL, 0, NULL, &lb,
                             &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "homing_lb_new: at least one host is required");
  CHECK_STATUS(homing_lb_new("x", 17, hosts, NULL, 2, NULL, &lb, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "unknown load balancing policy 17");
  CHECK_STATUS(homing_lb_new("x", HOMING_LB_RANDOM, bad, NULL, 2, NULL, &lb,
                             &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "hosts[1]: ");
  CHECK_STATUS(homing_lb_new("x", HOMING_LB_RANDOM, with_null, NULL, 2, NULL,
                             &lb, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "hosts[1] is NULL");
  CHECK_STATUS(homing_lb_new("x", HOMING_LB_RANDOM, hosts, zero, 2, NULL, &lb,
                             &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "weight");
  CHECK(lb == NULL);

  CHECK_STATUS(homing_lb_new_from_config(config, "nope", NULL, &lb, &err),
               HOMING_ERR_NOT_FOUND);
  CHECK_STR(err, "the config has no cluster \"nope\"");
  CHECK_STATUS(homing_lb_new_from_config(config, "resolver", NULL, &lb, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "cluster \"resolver\" is not STATIC");
  CHECK_STATUS(homing_lb_new_from_config(NULL, "pool", NULL, &lb, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lb_new_from_config(config, NULL, NULL, &lb, &err),
               HOMING_ERR_INVALID_ARGUMENT);

  CHECK_STATUS(homing_lb_pick(NULL, NULL, 0, NULL, NULL),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lb_report(NULL, 0, HOMING_OUTCOME_SUCCESS),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK(homing_lb_host_count(NULL) == 0);
  CHECK(homing_lb_host(NULL, 0) == NULL);
  CHECK(homing_lb_host_healthy(NULL, 0) == 0);
  homing_lb_free(NULL);
  homing_config_free(config);
  homing_free(err);
}

/* How many of `picks` unreported picks (with `key`) land on each host. */
static void count_picks(homing_lb_t *lb, const char *key, int picks,
                        int counts[], int report) {
  size_t index;
  int i;
  for (i = 0; i < picks; ++i) {
    CHECK_STATUS(homing_lb_pick(lb, key, key ? strlen(key) : 0, &index, NULL),
                 HOMING_OK);
    ++counts[index];
    if (report) homing_lb_report(lb, index, HOMING_OUTCOME_SUCCESS);
  }
}

static void test_lb_policies(void) {
  const char *hosts[] = {"127.0.1.81:8080", "127.0.1.82:8080", "[::1]:9000"};
  homing_lb_t *lb = NULL;
  int counts[3], policy, i;
  const char *address = NULL;
  size_t index = 0;

  /* Round robin visits every host in turn. */
  CHECK_STATUS(homing_lb_new("rr", HOMING_LB_ROUND_ROBIN, hosts, NULL, 3, NULL,
                             &lb, NULL),
               HOMING_OK);
  CHECK(homing_lb_host_count(lb) == 3);
  CHECK_STR(homing_lb_host(lb, 2), "[::1]:9000");
  CHECK(homing_lb_host(lb, 3) == NULL);
  memset(counts, 0, sizeof(counts));
  count_picks(lb, NULL, 30, counts, 1);
  CHECK(counts[0] == 10 && counts[1] == 10 && counts[2] == 10);
  homing_lb_free(lb);

  /* Least request: picks without a report count as in flight. */
  CHECK_STATUS(homing_lb_new("lr", HOMING_LB_LEAST_REQUEST, hosts, NULL, 2,
                             NULL, &lb, NULL),
               HOMING_OK);
  memset(counts, 0, sizeof(counts));
  count_picks(lb, NULL, 20, counts, 0);
  CHECK(counts[0] >= 8 && counts[1] >= 8);
  /* A report without a pick does not make the count negative. */
  for (i = 0; i < 30; ++i) homing_lb_report(lb, 0, HOMING_OUTCOME_SUCCESS);
  homing_lb_free(lb);

  /* Consistent hashing: one key, one host; every host serves some key. */
  for (policy = HOMING_LB_RING_HASH; policy <= HOMING_LB_MAGLEV; ++policy) {
    char key[16];
    int seen[3] = {0, 0, 0};
    CHECK_STATUS(homing_lb_new("ch", policy, hosts, NULL, 3, NULL, &lb, NULL),
                 HOMING_OK);
    memset(counts, 0, sizeof(counts));
    count_picks(lb, "client-7", 12, counts, 1);
    CHECK(counts[0] == 12 || counts[1] == 12 || counts[2] == 12);
    for (i = 0; i < 100; ++i) {
      snprintf(key, sizeof(key), "c%d", i);
      homing_lb_pick(lb, key, HOMING_NUL_TERMINATED, &index, &address);
      homing_lb_report(lb, index, HOMING_OUTCOME_SUCCESS);
      CHECK_STR(address, hosts[index]);
      seen[index] = 1;
    }
    CHECK(seen[0] && seen[1] && seen[2]);
    homing_lb_free(lb);
  }

  /* Random spreads too. */
  CHECK_STATUS(homing_lb_new("rnd", HOMING_LB_RANDOM, hosts, NULL, 3, NULL, &lb,
                             NULL),
               HOMING_OK);
  memset(counts, 0, sizeof(counts));
  count_picks(lb, NULL, 300, counts, 1);
  CHECK(counts[0] > 0 && counts[1] > 0 && counts[2] > 0);
  homing_lb_free(lb);
}

static void test_lb_health(void) {
  const char *hosts[] = {"127.0.1.81:8080", "127.0.1.82:8080"};
  const uint32_t weights[] = {3, 1};
  homing_config_t *config = shared_config();
  homing_stats_t *stats = homing_stats_new();
  homing_lb_t *lb = NULL;
  size_t index, ejected, i;
  int counts[2] = {0, 0};
  uint64_t value = 0;
  char *err = NULL;

  /* Weights shape round robin. */
  CHECK_STATUS(homing_lb_new("w", HOMING_LB_ROUND_ROBIN, hosts, weights, 2,
                             stats, &lb, &err),
               HOMING_OK);
  count_picks(lb, NULL, 40, counts, 1);
  CHECK(counts[0] == 30 && counts[1] == 10);
  /* Five consecutive local-origin failures eject a host. */
  homing_lb_pick(lb, NULL, 0, &ejected, NULL);
  homing_lb_report(lb, ejected, HOMING_OUTCOME_SUCCESS);
  for (i = 0; i < 5; ++i) {
    CHECK(homing_lb_host_healthy(lb, ejected) == 1);
    homing_lb_pick(lb, NULL, 0, &index, NULL);
    CHECK_STATUS(homing_lb_report(lb, ejected, i % 2 ? HOMING_OUTCOME_RESET
                                                      : HOMING_OUTCOME_TIMEOUT),
                 HOMING_OK);
  }
  CHECK(homing_lb_host_healthy(lb, ejected) == 0);
  CHECK(homing_lb_host_healthy(lb, 1 - ejected) == 1);
  CHECK(homing_lb_host_healthy(lb, 2) == 0);
  for (i = 0; i < 10; ++i) {
    homing_lb_pick(lb, NULL, 0, &index, NULL);
    homing_lb_report(lb, index, HOMING_OUTCOME_SUCCESS);
    CHECK(index != ejected);
  }
  CHECK_STATUS(homing_stats_counter(stats, "cluster.w.outlier_detection.ejections_enforced_total",
                                    &value, &err),
               HOMING_OK);
  CHECK(value == 1);
  CHECK_STATUS(homing_lb_report(lb, 2, HOMING_OUTCOME_SUCCESS),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lb_report(lb, 0, 5), HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lb_report(lb, 0, -1), HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lb_report(lb, 0, HOMING_OUTCOME_CONNECT_FAILURE), HOMING_OK);
  CHECK_STATUS(homing_stats_counter(stats, "cluster.w.upstream_cx_connect_fail",
                                    &value, &err),
               HOMING_OK);
  CHECK(value == 1);
  homing_lb_free(lb);

  /* From the config: RING_HASH, consecutive_5xx 2. */
  CHECK_STATUS(homing_lb_new_from_config(config, "pool", stats, &lb, &err),
               HOMING_OK);
  CHECK(homing_lb_host_count(lb) == 2);
  CHECK_STR(homing_lb_host(lb, 0), "127.0.1.81:8080");
  homing_lb_pick(lb, "123", 3, &ejected, NULL);
  homing_lb_report(lb, ejected, HOMING_OUTCOME_SERVER_ERROR);
  homing_lb_pick(lb, "123", 3, &index, NULL);
  CHECK(index == ejected);
  homing_lb_report(lb, index, HOMING_OUTCOME_SERVER_ERROR);
  CHECK(homing_lb_host_healthy(lb, ejected) == 0);
  homing_lb_pick(lb, "123", 3, &index, NULL);
  CHECK(index != ejected);
  homing_lb_report(lb, index, HOMING_OUTCOME_SUCCESS);
  CHECK_STATUS(homing_stats_counter(stats, "cluster.pool.upstream_rq_5xx",
                                    &value, &err),
               HOMING_OK);
  CHECK(value == 2);
  homing_lb_free(lb);
  homing_stats_free(stats);
  homing_config_free(config);
  homing_free(err);
}

/* ------------------------------------------------------------------------ */
/* External loops                                                           */
/* ------------------------------------------------------------------------ */

/* The host side of an external loop: poll() over what homing asked for. */
typedef struct test_host {
  struct pollfd fds[64];
  nfds_t count;
  int64_t timer_at_ms; /* -1: disarmed */
  int watch_calls;
  int timer_calls;
  int last_timeout_ms;
} test_host;

static void host_watch(int fd, int events, void *user_data) {
  test_host *host = user_data;
  nfds_t i = 0;
  ++host->watch_calls;
  CHECK(fd >= 0);
  CHECK((events & ~(HOMING_EV_READ | HOMING_EV_WRITE)) == 0);
  while (i < host->count && host->fds[i].fd != fd) ++i;
  if (events == 0) {
    CHECK(i < host->count); /* only what was watched is dropped */
    if (i < host->count) host->fds[i] = host->fds[--host->count];
    return;
  }
  if (i == host->count) host->fds[host->count++].fd = fd;
  host->fds[i].events = (short)(((events & HOMING_EV_READ) ? POLLIN : 0) |
                                ((events & HOMING_EV_WRITE) ? POLLOUT : 0));
}

static void host_timer(int timeout_ms, void *user_data) {
  test_host *host = user_data;
  ++host->timer_calls;
  host->last_timeout_ms = timeout_ms;
  CHECK(timeout_ms >= -1);
  host->timer_at_ms = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

static homing_loop_t *new_host_loop(test_host *host) {
  homing_loop_t *loop = NULL;
  memset(host, 0, sizeof(*host));
  host->timer_at_ms = -1;
  CHECK_STATUS(homing_loop_new_external(host_watch, host_timer, host, &loop,
                                        NULL),
               HOMING_OK);
  return loop;
}

static void host_run_once(homing_loop_t *loop, test_host *host, int max_wait) {
  struct pollfd ready[64];
  nfds_t n = 0, i;
  int wait = max_wait;
  if (host->timer_at_ms >= 0) {
    int64_t left = host->timer_at_ms - now_ms();
    wait = left <= 0 ? 0 : left < wait ? (int)left : wait;
  }
  if (poll(host->fds, host->count, wait) > 0) {
    for (i = 0; i < host->count; ++i) {
      if (host->fds[i].revents != 0) ready[n++] = host->fds[i];
    }
    for (i = 0; i < n; ++i) {
      int events = 0;
      if (ready[i].revents & (POLLIN | POLLHUP)) events |= HOMING_EV_READ;
      if (ready[i].revents & POLLOUT) events |= HOMING_EV_WRITE;
      if (ready[i].revents & (POLLERR | POLLNVAL)) events |= HOMING_EV_ERROR;
      CHECK_STATUS(homing_loop_process_fd(loop, ready[i].fd, events), HOMING_OK);
    }
  }
  if (host->timer_at_ms >= 0 && now_ms() >= host->timer_at_ms) {
    host->timer_at_ms = -1;
    CHECK_STATUS(homing_loop_process_timers(loop), HOMING_OK);
  }
}

/* Runs the loop until *flag is set or ms pass; returns *flag. */
static int host_run_until(homing_loop_t *loop, test_host *host,
                          const int *flag, int ms) {
  int64_t deadline = now_ms() + ms;
  while (!*flag && now_ms() < deadline) host_run_once(loop, host, 50);
  return *flag;
}

static void host_run_for(homing_loop_t *loop, test_host *host, int ms) {
  int never = 0;
  host_run_until(loop, host, &never, ms);
}

static homing_dns_cache_options_t *dns_options(const char *name) {
  homing_dns_cache_options_t *options = homing_dns_cache_options_new();
  CHECK_STATUS(homing_dns_cache_options_set_name(options, name), HOMING_OK);
  CHECK_STATUS(homing_dns_cache_options_set_lookup_family(options,
                                                          HOMING_DNS_V4_ONLY),
               HOMING_OK);
  CHECK_STATUS(homing_dns_cache_options_add_resolver(options, dns_address),
               HOMING_OK);
  CHECK_STATUS(homing_dns_cache_options_set_query_timeout_ms(options, 2000),
               HOMING_OK);
  return options;
}

/* What a DNS callback saw. */
typedef struct dns_seen {
  int calls;
  homing_status status;
  size_t addresses;
  char address[64];
  char name[128];
  uint16_t port;
  char error[256];
  /* Set by tests that act from inside the callback. */
  homing_loop_t *loop;
  homing_dns_cache_t *free_cache;
  homing_pending_t **free_pending;
  int reentry_status;
} dns_seen;

static void on_dns(const homing_dns_host_t *host, void *user_data) {
  dns_seen *seen = user_data;
  ++seen->calls;
  seen->status = homing_dns_host_status(host);
  seen->addresses = homing_dns_host_address_count(host);
  snprintf(seen->address, sizeof(seen->address), "%s",
           seen->addresses ? homing_dns_host_address(host, 0) : "");
  snprintf(seen->name, sizeof(seen->name), "%s", homing_dns_host_name(host));
  seen->port = homing_dns_host_port(host);
  snprintf(seen->error, sizeof(seen->error), "%s", homing_dns_host_error(host));
  CHECK(homing_dns_host_address(host, seen->addresses) == NULL);
  if (seen->loop != NULL) {
    seen->reentry_status = homing_loop_process_timers(seen->loop);
    CHECK_STATUS(homing_loop_process_fd(seen->loop, 0, HOMING_EV_READ),
                 HOMING_ERR_REENTRANT);
  }
  if (seen->free_pending != NULL) {
    homing_pending_free(*seen->free_pending);
    *seen->free_pending = NULL;
  }
  if (seen->free_cache != NULL) homing_dns_cache_free(seen->free_cache);
}

static void test_loop_arguments(void) {
  test_host host;
  homing_loop_t *loop = NULL;
  char *err = NULL;
  CHECK_STATUS(homing_loop_new_external(NULL, host_timer, &host, &loop, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "homing_loop_new_external: watch_cb, timer_cb and out are required");
  CHECK_STATUS(homing_loop_new_external(host_watch, NULL, &host, &loop, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_loop_new_external(host_watch, host_timer, &host, NULL,
                                        &err),
               HOMING_ERR_INVALID_ARGUMENT);
  homing_free(err);

  loop = new_host_loop(&host);
  /* homing's own wake-up descriptor is watched from the start. */
  CHECK(host.count == 1 && host.fds[0].events == POLLIN);
  CHECK(homing_loop_timeout_ms(loop) == -1);
  CHECK(homing_loop_timeout_ms(NULL) == -1);
  CHECK_STATUS(homing_loop_process_fd(NULL, 3, HOMING_EV_READ),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_loop_process_fd(loop, -1, HOMING_EV_READ),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_loop_process_timers(NULL), HOMING_ERR_INVALID_ARGUMENT);
  /* Unknown descriptors and early timer calls are harmless. */
  CHECK_STATUS(homing_loop_process_fd(loop, 1000, HOMING_EV_READ), HOMING_OK);
  CHECK_STATUS(homing_loop_process_fd(loop, host.fds[0].fd, HOMING_EV_READ),
               HOMING_OK);
  CHECK_STATUS(homing_loop_process_timers(loop), HOMING_OK);
  CHECK(host.timer_calls == 0);
  homing_loop_free(loop);
  CHECK(host.count == 0);
  homing_loop_free(NULL);
}

static void test_dns_cache_options(void) {
  homing_dns_cache_options_t *options = homing_dns_cache_options_new();
  test_host host;
  homing_loop_t *loop = new_host_loop(&host);
  homing_dns_cache_t *cache = NULL;
  char *err = NULL;

  CHECK_STATUS(homing_dns_cache_options_set_name(NULL, "x"),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_options_set_name(options, NULL),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_options_set_lookup_family(options, 5),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_options_set_lookup_family(NULL, HOMING_DNS_ALL),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_options_add_resolver(options, NULL),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_options_set_refresh_rate_ms(options, -1),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_options_set_refresh_rate_ms(options, INT64_MAX),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_options_set_min_refresh_rate_ms(NULL, 1),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_options_set_failure_refresh_rate_ms(options, 1, -1),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_options_set_failure_refresh_rate_ms(NULL, 1, 2),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_options_set_host_ttl_ms(options, -5),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_options_set_max_hosts(NULL, 1),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_options_set_max_pending_requests(NULL, 1),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_options_set_query_timeout_ms(options, -1),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_options_add_preresolve_hostname(options, NULL),
               HOMING_ERR_INVALID_ARGUMENT);

  /* Envoy's checks happen at creation, naming the field. */
  CHECK_STATUS(homing_dns_cache_new(loop, options, NULL, &cache, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "name");
  CHECK_STATUS(homing_dns_cache_options_set_name(options, "opts"), HOMING_OK);
  CHECK_STATUS(homing_dns_cache_options_set_min_refresh_rate_ms(options, 10),
               HOMING_OK);
  CHECK_STATUS(homing_dns_cache_new(loop, options, NULL, &cache, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "dns_min_refresh_rate");
  CHECK_STATUS(homing_dns_cache_options_set_min_refresh_rate_ms(options, 5000),
               HOMING_OK);
  CHECK_STATUS(homing_dns_cache_options_set_max_hosts(options, 0), HOMING_OK);
  CHECK_STATUS(homing_dns_cache_new(loop, options, NULL, &cache, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "max_hosts");
  CHECK_STATUS(homing_dns_cache_options_set_max_hosts(options, 4), HOMING_OK);
  CHECK_STATUS(homing_dns_cache_options_add_resolver(options, "not-an-ip"),
               HOMING_OK);
  CHECK_STATUS(homing_dns_cache_new(loop, options, NULL, &cache, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "not-an-ip");
  CHECK_STATUS(homing_dns_cache_new(NULL, options, NULL, &cache, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_new(loop, NULL, NULL, &cache, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK(cache == NULL);

  homing_dns_cache_options_free(options);
  homing_dns_cache_options_free(NULL);
  homing_loop_free(loop);
  homing_free(err);
}

/* A host that keeps its own record per descriptor in homing's slot
 * (homing_watch2_cb), as a gateway keeps its connection object there. */
typedef struct fd_record {
  int fd;
} fd_record;

typedef struct slot_host {
  test_host host; /* the poll() side */
  int records_made;
  int records_live;
  int slot_mismatches;
} slot_host;

static void slot_host_watch(int fd, int events, void **fd_data, void *user_data) {
  slot_host *slots = user_data;
  fd_record *record = *fd_data;
  if (record == NULL) {
    record = malloc(sizeof(*record));
    record->fd = fd;
    *fd_data = record;
    ++slots->records_made;
    ++slots->records_live;
  }
  if (record->fd != fd) ++slots->slot_mismatches;
  host_watch(fd, events, &slots->host);
  if (events == 0) {
    free(record);
    --slots->records_live;
  }
}

static void test_loop_fd_data(void) {
  slot_host slots;
  homing_loop_t *loop = NULL;
  homing_dns_cache_options_t *options = dns_options("slots");
  homing_stats_t *stats = homing_stats_new();
  homing_dns_cache_t *cache = NULL;
  homing_pending_t *pending = NULL;
  dns_seen seen;
  char *err = NULL;

  memset(&slots, 0, sizeof(slots));
  memset(&seen, 0, sizeof(seen));
  slots.host.timer_at_ms = -1;
  CHECK_STATUS(homing_loop_new_external2(NULL, host_timer, &slots, &loop, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK(loop == NULL);
  CHECK_STATUS(homing_loop_new_external2(slot_host_watch, host_timer, &slots, &loop, &err),
               HOMING_OK);
  CHECK(slots.records_made == 1); /* the wake-up descriptor, before returning */
  CHECK_STATUS(homing_dns_cache_new(loop, options, stats, &cache, &err), HOMING_OK);
  /* A real query: c-ares's socket gets a record of its own. */
  CHECK_STATUS(homing_dns_cache_load(cache, FIXTURE_OWNER_0, HOMING_NUL_TERMINATED, 80,
                                     on_dns, &seen, &pending, &err),
               HOMING_OK);
  CHECK(host_run_until(loop, &slots.host, &seen.calls, 5000));
  CHECK(seen.status == HOMING_OK);
  CHECK(slots.records_made >= 2);
  CHECK(slots.slot_mismatches == 0);
  homing_pending_free(pending);
  homing_dns_cache_free(cache);
  homing_loop_free(loop);
  /* Every descriptor's watch ended, and with it its record. */
  CHECK(slots.records_live == 0);
  CHECK(slots.host.count == 0);
  homing_dns_cache_options_free(options);
  homing_stats_free(stats);
  homing_free(err);
}

static void test_dns_cache_on_external_loop(void) {
  test_host host;
  homing_loop_t *loop = new_host_loop(&host);
  homing_dns_cache_options_t *options = dns_options("ext");
  homing_stats_t *stats = homing_stats_new();
  homing_dns_cache_t *cache = NULL;
  homing_pending_t *pending = NULL, *cancelled = NULL;
  homing_dns_host_t *entry = NULL;
  dns_seen first, cached, missing, literal, invalid, never, overflow;
  char *err = NULL;
  size_t count = 0;
  uint64_t attempts = 0;

  memset(&first, 0, sizeof(first));
  memset(&cached, 0, sizeof(cached));
  memset(&missing, 0, sizeof(missing));
  memset(&literal, 0, sizeof(literal));
  memset(&invalid, 0, sizeof(invalid));
  memset(&never, 0, sizeof(never));
  memset(&overflow, 0, sizeof(overflow));
  CHECK_STATUS(homing_dns_cache_options_set_max_hosts(options, 4), HOMING_OK);
  CHECK_STATUS(homing_dns_cache_new(loop, options, stats, &cache, &err),
               HOMING_OK);

  /* First load: asynchronous, through dnsmasq. */
  CHECK_STATUS(homing_dns_cache_load(cache, FIXTURE_OWNER_0,
                                     HOMING_NUL_TERMINATED, 80, on_dns, &first,
                                     &pending, &err),
               HOMING_OK);
  CHECK(pending != NULL);
  CHECK(homing_pending_done(pending) == 0);
  CHECK(first.calls == 0);
  CHECK(host.count >= 2); /* c-ares's socket joined the wake-up descriptor */
  CHECK(host_run_until(loop, &host, &first.calls, 5000));
  CHECK(homing_pending_done(pending) == 1);
  CHECK_STATUS(homing_pending_cancel(pending), HOMING_OK); /* harmless now */
  homing_pending_free(pending);
  CHECK(first.status == HOMING_OK);
  CHECK_STR(first.address, FIXTURE_OWNER_0_IP ":8081");
  CHECK_STR(first.name, "server-0.server-headless.poc-routing.svc.cluster.local");
  CHECK(first.port == 8081);
  CHECK_STR(first.error, "");
  /* The refresh timer is armed and the host was told about it. */
  CHECK(host.timer_calls > 0);
  CHECK(homing_loop_timeout_ms(loop) > 0);

  /* Cached: the callback runs before the call returns, *pending is NULL. */
  pending = (homing_pending_t *)&pending; /* overwritten */
  CHECK_STATUS(homing_dns_cache_load(cache, FIXTURE_OWNER_0,
                                     HOMING_NUL_TERMINATED, 80, on_dns, &cached,
                                     &pending, &err),
               HOMING_OK);
  CHECK(cached.calls == 1 && pending == NULL);
  CHECK_STR(cached.address, FIXTURE_OWNER_0_IP ":8081");

  /* IP literals never query; invalid names fail at once. */
  CHECK_STATUS(homing_dns_cache_load(cache, "127.0.1.99", 10, 8080, on_dns,
                                     &literal, NULL, &err),
               HOMING_OK);
  CHECK(literal.calls == 1);
  CHECK_STR(literal.address, "127.0.1.99:8080");
  CHECK_STATUS(homing_dns_cache_load(cache, "bad host!", HOMING_NUL_TERMINATED,
                                     80, on_dns, &invalid, NULL, &err),
               HOMING_OK);
  CHECK(invalid.calls == 1 && invalid.addresses == 0);
  CHECK(invalid.status == HOMING_ERR_INVALID_ARGUMENT);
  CHECK(invalid.error[0] != '\0');

  /* NXDOMAIN arrives as an entry without address; re-entry is refused from
   * inside the callback. */
  missing.loop = loop;
  CHECK_STATUS(homing_dns_cache_load(cache,
                                     "server-9.server-headless.poc-routing.svc.cluster.local:8081",
                                     HOMING_NUL_TERMINATED, 0, on_dns, &missing,
                                     NULL, &err),
               HOMING_OK);
  CHECK(host_run_until(loop, &host, &missing.calls, 5000));
  CHECK(missing.status == HOMING_ERR_NOT_FOUND);
  CHECK(missing.addresses == 0);
  CHECK(missing.reentry_status == HOMING_ERR_REENTRANT);

  /* A cancelled load never calls back. */
  CHECK_STATUS(homing_dns_cache_load(cache, FIXTURE_OWNER_1,
                                     HOMING_NUL_TERMINATED, 80, on_dns, &never,
                                     &cancelled, &err),
               HOMING_OK);
  CHECK(cancelled != NULL);
  CHECK_STATUS(homing_pending_cancel(cancelled), HOMING_OK);
  CHECK(homing_pending_done(cancelled) == 1);
  host_run_for(loop, &host, 300);
  CHECK(never.calls == 0);
  homing_pending_free(cancelled);

  /* max_hosts 4: server-0, the literal, server-9 and server-1 (cancelled,
   * but its query goes on) fill it; a new host overflows without a
   * callback. */
  CHECK_STATUS(homing_dns_cache_load(cache, "b.cluster.local:1",
                                     HOMING_NUL_TERMINATED, 0, on_dns,
                                     &overflow, NULL, &err),
               HOMING_ERR_OVERFLOW);
  CHECK_STR(err, "DNS cache \"ext\" is full (max_hosts or max_pending_requests reached)");
  CHECK_STATUS(homing_dns_cache_host_count(cache, &count), HOMING_OK);
  CHECK(count == 4);
  CHECK(overflow.calls == 0);

  /* Snapshots. */
  CHECK_STATUS(homing_dns_cache_find(cache, FIXTURE_OWNER_0,
                                     HOMING_NUL_TERMINATED, &entry),
               HOMING_OK);
  CHECK_STR(homing_dns_host_address(entry, 0), FIXTURE_OWNER_0_IP ":8081");
  CHECK(homing_dns_host_address_count(entry) == 1);
  CHECK(homing_dns_host_ttl_ms(entry) == 1000); /* dnsmasq --local-ttl=1 */
  CHECK(homing_dns_host_status(entry) == HOMING_OK);
  homing_dns_host_free(entry);
  CHECK_STATUS(homing_dns_cache_find(cache, "nowhere:1", HOMING_NUL_TERMINATED,
                                     &entry),
               HOMING_ERR_NOT_FOUND);
  CHECK_STATUS(homing_dns_cache_find(NULL, "x", 1, &entry),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_find(cache, "x", 1, NULL),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_host_count(NULL, &count),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_load(cache, NULL, 3, 80, on_dns, &never, NULL,
                                     &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_dns_cache_load(cache, "x", 1, 80, NULL, &never, NULL,
                                     &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK(homing_dns_host_name(NULL) == NULL);
  CHECK(homing_dns_host_port(NULL) == 0);
  CHECK(homing_dns_host_address_count(NULL) == 0);
  CHECK(homing_dns_host_address(NULL, 0) == NULL);
  CHECK(homing_dns_host_status(NULL) == HOMING_ERR_INVALID_ARGUMENT);
  CHECK(homing_dns_host_error(NULL) == NULL);
  CHECK(homing_dns_host_ttl_ms(NULL) == 0);
  homing_dns_host_free(NULL);

  CHECK_STATUS(homing_stats_counter(stats, "dns_cache.ext.dns_query_attempt",
                                    &attempts, &err),
               HOMING_OK);
  CHECK(attempts >= 2);

  homing_dns_cache_free(cache);
  homing_dns_cache_free(NULL);
  /* Every c-ares socket is unwatched; no timer is left. */
  CHECK(host.count == 1);
  CHECK(host.timer_at_ms == -1 && host.last_timeout_ms == -1);
  homing_loop_free(loop);
  CHECK(host.count == 0);
  homing_dns_cache_options_free(options);
  homing_stats_free(stats);
  homing_free(err);
}

/* Objects freed from inside their own callbacks, and a loop freed first. */
static void test_loop_lifetimes(void) {
  test_host host;
  homing_loop_t *loop = new_host_loop(&host);
  homing_dns_cache_options_t *options = dns_options("life");
  homing_dns_cache_t *cache = NULL, *orphan = NULL;
  homing_pending_t *pending = NULL, *stranded = NULL;
  homing_dns_host_t *entry = NULL;
  dns_seen seen, late;
  char *err = NULL;
  size_t count;

  memset(&seen, 0, sizeof(seen));
  memset(&late, 0, sizeof(late));
  CHECK_STATUS(homing_dns_cache_new(loop, options, NULL, &cache, &err),
               HOMING_OK);
  /* The callback frees its pending handle and the cache itself. */
  seen.free_pending = &pending;
  seen.free_cache = cache;
  CHECK_STATUS(homing_dns_cache_load(cache, FIXTURE_OWNER_1,
                                     HOMING_NUL_TERMINATED, 80, on_dns, &seen,
                                     &pending, &err),
               HOMING_OK);
  CHECK(host_run_until(loop, &host, &seen.calls, 5000));
  CHECK(pending == NULL);
  host_run_for(loop, &host, 50); /* the deferred destruction runs */
  CHECK(host.count == 1);

  /* Freeing the loop first shuts its objects down; their handles stay
   * valid, inert, and must still be freed. */
  CHECK_STATUS(homing_dns_cache_new(loop, options, NULL, &orphan, &err),
               HOMING_OK);
  CHECK_STATUS(homing_dns_cache_load(orphan, FIXTURE_OWNER_0,
                                     HOMING_NUL_TERMINATED, 80, on_dns, &late,
                                     &stranded, &err),
               HOMING_OK);
  CHECK(stranded != NULL);
  homing_loop_free(loop);
  CHECK(host.count == 0);
  CHECK(homing_pending_done(stranded) == 1);
  CHECK_STATUS(homing_pending_cancel(stranded), HOMING_OK);
  homing_pending_free(stranded);
  CHECK(late.calls == 0);
  CHECK_STATUS(homing_dns_cache_load(orphan, "x", 1, 80, on_dns, &late, NULL,
                                     &err),
               HOMING_ERR_FAILED_PRECONDITION);
  CHECK_STR(err, "the loop of this object was freed");
  CHECK_STATUS(homing_dns_cache_find(orphan, "x", 1, &entry),
               HOMING_ERR_FAILED_PRECONDITION);
  CHECK_STATUS(homing_dns_cache_host_count(orphan, &count),
               HOMING_ERR_FAILED_PRECONDITION);
  homing_dns_cache_free(orphan);
  homing_dns_cache_options_free(options);
  homing_free(err);
}

/* The loop freed from inside a callback goes when the process call returns. */
static homing_loop_t *loop_to_free;
static void free_loop_from_callback(const homing_dns_host_t *host,
                                    void *user_data) {
  (void)host;
  *(int *)user_data = 1;
  homing_loop_free(loop_to_free);
}

static void test_loop_freed_from_callback(void) {
  test_host host;
  homing_loop_t *loop = new_host_loop(&host);
  homing_dns_cache_options_t *options = dns_options("freed");
  homing_dns_cache_t *cache = NULL;
  int called = 0;
  int64_t deadline = now_ms() + 5000;

  CHECK_STATUS(homing_dns_cache_new(loop, options, NULL, &cache, NULL),
               HOMING_OK);
  loop_to_free = loop;
  CHECK_STATUS(homing_dns_cache_load(cache, FIXTURE_OWNER_1,
                                     HOMING_NUL_TERMINATED, 80,
                                     free_loop_from_callback, &called, NULL,
                                     NULL),
               HOMING_OK);
  /* The loop is gone after the call that ran the callback: stop there. */
  while (!called && now_ms() < deadline) host_run_once(loop, &host, 50);
  CHECK(called);
  CHECK(host.count == 0);
  /* The cache was shut down with the loop; its handle is inert. */
  CHECK_STATUS(homing_dns_cache_load(cache, "x", 1, 1, on_dns, NULL, NULL, NULL),
               HOMING_ERR_FAILED_PRECONDITION);
  homing_dns_cache_free(cache);
  homing_dns_cache_options_free(options);
}

/* Another thread may not touch an external loop. */
typedef struct wrong_thread_args {
  homing_loop_t *loop;
  homing_dns_cache_t *cache;
  homing_dns_cache_options_t *options;
  int statuses[6];
  char message[256];
} wrong_thread_args;

static void *use_from_other_thread(void *arg) {
  wrong_thread_args *args = arg;
  homing_dns_cache_t *cache = NULL;
  size_t count;
  char *err = NULL;
  args->statuses[0] = homing_loop_process_fd(args->loop, 3, HOMING_EV_READ);
  args->statuses[1] = homing_loop_process_timers(args->loop);
  args->statuses[2] = homing_dns_cache_new(args->loop, args->options, NULL,
                                           &cache, &err);
  snprintf(args->message, sizeof(args->message), "%s", err ? err : "");
  args->statuses[3] = homing_dns_cache_host_count(args->cache, &count);
  args->statuses[4] = homing_loop_timeout_ms(args->loop);
  homing_loop_free(args->loop);   /* refused, and logged */
  homing_dns_cache_free(args->cache); /* refused, and logged */
  homing_free(err);
  return NULL;
}

static void test_loop_threads(void) {
  test_host host;
  wrong_thread_args args;
  pthread_t thread;
  size_t count = 0;
  memset(&args, 0, sizeof(args));
  args.loop = new_host_loop(&host);
  args.options = dns_options("threads");
  CHECK_STATUS(homing_dns_cache_new(args.loop, args.options, NULL, &args.cache,
                                    NULL),
               HOMING_OK);
  start_collecting_logs();
  pthread_create(&thread, NULL, use_from_other_thread, &args);
  pthread_join(thread, NULL);
  homing_set_log_callback(NULL, NULL);
  CHECK(args.statuses[0] == HOMING_ERR_WRONG_THREAD);
  CHECK(args.statuses[1] == HOMING_ERR_WRONG_THREAD);
  CHECK(args.statuses[2] == HOMING_ERR_WRONG_THREAD);
  CHECK_STR(args.message, "an external loop and its objects belong to the thread that created the loop");
  CHECK(args.statuses[3] == HOMING_ERR_WRONG_THREAD);
  CHECK(args.statuses[4] == -1);
  CHECK_CONTAINS(log_text, "homing_loop_free: called from the wrong thread");
  CHECK_CONTAINS(log_text, "homing_dns_cache_free: called from the wrong thread");
  CHECK(log_levels_seen == (1 << HOMING_LOG_ERROR));
  /* Both are still alive and usable from their own thread. */
  CHECK_STATUS(homing_dns_cache_host_count(args.cache, &count), HOMING_OK);
  homing_dns_cache_free(args.cache);
  homing_loop_free(args.loop);
  CHECK(host.count == 0);
  homing_dns_cache_options_free(args.options);
}

/* ------------------------------------------------------------------------ */
/* Engines and the affinity lookup                                          */
/* ------------------------------------------------------------------------ */

/* A result handed from the engine thread to the test thread. */
typedef struct handoff {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int calls;
  int ok, source, failure;
  homing_status status;
  char hostport[128];
  char error[256];
  pthread_t thread;
  homing_decision_t *decision;
  /* Set by tests that act from inside the callback. */
  homing_engine_t *stop_engine;
  homing_router_t *sync_router;
  homing_router_t *free_router;
  homing_status inner_status;
} handoff;

static void handoff_init(handoff *h) {
  memset(h, 0, sizeof(*h));
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->cv, NULL);
}

static void handoff_destroy(handoff *h) {
  homing_decision_free(h->decision);
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->cv);
}

/* Waits up to `ms` for `calls` to reach `n`; returns whether it did. */
static int handoff_wait(handoff *h, int n, int ms) {
  struct timespec until;
  int reached;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec += 1;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&h->mu);
  while (h->calls < n &&
         pthread_cond_timedwait(&h->cv, &h->mu, &until) != ETIMEDOUT) {
  }
  reached = h->calls >= n;
  pthread_mutex_unlock(&h->mu);
  return reached;
}

static void on_lookup(const homing_lookup_result_t *result, void *user_data) {
  handoff *h = user_data;
  if (h->stop_engine != NULL) h->inner_status = homing_engine_stop(h->stop_engine);
  pthread_mutex_lock(&h->mu);
  h->ok = homing_lookup_result_ok(result);
  h->source = homing_lookup_result_source(result);
  h->failure = homing_lookup_result_failure(result);
  h->status = homing_lookup_result_status(result);
  snprintf(h->hostport, sizeof(h->hostport), "%s",
           homing_lookup_result_hostport(result));
  snprintf(h->error, sizeof(h->error), "%s", homing_lookup_result_error(result));
  h->thread = pthread_self();
  ++h->calls;
  pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
}

static homing_lookup_options_t *lookup_options(void) {
  homing_lookup_options_t *options = homing_lookup_options_new();
  CHECK_STATUS(homing_lookup_options_set_lookup_cluster(options, "resolver"),
               HOMING_OK);
  CHECK_STATUS(homing_lookup_options_add_lookup_host(options, resolver.hostport),
               HOMING_OK);
  CHECK_STATUS(homing_lookup_options_add_allowed_hostport(
                   options, "*.server-headless.poc-routing.svc.cluster.local:8081"),
               HOMING_OK);
  return options;
}

/* Looks `key` up and waits for the result (from any thread). */
static void lookup_and_wait(homing_lookup_t *lookup, const char *key,
                            handoff *h) {
  int before = h->calls;
  CHECK_STATUS(homing_lookup_owner(lookup, key, HOMING_NUL_TERMINATED,
                                   on_lookup, h, NULL, NULL),
               HOMING_OK);
  CHECK(handoff_wait(h, before + 1, 5000));
}

static void test_engine_basics(void) {
  homing_engine_t *engine = NULL;
  homing_lookup_t *lookup = NULL;
  homing_lookup_options_t *options = lookup_options();
  char *err = NULL;
  handoff h;
  handoff_init(&h);

  CHECK_STATUS(homing_engine_start(NULL, &err), HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "homing_engine_start: out is required");
  CHECK(homing_engine_loop(NULL) == NULL);
  CHECK_STATUS(homing_engine_stop(NULL), HOMING_OK);
  CHECK_STATUS(homing_engine_start(&engine, &err), HOMING_OK);
  /* An engine's loop is not driven from outside. */
  CHECK_STATUS(homing_loop_process_fd(homing_engine_loop(engine), 0,
                                      HOMING_EV_READ),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_loop_process_timers(homing_engine_loop(engine)),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK(homing_loop_timeout_ms(homing_engine_loop(engine)) == -1);
  homing_loop_free(homing_engine_loop(engine)); /* ignored */

  /* Stopping the engine from its own thread is refused. */
  CHECK_STATUS(homing_lookup_new(homing_engine_loop(engine), options, NULL,
                                 &lookup, &err),
               HOMING_OK);
  control("{\"reset\": true}");
  h.stop_engine = engine;
  lookup_and_wait(lookup, "stop", &h);
  CHECK(h.inner_status == HOMING_ERR_WRONG_THREAD);
  CHECK(!pthread_equal(h.thread, pthread_self()));
  h.stop_engine = NULL;

  /* Stopping it with a lookup alive shuts the lookup down. */
  CHECK_STATUS(homing_engine_stop(engine), HOMING_OK);
  CHECK_STATUS(homing_lookup_owner(lookup, "x", 1, on_lookup, &h, NULL, &err),
               HOMING_ERR_FAILED_PRECONDITION);
  CHECK_STR(err, "the loop of this object was freed");
  CHECK_STATUS(homing_lookup_invalidate(lookup, "x", 1),
               HOMING_ERR_FAILED_PRECONDITION);
  homing_lookup_free(lookup);
  homing_lookup_options_free(options);
  handoff_destroy(&h);
  homing_free(err);
}

static void test_lookup_options(void) {
  homing_engine_t *engine = NULL;
  homing_loop_t *loop;
  homing_lookup_options_t *options = homing_lookup_options_new();
  homing_lookup_t *lookup = NULL;
  char *err = NULL;

  CHECK_STATUS(homing_engine_start(&engine, &err), HOMING_OK);
  loop = homing_engine_loop(engine);
  /* Setter errors. */
  CHECK_STATUS(homing_lookup_options_set_lookup_cluster(options, ""),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_options_set_lookup_cluster(NULL, "r"),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_options_add_lookup_host(options, NULL),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_options_set_lookup_path(options, NULL),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_options_set_key(options, 2, "k"),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_options_set_key(options, HOMING_KEY_NONE, "k"),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_options_set_key(options, HOMING_KEY_HEADER, ""),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_options_set_hostport_field(options, ""),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_options_set_lookup_timeout_ms(options, -1),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_options_set_max_age_ms(NULL, 1),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_options_set_stale_age_ms(options, -1),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_options_set_max_entries(NULL, 1),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_options_set_max_key_length(NULL, 1),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_options_set_max_pending_lookups(NULL, 1),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_options_set_max_waiters_per_key(NULL, 1),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_options_add_allowed_hostport(options, NULL),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_options_set_default_target(NULL, "a:1"),
               HOMING_ERR_INVALID_ARGUMENT);

  /* Creation errors, each named. */
  CHECK_STATUS(homing_lookup_new(loop, options, NULL, &lookup, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "lookup_cluster is required");
  CHECK_STATUS(homing_lookup_options_set_lookup_cluster(options, "r"), HOMING_OK);
  CHECK_STATUS(homing_lookup_new(loop, options, NULL, &lookup, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "at least one lookup host is required");
  CHECK_STATUS(homing_lookup_options_add_lookup_host(options, "resolver:80"),
               HOMING_OK);
  CHECK_STATUS(homing_lookup_new(loop, options, NULL, &lookup, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "lookup host \"resolver:80\": ");
  homing_lookup_options_free(options);
  options = lookup_options();
  CHECK_STATUS(homing_lookup_options_set_lookup_path(options, "where"), HOMING_OK);
  CHECK_STATUS(homing_lookup_new(loop, options, NULL, &lookup, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "lookup_path");
  CHECK_STATUS(homing_lookup_options_set_lookup_path(options, "/where"), HOMING_OK);
  CHECK_STATUS(homing_lookup_options_set_max_age_ms(options, 2000), HOMING_OK);
  CHECK_STATUS(homing_lookup_options_set_stale_age_ms(options, 1000), HOMING_OK);
  CHECK_STATUS(homing_lookup_new(loop, options, NULL, &lookup, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "stale_age");
  CHECK_STATUS(homing_lookup_options_set_stale_age_ms(options, 2000), HOMING_OK);
  CHECK_STATUS(homing_lookup_options_add_allowed_hostport(options, "*bad:80"),
               HOMING_OK);
  CHECK_STATUS(homing_lookup_new(loop, options, NULL, &lookup, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(err, "*bad:80");
  CHECK_STATUS(homing_lookup_new(NULL, options, NULL, &lookup, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_new(loop, NULL, NULL, &lookup, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK(lookup == NULL);

  homing_lookup_options_free(options);
  homing_lookup_options_free(NULL);
  homing_lookup_free(NULL);
  CHECK_STATUS(homing_engine_stop(engine), HOMING_OK);
  homing_free(err);
}

static void test_lookup(void) {
  homing_engine_t *engine = NULL;
  homing_lookup_options_t *options = lookup_options();
  homing_lookup_t *lookup = NULL, *fallback = NULL;
  homing_stats_t *stats = homing_stats_new();
  homing_pending_t *pending = NULL;
  handoff h, never;
  char *err = NULL;
  size_t size = 0;
  long total;
  uint64_t coalesced = 0;
  int i;

  handoff_init(&h);
  handoff_init(&never);
  control("{\"reset\": true, \"reset_stats\": true}");
  control("{\"mapping\": {\"k1\": \"" FIXTURE_OWNER_1 "\"}}");
  CHECK_STATUS(homing_engine_start(&engine, &err), HOMING_OK);
  CHECK_STATUS(homing_lookup_options_set_lookup_timeout_ms(options, 300),
               HOMING_OK);
  CHECK_STATUS(homing_lookup_new(homing_engine_loop(engine), options, stats,
                                 &lookup, &err),
               HOMING_OK);

  /* From the resolver, on the engine thread; then from the cache, at once. */
  lookup_and_wait(lookup, "k1", &h);
  CHECK(h.ok && h.source == HOMING_SOURCE_RESOLVER);
  CHECK(h.failure == HOMING_LOOKUP_OK && h.status == HOMING_OK);
  CHECK_STR(h.hostport, FIXTURE_OWNER_1);
  CHECK_STR(h.error, "");
  CHECK(!pthread_equal(h.thread, pthread_self()));
  pending = (homing_pending_t *)&pending;
  CHECK_STATUS(homing_lookup_owner(lookup, "k1", 2, on_lookup, &h, &pending,
                                   &err),
               HOMING_OK);
  CHECK(h.calls == 2 && pending == NULL && h.source == HOMING_SOURCE_CACHE);
  CHECK_STATUS(homing_lookup_size(lookup, &size), HOMING_OK);
  CHECK(size == 1);

  /* Invalidation sends the next lookup to the resolver. */
  CHECK_STATUS(homing_lookup_invalidate(lookup, "k1", HOMING_NUL_TERMINATED),
               HOMING_OK);
  CHECK_STATUS(homing_lookup_size(lookup, &size), HOMING_OK);
  CHECK(size == 0);
  lookup_and_wait(lookup, "k1", &h);
  CHECK(h.source == HOMING_SOURCE_RESOLVER);
  CHECK(fixture_resolver_total(&resolver) == 2);

  /* Lookups of one key in flight share one resolver request. */
  control("{\"delay_ms\": 500}");
  for (i = 0; i < 3; ++i) {
    CHECK_STATUS(homing_lookup_owner(lookup, "k2", 2, on_lookup, &h, NULL, &err),
                 HOMING_OK);
  }
  CHECK(handoff_wait(&h, 6, 5000));
  CHECK(fixture_resolver_total(&resolver) == 3);
  CHECK_STATUS(homing_stats_counter(stats, "affinity.resolver.lookup_coalesced",
                                    &coalesced, &err),
               HOMING_OK);
  CHECK(coalesced == 2);

  /* A cancelled lookup never calls back. */
  CHECK_STATUS(homing_lookup_owner(lookup, "k3", 2, on_lookup, &never, &pending,
                                   &err),
               HOMING_OK);
  CHECK(pending != NULL);
  homing_pending_free(pending); /* cancels */
  CHECK(!handoff_wait(&never, 1, 400));
  control("{\"delay_ms\": 0}");

  /* Failures, each classified. */
  control("{\"status\": 500}");
  lookup_and_wait(lookup, "f1", &h);
  CHECK(!h.ok && h.failure == HOMING_LOOKUP_RESOLVER_UNAVAILABLE);
  CHECK(h.status == HOMING_ERR_UNAVAILABLE);
  CHECK_CONTAINS(h.error, "500");
  CHECK_STR(h.hostport, "");
  CHECK(h.source == HOMING_SOURCE_NONE);
  control("{\"reset\": true}");
  control("{\"mode\": \"garbage\"}");
  lookup_and_wait(lookup, "f2", &h);
  CHECK(h.failure == HOMING_LOOKUP_BAD_ANSWER);
  CHECK_CONTAINS(h.error, "not JSON");
  control("{\"reset\": true}");
  control("{\"hostport\": \"evil.example.com:8081\"}");
  lookup_and_wait(lookup, "f3", &h);
  CHECK(h.failure == HOMING_LOOKUP_HOSTPORT_REJECTED);
  CHECK(h.status == HOMING_ERR_PERMISSION_DENIED);
  CHECK_CONTAINS(h.error, "not in allowed_hostports");
  control("{\"reset\": true}");
  control("{\"delay_ms\": 1000}");
  lookup_and_wait(lookup, "f4", &h);
  CHECK(h.failure == HOMING_LOOKUP_RESOLVER_TIMEOUT);
  CHECK(h.status == HOMING_ERR_TIMEOUT);
  /* A failed key is in backoff (about a second): answered at once, without
   * asking again. */
  total = fixture_resolver_total(&resolver);
  CHECK_STATUS(homing_lookup_owner(lookup, "f4", 2, on_lookup, &h, &pending,
                                   &err),
               HOMING_OK);
  CHECK(pending == NULL && h.failure == HOMING_LOOKUP_RESOLVER_TIMEOUT);
  control("{\"reset\": true}");
  CHECK(fixture_resolver_total(&resolver) == total);

  /* A default target stands in while the resolver's answers are unusable.
   * A header key reaches the resolver as ?x-client-id=..., which this
   * resolver refuses (400). */
  CHECK_STATUS(homing_lookup_options_set_default_target(options,
                                                        "fallback.local:8081"),
               HOMING_OK);
  CHECK_STATUS(homing_lookup_options_set_key(options, HOMING_KEY_HEADER,
                                             "x-client-id"),
               HOMING_OK);
  CHECK_STATUS(homing_lookup_options_set_lookup_cluster(options, "fallback"),
               HOMING_OK);
  CHECK_STATUS(homing_lookup_options_set_hostport_field(options, "hostport"),
               HOMING_OK);
  CHECK_STATUS(homing_lookup_options_set_max_entries(options, 10), HOMING_OK);
  CHECK_STATUS(homing_lookup_options_set_max_key_length(options, 16), HOMING_OK);
  CHECK_STATUS(homing_lookup_options_set_max_pending_lookups(options, 4),
               HOMING_OK);
  CHECK_STATUS(homing_lookup_options_set_max_waiters_per_key(options, 4),
               HOMING_OK);
  CHECK_STATUS(homing_lookup_new(homing_engine_loop(engine), options, stats,
                                 &fallback, &err),
               HOMING_OK);
  lookup_and_wait(fallback, "d1", &h);
  CHECK(h.ok && h.source == HOMING_SOURCE_DEFAULT_TARGET);
  CHECK_STR(h.hostport, "fallback.local:8081");
  CHECK(h.failure == HOMING_LOOKUP_BAD_ANSWER);
  CHECK_CONTAINS(h.error, "400");
  CHECK_STATUS(homing_lookup_options_set_default_target(options, NULL),
               HOMING_OK);

  /* Argument errors. */
  CHECK_STATUS(homing_lookup_owner(NULL, "k", 1, on_lookup, &h, NULL, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "homing_lookup_owner: lookup, key and cb are required");
  CHECK_STATUS(homing_lookup_owner(lookup, "k", 1, NULL, &h, NULL, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_owner(lookup, NULL, 1, on_lookup, &h, NULL, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_invalidate(NULL, "k", 1), HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_lookup_size(lookup, NULL), HOMING_ERR_INVALID_ARGUMENT);
  CHECK(homing_lookup_result_ok(NULL) == 0);
  CHECK(homing_lookup_result_hostport(NULL) == NULL);
  CHECK(homing_lookup_result_source(NULL) == HOMING_SOURCE_NONE);
  CHECK(homing_lookup_result_failure(NULL) == HOMING_LOOKUP_OK);
  CHECK(homing_lookup_result_status(NULL) == HOMING_ERR_INVALID_ARGUMENT);
  CHECK(homing_lookup_result_error(NULL) == NULL);

  homing_lookup_free(fallback);
  homing_lookup_free(lookup);
  CHECK_STATUS(homing_engine_stop(engine), HOMING_OK);
  homing_lookup_options_free(options);
  homing_stats_free(stats);
  handoff_destroy(&h);
  handoff_destroy(&never);
  homing_free(err);
}

/* Many threads use one lookup at once: calls are carried to the engine. */
typedef struct lookup_worker {
  homing_lookup_t *lookup;
  handoff h;
} lookup_worker;

static void *lookup_from_thread(void *arg) {
  lookup_worker *worker = arg;
  char key[16];
  int i;
  /* Four keys: resolver_server.py's listen backlog is 5, and a burst of
   * more new connections would lose SYNs (a one-second retransmit). */
  for (i = 0; i < 40; ++i) {
    snprintf(key, sizeof(key), "t%d", i % 4);
    homing_lookup_owner(worker->lookup, key, HOMING_NUL_TERMINATED, on_lookup,
                        &worker->h, NULL, NULL);
  }
  handoff_wait(&worker->h, 40, 10000);
  return NULL;
}

static void test_lookup_threads(void) {
  homing_engine_t *engine = NULL;
  homing_lookup_options_t *options = lookup_options();
  lookup_worker workers[4];
  pthread_t threads[4];
  size_t size = 0;
  int i;
  control("{\"reset\": true, \"shards\": 2}");
  CHECK_STATUS(homing_engine_start(&engine, NULL), HOMING_OK);
  for (i = 0; i < 4; ++i) handoff_init(&workers[i].h);
  CHECK_STATUS(homing_lookup_new(homing_engine_loop(engine), options, NULL,
                                 &workers[0].lookup, NULL),
               HOMING_OK);
  for (i = 0; i < 4; ++i) {
    workers[i].lookup = workers[0].lookup;
    pthread_create(&threads[i], NULL, lookup_from_thread, &workers[i]);
  }
  for (i = 0; i < 4; ++i) {
    pthread_join(threads[i], NULL);
    CHECK(workers[i].h.calls == 40);
    CHECK(workers[i].h.ok);
  }
  CHECK_STATUS(homing_lookup_size(workers[0].lookup, &size), HOMING_OK);
  CHECK(size == 4);
  /* Freed from another thread than the engine's: carried over too. */
  homing_lookup_free(workers[0].lookup);
  CHECK_STATUS(homing_engine_stop(engine), HOMING_OK);
  for (i = 0; i < 4; ++i) handoff_destroy(&workers[i].h);
  homing_lookup_options_free(options);
  control("{\"reset\": true}");
}

/* ------------------------------------------------------------------------ */
/* Routers                                                                  */
/* ------------------------------------------------------------------------ */

/* Counts homing_cancel_cb calls (they run on the engine thread while the
 * test thread waits in homing_pending_cancel(), so no lock is needed). */
typedef struct cancel_count {
  int calls;
  homing_status status;
} cancel_count;

static void on_cancel(homing_status status, void *user_data) {
  cancel_count *count = user_data;
  count->calls++;
  count->status = status;
}

static void on_decision(const homing_decision_t *decision, void *user_data) {
  handoff *h = user_data;
  homing_decision_t *inner = NULL;
  if (h->sync_router != NULL) {
    homing_request_t *request = request_for("/where");
    h->inner_status = homing_router_route_sync(h->sync_router, request, 10,
                                               &inner, NULL);
    homing_request_free(request);
    h->sync_router = NULL;
  }
  if (h->free_router != NULL) {
    homing_router_free(h->free_router);
    h->free_router = NULL;
  }
  pthread_mutex_lock(&h->mu);
  homing_decision_free(h->decision);
  h->decision = homing_decision_copy(decision);
  h->thread = pthread_self();
  ++h->calls;
  pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
}

/* route_sync with the shared test expectations. */
static homing_decision_t *route_sync(homing_router_t *router, const char *path) {
  homing_request_t *request = request_for(path);
  homing_decision_t *decision = NULL;
  char *err = NULL;
  CHECK_STATUS(homing_router_route_sync(router, request, 5000, &decision, &err),
               HOMING_OK);
  if (err != NULL) fprintf(stderr, "%s: %s\n", path, err);
  homing_free(err);
  homing_request_free(request);
  return decision;
}

static void check_local_reply(homing_router_t *router, const char *path,
                              int status, const char *error,
                              const char *detail) {
  homing_decision_t *decision = route_sync(router, path);
  CHECK(homing_decision_forward(decision) == 0);
  CHECK(homing_decision_status(decision) == status);
  CHECK_STR(homing_decision_error(decision), error);
  CHECK_CONTAINS(homing_decision_detail(decision), detail);
  CHECK_STR(homing_decision_upstream(decision), "");
  size_t sockaddr_len = 1;
  CHECK(homing_decision_upstream_sockaddr(decision, &sockaddr_len) == NULL);
  CHECK(sockaddr_len == 0);
  homing_decision_free(decision);
}

static void test_router_on_engine(void) {
  homing_config_t *config = shared_config();
  homing_engine_t *engine = NULL;
  homing_router_t *router = NULL, *other = NULL;
  homing_stats_t *stats = homing_stats_new();
  homing_decision_t *first, *decision;
  homing_request_t *request;
  homing_pending_t *pending = NULL;
  const char *key;
  size_t key_len = 0;
  char *err = NULL, *text = NULL;
  uint64_t value = 0;
  handoff h, never;
  long total;

  handoff_init(&h);
  handoff_init(&never);
  control("{\"reset\": true, \"reset_stats\": true}");
  control("{\"mapping\": {\"123\": \"" FIXTURE_OWNER_1 "\", \"k\": \"" FIXTURE_OWNER_0 "\"}}");
  CHECK_STATUS(homing_engine_start(&engine, &err), HOMING_OK);

  CHECK_STATUS(homing_router_new(homing_engine_loop(engine), config, 1, stats,
                                 &router, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "listener index 1 is out of range (the config has 1 listeners)");
  CHECK_STATUS(homing_router_new(NULL, config, 0, stats, &router, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_router_new(homing_engine_loop(engine), NULL, 0, stats,
                                 &router, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_router_new(homing_engine_loop(engine), config, 0, stats,
                                 &router, &err),
               HOMING_OK);
  homing_config_free(config); /* the router keeps what it needs */
  CHECK_STATUS(homing_router_wait_ready(router, 5000, &err), HOMING_OK);
  CHECK(homing_router_ready(router) == 1);
  CHECK(homing_router_ready(NULL) == 0);
  CHECK_STATUS(homing_router_wait_ready(NULL, 1, &err),
               HOMING_ERR_INVALID_ARGUMENT);

  /* /join: resolver, then DNS; forward to the owner. */
  first = route_sync(router, "/join?client_id=123");
  CHECK(homing_decision_forward(first) == 1);
  CHECK(homing_decision_status(first) == 0);
  CHECK_STR(homing_decision_error(first), "");
  CHECK_STR(homing_decision_detail(first), "");
  CHECK_STR(homing_decision_upstream(first), FIXTURE_OWNER_1_IP ":8081");
  {
    /* The same address as a sockaddr, ready for connect(). */
    size_t len = 0;
    const struct sockaddr *sa = homing_decision_upstream_sockaddr(first, &len);
    CHECK(sa != NULL && sa->sa_family == AF_INET && len == sizeof(struct sockaddr_in));
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    char ip[INET_ADDRSTRLEN];
    CHECK(inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip)) != NULL);
    CHECK_STR(ip, FIXTURE_OWNER_1_IP);
    CHECK(ntohs(in->sin_port) == 8081);
  }
  CHECK_STR(homing_decision_authority(first), FIXTURE_OWNER_1);
  key = homing_decision_key(first, &key_len);
  CHECK(key_len == 3 && strcmp(key, "123") == 0);
  CHECK(homing_decision_lookup_source(first) == HOMING_SOURCE_RESOLVER);
  CHECK_STR(homing_decision_route_name(first), "join");
  CHECK_STR(homing_decision_cluster(first), "dynamic_forward_proxy_cluster");

  /* Cached now: the callback runs before homing_router_route() returns. */
  request = request_for("/join?client_id=123");
  pending = (homing_pending_t *)&pending;
  CHECK_STATUS(homing_router_route(router, request, on_decision, &h, &pending,
                                   &err),
               HOMING_OK);
  CHECK(pending == NULL && h.calls == 1);
  CHECK(homing_decision_lookup_source(h.decision) == HOMING_SOURCE_CACHE);
  CHECK(!pthread_equal(h.thread, pthread_self())); /* on the engine thread */

  /* 421 from the owner: the next request asks the resolver again. */
  total = fixture_resolver_total(&resolver);
  CHECK_STATUS(homing_router_misdirected(router, first, &err), HOMING_OK);
  CHECK_STATUS(homing_router_route(router, request, on_decision, &h, &pending,
                                   &err),
               HOMING_OK);
  CHECK(pending != NULL);
  CHECK(handoff_wait(&h, 2, 5000));
  CHECK(homing_pending_done(pending) == 1);
  homing_pending_free(pending);
  CHECK(homing_decision_lookup_source(h.decision) == HOMING_SOURCE_RESOLVER);
  CHECK(fixture_resolver_total(&resolver) == total + 1);
  homing_decision_free(first);

  /* A 421 naming the new owner: taken (it passes the allow-list), so the
   * next request goes there without the resolver; one outside it is not. */
  first = route_sync(router, "/join?client_id=123");
  total = fixture_resolver_total(&resolver);
  CHECK_STATUS(homing_router_misdirected_to(router, first, FIXTURE_OWNER_0,
                                            HOMING_NUL_TERMINATED, &err),
               HOMING_OK);
  homing_decision_free(first);
  first = route_sync(router, "/join?client_id=123");
  CHECK(homing_decision_lookup_source(first) == HOMING_SOURCE_CACHE);
  CHECK_STR(homing_decision_authority(first), FIXTURE_OWNER_0);
  CHECK(fixture_resolver_total(&resolver) == total);
  CHECK_STATUS(homing_router_misdirected_to(router, first, "evil.example.com:8081",
                                            HOMING_NUL_TERMINATED, &err),
               HOMING_OK);
  homing_decision_free(first);
  first = route_sync(router, "/join?client_id=123");
  CHECK(homing_decision_lookup_source(first) == HOMING_SOURCE_RESOLVER);
  CHECK_STATUS(homing_router_misdirected_to(router, first, NULL, 3, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  homing_decision_free(first);

  /* A cancelled route never calls back. */
  control("{\"delay_ms\": 200}");
  homing_request_set_path(request, "/join?client_id=slow", HOMING_NUL_TERMINATED);
  CHECK_STATUS(homing_router_route(router, request, on_decision, &never,
                                   &pending, &err),
               HOMING_OK);
  CHECK(pending != NULL && homing_pending_done(pending) == 0);
  CHECK_STATUS(homing_pending_cancel(pending), HOMING_OK);
  CHECK(homing_pending_done(pending) == 1);
  CHECK(!handoff_wait(&never, 1, 500));
  homing_pending_free(pending);

  /* With a cancel callback there is one cleanup path: it runs when the
   * operation is cancelled or shut down, never after the callback. */
  {
    cancel_count cancels = {0, HOMING_OK};
    homing_router_t *doomed = NULL;
    homing_request_set_path(request, "/join?client_id=slow-cancel",
                            HOMING_NUL_TERMINATED);
    CHECK_STATUS(homing_router_route(router, request, on_decision, &never,
                                     &pending, &err),
                 HOMING_OK);
    CHECK(pending != NULL);
    CHECK_STATUS(homing_pending_on_cancel(pending, on_cancel, &cancels), HOMING_OK);
    CHECK(cancels.calls == 0);
    homing_pending_free(pending); /* cancels */
    CHECK(cancels.calls == 1 && cancels.status == HOMING_ERR_CANCELLED);
    CHECK(!handoff_wait(&never, 1, 300));

    /* Registered after a cancel: told at once. */
    homing_request_set_path(request, "/join?client_id=slow-late",
                            HOMING_NUL_TERMINATED);
    CHECK_STATUS(homing_router_route(router, request, on_decision, &never,
                                     &pending, &err),
                 HOMING_OK);
    CHECK_STATUS(homing_pending_cancel(pending), HOMING_OK);
    CHECK_STATUS(homing_pending_on_cancel(pending, on_cancel, &cancels), HOMING_OK);
    CHECK(cancels.calls == 2);
    homing_pending_free(pending);
    CHECK(cancels.calls == 2);
    CHECK_STATUS(homing_pending_on_cancel(NULL, on_cancel, &cancels),
                 HOMING_ERR_INVALID_ARGUMENT);

    /* A router freed with the operation pending: told too. */
    config = shared_config();
    CHECK_STATUS(homing_router_new(homing_engine_loop(engine), config, 0, NULL,
                                   &doomed, &err),
                 HOMING_OK);
    homing_config_free(config);
    CHECK_STATUS(homing_router_wait_ready(doomed, 5000, &err), HOMING_OK);
    homing_request_set_path(request, "/join?client_id=slow-doomed",
                            HOMING_NUL_TERMINATED);
    CHECK_STATUS(homing_router_route(doomed, request, on_decision, &never,
                                     &pending, &err),
                 HOMING_OK);
    CHECK(pending != NULL);
    CHECK_STATUS(homing_pending_on_cancel(pending, on_cancel, &cancels), HOMING_OK);
    homing_router_free(doomed);
    CHECK(cancels.calls == 3 && cancels.status == HOMING_ERR_CANCELLED);
    homing_pending_free(pending);
    CHECK(cancels.calls == 3);
  }

  /* route_sync gives up after its timeout; the lookup goes on. */
  control("{\"delay_ms\": 600}");
  homing_request_set_path(request, "/join?client_id=late", HOMING_NUL_TERMINATED);
  decision = NULL;
  CHECK_STATUS(homing_router_route_sync(router, request, 50, &decision, &err),
               HOMING_ERR_TIMEOUT);
  CHECK_STR(err, "no decision within 50 ms");
  CHECK(decision == NULL);
  control("{\"delay_ms\": 0}");

  /* A load-balanced route, and its outcome report. */
  decision = route_sync(router, "/pool?client_id=123");
  CHECK(homing_decision_forward(decision));
  CHECK_STR(homing_decision_route_name(decision), "pool");
  CHECK_STR(homing_decision_cluster(decision), "pool");
  CHECK_STR(homing_decision_authority(decision), "");
  CHECK(homing_decision_lookup_source(decision) == HOMING_SOURCE_NONE);
  CHECK_CONTAINS(homing_decision_upstream(decision), ":8080");
  CHECK_STATUS(homing_router_report(router, decision, HOMING_OUTCOME_SERVER_ERROR,
                                    &err),
               HOMING_OK);
  CHECK_STATUS(homing_stats_counter(stats, "cluster.pool.upstream_rq_5xx",
                                    &value, &err),
               HOMING_OK);
  CHECK(value == 1);
  CHECK_STATUS(homing_router_report(router, decision, 9, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "unknown outcome 9");
  CHECK_STATUS(homing_router_report(NULL, decision, 0, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_router_misdirected(router, NULL, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  homing_decision_free(decision);

  /* A retry the route's policy covers moves the decision to the other host;
   * the failed attempt counts, once. */
  decision = route_sync(router, "/pool?client_id=retry");
  {
    char first_upstream[64];
    int retry = -1;
    snprintf(first_upstream, sizeof first_upstream, "%s",
             homing_decision_upstream(decision));
    CHECK_STATUS(homing_router_retry(router, decision, 404, HOMING_OUTCOME_SUCCESS,
                                     &retry, &err),
                 HOMING_OK);
    CHECK(retry == 0); /* an answer the policy does not cover */
    CHECK_STATUS(homing_router_retry(router, decision, 503,
                                     HOMING_OUTCOME_SERVER_ERROR, &retry, &err),
                 HOMING_OK);
    CHECK(retry == 1);
    CHECK(strcmp(homing_decision_upstream(decision), first_upstream) != 0);
    CHECK_STATUS(homing_stats_counter(stats, "cluster.pool.upstream_rq_5xx",
                                      &value, &err),
                 HOMING_OK);
    CHECK(value == 2);
    CHECK_STATUS(homing_router_retry(router, decision, 503,
                                     HOMING_OUTCOME_SERVER_ERROR, &retry, &err),
                 HOMING_OK);
    CHECK(retry == 0); /* num_retries is 1 */
    CHECK_STATUS(homing_router_retry(router, decision, 0, 9, &retry, &err),
                 HOMING_ERR_INVALID_ARGUMENT);
    CHECK(retry == 0);
    CHECK_STATUS(homing_router_retry(router, NULL, 0, 0, &retry, &err),
                 HOMING_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(homing_router_report(router, decision, HOMING_OUTCOME_SUCCESS,
                                      &err),
                 HOMING_OK);
  }

  /* Decisions belong to their router. */
  config = shared_config();
  CHECK_STATUS(homing_router_new(homing_engine_loop(engine), config, 0, NULL,
                                 &other, &err),
               HOMING_OK);
  homing_config_free(config);
  CHECK_STATUS(homing_router_report(other, decision, HOMING_OUTCOME_SUCCESS, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "the decision comes from another router");
  CHECK_STATUS(homing_router_misdirected(other, decision, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  homing_decision_free(decision);

  /* Local replies. */
  check_local_reply(router, "/nowhere", 404, "no_route",
                    "no route matches GET /nowhere for host \"proxy.local\"");
  check_local_reply(router, "/join", 400, "missing_key",
                    "query parameter \"client_id\" is required");
  check_local_reply(router, "/join?client_id=", 400, "empty_key", "is empty");
  control("{\"hostport\": \"evil.example.com:8081\"}");
  check_local_reply(router, "/join?client_id=evil", 502, "hostport_rejected",
                    "not in allowed_hostports");
  control("{\"reset\": true}");
  control("{\"hostport\": \"server-7.server-headless.poc-routing.svc.cluster.local:8081\"}");
  check_local_reply(router, "/join?client_id=seven", 503, "dns_resolution_failed",
                    "DNS resolution of \"server-7.");
  /* The owner was known, though: the decision says so. */
  decision = route_sync(router, "/join?client_id=seven");
  CHECK(homing_decision_lookup_source(decision) == HOMING_SOURCE_CACHE);
  CHECK_STR(homing_decision_authority(decision), "server-7.server-headless.poc-routing.svc.cluster.local:8081");
  homing_decision_free(decision);
  control("{\"reset\": true}");
  control("{\"status\": 500}");
  check_local_reply(router, "/join?client_id=down", 503, "resolver_unavailable",
                    "500");
  control("{\"reset\": true}");
  decision = route_sync(router, "/join");
  CHECK(homing_decision_lookup_source(decision) == HOMING_SOURCE_NONE);
  homing_decision_free(decision);
  decision = route_sync(router, "/nowhere");
  CHECK_STR(homing_decision_route_name(decision), "");
  CHECK_STR(homing_decision_cluster(decision), "");
  homing_decision_free(decision);

  /* Keys are bytes. */
  control("{\"mapping\": {\"a\\u0000b\": \"" FIXTURE_OWNER_0 "\"}}");
  decision = route_sync(router, "/join?client_id=a%00b");
  key = homing_decision_key(decision, &key_len);
  CHECK(key_len == 3 && memcmp(key, "a\0b", 3) == 0);
  CHECK(homing_decision_key(decision, NULL) == key);
  homing_decision_free(decision);

  /* From inside a callback, blocking calls are refused. */
  h.sync_router = router;
  homing_request_set_path(request, "/where", HOMING_NUL_TERMINATED);
  CHECK_STATUS(homing_router_route(router, request, on_decision, &h, NULL, &err),
               HOMING_OK);
  CHECK(handoff_wait(&h, 3, 5000));
  CHECK(h.inner_status == HOMING_ERR_WRONG_THREAD);
  CHECK_STATUS(homing_router_wait_ready(router, 10, &err), HOMING_OK);

  CHECK_STATUS(homing_router_route(NULL, request, on_decision, &h, NULL, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STR(err, "homing_router_route: router, request and cb are required");
  CHECK_STATUS(homing_router_route(router, request, NULL, &h, NULL, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_router_route_sync(router, request, 10, NULL, &err),
               HOMING_ERR_INVALID_ARGUMENT);

  /* The router's stats. */
  CHECK_STATUS(homing_stats_counter(stats, "http.ingress_http.rq_local_reply",
                                    &value, &err),
               HOMING_OK);
  CHECK(value == 9); /* the local replies above */
  CHECK_STATUS(homing_stats_render(stats, HOMING_STATS_TEXT,
                                   "^dns_cache\\.dfp_cache\\.num_hosts$", &text,
                                   NULL, &err),
               HOMING_OK);
  CHECK_CONTAINS(text, "dns_cache.dfp_cache.num_hosts: ");
  homing_free(text);

  /* A router freed from inside its own callback. */
  h.free_router = other;
  homing_request_set_path(request, "/where", HOMING_NUL_TERMINATED);
  CHECK_STATUS(homing_router_route(other, request, on_decision, &h, NULL, &err),
               HOMING_OK);
  CHECK(handoff_wait(&h, 4, 5000));

  CHECK(homing_decision_copy(NULL) == NULL);
  CHECK(homing_decision_forward(NULL) == 0);
  CHECK(homing_decision_status(NULL) == 0);
  CHECK(homing_decision_error(NULL) == NULL);
  CHECK(homing_decision_detail(NULL) == NULL);
  CHECK(homing_decision_upstream(NULL) == NULL);
  CHECK(homing_decision_upstream_sockaddr(NULL, NULL) == NULL);
  CHECK(homing_decision_authority(NULL) == NULL);
  CHECK(homing_decision_key(NULL, &key_len) == NULL);
  CHECK(homing_decision_lookup_source(NULL) == HOMING_SOURCE_NONE);
  CHECK(homing_decision_route_name(NULL) == NULL);
  CHECK(homing_decision_cluster(NULL) == NULL);
  homing_decision_free(NULL);
  homing_router_free(NULL);

  homing_request_free(request);
  homing_router_free(router);
  CHECK_STATUS(homing_engine_stop(engine), HOMING_OK);
  homing_stats_free(stats);
  handoff_destroy(&h);
  handoff_destroy(&never);
  homing_free(err);
}

/* route_sync waiting in one thread while the engine stops in another. */
typedef struct sync_waiter {
  homing_router_t *router;
  homing_status status;
  char message[128];
} sync_waiter;

static void *route_sync_in_thread(void *arg) {
  sync_waiter *waiter = arg;
  homing_request_t *request = request_for("/join?client_id=waiting");
  homing_decision_t *decision = NULL;
  char *err = NULL;
  waiter->status = homing_router_route_sync(waiter->router, request, -1,
                                            &decision, &err);
  snprintf(waiter->message, sizeof(waiter->message), "%s", err ? err : "");
  homing_free(err);
  homing_decision_free(decision);
  homing_request_free(request);
  return NULL;
}

static void test_router_shutdown(void) {
  homing_config_t *config = shared_config();
  homing_engine_t *engine = NULL;
  homing_router_t *router = NULL;
  homing_request_t *request = request_for("/where");
  homing_decision_t *decision = NULL;
  sync_waiter waiter;
  pthread_t thread;
  char *err = NULL;
  long total;
  int64_t deadline;

  control("{\"reset\": true}");
  control("{\"delay_ms\": 2000}");
  CHECK_STATUS(homing_engine_start(&engine, NULL), HOMING_OK);
  CHECK_STATUS(homing_router_new(homing_engine_loop(engine), config, 0, NULL,
                                 &router, &err),
               HOMING_OK);
  CHECK_STATUS(homing_router_wait_ready(router, 5000, &err), HOMING_OK);
  memset(&waiter, 0, sizeof(waiter));
  waiter.router = router;
  total = fixture_resolver_total(&resolver);
  pthread_create(&thread, NULL, route_sync_in_thread, &waiter);
  /* Stop once the request is waiting for the (slow) resolver. */
  deadline = now_ms() + 5000;
  while (fixture_resolver_total(&resolver) == total && now_ms() < deadline) {
    sleep_ms(10);
  }
  CHECK(fixture_resolver_total(&resolver) == total + 1);
  CHECK_STATUS(homing_engine_stop(engine), HOMING_OK);
  pthread_join(thread, NULL);
  CHECK(waiter.status == HOMING_ERR_CANCELLED);
  CHECK_STR(waiter.message, "the router was shut down before deciding");
  /* The handle is inert now. */
  CHECK_STATUS(homing_router_route_sync(router, request, 10, &decision, &err),
               HOMING_ERR_FAILED_PRECONDITION);
  CHECK_STATUS(homing_router_wait_ready(router, 10, &err),
               HOMING_ERR_FAILED_PRECONDITION);
  CHECK_STATUS(homing_router_route(router, request, on_decision, NULL, NULL, &err),
               HOMING_ERR_FAILED_PRECONDITION);
  homing_router_free(router);
  homing_request_free(request);
  homing_config_free(config);
  homing_free(err);
  control("{\"reset\": true}");
}

/* A router on an external loop: the host drives it; no blocking calls. */
static void on_router_ready(homing_router_t *router, void *user_data) {
  int *calls = user_data;
  ++*calls;
  CHECK(homing_router_ready(router) == 1);
}

static void test_router_on_external_loop(void) {
  test_host host;
  homing_loop_t *loop = new_host_loop(&host);
  homing_config_t *config = shared_config();
  homing_router_t *router = NULL;
  homing_request_t *request = request_for("/join?client_id=ext");
  homing_decision_t *decision = NULL;
  homing_pending_t *pending = NULL;
  int ready_calls = 0;
  char *err = NULL;
  handoff h;

  handoff_init(&h);
  control("{\"reset\": true}");
  control("{\"mapping\": {\"ext\": \"" FIXTURE_OWNER_0 "\"}}");
  CHECK_STATUS(homing_router_new(loop, config, 0, NULL, &router, &err), HOMING_OK);
  CHECK_STATUS(homing_router_wait_ready(router, 10, &err),
               HOMING_ERR_FAILED_PRECONDITION);
  CHECK_CONTAINS(err, "homing_router_wait_ready needs a router on an engine");
  CHECK_STATUS(homing_router_route_sync(router, request, 10, &decision, &err),
               HOMING_ERR_FAILED_PRECONDITION);
  /* Ready once the host has driven the STRICT_DNS resolution; the ready
   * callback says when, from inside the host's process call. */
  CHECK_STATUS(homing_router_on_ready(router, NULL, NULL, &err),
               HOMING_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(homing_router_on_ready(router, on_router_ready, &ready_calls, &err),
               HOMING_OK);
  CHECK(ready_calls == 0);
  CHECK(host_run_until(loop, &host, &ready_calls, 5000));
  CHECK(homing_router_ready(router));
  /* Registered when ready already: called before the call returns. */
  CHECK_STATUS(homing_router_on_ready(router, on_router_ready, &ready_calls, &err),
               HOMING_OK);
  CHECK(ready_calls == 2);
  CHECK_STATUS(homing_router_route(router, request, on_decision, &h, &pending,
                                   &err),
               HOMING_OK);
  CHECK(pending != NULL);
  CHECK(host_run_until(loop, &host, &h.calls, 5000));
  CHECK(pthread_equal(h.thread, pthread_self()));
  CHECK_STR(homing_decision_upstream(h.decision), FIXTURE_OWNER_0_IP ":8081");
  homing_pending_free(pending);

  /* Freeing the loop shuts the router down. */
  homing_loop_free(loop);
  CHECK_STATUS(homing_router_route(router, request, on_decision, &h, NULL, &err),
               HOMING_ERR_FAILED_PRECONDITION);
  CHECK_STATUS(homing_router_report(router, h.decision, HOMING_OUTCOME_SUCCESS,
                                    &err),
               HOMING_ERR_FAILED_PRECONDITION);
  CHECK_STATUS(homing_router_misdirected(router, h.decision, &err),
               HOMING_ERR_FAILED_PRECONDITION);
  CHECK_STATUS(homing_router_on_ready(router, on_router_ready, &ready_calls, &err),
               HOMING_ERR_FAILED_PRECONDITION);
  CHECK(homing_router_ready(router) == 1);
  homing_router_free(router);
  homing_request_free(request);
  homing_config_free(config);
  handoff_destroy(&h);
  homing_free(err);
}

static void test_pending_arguments(void) {
  CHECK_STATUS(homing_pending_cancel(NULL), HOMING_ERR_INVALID_ARGUMENT);
  CHECK(homing_pending_done(NULL) == 0);
  homing_pending_free(NULL);
}

/* Every failing call sets its output pointers to NULL (and lengths to 0),
 * whatever they held: a caller never frees or uses a stale value. */
static void test_failed_calls_null_their_outputs(void) {
  static char stale_byte;
  void *stale = &stale_byte;
  char *errmsg = NULL;
  homing_config_t *config = stale;
  CHECK(homing_config_parse("admin: [", HOMING_NUL_TERMINATED, "bad.yaml", &config,
                            &errmsg) != HOMING_OK);
  CHECK(config == NULL);
  config = stale;
  CHECK(homing_config_load_file("/nonexistent/homing.yaml", &config, &errmsg) != HOMING_OK);
  CHECK(config == NULL);

  homing_route_table_t *table = stale;
  CHECK(homing_route_table_new(NULL, 0, &table, &errmsg) != HOMING_OK);
  CHECK(table == NULL);

  homing_placement_t *placement = stale;
  CHECK(homing_placement_new(-1, NULL, 0, &placement, &errmsg) != HOMING_OK);
  CHECK(placement == NULL);

  homing_lb_t *lb = stale;
  CHECK(homing_lb_new("c", -1, NULL, NULL, 0, NULL, &lb, &errmsg) != HOMING_OK);
  CHECK(lb == NULL);
  lb = stale;
  CHECK(homing_lb_new_from_config(NULL, "c", NULL, &lb, &errmsg) != HOMING_OK);
  CHECK(lb == NULL);

  homing_loop_t *loop = stale;
  CHECK(homing_loop_new_external(NULL, NULL, NULL, &loop, &errmsg) != HOMING_OK);
  CHECK(loop == NULL);

  homing_dns_cache_t *cache = stale;
  CHECK(homing_dns_cache_new(NULL, NULL, NULL, &cache, &errmsg) != HOMING_OK);
  CHECK(cache == NULL);
  homing_dns_host_t *host = stale;
  CHECK(homing_dns_cache_find(NULL, "a:1", HOMING_NUL_TERMINATED, &host) != HOMING_OK);
  CHECK(host == NULL);

  homing_lookup_t *lookup = stale;
  CHECK(homing_lookup_new(NULL, NULL, NULL, &lookup, &errmsg) != HOMING_OK);
  CHECK(lookup == NULL);

  homing_router_t *router = stale;
  CHECK(homing_router_new(NULL, NULL, 0, NULL, &router, &errmsg) != HOMING_OK);
  CHECK(router == NULL);
  homing_decision_t *decision = stale;
  CHECK(homing_router_route_sync(NULL, NULL, 0, &decision, &errmsg) != HOMING_OK);
  CHECK(decision == NULL);

  char *text = stale;
  size_t text_len = 42;
  CHECK(homing_stats_render(NULL, HOMING_STATS_TEXT, NULL, &text, &text_len, &errmsg) !=
        HOMING_OK);
  CHECK(text == NULL);
  CHECK(text_len == 0);
  homing_free(errmsg);
}

/* The numbers of the status codes are ABI: they never change (docs/ABI.md). */
static void test_status_numbers(void) {
  CHECK(HOMING_OK == 0);
  CHECK(HOMING_ERR_INVALID_ARGUMENT == 1);
  CHECK(HOMING_ERR_NOT_FOUND == 2);
  CHECK(HOMING_ERR_UNAVAILABLE == 3);
  CHECK(HOMING_ERR_TIMEOUT == 4);
  CHECK(HOMING_ERR_OVERFLOW == 5);
  CHECK(HOMING_ERR_CANCELLED == 6);
  CHECK(HOMING_ERR_PERMISSION_DENIED == 7);
  CHECK(HOMING_ERR_FAILED_PRECONDITION == 8);
  CHECK(HOMING_ERR_WRONG_THREAD == 9);
  CHECK(HOMING_ERR_REENTRANT == 10);
  CHECK(HOMING_ERR_NO_MEMORY == 11);
  CHECK(HOMING_ERR_INTERNAL == 12);
}

/* ------------------------------------------------------------------------ */

typedef struct test_case {
  const char *name;
  void (*run)(void);
} test_case;

static const test_case tests[] = {
    {"version", test_version},
    {"strerror", test_strerror},
    {"log_settings", test_log_settings},
    {"stats", test_stats},
    {"config", test_config},
    {"request_setters", test_request_setters},
    {"route_table", test_route_table},
    {"header_routes", test_header_routes},
    {"placement_names", test_placement_names},
    {"placement", test_placement},
    {"placement_threads", test_placement_threads},
    {"lb_errors", test_lb_errors},
    {"lb_policies", test_lb_policies},
    {"lb_health", test_lb_health},
    {"loop_arguments", test_loop_arguments},
    {"dns_cache_options", test_dns_cache_options},
    {"dns_cache_on_external_loop", test_dns_cache_on_external_loop},
    {"loop_fd_data", test_loop_fd_data},
    {"loop_lifetimes", test_loop_lifetimes},
    {"loop_freed_from_callback", test_loop_freed_from_callback},
    {"loop_threads", test_loop_threads},
    {"engine_basics", test_engine_basics},
    {"lookup_options", test_lookup_options},
    {"lookup", test_lookup},
    {"lookup_threads", test_lookup_threads},
    {"router_on_engine", test_router_on_engine},
    {"router_shutdown", test_router_shutdown},
    {"router_on_external_loop", test_router_on_external_loop},
    {"pending_arguments", test_pending_arguments},
    {"failed_calls_null_their_outputs", test_failed_calls_null_their_outputs},
    {"status_numbers", test_status_numbers},
};

int main(int argc, char **argv) {
  size_t i;
  int failed_cases = 0, ran = 0;
  if (fixture_dns_start(&dns, fixture_records, fixture_record_count) != 0) {
    return 1;
  }
  if (fixture_resolver_start(&resolver, FIXTURE_RESOLVER_IP) != 0) {
    fixture_dns_stop(&dns);
    return 1;
  }
  snprintf(dns_address, sizeof(dns_address), "127.0.0.1:%d", dns.port);
  config_text = fixture_config(dns.port, resolver.port);
  if (config_text == NULL) return 1;

  for (i = 0; i < sizeof(tests) / sizeof(tests[0]); ++i) {
    int before = failures;
    /* An argument selects the cases whose name contains it. */
    if (argc > 1 && strstr(tests[i].name, argv[1]) == NULL) continue;
    tests[i].run();
    ++ran;
    printf("%s %s\n", failures == before ? "ok" : "FAILED", tests[i].name);
    fflush(stdout);
    if (failures != before) ++failed_cases;
  }
  printf("%d cases, %d checks, %d failed checks in %d cases\n", ran, checks,
         failures, failed_cases);

  free(config_text);
  fixture_resolver_stop(&resolver);
  fixture_dns_stop(&dns);
  return failures == 0 ? 0 : 1;
}
