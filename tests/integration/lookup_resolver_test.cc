// AffinityLookup against a real resolver (tests/support/resolver_server.py)
// on loopback addresses, over libcurl on a LibuvDispatcher.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "homing/affinity_lookup.h"
#include "homing/libuv_dispatcher.h"
#include "homing/stats.h"
#include "homing/upstream.h"
#include "resolver_process.h"

namespace homing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ResolverProcess;
using Failure = LookupOutcome::Failure;
using Source = LookupOutcome::Source;

constexpr char kResolverAddress[] = "127.0.1.20";
constexpr char kClosedAddress[] = "127.0.1.21";
constexpr char kAllowed[] = "*.server-headless.poc-routing.svc.cluster.local:8081";

std::string Owner(int n) {
  return "server-" + std::to_string(n) +
         ".server-headless.poc-routing.svc.cluster.local:8081";
}

// A port on `address` that refuses connections: bound, never listening, and
// held so nobody else takes it during the test.
class ClosedPort {
 public:
  explicit ClosedPort(const char* address) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    inet_pton(AF_INET, address, &addr.sin_addr);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~ClosedPort() { close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

AffinityPolicy DefaultPolicy() {
  AffinityPolicy policy;
  policy.lookup_cluster = "resolver";
  policy.allowed_hostports = {kAllowed};
  return policy;
}

struct Live {
  explicit Live(AffinityPolicy p = DefaultPolicy(),
                std::vector<EndpointSpec> extra_endpoints = {})
      : policy(std::move(p)) {
    ResolverProcess::Options options;
    options.address = kResolverAddress;
    auto started = ResolverProcess::Start(options);
    REQUIRE_MESSAGE(started.ok(), started.status().ToString());
    resolver = std::move(*started);
    auto created = LibuvDispatcher::Create();
    REQUIRE(created.ok());
    dispatcher = std::move(*created);

    ClusterSpec spec;
    spec.name = "resolver";
    spec.endpoints = std::move(extra_endpoints);
    spec.endpoints.push_back({kResolverAddress, resolver->port(), 1});
    auto made_cluster = Cluster::Create(spec, *dispatcher, store.Scope("cluster.resolver."));
    REQUIRE_MESSAGE(made_cluster.ok(), made_cluster.status().ToString());
    cluster = std::move(*made_cluster);
    auto transport = LookupTransport::CreateCurl(*dispatcher);
    REQUIRE_MESSAGE(transport.ok(), transport.status().ToString());
    auto made = AffinityLookup::Create(*dispatcher, policy, *cluster,
                                       store.Scope("affinity.resolver."),
                                       *std::move(transport));
    REQUIRE_MESSAGE(made.ok(), made.status().ToString());
    lookup = std::move(*made);
  }

  ~Live() {
    lookup.reset();
    cluster.reset();
  }

  bool RunUntil(const std::function<bool()>& done) {
    return dispatcher->RunUntil(done, seconds(10));
  }

  void RunFor(Duration duration) {
    dispatcher->RunUntil([] { return false; }, duration);
  }

  LookupOutcome Await(std::string_view key) {
    std::optional<LookupOutcome> got;
    AffinityLookup::Result result =
        lookup->Lookup(key, [&](const LookupOutcome& outcome) { got = outcome; });
    if (result.outcome) return *result.outcome;
    REQUIRE(RunUntil([&] { return got.has_value(); }));
    return *got;
  }

  // Looks `key` up expecting a synchronous outcome.
  LookupOutcome Cached(std::string_view key) {
    AffinityLookup::Result result = lookup->Lookup(key, nullptr);
    REQUIRE(result.outcome.has_value());
    return *result.outcome;
  }

  void Control(std::string_view json) {
    absl::Status status = resolver->Control(json);
    REQUIRE_MESSAGE(status.ok(), status.ToString());
  }

  ResolverProcess::Stats Stats() {
    auto stats = resolver->GetStats();
    REQUIRE_MESSAGE(stats.ok(), stats.status().ToString());
    return *stats;
  }

  uint64_t Count(std::string_view name) {
    return store.Counter("affinity.resolver." + std::string(name)).value();
  }

  AffinityPolicy policy;
  std::unique_ptr<ResolverProcess> resolver;
  std::unique_ptr<LibuvDispatcher> dispatcher;
  StatsStore store;
  std::unique_ptr<Cluster> cluster;
  std::unique_ptr<AffinityLookup> lookup;
};

TEST_CASE("A miss asks the resolver once; the answer is then cached") {
  Live live;
  live.Control(R"({"mapping": {"123": ")" + Owner(1) + R"("}})");
  LookupOutcome first = live.Await("123");
  REQUIRE_MESSAGE(first.ok(), first.error.ToString());
  CHECK(first.source == Source::kResolver);
  CHECK(first.target->hostport == Owner(1));

  LookupOutcome second = live.Cached("123");
  CHECK(second.source == Source::kCache);
  CHECK(second.target == first.target);

  ResolverProcess::Stats stats = live.Stats();
  CHECK(stats.total == 1);
  CHECK(stats.per_key["123"] == 1);
  CHECK(stats.queries == std::vector<std::string>{"client_id=123"});
  CHECK(live.Count("cache_miss") == 1);
  CHECK(live.Count("cache_hit") == 1);
  CHECK(live.Count("lookup_success") == 1);
}

TEST_CASE("100 concurrent lookups of one key make one resolver request") {
  Live live;
  int answered = 0;
  std::vector<std::unique_ptr<Cancelable>> handles;
  for (int i = 0; i < 100; ++i) {
    AffinityLookup::Result result = live.lookup->Lookup("hot", [&](const LookupOutcome& o) {
      if (o.ok()) ++answered;
    });
    REQUIRE(result.handle != nullptr);
    handles.push_back(std::move(result.handle));
  }
  REQUIRE(live.RunUntil([&] { return answered == 100; }));
  CHECK(live.Stats().per_key["hot"] == 1);
  CHECK(live.Stats().total == 1);
  CHECK(live.Count("lookup_coalesced") == 99);
}

TEST_CASE("Bad resolver answers fail the lookup with a reason") {
  struct Case {
    std::string control;
    Failure failure;
    std::string message;
  };
  const Case cases[] = {
      {R"({"status": 500})", Failure::kResolverUnavailable, " answered 500"},
      {R"({"status": 404})", Failure::kBadAnswer, " answered 404"},
      {R"({"mode": "garbage"})", Failure::kBadAnswer, ": resolver answer is not JSON"},
      {R"({"mode": "missing_field"})", Failure::kBadAnswer,
       ": resolver answer has no \"hostport\" field"},
      {R"({"mode": "non_object"})", Failure::kBadAnswer,
       ": resolver answer is not a JSON object"},
      {R"({"hostport": "metadata.google.internal:80"})", Failure::kHostportRejected,
       ": hostport \"metadata.google.internal:80\" is not in allowed_hostports"},
      {R"({"hostport": "user@)" + Owner(1) + R"("})", Failure::kHostportRejected,
       ": invalid hostport \"user@" + Owner(1) + "\": userinfo is not allowed"},
      {R"({"hostport": ")" + Owner(1) + R"(/x"})", Failure::kHostportRejected,
       ": invalid hostport \"" + Owner(1) + "/x\": a path, query or fragment is not allowed"},
      {R"({"hostport": ")" + std::string(70000, 'a') + R"(:1"})",
       Failure::kResolverUnavailable, ": answer larger than 65536 bytes"},
  };
  Live live;
  const std::string prefix = std::string("resolver ") + live.resolver->hostport();
  for (const Case& c : cases) {
    CAPTURE(c.control.substr(0, 60));
    live.Control(R"({"reset": true})");
    live.Control(c.control);
    live.lookup->Invalidate("k");  // forget the previous case's backoff
    LookupOutcome outcome = live.Await("k");
    CHECK_FALSE(outcome.ok());
    CHECK(outcome.failure == c.failure);
    const std::string expected = prefix + c.message;
    CHECK(std::string(outcome.error.message()).substr(0, expected.size()) == expected);
  }
  CHECK(live.Count("lookup_failure") == std::size(cases));
  CHECK(live.Count("hostport_rejected") == 3);
  CHECK(live.Count("lookup_success") == 0);
}

TEST_CASE("A resolver slower than lookup_timeout times out") {
  AffinityPolicy policy = DefaultPolicy();
  policy.lookup_timeout = milliseconds(200);
  Live live(policy);
  live.Control(R"({"delay_ms": 2000})");
  LookupOutcome outcome = live.Await("slow");
  CHECK(outcome.failure == Failure::kResolverTimeout);
  CHECK(outcome.error.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(std::string(outcome.error.message()) ==
        "resolver " + live.resolver->hostport() + ": no answer within lookup_timeout (200ms)");
  CHECK(live.Count("lookup_timeout") == 1);
  CHECK(live.Count("lookup_failure") == 1);
}

TEST_CASE("A key needing percent-encoding arrives intact") {
  Live live;
  const std::string key = "a&b=c d/\xC3\xA9";
  LookupOutcome outcome = live.Await(key);
  REQUIRE_MESSAGE(outcome.ok(), outcome.error.ToString());
  ResolverProcess::Stats stats = live.Stats();
  CHECK(stats.queries == std::vector<std::string>{"client_id=a%26b%3Dc%20d%2F%C3%A9"});
  CHECK(stats.per_key[key] == 1);
}

TEST_CASE("Lookups reuse keep-alive connections") {
  Live live;
  for (int i = 0; i < 50; ++i) {
    LookupOutcome outcome = live.Await("key-" + std::to_string(i));
    REQUIRE_MESSAGE(outcome.ok(), outcome.error.ToString());
  }
  ResolverProcess::Stats stats = live.Stats();
  CHECK(stats.total == 50);
  CHECK(stats.connections <= 2);
}

TEST_CASE("A stale answer is served while one background refresh runs") {
  AffinityPolicy policy = DefaultPolicy();
  policy.max_age = milliseconds(300);
  policy.stale_age = seconds(60);
  Live live(policy);
  live.Control(R"({"mapping": {"k": ")" + Owner(1) + R"("}})");
  REQUIRE(live.Await("k").ok());
  live.Control(R"({"mapping": {"k": ")" + Owner(2) + R"("}, "delay_ms": 100})");
  live.RunFor(milliseconds(350));

  for (int i = 0; i < 5; ++i) {
    LookupOutcome stale = live.Cached("k");
    CHECK(stale.source == Source::kStale);
    CHECK(stale.target->hostport == Owner(1));
  }
  REQUIRE(live.RunUntil([&] { return live.Count("lookup_success") == 2; }));
  LookupOutcome fresh = live.Cached("k");
  CHECK(fresh.source == Source::kCache);
  CHECK(fresh.target->hostport == Owner(2));
  CHECK(live.Stats().per_key["k"] == 2);
  CHECK(live.Count("cache_stale_hit") == 5);
}

TEST_CASE("A failing resolver puts the key in backoff behind default_target") {
  AffinityPolicy policy = DefaultPolicy();
  policy.default_target = "fallback.example:8081";
  Live live(policy);
  live.Control(R"({"status": 503})");
  LookupOutcome failed = live.Await("k");
  REQUIRE(failed.ok());
  CHECK(failed.source == Source::kDefaultTarget);
  CHECK(failed.target->hostport == "fallback.example:8081");
  CHECK(failed.failure == Failure::kResolverUnavailable);

  live.Control(R"({"status": 200, "mapping": {"k": ")" + Owner(1) + R"("}})");
  LookupOutcome during = live.Cached("k");
  CHECK(during.source == Source::kDefaultTarget);
  CHECK(live.Stats().per_key["k"] == 1);

  live.RunFor(milliseconds(1250));  // past the first backoff (1s ±20%)
  LookupOutcome recovered = live.Await("k");
  CHECK(recovered.source == Source::kResolver);
  CHECK(recovered.target->hostport == Owner(1));
  CHECK(live.Stats().per_key["k"] == 2);
}

TEST_CASE("Invalidate makes the next lookup ask again") {
  Live live;
  live.Control(R"({"mapping": {"k": ")" + Owner(1) + R"("}})");
  REQUIRE(live.Await("k").target->hostport == Owner(1));
  live.Control(R"({"mapping": {"k": ")" + Owner(2) + R"("}})");
  CHECK(live.Cached("k").target->hostport == Owner(1));
  live.lookup->Invalidate("k");  // the owner answered 421
  LookupOutcome again = live.Await("k");
  CHECK(again.source == Source::kResolver);
  CHECK(again.target->hostport == Owner(2));
  CHECK(live.Stats().per_key["k"] == 2);
}

TEST_CASE("A connect failure on one host is retried on the other") {
  ClosedPort closed(kClosedAddress);
  Live live(DefaultPolicy(), {{kClosedAddress, closed.port(), 1}});
  for (int i = 0; i < 6; ++i) {
    LookupOutcome outcome = live.Await("key-" + std::to_string(i));
    REQUIRE_MESSAGE(outcome.ok(), outcome.error.ToString());
  }
  const Host* closed_host = nullptr;
  for (const HostSharedPtr& host : live.cluster->hosts()) {
    if (host->address().port() == closed.port()) closed_host = host.get();
  }
  REQUIRE(closed_host != nullptr);
  const uint64_t connect_failures = closed_host->stats().cx_connect_fail.load();
  CHECK(connect_failures >= 1);
  CHECK(live.Stats().total == 6);
  CHECK(live.Count("lookup_attempt") == 6 + connect_failures);
  CHECK(live.Count("lookup_failure") == 0);
}

TEST_CASE("A lookup fails when its only host refuses connections") {
  ClosedPort closed(kClosedAddress);
  Live live(DefaultPolicy(), {{kClosedAddress, closed.port(), 1}});
  live.cluster->SetHosts({SocketAddress::FromIp(kClosedAddress, closed.port()).value()}, "");
  LookupOutcome outcome = live.Await("k");
  CHECK(outcome.failure == Failure::kResolverUnavailable);
  const std::string expected = std::string("resolver ") + kClosedAddress + ":" +
                               std::to_string(closed.port()) + ": connect failed: ";
  CHECK(std::string(outcome.error.message()).substr(0, expected.size()) == expected);
}

TEST_CASE("The curl transport cancels a request whose handle is destroyed") {
  Live live;
  live.Control(R"({"delay_ms": 200})");
  auto transport = LookupTransport::CreateCurl(*live.dispatcher);
  REQUIRE(transport.ok());
  const Host& host = *live.cluster->hosts().front();
  bool cancelled_called = false;
  auto cancelled = (*transport)->Get(host, "/where?client_id=gone", seconds(5),
                                     [&](LookupTransport::Response) { cancelled_called = true; });
  std::optional<LookupTransport::Response> kept;
  auto kept_handle = (*transport)->Get(host, "/where?client_id=kept", seconds(5),
                                       [&](LookupTransport::Response r) { kept = std::move(r); });
  live.RunFor(milliseconds(50));
  cancelled.reset();
  REQUIRE(live.RunUntil([&] { return kept.has_value(); }));
  CHECK(kept->error == LookupTransport::Response::Error::kNone);
  CHECK(kept->status == 200);
  CHECK(kept->body.find("\"client_id\": \"kept\"") != std::string::npos);
  live.RunFor(milliseconds(300));
  CHECK_FALSE(cancelled_called);
}

TEST_CASE("Destroying the lookup with a request in flight is clean") {
  Live live;
  live.Control(R"({"delay_ms": 300})");
  bool called = false;
  AffinityLookup::Result result =
      live.lookup->Lookup("k", [&](const LookupOutcome&) { called = true; });
  REQUIRE(result.handle != nullptr);
  live.RunFor(milliseconds(50));
  live.lookup.reset();
  live.RunFor(milliseconds(400));
  result.handle.reset();
  CHECK_FALSE(called);
}

}  // namespace
}  // namespace homing
