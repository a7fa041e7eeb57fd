#include "homing/dns_cache.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dns_test_resolver.h"
#include "homing/manual_dispatcher.h"
#include "homing/stats.h"

namespace homing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ScriptedResolver;
using LoadStatus = DnsCache::LoadStatus;

DnsCacheConfig TestConfig() {
  DnsCacheConfig config;
  config.name = "test";
  return config;
}

std::vector<std::string> Addresses(const DnsHostInfoSharedPtr& info) {
  std::vector<std::string> out;
  for (const SocketAddress& a : info->addresses) out.push_back(a.ToString());
  return out;
}

// A cache over a scripted resolver, on a dispatcher whose clock the test moves.
struct Fixture {
  explicit Fixture(DnsCacheConfig config = TestConfig()) {
    auto owned = std::make_unique<ScriptedResolver>();
    resolver = owned.get();
    auto created = DnsCache::Create(dispatcher, config, store.Scope(""), std::move(owned));
    REQUIRE(created.ok());
    cache = *std::move(created);
  }

  uint64_t Stat(const std::string& name) {
    return store.Counter("dns_cache.test." + name).value();
  }
  int64_t NumHosts() { return store.Gauge("dns_cache.test.num_hosts").value(); }

  // The delay of the refresh timer the last answer armed.
  Duration NextRefreshIn() {
    auto deadline = dispatcher.NextTimerDeadline();
    REQUIRE(deadline.has_value());
    return *deadline - dispatcher.Now();
  }

  ManualDispatcher dispatcher;
  StatsStore store;
  ScriptedResolver* resolver = nullptr;
  std::unique_ptr<DnsCache> cache;
};

// Loads `host` and records the callback's snapshot.
struct Loader {
  DnsCache::LoadResult result;
  DnsHostInfoSharedPtr called_with;
  int calls = 0;

  Loader(DnsCache& cache, std::string_view host, uint16_t port) {
    result = cache.Load(host, port, [this](const DnsHostInfoSharedPtr& info) {
      ++calls;
      called_with = info;
    });
  }
};

TEST_CASE("a first load resolves once and completes later; the next load is a hit") {
  Fixture f;
  Loader first(*f.cache, "a.example", 8081);
  CHECK(first.result.status == LoadStatus::kLoading);
  CHECK(first.result.handle != nullptr);
  CHECK(first.result.host_info == nullptr);
  CHECK(f.resolver->open("a.example") == 1);
  f.dispatcher.RunUntilIdle();
  CHECK(first.calls == 0);

  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1", "10.0.0.2"}, seconds(30)));
  REQUIRE(first.calls == 1);
  CHECK(first.called_with->host == "a.example");
  CHECK(first.called_with->port == 8081);
  CHECK(Addresses(first.called_with) ==
        std::vector<std::string>{"10.0.0.1:8081", "10.0.0.2:8081"});
  CHECK(first.called_with->address().ToString() == "10.0.0.1:8081");
  CHECK(first.called_with->last_status.ok());
  CHECK(first.called_with->ttl == seconds(30));

  Loader second(*f.cache, "a.example", 8081);
  CHECK(second.result.status == LoadStatus::kInCache);
  CHECK(second.result.handle == nullptr);
  CHECK(second.result.host_info == first.called_with);
  CHECK(second.calls == 0);
  CHECK(f.resolver->started("a.example") == 1);

  CHECK(f.Stat("cache_load") == 2);
  CHECK(f.Stat("dns_query_attempt") == 1);
  CHECK(f.Stat("dns_query_success") == 1);
  CHECK(f.Stat("dns_query_failure") == 0);
  CHECK(f.Stat("host_added") == 1);
  CHECK(f.Stat("host_address_changed") == 1);
  CHECK(f.NumHosts() == 1);
  CHECK(f.cache->Find("a.example:8081") == first.called_with);
  CHECK(f.cache->Hosts().size() == 1);
}

