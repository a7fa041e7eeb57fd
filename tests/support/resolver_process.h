// File: tests/support/resolver_process.h
//
// ResolverProcess: runs tests/support/resolver_server.py (a stand-in for the
// seed's resolver service) on a loopback address for the duration of a test,
// and talks to its control endpoints. The interpreter is `$PYTHON3` (meson's
// integration environment sets it), the script is found under
// `$HOMING_SOURCE_ROOT`. The destructor stops the process (SIGTERM, then
// SIGKILL) even when the test fails.
//
// Example:
//
//   ResolverProcess::Options options;
//   options.address = "127.0.1.10";
//   auto resolver = ResolverProcess::Start(options);
//   REQUIRE(resolver.ok());
//   (*resolver)->Control(R"({"status": 500})");
//   ResolverProcess::Stats stats = (*resolver)->GetStats().value();
//   CHECK(stats.total == 1);
//
// Thread safety: none; one test thread.

#ifndef HOMING_TESTS_SUPPORT_RESOLVER_PROCESS_H_
#define HOMING_TESTS_SUPPORT_RESOLVER_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace homing::testing {

class ResolverProcess {
 public:
  struct Options {
    std::string address = "127.0.0.1";
    uint16_t port = 0;  // 0: the server picks one
    // More command-line flags: "--param", "x-client-id", "--template", ...
    std::vector<std::string> extra_args{};
  };

  // What GET /_stats reports.
  struct Stats {
    int64_t total = 0;
    int64_t connections = 0;  // TCP connections that carried a lookup
    std::map<std::string, int64_t> per_key;
    std::vector<std::string> queries;  // raw query strings, as received
  };

  // ResolverProcess::Start()
  //
  // Starts the server and waits (up to 10s) for the port it prints.
  static absl::StatusOr<std::unique_ptr<ResolverProcess>> Start(Options options);

  ~ResolverProcess();
  ResolverProcess(const ResolverProcess&) = delete;
  ResolverProcess& operator=(const ResolverProcess&) = delete;

  const std::string& address() const { return address_; }
  uint16_t port() const { return port_; }
  std::string hostport() const;

  // ResolverProcess::Control()
  //
  // POST /_control with `json` (see resolver_server.py for the fields).
  absl::Status Control(std::string_view json);

  // ResolverProcess::GetStats()
  absl::StatusOr<Stats> GetStats();

 private:
  ResolverProcess(pid_t pid, std::string address, uint16_t port)
      : pid_(pid), address_(std::move(address)), port_(port) {}

  // One HTTP/1.0 exchange on a fresh connection; returns the body of a 200.
  absl::StatusOr<std::string> Exchange(std::string_view method,
                                       std::string_view path,
                                       std::string_view body);

  pid_t pid_;
  std::string address_;
  uint16_t port_;
};

}  // namespace homing::testing

#endif  // HOMING_TESTS_SUPPORT_RESOLVER_PROCESS_H_
