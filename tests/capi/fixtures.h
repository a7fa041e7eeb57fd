/* File: tests/capi/fixtures.h
 *
 * Real servers for the C ABI tests, started and stopped from C: dnsmasq
 * answering from a hosts file on 127.0.0.1 and a free port, and
 * tests/support/resolver_server.py (the seed's resolver service) on a
 * loopback address. Binaries come from $DNSMASQ and $PYTHON3 (meson's
 * integration environment), the script from $HOMING_SOURCE_ROOT. Children
 * die with the test process (PR_SET_PDEATHSIG) even when it crashes.
 *
 * Example:
 *
 *   fixture_dns dns;
 *   const char *records[] = {"127.0.1.70 resolver.capi.cluster.local"};
 *   if (fixture_dns_start(&dns, records, 1) != 0) abort();
 *   ...
 *   fixture_dns_stop(&dns);
 *
 * Thread safety: none; one test thread.
 */

#ifndef HOMING_TESTS_CAPI_FIXTURES_H_
#define HOMING_TESTS_CAPI_FIXTURES_H_

#include <stddef.h>
#include <sys/types.h>

/* The names the shared config (tests/capi/examples/router.yaml.in) uses. */
#define FIXTURE_RESOLVER_IP "127.0.1.70"
#define FIXTURE_RESOLVER_NAME "resolver.capi.cluster.local"
#define FIXTURE_OWNER_0 "server-0.server-headless.poc-routing.svc.cluster.local:8081"
#define FIXTURE_OWNER_1 "server-1.server-headless.poc-routing.svc.cluster.local:8081"
#define FIXTURE_OWNER_0_IP "127.0.1.71"
#define FIXTURE_OWNER_1_IP "127.0.1.72"

typedef struct fixture_dns {
  pid_t pid;
  int port;
  char dir[64]; /* temporary directory: hosts file, log */
} fixture_dns;

/* Starts dnsmasq serving `records` ("ip name" lines) and waits until it
 * answers. Returns 0, or -1 with a message on stderr. */
int fixture_dns_start(fixture_dns *dns, const char *const *records,
                      size_t count);

/* Stops the server and removes its files. Safe on a stopped fixture. */
void fixture_dns_stop(fixture_dns *dns);

typedef struct fixture_resolver {
  pid_t pid;
  int port;
  char address[32];
  char hostport[48]; /* "address:port" */
} fixture_resolver;

/* Starts resolver_server.py on `address` and a port it picks. */
int fixture_resolver_start(fixture_resolver *resolver, const char *address);

/* POST /_control with `json`; 0 on a 200 answer. */
int fixture_resolver_control(const fixture_resolver *resolver,
                             const char *json);

/* The "total" lookups counted by GET /_stats, or -1. */
long fixture_resolver_total(const fixture_resolver *resolver);

void fixture_resolver_stop(fixture_resolver *resolver);

/* The shared config (tests/capi/examples/router.yaml.in) with the ports
 * filled in, malloc()ed; NULL with a message on stderr. */
char *fixture_config(int dns_port, int resolver_port);

/* The records the shared config needs: the resolver and two owners. */
extern const char *const fixture_records[];
extern const size_t fixture_record_count;

#endif /* HOMING_TESTS_CAPI_FIXTURES_H_ */