TEST_CASE("entries are keyed host:port, whether the port comes in the host or as default") {
  Fixture f;
  Loader with_port(*f.cache, "a.example:9000", 80);
  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1"}));
  CHECK(with_port.called_with->port == 9000);

  Loader same(*f.cache, "a.example", 9000);
  CHECK(same.result.status == LoadStatus::kInCache);
  CHECK(same.result.host_info->address().ToString() == "10.0.0.1:9000");

  Loader other_port(*f.cache, "a.example", 80);
  CHECK(other_port.result.status == LoadStatus::kLoading);
  CHECK(f.resolver->started("a.example") == 2);
  CHECK(f.cache->Find("a.example:80") != nullptr);
  CHECK(f.cache->Find("a.example:9000") != nullptr);
}

TEST_CASE("before its first answer an entry has no address and says it is resolving") {
  Fixture f;
  Loader load(*f.cache, "a.example", 80);
  DnsHostInfoSharedPtr info = f.cache->Find("a.example:80");
  REQUIRE(info != nullptr);
  CHECK_FALSE(info->has_address());
  CHECK(info->last_status.code() == absl::StatusCode::kUnavailable);
  CHECK(std::string(info->last_status.message()) ==
        "DNS lookup of \"a.example\" in progress");
}

TEST_CASE("many loads of one host share one query and all complete") {
  Fixture f;
  std::vector<std::unique_ptr<Loader>> loads;
  for (int i = 0; i < 100; ++i) {
    loads.push_back(std::make_unique<Loader>(*f.cache, "a.example", 80));
    CHECK(loads.back()->result.status == LoadStatus::kLoading);
  }
  CHECK(f.resolver->started("a.example") == 1);
  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1"}));
  for (const auto& load : loads) {
    CHECK(load->calls == 1);
    CHECK(load->called_with == loads.front()->called_with);
  }
  CHECK(f.Stat("dns_query_attempt") == 1);
}

TEST_CASE("destroying a load handle cancels its callback and frees its pending slot") {
  DnsCacheConfig config = TestConfig();
  config.max_pending_requests = 1;
  Fixture f(config);
  Loader cancelled(*f.cache, "a.example", 80);
  REQUIRE(cancelled.result.status == LoadStatus::kLoading);
  cancelled.result.handle.reset();

  Loader kept(*f.cache, "a.example", 80);
  CHECK(kept.result.status == LoadStatus::kLoading);
  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1"}));
  CHECK(cancelled.calls == 0);
  CHECK(kept.calls == 1);
}

TEST_CASE("a load callback may cancel another waiting load") {
  Fixture f;
  std::unique_ptr<Cancelable> second_handle;
  int second_calls = 0;
  auto first = f.cache->Load("a.example", 80, [&](const DnsHostInfoSharedPtr&) {
    second_handle.reset();
  });
  second_handle = f.cache->Load("a.example", 80, [&](const DnsHostInfoSharedPtr&) {
                    ++second_calls;
                  }).handle;
  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1"}));
  CHECK(second_calls == 0);
}

TEST_CASE("a load callback may destroy the cache") {
  Fixture f;
  int calls = 0;
  auto first = f.cache->Load("a.example", 80, [&](const DnsHostInfoSharedPtr&) {
    ++calls;
    f.cache.reset();
  });
  auto second = f.cache->Load("a.example", 80, [&](const DnsHostInfoSharedPtr&) { ++calls; });
  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1"}));
  CHECK(calls == 1);
  CHECK(f.NumHosts() == 0);
}

TEST_CASE("handles may outlive the cache") {
  Fixture f;
  auto result = f.cache->Load("a.example", 80, [](const DnsHostInfoSharedPtr&) {});
  f.cache.reset();
  result.handle.reset();
  CHECK(f.NumHosts() == 0);
}

TEST_CASE("a new host beyond max_hosts overflows; known hosts still load") {
  DnsCacheConfig config = TestConfig();
  config.max_hosts = 2;
  Fixture f(config);
  Loader a(*f.cache, "a.example", 80);
  Loader b(*f.cache, "b.example", 80);
  Loader c(*f.cache, "c.example", 80);
  CHECK(c.result.status == LoadStatus::kOverflow);
  CHECK(c.result.handle == nullptr);
  CHECK(c.result.host_info == nullptr);
  CHECK(f.Stat("host_overflow") == 1);
  CHECK(f.resolver->started("c.example") == 0);
  CHECK(Loader(*f.cache, "a.example", 80).result.status == LoadStatus::kLoading);
  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1"}));
  CHECK(Loader(*f.cache, "a.example", 80).result.status == LoadStatus::kInCache);
  CHECK(Loader(*f.cache, "10.0.0.9", 80).result.status == LoadStatus::kOverflow);
  CHECK(f.Stat("host_overflow") == 2);
  CHECK(c.calls == 0);
}

