/* File: tests/system/parity_gateway.c
 *
 * A minimal gateway on libhoming's C ABI, for test_embedder_parity.py: it
 * does with the library what homing-proxy does, so the test can drive both
 * with the same requests and compare what they decide, count and learn.
 *
 * Reads one request target per line on stdin, routes it (an engine and
 * homing_router_route_sync()), forwards it to the decision's sockaddr with
 * a blocking HTTP/1.1 client (Connection: close), and feeds the outcome back
 * with homing_router_report(). A 421 from the owner is
 * homing_router_misdirected() and one retry on the new owner, as
 * homing-proxy does. Prints one JSON line per request:
 *
 *   {"status":200,"error":"","upstream":"127.0.1.201:8081","body":"..."}
 *
 * The line "STATS" prints the stats store as text, then "END".
 *
 * Usage: parity_gateway CONFIG
 */

#define _GNU_SOURCE

#include <errno.h>
#include <homing/homing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

enum { kResponseCap = 1 << 16 };

/* How one exchange with the upstream ended. */
typedef struct exchange {
  int outcome; /* a HOMING_OUTCOME_* */
  int status;  /* the response's, or the local reply's */
  const char *error;
  char owner[256]; /* a 421's x-homing-owner, else "" */
  char body[kResponseCap];
} exchange;

/* The value of header `name` (lower case) in the response head `head`
 * (ending at `end`), copied into `out`; "" when absent. */
static void find_header(const char *head, const char *end, const char *name,
                        char *out, size_t cap) {
  const size_t name_len = strlen(name);
  out[0] = '\0';
  for (const char *line = strstr(head, "\r\n"); line != NULL && line < end;
       line = strstr(line + 2, "\r\n")) {
    const char *start = line + 2;
    if (strncasecmp(start, name, name_len) != 0 || start[name_len] != ':') continue;
    const char *value = start + name_len + 1;
    while (*value == ' ') ++value;
    const char *stop = strstr(value, "\r\n");
    snprintf(out, cap, "%.*s", (int)(stop - value), value);
    return;
  }
}

static void fail(const char *what, char *err) {
  fprintf(stderr, "parity_gateway: %s: %s\n", what, err ? err : "");
  exit(1);
}

static void print_json_string(const char *text) {
  putchar('"');
  for (const unsigned char *c = (const unsigned char *)text; *c; ++c) {
    if (*c == '"' || *c == '\\') {
      printf("\\%c", *c);
    } else if (*c < 0x20) {
      printf("\\u%04x", *c);
    } else {
      putchar(*c);
    }
  }
  putchar('"');
}

static int send_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n <= 0) return -1;
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* GET `target` from the decision's upstream; fills `out`. */
static void forward(const homing_decision_t *decision, const char *target,
                    exchange *out) {
  size_t address_len = 0;
  const struct sockaddr *address =
      homing_decision_upstream_sockaddr(decision, &address_len);
  const struct timeval timeout = {5, 0};
  static char response[kResponseCap];
  char request[4096];
  size_t received = 0;
  const char *authority = homing_decision_authority(decision);
  int fd = socket(address->sa_family, SOCK_STREAM, 0);

  out->body[0] = '\0';
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (connect(fd, address, (socklen_t)address_len) != 0) {
    close(fd);
    *out = (exchange){HOMING_OUTCOME_CONNECT_FAILURE, 503, "upstream_connect_failure", "", ""};
    return;
  }
  snprintf(request, sizeof request,
           "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target,
           authority[0] ? authority : "proxy.local");
  if (send_all(fd, request, strlen(request)) != 0) {
    close(fd);
    *out = (exchange){HOMING_OUTCOME_RESET, 503, "upstream_reset", "", ""};
    return;
  }
  for (;;) {
    ssize_t n = recv(fd, response + received, sizeof response - 1 - received, 0);
    if (n > 0) received += (size_t)n;
    if (n == 0 || received == sizeof response - 1) break;
    if (n < 0) {
      const int timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
      close(fd);
      *out = timed_out
                 ? (exchange){HOMING_OUTCOME_TIMEOUT, 504, "upstream_timeout", "", ""}
                 : (exchange){HOMING_OUTCOME_RESET, 503, "upstream_reset", "", ""};
      return;
    }
  }
  close(fd);
  response[received] = '\0';
  const char *body = strstr(response, "\r\n\r\n");
  int status = 0;
  if (sscanf(response, "HTTP/1.%*d %d", &status) != 1 || body == NULL) {
    *out = (exchange){HOMING_OUTCOME_RESET, 503, "upstream_reset", "", ""};
    return;
  }
  out->outcome = status >= 500 ? HOMING_OUTCOME_SERVER_ERROR : HOMING_OUTCOME_SUCCESS;
  out->status = status;
  out->error = "";
  find_header(response, body, "x-homing-owner", out->owner, sizeof out->owner);
  snprintf(out->body, sizeof out->body, "%s", body + 4);
}

