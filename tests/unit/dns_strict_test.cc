#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dns_test_resolver.h"
#include "homing/manual_dispatcher.h"
#include "homing/stats.h"
#include "homing/strict_dns.h"
#include "homing/upstream.h"

namespace homing {
namespace {

using std::chrono::seconds;
using testing::ScriptedResolver;

ClusterSpec StrictSpec(std::vector<EndpointSpec> endpoints) {
  ClusterSpec spec;
  spec.name = "resolver";
  spec.type = ClusterType::kStrictDns;
  spec.endpoints = std::move(endpoints);
  spec.dns_refresh_rate = seconds(5);
  return spec;
}

// A STRICT_DNS cluster, its updater over a scripted resolver, and a clock the
// test moves.
struct Fixture {
  explicit Fixture(ClusterSpec spec) {
    auto created = Cluster::Create(spec, dispatcher, store.Scope("cluster.resolver."));
    REQUIRE(created.ok());
    cluster = *std::move(created);
    auto owned = std::make_unique<ScriptedResolver>();
    resolver = owned.get();
    auto made = StrictDnsUpdater::Create(dispatcher, *cluster, store.Scope(""), std::move(owned));
    REQUIRE(made.ok());
    updater = *std::move(made);
  }

  std::vector<std::string> Hosts() const {
    std::vector<std::string> out;
    for (const HostSharedPtr& host : cluster->hosts()) out.push_back(host->address_string());
    std::sort(out.begin(), out.end());
    return out;
  }

  uint64_t Stat(const std::string& name) {
    return store.Counter("cluster.resolver." + name).value();
  }