TEST_CASE("loads beyond max_pending_requests overflow; cache hits never do") {
  DnsCacheConfig config = TestConfig();
  config.max_pending_requests = 2;
  Fixture f(config);
  Loader a1(*f.cache, "a.example", 80);
  Loader a2(*f.cache, "a.example", 80);
  Loader a3(*f.cache, "a.example", 80);
  Loader b(*f.cache, "b.example", 80);
  CHECK(a3.result.status == LoadStatus::kOverflow);
  CHECK(b.result.status == LoadStatus::kOverflow);
  CHECK(f.Stat("dns_rq_pending_overflow") == 2);
  CHECK(f.resolver->started("b.example") == 0);
  CHECK(f.NumHosts() == 1);

  // While the two slots stay taken, hits and IP literals still complete.
  Loader ip(*f.cache, "10.0.0.7", 80);
  CHECK(ip.result.status == LoadStatus::kInCache);

  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1"}));
  CHECK(a1.calls == 1);
  CHECK(a2.calls == 1);
  CHECK(a3.calls == 0);
  std::vector<std::unique_ptr<Loader>> hits;
  for (int i = 0; i < 5; ++i) {
    hits.push_back(std::make_unique<Loader>(*f.cache, "a.example", 80));
    CHECK(hits.back()->result.status == LoadStatus::kInCache);
  }
  CHECK(Loader(*f.cache, "b.example", 80).result.status == LoadStatus::kLoading);
}

TEST_CASE("a good answer refreshes at max(dns_min_refresh_rate, TTL)") {
  DnsCacheConfig config = TestConfig();
  config.dns_min_refresh_rate = seconds(5);
  config.dns_refresh_rate = seconds(60);
  Fixture f(config);

  SUBCASE("TTL above the minimum") {
    Loader load(*f.cache, "a.example", 80);
    f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1"}, seconds(30)));
    f.dispatcher.AdvanceBy(seconds(30) - std::chrono::nanoseconds(1));
    CHECK(f.resolver->started("a.example") == 1);
    f.dispatcher.AdvanceBy(std::chrono::nanoseconds(1));
    CHECK(f.resolver->open("a.example") == 1);
    CHECK(f.Stat("dns_query_attempt") == 2);
  }
  SUBCASE("TTL below the minimum") {
    Loader load(*f.cache, "a.example", 80);
    f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1"}, seconds(1)));
    CHECK(f.NextRefreshIn() == seconds(5));
    f.dispatcher.AdvanceBy(seconds(4));
    CHECK(f.resolver->started("a.example") == 1);
    f.dispatcher.AdvanceBy(seconds(1));
    CHECK(f.resolver->open("a.example") == 1);
  }
  SUBCASE("no TTL: dns_refresh_rate") {
    Loader load(*f.cache, "a.example", 80);
    f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1"}));
    CHECK(f.NextRefreshIn() == seconds(60));
  }
}

TEST_CASE("a failed first resolution is cached without address until the next refresh") {
  Fixture f;
  Loader load(*f.cache, "nx.example", 80);
  f.resolver->Answer("nx.example", ScriptedResolver::Fail(absl::NotFoundError(
                                       "DNS lookup of \"nx.example\" failed: Domain name not found")));
  REQUIRE(load.calls == 1);
  CHECK_FALSE(load.called_with->has_address());
  CHECK(load.called_with->last_status.code() == absl::StatusCode::kNotFound);

  // Callers fail fast: no new query, no waiting.
  Loader again(*f.cache, "nx.example", 80);
  CHECK(again.result.status == LoadStatus::kInCache);
  CHECK_FALSE(again.result.host_info->has_address());
  CHECK(std::string(again.result.host_info->last_status.message()) ==
        "DNS lookup of \"nx.example\" failed: Domain name not found");
  CHECK(f.resolver->started("nx.example") == 1);
  CHECK(f.Stat("dns_query_failure") == 1);
  CHECK(f.Stat("dns_query_success") == 0);
  CHECK(f.Stat("host_address_changed") == 0);

  // Without dns_failure_refresh_rate the retry comes at dns_refresh_rate.
  CHECK(f.NextRefreshIn() == seconds(60));
  f.dispatcher.AdvanceBy(seconds(60));
  CHECK(f.resolver->open("nx.example") == 1);
  f.resolver->Answer("nx.example", ScriptedResolver::Ok({"10.0.0.3"}));
  Loader resolved(*f.cache, "nx.example", 80);
  CHECK(resolved.result.host_info->address().ToString() == "10.0.0.3:80");
  CHECK(resolved.result.host_info->last_status.ok());
}

