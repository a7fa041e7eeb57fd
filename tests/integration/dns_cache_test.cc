// The DNS cache and the c-ares resolver against a real DNS server (dnsmasq)
// on a real libuv loop. Waits are bounded loops on the loop, never sleeps
// followed by assertions on elapsed time.

#include <ares.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dnsmasq.h"
#include "homing/dns_cache.h"
#include "homing/libuv_dispatcher.h"
#include "homing/stats.h"

namespace homing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Dnsmasq;
using LoadStatus = DnsCache::LoadStatus;
using Strings = std::vector<std::string>;

// LibuvDispatcher::RunUntil() with the tests' 10 s bound.
bool RunUntil(LibuvDispatcher& dispatcher, const std::function<bool()>& done) {
  return dispatcher.RunUntil(done, seconds(10));
}

Strings Sorted(const DnsHostInfoSharedPtr& info) {
  Strings out;
  for (const SocketAddress& a : info->addresses) out.push_back(a.ToString());
  std::sort(out.begin(), out.end());
  return out;
}

Dnsmasq::Options DnsOptions(int local_ttl_seconds) {
  Dnsmasq::Options options;
  options.local_ttl_seconds = local_ttl_seconds;
  return options;
}

struct Fixture {
  explicit Fixture(Dnsmasq::Options dns_options = DnsOptions(0))
      : dns(std::move(dns_options)) {
    auto created = LibuvDispatcher::Create();
    REQUIRE(created.ok());
    dispatcher = *std::move(created);
  }

  ~Fixture() {
    cache.reset();
    dispatcher->RunNoWait();
  }

  DnsCacheConfig Config() {
    DnsCacheConfig config;
    config.name = "it";
    config.dns_lookup_family = DnsLookupFamily::kV4Only;
    config.dns_refresh_rate = milliseconds(100);
    config.dns_query_timeout = milliseconds(500);
    config.resolver.resolvers = {dns.address()};
    return config;
  }

  void CreateCache(const DnsCacheConfig& config) {
    auto created = DnsCache::Create(*dispatcher, config, store.Scope(""));
    REQUIRE(created.ok());
    cache = *std::move(created);
  }

  uint64_t Stat(const std::string& name) {
    return store.Counter("dns_cache.it." + name).value();
  }

  // Loads `host` and runs the loop until it is answered (from cache or not).
  DnsHostInfoSharedPtr LoadAndWait(std::string_view host, uint16_t port) {
    DnsHostInfoSharedPtr answered;
    auto result = cache->Load(host, port, [&](const DnsHostInfoSharedPtr& info) {
      answered = info;
    });
    if (result.status == LoadStatus::kInCache) return result.host_info;
    REQUIRE(result.status == LoadStatus::kLoading);
    REQUIRE(RunUntil(*dispatcher, [&] { return answered != nullptr; }));
    return answered;
  }

  Dnsmasq dns;
  StatsStore store;
  std::unique_ptr<LibuvDispatcher> dispatcher;
  std::unique_ptr<DnsCache> cache;
};

TEST_CASE("a miss resolves through the DNS server; the next load is a hit") {
  Fixture f;
  REQUIRE(f.dns.SetRecords({{"a.cluster.local", "127.0.1.10"},
                            {"a.cluster.local", "127.0.1.11"}}).ok());
  REQUIRE(f.dns.Start().ok());
  f.CreateCache(f.Config());

  DnsHostInfoSharedPtr info = f.LoadAndWait("a.cluster.local", 8081);
  CHECK(Sorted(info) == Strings{"127.0.1.10:8081", "127.0.1.11:8081"});
  CHECK(info->last_status.ok());

  auto hit = f.cache->Load("a.cluster.local:8081", 80, [](const DnsHostInfoSharedPtr&) {});
  REQUIRE(hit.status == LoadStatus::kInCache);
  CHECK(hit.host_info == info);
  CHECK(f.Stat("dns_query_attempt") == 1);
  CHECK(f.Stat("dns_query_success") == 1);
  CHECK(f.Stat("cache_load") == 2);
  CHECK(f.store.Gauge("dns_cache.it.num_hosts").value() == 1);
}