  ManualDispatcher dispatcher;
  StatsStore store;
  std::unique_ptr<Cluster> cluster;
  ScriptedResolver* resolver = nullptr;
  std::unique_ptr<StrictDnsUpdater> updater;
};

using Strings = std::vector<std::string>;

TEST_CASE("every address of every endpoint name becomes a host, with the endpoint's port") {
  Fixture f(StrictSpec({{"server.cluster.local", 8081}, {"other.cluster.local", 9000}}));
  int initialized = 0;
  f.updater->Start([&] { ++initialized; });
  CHECK(f.resolver->open("server.cluster.local") == 1);
  CHECK(f.resolver->open("other.cluster.local") == 1);
  CHECK(f.Hosts().empty());

  f.resolver->Answer("server.cluster.local",
                     ScriptedResolver::Ok({"127.0.1.10", "127.0.1.11", "127.0.1.10"}));
  CHECK(f.Hosts() == Strings{"127.0.1.10:8081", "127.0.1.11:8081"});
  CHECK(initialized == 0);
  CHECK_FALSE(f.updater->initialized());

  f.resolver->Answer("other.cluster.local", ScriptedResolver::Ok({"127.0.1.10"}));
  CHECK(f.Hosts() == Strings{"127.0.1.10:8081", "127.0.1.10:9000", "127.0.1.11:8081"});
  CHECK(initialized == 1);
  CHECK(f.updater->initialized());
  CHECK(f.Stat("update_attempt") == 2);
  CHECK(f.Stat("update_success") == 2);
  CHECK(f.store.Gauge("cluster.resolver.membership_total").value() == 3);
}

TEST_CASE("each refresh follows the answer: hosts come and go, a failure keeps the last set") {
  Fixture f(StrictSpec({{"server.cluster.local", 8081}}));
  f.updater->Start();
  f.resolver->Answer("server.cluster.local", ScriptedResolver::Ok({"127.0.1.10", "127.0.1.11"}));
  const HostSharedPtr kept = f.cluster->hosts().front();

  f.dispatcher.AdvanceBy(seconds(5) - std::chrono::nanoseconds(1));
  CHECK(f.resolver->started("server.cluster.local") == 1);
  f.dispatcher.AdvanceBy(std::chrono::nanoseconds(1));
  f.resolver->Answer("server.cluster.local",
                     ScriptedResolver::Ok({"127.0.1.10", "127.0.1.11", "127.0.1.12"}));
  CHECK(f.Hosts() == Strings{"127.0.1.10:8081", "127.0.1.11:8081", "127.0.1.12:8081"});
  CHECK(std::find(f.cluster->hosts().begin(), f.cluster->hosts().end(), kept) !=
        f.cluster->hosts().end());

  f.dispatcher.AdvanceBy(seconds(5));
  f.resolver->Answer("server.cluster.local",
                     ScriptedResolver::Fail(absl::UnavailableError("server down")));
  CHECK(f.Hosts() == Strings{"127.0.1.10:8081", "127.0.1.11:8081", "127.0.1.12:8081"});
  CHECK(f.Stat("update_failure") == 1);

  f.dispatcher.AdvanceBy(seconds(5));  // failures retry at dns_refresh_rate
  f.resolver->Answer("server.cluster.local", ScriptedResolver::Ok({"127.0.1.12"}));
  CHECK(f.Hosts() == Strings{"127.0.1.12:8081"});

  f.dispatcher.AdvanceBy(seconds(5));
  f.resolver->Answer("server.cluster.local", ScriptedResolver::Ok({"127.0.1.12"}));
  CHECK(f.Stat("update_no_rebuild") == 1);
  CHECK(f.Stat("update_attempt") == 5);
  CHECK(f.Stat("update_success") == 4);
}

TEST_CASE("a failed name keeps its addresses while another name changes") {
  Fixture f(StrictSpec({{"a.cluster.local", 80}, {"b.cluster.local", 80}}));
  f.updater->Start();
  f.resolver->Answer("a.cluster.local", ScriptedResolver::Ok({"127.0.1.1"}));
  f.resolver->Answer("b.cluster.local", ScriptedResolver::Ok({"127.0.1.2"}));
  f.dispatcher.AdvanceBy(seconds(5));
  f.resolver->Answer("a.cluster.local", ScriptedResolver::Fail(absl::NotFoundError("gone")));
  f.resolver->Answer("b.cluster.local", ScriptedResolver::Ok({"127.0.1.3"}));
  CHECK(f.Hosts() == Strings{"127.0.1.1:80", "127.0.1.3:80"});
}

TEST_CASE("respect_dns_ttl refreshes at the TTL, never below one second") {
  ClusterSpec spec = StrictSpec({{"server.cluster.local", 80}});
  spec.respect_dns_ttl = true;
  Fixture f(spec);
  f.updater->Start();
  f.resolver->Answer("server.cluster.local", ScriptedResolver::Ok({"127.0.1.1"}, seconds(30)));
  f.dispatcher.AdvanceBy(seconds(29));
  CHECK(f.resolver->started("server.cluster.local") == 1);
  f.dispatcher.AdvanceBy(seconds(1));
  CHECK(f.resolver->open("server.cluster.local") == 1);
  f.resolver->Answer("server.cluster.local",
                     ScriptedResolver::Ok({"127.0.1.1"}, std::chrono::milliseconds(10)));
  f.dispatcher.AdvanceBy(std::chrono::milliseconds(999));
  CHECK(f.resolver->started("server.cluster.local") == 2);
  f.dispatcher.AdvanceBy(std::chrono::milliseconds(1));
  CHECK(f.resolver->started("server.cluster.local") == 3);
}

TEST_CASE("without respect_dns_ttl the TTL is ignored") {
  Fixture f(StrictSpec({{"server.cluster.local", 80}}));
  f.updater->Start();
  f.resolver->Answer("server.cluster.local", ScriptedResolver::Ok({"127.0.1.1"}, seconds(300)));
  f.dispatcher.AdvanceBy(seconds(5));
  CHECK(f.resolver->started("server.cluster.local") == 2);
}

TEST_CASE("a failed first answer still initializes the cluster, empty") {
  Fixture f(StrictSpec({{"nx.cluster.local", 80}}));
  bool initialized = false;
  f.updater->Start([&] { initialized = true; });
  f.resolver->Answer("nx.cluster.local", ScriptedResolver::Fail(absl::NotFoundError("nx")));
  CHECK(initialized);
  CHECK(f.Hosts().empty());
}

TEST_CASE("IP literal endpoints are members at once and never query DNS") {
  Fixture f(StrictSpec({{"127.0.1.5", 80}, {"server.cluster.local", 80}}));
  f.updater->Start();
  CHECK(f.Hosts() == Strings{"127.0.1.5:80"});
  CHECK(f.resolver->total_started() == 1);
  f.resolver->Answer("server.cluster.local", ScriptedResolver::Ok({"127.0.1.6"}));
  CHECK(f.Hosts() == Strings{"127.0.1.5:80", "127.0.1.6:80"});
}

TEST_CASE("a cluster of IP literals initializes on the loop, not inside Start") {
  Fixture f(StrictSpec({{"127.0.1.5", 80}}));
  bool initialized = false;
  f.updater->Start([&] { initialized = true; });
  CHECK_FALSE(initialized);
  f.dispatcher.RunUntilIdle();
  CHECK(initialized);
  CHECK(f.resolver->total_started() == 0);
}

TEST_CASE("the lookup family comes from the cluster") {
  ClusterSpec spec = StrictSpec({{"server.cluster.local", 80}});
  spec.dns_lookup_family = DnsLookupFamily::kV4Only;
  Fixture f(spec);
  f.updater->Start();
  CHECK(f.resolver->family("server.cluster.local") == DnsLookupFamily::kV4Only);
}

TEST_CASE("only STRICT_DNS clusters are accepted") {
  ManualDispatcher dispatcher;
  StatsStore store;
  ClusterSpec spec = StrictSpec({{"127.0.1.5", 80}});
  spec.type = ClusterType::kStatic;
  auto cluster = Cluster::Create(spec, dispatcher, store.Scope("cluster.resolver."));
  REQUIRE(cluster.ok());
  auto updater = StrictDnsUpdater::Create(dispatcher, **cluster, store.Scope(""),
                                          std::make_unique<ScriptedResolver>());
  REQUIRE_FALSE(updater.ok());
  CHECK(std::string(updater.status().message()) ==
        "cluster \"resolver\": STRICT_DNS refresh needs a STRICT_DNS cluster");
}

TEST_CASE("a bad resolver address is reported with the cluster's name") {
  ManualDispatcher dispatcher;
  StatsStore store;
  ClusterSpec spec = StrictSpec({{"server.cluster.local", 80}});
  spec.dns_resolver.resolvers = {"dns.example"};
  auto cluster = Cluster::Create(spec, dispatcher, store.Scope("cluster.resolver."));
  REQUIRE(cluster.ok());
  auto updater = StrictDnsUpdater::Create(dispatcher, **cluster, store.Scope(""));
  REQUIRE_FALSE(updater.ok());
  CHECK(updater.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(updater.status().message()) ==
        "cluster \"resolver\": dns_resolver.resolvers[0]: \"dns.example\" is not an IP "
        "address with an optional port");
}

}  // namespace
}  // namespace homing