TEST_CASE("an answer without addresses counts as a failure") {
  Fixture f;
  Loader load(*f.cache, "a.example", 80);
  f.resolver->Answer("a.example", DnsAnswer{});
  CHECK_FALSE(load.called_with->has_address());
  CHECK(std::string(load.called_with->last_status.message()) ==
        "DNS lookup of \"a.example\" returned no address");
  CHECK(f.Stat("dns_query_failure") == 1);
}

TEST_CASE("failures back off exponentially with jitter between base and max, reset by success") {
  DnsCacheConfig config = TestConfig();
  config.dns_failure_refresh_rate = DnsFailureRefreshRate{.base = seconds(1), .max = seconds(8)};
  Fixture f(config);
  Loader load(*f.cache, "a.example", 80);
  const absl::Status down = absl::UnavailableError("server down");

  f.resolver->Answer("a.example", ScriptedResolver::Fail(down));
  CHECK(f.NextRefreshIn() == seconds(1));  // the first retry is exactly base
  // The k-th retry waits in [max(base, c/2), c], c = min(max, base * 2^k).
  const std::vector<std::pair<Duration, Duration>> bounds = {
      {seconds(1), seconds(2)}, {seconds(2), seconds(4)}, {seconds(4), seconds(8)},
      {seconds(4), seconds(8)}, {seconds(4), seconds(8)}};
  for (const auto& [low, high] : bounds) {
    f.dispatcher.AdvanceBy(f.NextRefreshIn());
    f.resolver->Answer("a.example", ScriptedResolver::Fail(down));
    Duration delay = f.NextRefreshIn();
    CHECK(delay >= low);
    CHECK(delay <= high);
  }
  f.dispatcher.AdvanceBy(f.NextRefreshIn());
  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1"}));
  f.dispatcher.AdvanceBy(f.NextRefreshIn());
  f.resolver->Answer("a.example", ScriptedResolver::Fail(down));
  CHECK(f.NextRefreshIn() == seconds(1));
}

TEST_CASE("hosts that fail together retry at jittered, different times") {
  DnsCacheConfig config = TestConfig();
  config.dns_failure_refresh_rate = DnsFailureRefreshRate{.base = seconds(1), .max = seconds(60)};
  Fixture f(config);
  std::vector<std::unique_ptr<Loader>> loads;
  const absl::Status down = absl::UnavailableError("server down");
  for (int i = 0; i < 20; ++i) {
    const std::string name = absl::StrCat("h", i, ".example");
    loads.push_back(std::make_unique<Loader>(*f.cache, name, 80));
    f.resolver->Answer(name, ScriptedResolver::Fail(down));
  }
  // All retry at base (1s) once, then each draws its second delay in [1s, 2s].
  f.dispatcher.AdvanceBy(seconds(1));
  for (int i = 0; i < 20; ++i) {
    f.resolver->Answer(absl::StrCat("h", i, ".example"), ScriptedResolver::Fail(down));
  }
  const MonotonicTime failed_at = f.dispatcher.Now();
  std::vector<MonotonicTime> retries;
  while (auto deadline = f.dispatcher.NextTimerDeadline()) {
    retries.push_back(*deadline);
    CHECK(*deadline - failed_at >= seconds(1));
    CHECK(*deadline - failed_at <= seconds(2));
    f.dispatcher.AdvanceTo(*deadline);  // starts that host's next query
    if (retries.size() > 20) break;
  }
  CHECK(retries.size() == 20);
  std::sort(retries.begin(), retries.end());
  CHECK(std::unique(retries.begin(), retries.end()) - retries.begin() > 1);
}