TEST_CASE("100 concurrent loads of one host make one DNS query") {
  Dnsmasq::Options options = DnsOptions(0);
  options.log_queries = true;
  Fixture f(options);
  REQUIRE(f.dns.SetRecords({{"busy.cluster.local", "127.0.1.12"}}).ok());
  REQUIRE(f.dns.Start().ok());
  DnsCacheConfig config = f.Config();
  config.dns_refresh_rate = seconds(60);
  f.CreateCache(config);

  int completed = 0;
  std::vector<std::unique_ptr<Cancelable>> handles;
  for (int i = 0; i < 100; ++i) {
    auto result = f.cache->Load("busy.cluster.local", 80, [&](const DnsHostInfoSharedPtr& info) {
      completed += info->has_address() && info->address().ToString() == "127.0.1.12:80";
    });
    REQUIRE(result.status == LoadStatus::kLoading);
    handles.push_back(std::move(result.handle));
  }
  REQUIRE(RunUntil(*f.dispatcher, [&] { return completed == 100; }));
  CHECK(f.Stat("dns_query_attempt") == 1);
  // The server saw exactly one A query for the name.
  auto count_queries = [&] {
    const std::string log = f.dns.log();
    size_t n = 0;
    for (size_t at = log.find("query[A] busy.cluster.local"); at != std::string::npos;
         at = log.find("query[A] busy.cluster.local", at + 1)) {
      ++n;
    }
    return n;
  };
  REQUIRE(RunUntil(*f.dispatcher, [&] { return count_queries() >= 1; }));
  CHECK(count_queries() == 1);
}

TEST_CASE("NXDOMAIN is cached as a failure, retried with backoff, and recovers") {
  Fixture f;
  REQUIRE(f.dns.Start().ok());
  DnsCacheConfig config = f.Config();
  config.dns_failure_refresh_rate = DnsFailureRefreshRate{.base = milliseconds(20),
                                                          .max = milliseconds(80)};
  f.CreateCache(config);

  DnsHostInfoSharedPtr info = f.LoadAndWait("nx.cluster.local", 80);
  CHECK_FALSE(info->has_address());
  CHECK(info->last_status.code() == absl::StatusCode::kNotFound);
  CHECK(std::string(info->last_status.message()) ==
        "DNS lookup of \"nx.cluster.local\" failed: Domain name not found");
  auto cached = f.cache->Load("nx.cluster.local", 80, [](const DnsHostInfoSharedPtr&) {});
  CHECK(cached.status == LoadStatus::kInCache);
  CHECK_FALSE(cached.host_info->has_address());

  REQUIRE(RunUntil(*f.dispatcher, [&] { return f.Stat("dns_query_failure") >= 4; }));
  CHECK(f.Stat("dns_query_success") == 0);

  REQUIRE(f.dns.SetRecords({{"nx.cluster.local", "127.0.1.13"}}).ok());
  REQUIRE(RunUntil(*f.dispatcher, [&] {
    DnsHostInfoSharedPtr now = f.cache->Find("nx.cluster.local:80");
    return now->has_address();
  }));
  CHECK(f.cache->Find("nx.cluster.local:80")->address().ToString() == "127.0.1.13:80");
  CHECK(f.Stat("host_address_changed") == 1);
}

TEST_CASE("while the DNS server is down or hung the cached address keeps serving") {
  Fixture f;
  REQUIRE(f.dns.SetRecords({{"a.cluster.local", "127.0.1.10"}}).ok());
  REQUIRE(f.dns.Start().ok());
  DnsCacheConfig config = f.Config();
  config.dns_query_timeout = milliseconds(200);
  config.dns_failure_refresh_rate = DnsFailureRefreshRate{.base = milliseconds(20),
                                                          .max = milliseconds(50)};
  f.CreateCache(config);
  REQUIRE(f.LoadAndWait("a.cluster.local", 80)->has_address());

  auto still_served = [&] {
    auto hit = f.cache->Load("a.cluster.local", 80, [](const DnsHostInfoSharedPtr&) {});
    return hit.status == LoadStatus::kInCache && hit.host_info->has_address() &&
           hit.host_info->address().ToString() == "127.0.1.10:80";
  };

  SUBCASE("stopped: refused queries fail fast") {
    f.dns.Stop();
    REQUIRE(RunUntil(*f.dispatcher, [&] { return f.Stat("dns_query_failure") >= 2; }));
    CHECK(still_served());
    DnsHostInfoSharedPtr info = f.cache->Find("a.cluster.local:80");
    CHECK(info->last_status.code() == absl::StatusCode::kUnavailable);
    CHECK(std::string(info->last_status.message()) ==
          std::string("DNS lookup of \"a.cluster.local\" failed: ") +
              ares_strerror(ARES_ECONNREFUSED));
  }
  SUBCASE("hung: queries time out at dns_query_timeout") {
    f.dns.Pause();
    REQUIRE(RunUntil(*f.dispatcher, [&] { return f.Stat("dns_query_timeout") >= 2; }));
    CHECK(still_served());
    DnsHostInfoSharedPtr info = f.cache->Find("a.cluster.local:80");
    CHECK(info->last_status.code() == absl::StatusCode::kDeadlineExceeded);
    CHECK(std::string(info->last_status.message()) ==
          "DNS lookup of \"a.cluster.local\" timed out after 200ms");
    CHECK(f.Stat("dns_query_failure") >= f.Stat("dns_query_timeout"));
    f.dns.Resume();
  }
  // Back up: the next refresh succeeds again.
  REQUIRE(f.dns.Start().ok());
  const uint64_t successes = f.Stat("dns_query_success");
  REQUIRE(RunUntil(*f.dispatcher, [&] { return f.Stat("dns_query_success") > successes; }));
  CHECK(f.cache->Find("a.cluster.local:80")->last_status.ok());
  CHECK(f.Stat("host_address_changed") == 1);
}

