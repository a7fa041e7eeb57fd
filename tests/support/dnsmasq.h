// File: tests/support/dnsmasq.h
//
// Dnsmasq: a real DNS server for integration tests. Runs
// `dnsmasq --keep-in-foreground --no-resolv --no-hosts` on 127.0.0.1 and a
// free UDP/TCP port it picks, answering from an addn-hosts file this class
// writes. `SetRecords()` rewrites the file, sends SIGHUP and returns once
// dnsmasq answers the new data; `Stop()`/`Start()` and `Pause()`/`Resume()`
// simulate a server that is down (queries refused) or hung (queries time
// out). Names under the local domains (default "cluster.local") that have no
// record get NXDOMAIN; other unknown names are REFUSED.
//
// The binary is `$DNSMASQ` (meson's integration environment sets it), else
// /usr/sbin/dnsmasq. The server dies with the object, and with the test
// process even if that crashes (PR_SET_PDEATHSIG).
//
// Example:
//
//   homing::testing::Dnsmasq dns;  // answers with TTL 1s
//   REQUIRE(dns.SetRecords({{"server.cluster.local", "127.0.1.10"},
//                           {"server.cluster.local", "127.0.1.11"}}).ok());
//   REQUIRE(dns.Start().ok());
//   config.resolver.resolvers = {dns.address()};  // "127.0.0.1:PORT"
//   ...
//   REQUIRE(dns.SetRecords({{"server.cluster.local", "127.0.1.12"}}).ok());
//
// Thread safety: none; one test thread.

#ifndef HOMING_TESTS_SUPPORT_DNSMASQ_H_
#define HOMING_TESTS_SUPPORT_DNSMASQ_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace homing::testing {

// One A (IPv4 `ip`) or AAAA (IPv6 `ip`) record; several records of one name
// give several addresses.
struct DnsRecord {
  std::string name;
  std::string ip;
};

class Dnsmasq {
 public:
  struct Options {
    int local_ttl_seconds = 1;  // TTL of every answer (--local-ttl)
    std::vector<std::string> local_domains = {"cluster.local"};
    bool log_queries = false;  // into log(), for debugging a test
    std::vector<std::string> extra_args;  // e.g. "--host-record=n,ip4,ip6"
  };

  Dnsmasq();
  explicit Dnsmasq(Options options);
  ~Dnsmasq();
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  // Dnsmasq::Start()
  //
  // Starts the server and waits (up to 5s) until it answers. The first start
  // picks a free port (retrying when another process takes it first); a
  // restart after Stop() reuses it (retrying for up to 3s while the old
  // server's sockets are released), so resolvers configured with address()
  // find the server again.
  absl::Status Start();

  // Dnsmasq::Stop()
  //
  // Kills the server (SIGTERM, then SIGKILL after 2s) and waits for it.
  // Queries then fail fast (connection refused). No-op when stopped.
  void Stop();

  // Dnsmasq::Pause() / Resume()
  //
  // SIGSTOP / SIGCONT: the socket stays open but nothing answers, so
  // queries time out.
  void Pause();
  void Resume();

  // Dnsmasq::SetRecords()
  //
  // Replaces every record. While running: SIGHUP, then waits (up to 5s)
  // until the A and AAAA answers for every old and new name match.
  absl::Status SetRecords(std::vector<DnsRecord> records);

  // Dnsmasq::Query()
  //
  // Asks the server directly: the sorted addresses of `name`'s A (ipv6 =
  // false) or AAAA records, empty for NXDOMAIN/NODATA/REFUSED. Unavailable
  // when no answer arrives within `timeout_ms`.
  absl::StatusOr<std::vector<std::string>> Query(std::string_view name,
                                                 bool ipv6,
                                                 int timeout_ms = 500) const;

  bool running() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  std::string address() const;  // "127.0.0.1:PORT"
  std::string log() const;      // dnsmasq's output so far

 private:
  absl::Status StartOnPort(uint16_t port);
  absl::Status WriteHostsFile() const;
  absl::Status WaitUntilAnswering();
  absl::Status WaitUntilServing(const std::vector<std::string>& names) const;

  Options options_;
  std::string dir_;  // temporary directory: hosts file, log, pid file
  std::vector<DnsRecord> records_;
  pid_t pid_ = -1;
  bool paused_ = false;
  uint16_t port_ = 0;
};

}  // namespace homing::testing

#endif  // HOMING_TESTS_SUPPORT_DNSMASQ_H_