static homing_decision_t *route(homing_router_t *router, homing_request_t *request,
                                const char *target) {
  homing_decision_t *decision = NULL;
  char *err = NULL;
  homing_request_reset(request);
  homing_request_set_method(request, "GET", HOMING_NUL_TERMINATED);
  homing_request_set_authority(request, "proxy.local", HOMING_NUL_TERMINATED);
  homing_request_set_path(request, target, HOMING_NUL_TERMINATED);
  if (homing_router_route_sync(router, request, 10000, &decision, &err) != HOMING_OK) {
    fail("route", err);
  }
  return decision;
}

static void print_result(const homing_decision_t *decision, const exchange *result) {
  printf("{\"status\":%d,\"error\":", result->status);
  print_json_string(result->error);
  printf(",\"upstream\":");
  print_json_string(homing_decision_upstream(decision));
  printf(",\"body\":");
  print_json_string(result->body);
  printf("}\n");
}

static void handle(homing_router_t *router, homing_request_t *request,
                   const char *target) {
  static exchange result;
  char *err = NULL;
  homing_decision_t *decision = route(router, request, target);
  size_t key_len = 0;
  if (homing_decision_forward(decision)) {
    forward(decision, target, &result);
    homing_decision_key(decision, &key_len);
    if (result.status == 421 && key_len > 0) {
      /* The owner moved: take the owner the 421 names (the router checks
       * it against the allow-list) or ask again; try the new owner once. */
      homing_router_misdirected_to(router, decision, result.owner,
                                   HOMING_NUL_TERMINATED, &err);
      homing_decision_free(decision);
      decision = route(router, request, target);
      if (homing_decision_forward(decision)) forward(decision, target, &result);
      if (homing_decision_forward(decision) && result.status == 421) {
        /* Relayed as homing-proxy does, and the key's answer forgotten. */
        homing_router_misdirected_to(router, decision, result.owner,
                                     HOMING_NUL_TERMINATED, &err);
      }
    }
  }
  if (homing_decision_forward(decision)) {
    if (homing_router_report(router, decision, result.outcome, &err) != HOMING_OK) {
      fail("report", err);
    }
  } else {
    result.status = homing_decision_status(decision);
    result.error = homing_decision_error(decision);
    result.body[0] = '\0';
  }
  print_result(decision, &result);
  homing_decision_free(decision);
}

int main(int argc, char **argv) {
  homing_config_t *config = NULL;
  homing_engine_t *engine = NULL;
  homing_router_t *router = NULL;
  homing_stats_t *stats = homing_stats_new();
  homing_request_t *request = homing_request_new();
  char *err = NULL;
  char line[4096];

  if (argc != 2) {
    fprintf(stderr, "usage: %s CONFIG\n", argv[0]);
    return 2;
  }
  if (homing_config_load_file(argv[1], &config, &err) != HOMING_OK ||
      homing_engine_start(&engine, &err) != HOMING_OK ||
      homing_router_new(homing_engine_loop(engine), config, 0, stats, &router,
                        &err) != HOMING_OK ||
      homing_router_wait_ready(router, 10000, &err) != HOMING_OK) {
    fail("start", err);
  }
  homing_config_free(config);
  printf("READY\n");
  fflush(stdout);
  while (fgets(line, sizeof line, stdin) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    if (strcmp(line, "STATS") == 0) {
      char *text = NULL;
      if (homing_stats_render(stats, HOMING_STATS_TEXT, NULL, &text, NULL, &err) !=
          HOMING_OK) {
        fail("stats", err);
      }
      printf("%sEND\n", text);
      homing_free(text);
    } else {
      handle(router, request, line);
    }
    fflush(stdout);
  }
  homing_request_free(request);
  homing_router_free(router);
  homing_stats_free(stats);
  return homing_engine_stop(engine) == HOMING_OK ? 0 : 1;
}
