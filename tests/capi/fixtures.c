/* File: tests/capi/fixtures.c */

#define _GNU_SOURCE

#include "fixtures.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *const fixture_records[] = {
    FIXTURE_RESOLVER_IP " " FIXTURE_RESOLVER_NAME,
    FIXTURE_OWNER_0_IP " server-0.server-headless.poc-routing.svc.cluster.local",
    FIXTURE_OWNER_1_IP " server-1.server-headless.poc-routing.svc.cluster.local",
};
const size_t fixture_record_count =
    sizeof(fixture_records) / sizeof(fixture_records[0]);

static const char *env_or(const char *name, const char *fallback) {
  const char *value = getenv(name);
  return value != NULL && *value != '\0' ? value : fallback;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Forks and execs argv with stdout to `stdout_fd` (or the log file); the
 * child dies with us. */
static pid_t spawn(char *const argv[], int stdout_fd, const char *log_path) {
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
  if (log_path != NULL) {
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
  }
  if (stdout_fd >= 0) dup2(stdout_fd, STDOUT_FILENO);
  execvp(argv[0], argv);
  _exit(127);
}

static void kill_and_wait(pid_t pid) {
  int i;
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (i = 0; i < 200; ++i) {
    if (waitpid(pid, NULL, WNOHANG) == pid) return;
    sleep_ms(10);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

/* A UDP port on 127.0.0.1 that was free a moment ago. */
static int free_udp_port(void) {
  struct sockaddr_in addr;
  socklen_t len = sizeof(addr);
  int port = -1;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return -1;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
      getsockname(fd, (struct sockaddr *)&addr, &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

/* Sends one A query for a name under cluster.local and waits up to 200 ms
 * for any answer: the server is up. */
static int dns_answers(int port) {
  static const unsigned char query[] = {
      0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      5, 'p', 'r', 'o', 'b', 'e', 7, 'c', 'l', 'u', 's', 't', 'e', 'r',
      5, 'l', 'o', 'c', 'a', 'l', 0, 0x00, 0x01, 0x00, 0x01};
  struct sockaddr_in server;
  struct pollfd pfd;
  unsigned char answer[512];
  int ok = 0;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return 0;
  memset(&server, 0, sizeof(server));
  server.sin_family = AF_INET;
  server.sin_port = htons((uint16_t)port);
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&server, sizeof(server)) == 0 &&
      send(fd, query, sizeof(query), 0) == (ssize_t)sizeof(query)) {
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, 200) == 1) {
      ssize_t n = recv(fd, answer, sizeof(answer), 0);
      ok = n >= 12 && answer[0] == 0x12 && answer[1] == 0x34;
    }
  }
  close(fd);
  return ok;
}

static void dns_remove_files(fixture_dns *dns) {
  char path[128];
  snprintf(path, sizeof(path), "%s/hosts", dns->dir);
  unlink(path);
  snprintf(path, sizeof(path), "%s/dnsmasq.log", dns->dir);
  unlink(path);
  rmdir(dns->dir);
}

int fixture_dns_start(fixture_dns *dns, const char *const *records,
                      size_t count) {
  char hosts[128], log_path[128], port_arg[32], hosts_arg[160];
  const char *binary = env_or("DNSMASQ", "/usr/sbin/dnsmasq");
  FILE *file;
  size_t i;
  int attempt;
  memset(dns, 0, sizeof(*dns));
  dns->pid = -1;
  strcpy(dns->dir, "/tmp/homing-capi-dns-XXXXXX");
  if (mkdtemp(dns->dir) == NULL) {
    perror("fixture_dns_start: mkdtemp");
    return -1;
  }
  snprintf(hosts, sizeof(hosts), "%s/hosts", dns->dir);
  snprintf(log_path, sizeof(log_path), "%s/dnsmasq.log", dns->dir);
  file = fopen(hosts, "w");
  if (file == NULL) {
    perror("fixture_dns_start: hosts file");
    return -1;
  }
  for (i = 0; i < count; ++i) fprintf(file, "%s\n", records[i]);
  fclose(file);
  snprintf(hosts_arg, sizeof(hosts_arg), "--addn-hosts=%s", hosts);
  for (attempt = 0; attempt < 20; ++attempt) {
    double deadline;
    char *argv[] = {(char *)binary, "--keep-in-foreground", "--no-resolv",
                    "--no-hosts", port_arg, "--listen-address=127.0.0.1",
                    "--bind-interfaces", "--user=root", "--local-ttl=1",
                    hosts_arg, "--local=/cluster.local/", "--log-facility=-",
                    NULL};
    dns->port = free_udp_port();
    snprintf(port_arg, sizeof(port_arg), "--port=%d", dns->port);
    dns->pid = spawn(argv, -1, log_path);
    if (dns->pid < 0) break;
    deadline = now_seconds() + 5;
    while (now_seconds() < deadline) {
      if (waitpid(dns->pid, NULL, WNOHANG) == dns->pid) {
        dns->pid = -1; /* the port was taken: try another */
        break;
      }
      if (dns_answers(dns->port)) return 0;
    }
    kill_and_wait(dns->pid);
    dns->pid = -1;
  }
  fprintf(stderr, "fixture_dns_start: dnsmasq (%s) did not come up\n", binary);
  dns_remove_files(dns);
  return -1;
}

void fixture_dns_stop(fixture_dns *dns) {
  if (dns->pid > 0) kill_and_wait(dns->pid);
  if (dns->dir[0] != '\0') dns_remove_files(dns);
  dns->pid = -1;
  dns->dir[0] = '\0';
}

int fixture_resolver_start(fixture_resolver *resolver, const char *address) {
  char script[512], line[32];
  const char *python = env_or("PYTHON3", "python3");
  size_t used = 0;
  int out[2];
  double deadline;
  char *argv[] = {(char *)python, script, "--address", (char *)address,
                  "--port", "0", NULL};
  memset(resolver, 0, sizeof(*resolver));
  resolver->pid = -1;
  snprintf(script, sizeof(script), "%s/tests/support/resolver_server.py",
           env_or("HOMING_SOURCE_ROOT", "."));
  snprintf(resolver->address, sizeof(resolver->address), "%s", address);
  if (pipe2(out, O_CLOEXEC) != 0) {
    perror("fixture_resolver_start: pipe2");
    return -1;
  }
  resolver->pid = spawn(argv, out[1], NULL);
  close(out[1]);
  deadline = now_seconds() + 10;
  while (memchr(line, '\n', used) == NULL && used < sizeof(line) - 1 &&
         now_seconds() < deadline) {
    struct pollfd pfd;
    ssize_t n;
    pfd.fd = out[0];
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, 100) <= 0) continue;
    n = read(out[0], line + used, sizeof(line) - 1 - used);
    if (n <= 0) break;
    used += (size_t)n;
  }
  close(out[0]);
  line[used] = '\0';
  resolver->port = atoi(line);
  if (resolver->port <= 0) {
    fprintf(stderr, "fixture_resolver_start: no port from %s\n", script);
    fixture_resolver_stop(resolver);
    return -1;
  }
  snprintf(resolver->hostport, sizeof(resolver->hostport), "%s:%d", address,
           resolver->port);
  return 0;
}