TEST_CASE("a failed refresh keeps the last good address") {
  Fixture f;
  int changes = 0;
  auto subscription =
      f.cache->AddUpdateCallback([&](const DnsHostInfoSharedPtr&) { ++changes; });
  Loader load(*f.cache, "a.example", 80);
  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1"}, seconds(10)));
  f.dispatcher.AdvanceBy(seconds(10));
  f.resolver->Answer("a.example", ScriptedResolver::Fail(absl::DeadlineExceededError(
                                      "DNS lookup of \"a.example\" timed out after 5s")));
  Loader after(*f.cache, "a.example", 80);
  REQUIRE(after.result.status == LoadStatus::kInCache);
  CHECK(after.result.host_info->address().ToString() == "10.0.0.1:80");
  CHECK(after.result.host_info->last_status.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(f.Stat("dns_query_timeout") == 1);
  CHECK(f.Stat("dns_query_failure") == 1);
  CHECK(f.Stat("host_address_changed") == 1);
  CHECK(changes == 1);
}

TEST_CASE("every update subscriber runs, in order, until its handle goes") {
  Fixture f;
  std::vector<std::string> calls;
  std::unique_ptr<Cancelable> second;
  auto first = f.cache->AddUpdateCallback([&](const DnsHostInfoSharedPtr&) {
    calls.push_back("first");
    second.reset();  // unsubscribed before its turn: not called this time
  });
  second = f.cache->AddUpdateCallback(
      [&](const DnsHostInfoSharedPtr&) { calls.push_back("second"); });
  auto third = f.cache->AddUpdateCallback(
      [&](const DnsHostInfoSharedPtr&) { calls.push_back("third"); });
  Loader load(*f.cache, "a.example", 80);
  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1"}, seconds(5)));
  CHECK(calls == std::vector<std::string>{"first", "third"});

  first.reset();
  f.dispatcher.AdvanceBy(seconds(5));
  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.2"}, seconds(5)));
  CHECK(calls == std::vector<std::string>{"first", "third", "third"});

  f.cache.reset();
  third.reset();  // outlived the cache: inert
}

TEST_CASE("address changes run the callback and count; reordering is no change") {
  Fixture f;
  std::vector<std::vector<std::string>> seen;
  auto subscription = f.cache->AddUpdateCallback(
      [&](const DnsHostInfoSharedPtr& info) { seen.push_back(Addresses(info)); });
  Loader load(*f.cache, "a.example", 80);
  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1", "10.0.0.2"}, seconds(5)));
  REQUIRE(seen.size() == 1);  // the first address is a change, as in Envoy
  CHECK(f.Stat("host_address_changed") == 1);

  f.dispatcher.AdvanceBy(seconds(5));
  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.2", "10.0.0.1"}, seconds(5)));
  CHECK(seen.size() == 1);
  CHECK(f.Stat("host_address_changed") == 1);

  f.dispatcher.AdvanceBy(seconds(5));
  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.3"}, seconds(5)));
  REQUIRE(seen.size() == 2);
  CHECK(seen[1] == std::vector<std::string>{"10.0.0.3:80"});
  CHECK(f.Stat("host_address_changed") == 2);
  CHECK(Loader(*f.cache, "a.example", 80).result.host_info->address().ToString() ==
        "10.0.0.3:80");
}

TEST_CASE("a host unused for host_ttl is evicted at its next refresh") {
  DnsCacheConfig config = TestConfig();
  config.host_ttl = seconds(12);
  Fixture f(config);
  Loader load(*f.cache, "a.example", 80);
  Loader busy(*f.cache, "busy.example", 80);
  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1"}, seconds(5)));
  f.resolver->Answer("busy.example", ScriptedResolver::Ok({"10.0.0.2"}, seconds(5)));

  for (int refresh = 1; refresh <= 2; ++refresh) {  // t = 5s, 10s: still fresh
    f.dispatcher.AdvanceBy(seconds(5));
    Loader(*f.cache, "busy.example", 80);
    f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1"}, seconds(5)));
    f.resolver->Answer("busy.example", ScriptedResolver::Ok({"10.0.0.2"}, seconds(5)));
  }
  CHECK(f.Stat("host_removed") == 0);
  f.dispatcher.AdvanceBy(seconds(5));  // t = 15s: a.example unused for 15s > 12s
  CHECK(f.Stat("host_removed") == 1);
  CHECK(f.NumHosts() == 1);
  CHECK(f.cache->Find("a.example:80") == nullptr);
  CHECK(f.cache->Find("busy.example:80") != nullptr);
  CHECK(f.resolver->started("a.example") == 3);

  Loader back(*f.cache, "a.example", 80);
  CHECK(back.result.status == LoadStatus::kLoading);
  CHECK(f.Stat("host_added") == 3);
}

TEST_CASE("IP literals never query DNS and are in cache at once") {
  Fixture f;
  Loader v4(*f.cache, "10.1.2.3", 80);
  REQUIRE(v4.result.status == LoadStatus::kInCache);
  CHECK(v4.result.host_info->address().ToString() == "10.1.2.3:80");
  CHECK(v4.result.host_info->last_status.ok());
  Loader v6(*f.cache, "[::1]:8080", 80);
  REQUIRE(v6.result.status == LoadStatus::kInCache);
  CHECK(v6.result.host_info->address().ToString() == "[::1]:8080");
  CHECK(v6.result.host_info->host == "::1");
  Loader v6_default(*f.cache, "[::1]", 9090);
  REQUIRE(v6_default.result.status == LoadStatus::kInCache);
  CHECK(v6_default.result.host_info->address().ToString() == "[::1]:9090");
  CHECK(f.cache->Find("[::1]:9090") != nullptr);
  f.dispatcher.RunUntilIdle();
  CHECK(v4.calls + v6.calls + v6_default.calls == 0);
  CHECK(f.resolver->total_started() == 0);
  CHECK(f.Stat("dns_query_attempt") == 0);
  CHECK(f.Stat("host_added") == 3);

  SUBCASE("and are evicted by host_ttl like any host") {
    f.dispatcher.AdvanceBy(std::chrono::minutes(5) + seconds(60));
    CHECK(f.Stat("host_removed") == 3);
    CHECK(f.resolver->total_started() == 0);
  }
}

TEST_CASE("an invalid host is answered from cache with InvalidArgument and not stored") {
  Fixture f;
  Loader bad(*f.cache, "bad host", 80);
  REQUIRE(bad.result.status == LoadStatus::kInCache);
  CHECK_FALSE(bad.result.host_info->has_address());
  CHECK(bad.result.host_info->last_status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.result.host_info->last_status.message()) ==
        "invalid hostport \"bad host\": contains whitespace or a control character");
  Loader v6(*f.cache, "::1", 80);
  CHECK(std::string(v6.result.host_info->last_status.message()) ==
        "invalid hostport \"::1\": IPv6 literals must be bracketed");
  Loader port(*f.cache, "a.example:0", 80);
  CHECK(std::string(port.result.host_info->last_status.message()) ==
        "invalid hostport \"a.example:0\": port must be 1-65535");
  CHECK(f.NumHosts() == 0);
  CHECK(f.resolver->total_started() == 0);
}