TEST_CASE("an address change on the server is picked up on refresh") {
  Fixture f;
  REQUIRE(f.dns.SetRecords({{"moving.cluster.local", "127.0.1.10"}}).ok());
  REQUIRE(f.dns.Start().ok());
  f.CreateCache(f.Config());
  Strings changes;
  auto subscription = f.cache->AddUpdateCallback([&](const DnsHostInfoSharedPtr& info) {
    changes.push_back(absl::StrCat(info->host, " ", Sorted(info).front()));
  });
  REQUIRE(f.LoadAndWait("moving.cluster.local", 80)->has_address());

  REQUIRE(f.dns.SetRecords({{"moving.cluster.local", "127.0.1.20"}}).ok());
  REQUIRE(RunUntil(*f.dispatcher, [&] { return changes.size() == 2; }));
  CHECK(changes == Strings{"moving.cluster.local 127.0.1.10:80",
                           "moving.cluster.local 127.0.1.20:80"});
  CHECK(f.Stat("host_address_changed") == 2);
  auto hit = f.cache->Load("moving.cluster.local", 80, [](const DnsHostInfoSharedPtr&) {});
  CHECK(hit.host_info->address().ToString() == "127.0.1.20:80");
}

TEST_CASE("the record TTL drives the refresh") {
  Fixture f(DnsOptions(1));
  REQUIRE(f.dns.SetRecords({{"ttl.cluster.local", "127.0.1.10"}}).ok());
  REQUIRE(f.dns.Start().ok());
  DnsCacheConfig config = f.Config();
  config.dns_refresh_rate = seconds(60);  // would never refresh within the test
  config.dns_min_refresh_rate = seconds(1);
  f.CreateCache(config);
  DnsHostInfoSharedPtr info = f.LoadAndWait("ttl.cluster.local", 80);
  CHECK(info->ttl == seconds(1));

  REQUIRE(f.dns.SetRecords({{"ttl.cluster.local", "127.0.1.21"}}).ok());
  REQUIRE(RunUntil(*f.dispatcher, [&] {
    return f.cache->Find("ttl.cluster.local:80")->address().ToString() == "127.0.1.21:80";
  }));
  CHECK(f.Stat("dns_query_attempt") >= 2);
}

TEST_CASE("a host unused for host_ttl is evicted") {
  Fixture f;
  REQUIRE(f.dns.SetRecords({{"idle.cluster.local", "127.0.1.10"},
                            {"used.cluster.local", "127.0.1.11"}}).ok());
  REQUIRE(f.dns.Start().ok());
  DnsCacheConfig config = f.Config();
  config.host_ttl = milliseconds(300);
  f.CreateCache(config);
  REQUIRE(f.LoadAndWait("idle.cluster.local", 80)->has_address());
  REQUIRE(f.LoadAndWait("used.cluster.local", 80)->has_address());

  REQUIRE(RunUntil(*f.dispatcher, [&] {
    f.cache->Load("used.cluster.local", 80, [](const DnsHostInfoSharedPtr&) {});
    return f.Stat("host_removed") == 1;
  }));
  CHECK(f.cache->Find("idle.cluster.local:80") == nullptr);
  CHECK(f.cache->Find("used.cluster.local:80") != nullptr);
  CHECK(f.store.Gauge("dns_cache.it.num_hosts").value() == 1);
}

TEST_CASE("max_hosts and max_pending_requests overflow") {
  Fixture f;
  REQUIRE(f.dns.SetRecords({{"a.cluster.local", "127.0.1.10"},
                            {"b.cluster.local", "127.0.1.11"},
                            {"c.cluster.local", "127.0.1.12"}}).ok());
  REQUIRE(f.dns.Start().ok());
  DnsCacheConfig config = f.Config();
  config.max_hosts = 2;
  config.max_pending_requests = 2;
  f.CreateCache(config);
  auto noop = [](const DnsHostInfoSharedPtr&) {};
  auto a1 = f.cache->Load("a.cluster.local", 80, noop);
  auto a2 = f.cache->Load("a.cluster.local", 80, noop);
  auto b = f.cache->Load("b.cluster.local", 80, noop);
  CHECK(b.status == LoadStatus::kOverflow);
  CHECK(f.Stat("dns_rq_pending_overflow") == 1);
  REQUIRE(RunUntil(*f.dispatcher, [&] {
    return f.cache->Load("a.cluster.local", 80, noop).status == LoadStatus::kInCache;
  }));
  REQUIRE(f.LoadAndWait("b.cluster.local", 80)->has_address());
  CHECK(f.cache->Load("c.cluster.local", 80, noop).status == LoadStatus::kOverflow);
  CHECK(f.Stat("host_overflow") == 1);
}