/* One HTTP/1.0 exchange; the whole answer in `reply` (NUL-terminated). */
static int http_exchange(const fixture_resolver *resolver, const char *request,
                         char *reply, size_t reply_size) {
  struct sockaddr_in addr;
  size_t used = 0;
  ssize_t n;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)resolver->port);
  inet_pton(AF_INET, resolver->address, &addr.sin_addr);
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
      send(fd, request, strlen(request), MSG_NOSIGNAL) !=
          (ssize_t)strlen(request)) {
    close(fd);
    return -1;
  }
  while (used < reply_size - 1 &&
         (n = read(fd, reply + used, reply_size - 1 - used)) > 0) {
    used += (size_t)n;
  }
  close(fd);
  reply[used] = '\0';
  return strncmp(reply, "HTTP/1.0 200", 12) == 0 ||
                 strncmp(reply, "HTTP/1.1 200", 12) == 0
             ? 0
             : -1;
}

int fixture_resolver_control(const fixture_resolver *resolver,
                             const char *json) {
  char request[2048], reply[1024];
  snprintf(request, sizeof(request),
           "POST /_control HTTP/1.0\r\nContent-Type: application/json\r\n"
           "Content-Length: %zu\r\n\r\n%s",
           strlen(json), json);
  if (http_exchange(resolver, request, reply, sizeof(reply)) != 0) {
    fprintf(stderr, "fixture_resolver_control(%s): %s\n", json, reply);
    return -1;
  }
  return 0;
}

long fixture_resolver_total(const fixture_resolver *resolver) {
  static char reply[65536];
  const char *total;
  if (http_exchange(resolver, "GET /_stats HTTP/1.0\r\n\r\n", reply,
                    sizeof(reply)) != 0) {
    return -1;
  }
  total = strstr(reply, "\"total\": ");
  return total == NULL ? -1 : strtol(total + 9, NULL, 10);
}

void fixture_resolver_stop(fixture_resolver *resolver) {
  if (resolver->pid > 0) kill_and_wait(resolver->pid);
  resolver->pid = -1;
}

/* Replaces every `name` in `text` by `value` (a new string). */
static char *replace_all(const char *text, const char *name, const char *value) {
  size_t count = 0, name_len = strlen(name), value_len = strlen(value);
  const char *at;
  char *result, *out;
  for (at = strstr(text, name); at != NULL; at = strstr(at + name_len, name)) {
    ++count;
  }
  result = malloc(strlen(text) + count * value_len + 1);
  if (result == NULL) return NULL;
  out = result;
  while ((at = strstr(text, name)) != NULL) {
    memcpy(out, text, (size_t)(at - text));
    out += at - text;
    memcpy(out, value, value_len);
    out += value_len;
    text = at + name_len;
  }
  strcpy(out, text);
  return result;
}

char *fixture_config(int dns_port, int resolver_port) {
  char path[512], number[16];
  char *template_text, *with_dns, *config;
  long size;
  FILE *file;
  snprintf(path, sizeof(path), "%s/tests/capi/examples/router.yaml.in",
           env_or("HOMING_SOURCE_ROOT", "."));
  file = fopen(path, "rb");
  if (file == NULL) {
    fprintf(stderr, "fixture_config: cannot open %s: %s\n", path,
            strerror(errno));
    return NULL;
  }
  fseek(file, 0, SEEK_END);
  size = ftell(file);
  fseek(file, 0, SEEK_SET);
  template_text = malloc((size_t)size + 1);
  if (template_text == NULL ||
      fread(template_text, 1, (size_t)size, file) != (size_t)size) {
    fclose(file);
    free(template_text);
    return NULL;
  }
  fclose(file);
  template_text[size] = '\0';
  snprintf(number, sizeof(number), "%d", dns_port);
  with_dns = replace_all(template_text, "@DNS_PORT@", number);
  free(template_text);
  if (with_dns == NULL) return NULL;
  snprintf(number, sizeof(number), "%d", resolver_port);
  config = replace_all(with_dns, "@RESOLVER_PORT@", number);
  free(with_dns);
  return config;
}
