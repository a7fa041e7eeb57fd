/* File: tests/capi/run_example.c
 *
 * Runs one C API example (docs/c-api.md) against real servers: starts
 * dnsmasq and resolver_server.py (fixtures.c), writes the shared config with
 * their ports, and runs the example with
 *
 *   HOMING_EXAMPLE_CONFIG    the config file
 *   HOMING_EXAMPLE_DNS       "127.0.0.1:PORT" of dnsmasq
 *   HOMING_EXAMPLE_RESOLVER  "ip:port" of the resolver
 *
 * Exits with the example's status; the servers are stopped either way.
 *
 * Usage: capi_run_example EXAMPLE [ARGS...]
 */

#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixtures.h"

int main(int argc, char **argv) {
  fixture_dns dns;
  fixture_resolver resolver;
  char config_path[] = "/tmp/homing-capi-example-XXXXXX";
  char dns_address[32];
  char *config;
  int fd, status = 1, wstatus = 0;
  pid_t child;

  if (argc < 2) {
    fprintf(stderr, "usage: %s EXAMPLE [ARGS...]\n", argv[0]);
    return 2;
  }
  if (fixture_dns_start(&dns, fixture_records, fixture_record_count) != 0) {
    return 1;
  }
  if (fixture_resolver_start(&resolver, FIXTURE_RESOLVER_IP) != 0) {
    fixture_dns_stop(&dns);
    return 1;
  }
  /* Every key belongs to server-0 or server-1, which resolve. */
  config = fixture_config(dns.port, resolver.port);
  fd = mkstemp(config_path);
  if (config != NULL && fd >= 0 &&
      fixture_resolver_control(&resolver, "{\"shards\": 2}") == 0 &&
      write(fd, config, strlen(config)) == (ssize_t)strlen(config)) {
    snprintf(dns_address, sizeof(dns_address), "127.0.0.1:%d", dns.port);
    setenv("HOMING_EXAMPLE_CONFIG", config_path, 1);
    setenv("HOMING_EXAMPLE_DNS", dns_address, 1);
    setenv("HOMING_EXAMPLE_RESOLVER", resolver.hostport, 1);
    fflush(stdout);
    child = fork();
    if (child == 0) {
      execv(argv[1], argv + 1);
      perror(argv[1]);
      _exit(127);
    }
    if (child > 0 && waitpid(child, &wstatus, 0) == child) {
      status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    }
  }
  if (fd >= 0) {
    close(fd);
    unlink(config_path);
  }
  free(config);
  fixture_resolver_stop(&resolver);
  fixture_dns_stop(&dns);
  return status;
}