// The c-ares resolver itself, one lookup per family.
struct FamilyCase {
  DnsLookupFamily family;
  const char* name;
  Strings expected;  // empty: NotFound
};

TEST_CASE("lookup families select A and AAAA records as configured") {
  Fixture f;
  REQUIRE(f.dns.SetRecords({{"dual.cluster.local", "127.0.1.30"},
                            {"dual.cluster.local", "fd00::30"},
                            {"v4.cluster.local", "127.0.1.31"},
                            {"v6.cluster.local", "fd00::31"}}).ok());
  REQUIRE(f.dns.Start().ok());
  auto resolver = DnsResolver::CreateAres(*f.dispatcher,
                                          DnsResolverConfig{.resolvers = {f.dns.address()}},
                                          milliseconds(500));
  REQUIRE(resolver.ok());

  const std::vector<FamilyCase> cases = {
      {DnsLookupFamily::kV4Only, "dual.cluster.local", {"127.0.1.30:0"}},
      {DnsLookupFamily::kV6Only, "dual.cluster.local", {"[fd00::30]:0"}},
      {DnsLookupFamily::kAll, "dual.cluster.local", {"127.0.1.30:0", "[fd00::30]:0"}},
      {DnsLookupFamily::kAuto, "dual.cluster.local", {"[fd00::30]:0"}},
      {DnsLookupFamily::kV4Preferred, "dual.cluster.local", {"127.0.1.30:0"}},
      {DnsLookupFamily::kAuto, "v4.cluster.local", {"127.0.1.31:0"}},
      {DnsLookupFamily::kV4Preferred, "v6.cluster.local", {"[fd00::31]:0"}},
      {DnsLookupFamily::kAll, "v6.cluster.local", {"[fd00::31]:0"}},
      {DnsLookupFamily::kV6Only, "v4.cluster.local", {}},
      {DnsLookupFamily::kV4Only, "v6.cluster.local", {}},
  };
  for (const FamilyCase& c : cases) {
    CAPTURE(c.name);
    CAPTURE(DnsLookupFamilyName(c.family));
    std::optional<DnsAnswer> answer;
    auto handle = (*resolver)->Resolve(c.name, c.family, [&](DnsAnswer a) { answer = a; });
    REQUIRE(RunUntil(*f.dispatcher, [&] { return answer.has_value(); }));
    Strings got;
    for (const SocketAddress& a : answer->addresses) got.push_back(a.ToString());
    CHECK(got == c.expected);  // order too: IPv4 first for ALL
    if (c.expected.empty()) {
      CHECK(answer->status.code() == absl::StatusCode::kNotFound);
    } else {
      CHECK(answer->status.ok());
    }
  }
}

TEST_CASE("the cache's lookup family decides what a host resolves to") {
  Dnsmasq::Options options = DnsOptions(0);
  options.extra_args = {"--host-record=dual.cluster.local,127.0.1.40,fd00::40"};
  Fixture f(options);
  REQUIRE(f.dns.Start().ok());
  SUBCASE("V4_ONLY") {
    f.CreateCache(f.Config());
    CHECK(Sorted(f.LoadAndWait("dual.cluster.local", 80)) == Strings{"127.0.1.40:80"});
  }
  SUBCASE("ALL") {
    DnsCacheConfig config = f.Config();
    config.dns_lookup_family = DnsLookupFamily::kAll;
    f.CreateCache(config);
    DnsHostInfoSharedPtr info = f.LoadAndWait("dual.cluster.local", 80);
    CHECK(Sorted(info) == Strings{"127.0.1.40:80", "[fd00::40]:80"});
    CHECK(info->address().ToString() == "127.0.1.40:80");
  }
}

TEST_CASE("preresolved hosts are in cache before the first load") {
  Fixture f;
  REQUIRE(f.dns.SetRecords({{"pre.cluster.local", "127.0.1.50"}}).ok());
  REQUIRE(f.dns.Start().ok());
  DnsCacheConfig config = f.Config();
  config.preresolve_hostnames = {"pre.cluster.local:443"};
  f.CreateCache(config);
  REQUIRE(RunUntil(*f.dispatcher, [&] { return f.Stat("dns_query_success") == 1; }));
  auto hit = f.cache->Load("pre.cluster.local", 443, [](const DnsHostInfoSharedPtr&) {});
  REQUIRE(hit.status == LoadStatus::kInCache);
  CHECK(hit.host_info->address().ToString() == "127.0.1.50:443");
}

}  // namespace
}  // namespace homing
