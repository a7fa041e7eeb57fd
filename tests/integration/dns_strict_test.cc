// STRICT_DNS refresh against a real DNS server (dnsmasq) on a real libuv
// loop: the cluster's hosts follow the A records of its endpoint names.

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dnsmasq.h"
#include "homing/libuv_dispatcher.h"
#include "homing/stats.h"
#include "homing/strict_dns.h"
#include "homing/upstream.h"

namespace homing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Dnsmasq;
using Strings = std::vector<std::string>;

// LibuvDispatcher::RunUntil() with the tests' 10 s bound.
bool RunUntil(LibuvDispatcher& dispatcher, const std::function<bool()>& done) {
  return dispatcher.RunUntil(done, seconds(10));
}

Strings Hosts(const Cluster& cluster) {
  Strings out;
  for (const HostSharedPtr& host : cluster.hosts()) out.push_back(host->address_string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST_CASE("a STRICT_DNS cluster's hosts follow its name's A records") {
  Dnsmasq::Options options;
  options.local_ttl_seconds = 0;
  Dnsmasq dns(options);
  REQUIRE(dns.SetRecords({{"server.cluster.local", "127.0.1.10"},
                          {"server.cluster.local", "127.0.1.11"}}).ok());
  REQUIRE(dns.Start().ok());
  auto dispatcher = LibuvDispatcher::Create();
  REQUIRE(dispatcher.ok());
  StatsStore store;

  ClusterSpec spec;
  spec.name = "resolver";
  spec.type = ClusterType::kStrictDns;
  spec.endpoints = {{"server.cluster.local", 8081}};
  spec.dns_lookup_family = DnsLookupFamily::kV4Only;
  spec.dns_refresh_rate = milliseconds(50);
  spec.dns_resolver.resolvers = {dns.address()};
  auto cluster = Cluster::Create(spec, **dispatcher, store.Scope("cluster.resolver."));
  REQUIRE(cluster.ok());
  auto updater = StrictDnsUpdater::Create(**dispatcher, **cluster, store.Scope(""));
  REQUIRE(updater.ok());

  bool initialized = false;
  (*updater)->Start([&] { initialized = true; });
  REQUIRE(RunUntil(**dispatcher, [&] { return initialized; }));
  CHECK(Hosts(**cluster) == Strings{"127.0.1.10:8081", "127.0.1.11:8081"});

  REQUIRE(dns.SetRecords({{"server.cluster.local", "127.0.1.10"},
                          {"server.cluster.local", "127.0.1.11"},
                          {"server.cluster.local", "127.0.1.12"}}).ok());
  REQUIRE(RunUntil(**dispatcher, [&] { return (*cluster)->hosts().size() == 3; }));
  CHECK(Hosts(**cluster) == Strings{"127.0.1.10:8081", "127.0.1.11:8081", "127.0.1.12:8081"});

  REQUIRE(dns.SetRecords({{"server.cluster.local", "127.0.1.12"}}).ok());
  REQUIRE(RunUntil(**dispatcher, [&] { return (*cluster)->hosts().size() == 1; }));
  CHECK(Hosts(**cluster) == Strings{"127.0.1.12:8081"});

  // The server goes away: the last answer stays.
  dns.Stop();
  const uint64_t failures = store.Counter("cluster.resolver.update_failure").value();
  REQUIRE(RunUntil(**dispatcher, [&] {
    return store.Counter("cluster.resolver.update_failure").value() > failures;
  }));
  CHECK(Hosts(**cluster) == Strings{"127.0.1.12:8081"});
  CHECK(store.Counter("cluster.resolver.update_success").value() >= 3);

  updater->reset();
  cluster->reset();
  (*dispatcher)->RunNoWait();
}

}  // namespace
}  // namespace homing
