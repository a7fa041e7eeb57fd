// The c-ares resolver on a ManualDispatcher: real c-ares and real sockets,
// simulated time. Answers from a real DNS server are covered by the
// integration tests (dnsmasq); here the server never answers, so what is
// tested is the wiring: deadlines, cancellation and callback delivery.

#include <ares.h>
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "dns/ares_resolver.h"
#include "homing/dns_cache.h"
#include "homing/manual_dispatcher.h"

namespace homing {
namespace {

using std::chrono::milliseconds;

// A UDP socket on 127.0.0.1 that receives queries and never answers.
class SilentDnsServer {
 public:
  SilentDnsServer() {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    socklen_t len = sizeof(addr);
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentDnsServer() { close(fd_); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

struct Outcome {
  int calls = 0;
  std::optional<DnsAnswer> answer;
  DnsResolver::Callback Callback() {
    return [this](DnsAnswer a) {
      ++calls;
      answer = std::move(a);
    };
  }
};

std::unique_ptr<DnsResolver> MakeResolver(Dispatcher& dispatcher,
                                          const std::string& server,
                                          Duration timeout) {
  auto resolver = DnsResolver::CreateAres(
      dispatcher, DnsResolverConfig{.resolvers = {server}}, timeout);
  REQUIRE(resolver.ok());
  return *std::move(resolver);
}

TEST_CASE("a query the server never answers fails at its deadline, on the dispatcher's clock") {
  ManualDispatcher dispatcher;
  SilentDnsServer server;
  auto resolver = MakeResolver(dispatcher, server.address(), milliseconds(300));
  Outcome outcome;
  auto handle = resolver->Resolve("silent.cluster.local", DnsLookupFamily::kV4Only,
                                  outcome.Callback());
  dispatcher.RunUntilIdle();
  dispatcher.AdvanceBy(milliseconds(299));
  dispatcher.RunUntilIdle();
  CHECK(outcome.calls == 0);
  dispatcher.AdvanceBy(milliseconds(1));
  dispatcher.RunUntilIdle();
  REQUIRE(outcome.calls == 1);
  CHECK(outcome.answer->status.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(std::string(outcome.answer->status.message()) ==
        "DNS lookup of \"silent.cluster.local\" timed out after 300ms");
  CHECK(outcome.answer->addresses.empty());
  // Nothing more is scheduled for an answered query.
  dispatcher.AdvanceBy(std::chrono::seconds(10));
  CHECK(outcome.calls == 1);
}

TEST_CASE("an IP literal is its own answer, delivered later, never inside Resolve") {
  ManualDispatcher dispatcher;
  SilentDnsServer server;
  auto resolver = MakeResolver(dispatcher, server.address(), milliseconds(300));
  Outcome v4;
  Outcome v6;
  auto v4_handle = resolver->Resolve("10.1.2.3", DnsLookupFamily::kAuto, v4.Callback());
  auto v6_handle = resolver->Resolve("::1", DnsLookupFamily::kAll, v6.Callback());
  CHECK(v4.calls + v6.calls == 0);
  dispatcher.RunPosted();
  REQUIRE(v4.calls == 1);
  REQUIRE(v4.answer->status.ok());
  REQUIRE(v4.answer->addresses.size() == 1);
  CHECK(v4.answer->addresses[0].ToString() == "10.1.2.3:0");
  CHECK(v4.answer->ttl == Duration::zero());
  REQUIRE(v6.calls == 1);
  CHECK(v6.answer->addresses[0].ToString() == "[::1]:0");
}

TEST_CASE("an IP literal of a family the lookup excludes is NotFound") {
  ManualDispatcher dispatcher;
  SilentDnsServer server;
  auto resolver = MakeResolver(dispatcher, server.address(), milliseconds(300));
  Outcome outcome;
  auto handle = resolver->Resolve("10.1.2.3", DnsLookupFamily::kV6Only, outcome.Callback());
  dispatcher.RunPosted();
  REQUIRE(outcome.calls == 1);
  CHECK(outcome.answer->status.code() == absl::StatusCode::kNotFound);
  CHECK(std::string(outcome.answer->status.message()) ==
        "DNS lookup of \"10.1.2.3\" returned no V6_ONLY address");
}

TEST_CASE("a lookup c-ares fails at once is still delivered later, with c-ares' text") {
  ManualDispatcher dispatcher;
  SilentDnsServer server;
  auto resolver = MakeResolver(dispatcher, server.address(), milliseconds(300));
  Outcome outcome;
  // c-ares refuses .onion names (RFC 7686) without asking a server.
  auto handle = resolver->Resolve("hidden.onion", DnsLookupFamily::kAuto, outcome.Callback());
  CHECK(outcome.calls == 0);
  dispatcher.RunPosted();
  REQUIRE(outcome.calls == 1);
  CHECK(outcome.answer->status.code() == absl::StatusCode::kNotFound);
  CHECK(std::string(outcome.answer->status.message()) ==
        "DNS lookup of \"hidden.onion\" failed: Domain name not found");
}

TEST_CASE("destroying the handle cancels the callback") {
  ManualDispatcher dispatcher;
  SilentDnsServer server;
  auto resolver = MakeResolver(dispatcher, server.address(), milliseconds(300));
  Outcome completed;
  Outcome in_flight;
  auto completed_handle =
      resolver->Resolve("10.1.2.3", DnsLookupFamily::kV4Only, completed.Callback());
  auto in_flight_handle =
      resolver->Resolve("silent.cluster.local", DnsLookupFamily::kV4Only, in_flight.Callback());
  completed_handle.reset();
  in_flight_handle.reset();
  dispatcher.RunUntilIdle();
  dispatcher.AdvanceBy(milliseconds(400));
  dispatcher.RunUntilIdle();
  CHECK(completed.calls == 0);
  CHECK(in_flight.calls == 0);
}

TEST_CASE("destroying the resolver drops pending and posted callbacks") {
  ManualDispatcher dispatcher;
  SilentDnsServer server;
  auto resolver = MakeResolver(dispatcher, server.address(), milliseconds(300));
  Outcome posted;
  Outcome in_flight;
  auto posted_handle = resolver->Resolve("10.1.2.3", DnsLookupFamily::kV4Only, posted.Callback());
  auto in_flight_handle =
      resolver->Resolve("silent.cluster.local", DnsLookupFamily::kV4Only, in_flight.Callback());
  dispatcher.PollFds();
  resolver.reset();
  dispatcher.RunUntilIdle();
  dispatcher.AdvanceBy(milliseconds(400));
  CHECK(posted.calls == 0);
  CHECK(in_flight.calls == 0);
  posted_handle.reset();
  in_flight_handle.reset();
}

TEST_CASE("resolvers are IP addresses with optional ports") {
  DnsResolverConfig config{.resolvers = {"127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:5353"}};
  auto csv = internal::AresServersCsv(config);
  REQUIRE(csv.ok());
  CHECK(*csv == "127.0.0.1:53,127.0.0.1:5353,[::1]:53,[::1]:5353");
  CHECK(*internal::AresServersCsv(DnsResolverConfig{}) == "");

  ManualDispatcher dispatcher;
  for (const char* bad : {"dns.example", "127.0.0.1:0", "[::1", "10.0.0.1:99999"}) {
    auto resolver = DnsResolver::CreateAres(
        dispatcher, DnsResolverConfig{.resolvers = {"10.0.0.1", bad}}, milliseconds(100));
    REQUIRE_FALSE(resolver.ok());
    CHECK(resolver.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(resolver.status().message()) ==
          std::string("resolvers[1]: \"") + bad + "\" is not an IP address with an optional port");
  }
}

TEST_CASE("c-ares errors map to status codes and keep c-ares' text") {
  auto check = [](int ares_status, absl::StatusCode code) {
    absl::Status status = internal::AresStatusToStatus(ares_status, "a.example");
    CHECK(status.code() == code);
    CHECK(std::string(status.message()) ==
          std::string("DNS lookup of \"a.example\" failed: ") + ares_strerror(ares_status));
  };
  check(ARES_ENOTFOUND, absl::StatusCode::kNotFound);
  check(ARES_ENODATA, absl::StatusCode::kNotFound);
  check(ARES_ETIMEOUT, absl::StatusCode::kDeadlineExceeded);
  check(ARES_ECONNREFUSED, absl::StatusCode::kUnavailable);
  check(ARES_ESERVFAIL, absl::StatusCode::kUnavailable);
  check(ARES_EREFUSED, absl::StatusCode::kUnavailable);
  check(ARES_ENOMEM, absl::StatusCode::kResourceExhausted);
  check(ARES_EBADNAME, absl::StatusCode::kInvalidArgument);
  check(ARES_EFILE, absl::StatusCode::kUnknown);
  CHECK(std::string(internal::AresStatusToStatus(ARES_ENOTFOUND, "nx.example").message()) ==
        "DNS lookup of \"nx.example\" failed: Domain name not found");
}

}  // namespace
}  // namespace homing