TEST_CASE("preresolve_hostnames are resolved at creation") {
  DnsCacheConfig config = TestConfig();
  config.preresolve_hostnames = {"a.example:443", "10.0.0.9:80", "a.example:443"};
  config.dns_lookup_family = DnsLookupFamily::kV4Only;
  Fixture f(config);
  CHECK(f.resolver->open("a.example") == 1);
  CHECK(f.resolver->family("a.example") == DnsLookupFamily::kV4Only);
  CHECK(f.NumHosts() == 2);
  f.resolver->Answer("a.example", ScriptedResolver::Ok({"10.0.0.1"}));
  Loader load(*f.cache, "a.example", 443);
  CHECK(load.result.status == LoadStatus::kInCache);
  CHECK(Loader(*f.cache, "10.0.0.9", 80).result.status == LoadStatus::kInCache);
}

TEST_CASE("the configured lookup family goes to the resolver") {
  DnsCacheConfig config = TestConfig();
  config.dns_lookup_family = DnsLookupFamily::kAll;
  Fixture f(config);
  Loader load(*f.cache, "a.example", 80);
  CHECK(f.resolver->family("a.example") == DnsLookupFamily::kAll);
}

std::string CreateError(const DnsCacheConfig& config) {
  ManualDispatcher dispatcher;
  StatsStore store;
  auto cache = DnsCache::Create(dispatcher, config, store.Scope(""),
                                std::make_unique<ScriptedResolver>());
  REQUIRE_FALSE(cache.ok());
  CHECK(cache.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ValidateDnsCacheConfig(config) == cache.status());
  return std::string(cache.status().message());
}

TEST_CASE("invalid configs are rejected with the field named") {
  DnsCacheConfig config = TestConfig();
  CHECK(ValidateDnsCacheConfig(config).ok());

  SUBCASE("name") {
    config.name = "";
    CHECK(CreateError(config) == "dns cache: name must not be empty");
  }
  SUBCASE("dns_refresh_rate") {
    config.dns_refresh_rate = std::chrono::microseconds(500);
    CHECK(CreateError(config) ==
          "dns cache \"test\": dns_refresh_rate must be at least 1ms (got 500us)");
  }
  SUBCASE("dns_min_refresh_rate") {
    config.dns_min_refresh_rate = milliseconds(500);
    CHECK(CreateError(config) ==
          "dns cache \"test\": dns_min_refresh_rate must be at least 1s (got 500ms)");
  }
  SUBCASE("host_ttl") {
    config.host_ttl = Duration::zero();
    CHECK(CreateError(config) == "dns cache \"test\": host_ttl must be positive (got 0)");
  }
  SUBCASE("max_hosts") {
    config.max_hosts = 0;
    CHECK(CreateError(config) == "dns cache \"test\": max_hosts must be positive");
  }
  SUBCASE("dns_query_timeout") {
    config.dns_query_timeout = -seconds(1);
    CHECK(CreateError(config) ==
          "dns cache \"test\": dns_query_timeout must not be negative (got -1s)");
  }
  SUBCASE("dns_failure_refresh_rate base") {
    config.dns_failure_refresh_rate = DnsFailureRefreshRate{.base = milliseconds(1), .max = seconds(1)};
    CHECK(CreateError(config) ==
          "dns cache \"test\": dns_failure_refresh_rate.base_interval must be greater "
          "than 1ms (got 1ms)");
  }
  SUBCASE("dns_failure_refresh_rate max") {
    config.dns_failure_refresh_rate = DnsFailureRefreshRate{.base = seconds(2), .max = seconds(1)};
    CHECK(CreateError(config) ==
          "dns cache \"test\": dns_failure_refresh_rate.max_interval (1s) must not be "
          "less than base_interval (2s)");
  }
  SUBCASE("preresolve_hostnames entry") {
    config.preresolve_hostnames = {"a.example:80", "b.example"};
    CHECK(CreateError(config) ==
          "dns cache \"test\": preresolve_hostnames[1]: invalid hostport \"b.example\": "
          "missing port");
  }
  SUBCASE("preresolve_hostnames count") {
    config.max_hosts = 1;
    config.preresolve_hostnames = {"a.example:80", "b.example:80"};
    CHECK(CreateError(config) ==
          "dns cache \"test\": preresolve_hostnames has 2 entries, more than max_hosts (1)");
  }
  SUBCASE("resolvers") {
    config.resolver.resolvers = {"127.0.0.1:5353", "dns.example:53"};
    CHECK(CreateError(config) ==
          "dns cache \"test\": resolver.resolvers[1]: \"dns.example:53\" is not an IP "
          "address with an optional port");
  }
}

TEST_CASE("a dns_query_timeout of zero is valid (timeouts left to c-ares)") {
  DnsCacheConfig config = TestConfig();
  config.dns_query_timeout = Duration::zero();
  CHECK(ValidateDnsCacheConfig(config).ok());
}

TEST_CASE("num_hosts drops when the cache goes away") {
  Fixture f;
  Loader a(*f.cache, "10.0.0.1", 80);
  Loader b(*f.cache, "b.example", 80);
  CHECK(f.NumHosts() == 2);
  f.cache.reset();
  CHECK(f.NumHosts() == 0);
}

}  // namespace
}  // namespace homing
