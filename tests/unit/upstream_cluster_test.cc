// Cluster: spec validation, membership changes, passive health (outlier
// detection) and stats (homing/upstream.h).

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "homing/placement.h"
#include "homing/upstream.h"

namespace homing {
namespace {

using std::chrono::seconds;

// A clock the test moves by hand.
class FakeTimeSource final : public TimeSource {
 public:
  MonotonicTime Now() const override { return now_; }
  void Advance(Duration d) { now_ += d; }

 private:
  MonotonicTime now_ = MonotonicTime() + std::chrono::hours(1);
};

SocketAddress Address(int i) {
  auto address = SocketAddress::FromIp("127.0.1." + std::to_string(10 + i), 8081);
  REQUIRE(address.ok());
  return *address;
}

std::vector<SocketAddress> Addresses(int n) {
  std::vector<SocketAddress> addresses;
  for (int i = 0; i < n; ++i) addresses.push_back(Address(i));
  return addresses;
}

ClusterSpec StaticSpec(int n, LbPolicy policy = LbPolicy::kRoundRobin) {
  ClusterSpec spec{.name = "backend", .type = ClusterType::kStatic,
                   .lb_policy = policy};
  for (int i = 0; i < n; ++i) {
    spec.endpoints.push_back({"127.0.1." + std::to_string(10 + i), 8081});
  }
  return spec;
}

ClusterSpec WithOutlierDetection(ClusterSpec spec, OutlierDetectionSpec od = {}) {
  spec.outlier_detection = od;
  return spec;
}

struct Fixture {
  FakeTimeSource time;
  StatsStore store;

  std::unique_ptr<Cluster> Make(const ClusterSpec& spec) {
    auto cluster = Cluster::Create(spec, time, store.Scope("cluster.backend."));
    REQUIRE(cluster.ok());
    return *std::move(cluster);
  }
  uint64_t Count(std::string_view name) {
    return store.Counter("cluster.backend." + std::string(name)).value();
  }
  int64_t Gauge(std::string_view name) {
    return store.Gauge("cluster.backend." + std::string(name)).value();
  }
};

std::string CreateError(const ClusterSpec& spec) {
  RealTimeSource time;
  StatsStore store;
  auto cluster = Cluster::Create(spec, time, store.Scope("c."));
  REQUIRE(!cluster.ok());
  CHECK(cluster.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(cluster.status().message());
}

void Fail(Cluster& cluster, const Host& host, RequestOutcome outcome, int times) {
  for (int i = 0; i < times; ++i) cluster.ReportOutcome(host, outcome);
}

TEST_CASE("Cluster::Create validates endpoints") {
  ClusterSpec spec = StaticSpec(2);
  spec.endpoints[1].address = "server-1.local";
  CHECK(CreateError(spec) ==
        "cluster \"backend\": endpoints[1].address \"server-1.local\" is not an "
        "IP address (STATIC clusters take IP literals; use STRICT_DNS for names)");

  spec = StaticSpec(1);
  spec.endpoints[0].port = 0;
  CHECK(CreateError(spec) ==
        "cluster \"backend\": endpoints[0].port must be 1-65535, got 0");

  spec = StaticSpec(1);
  spec.endpoints[0].weight = 0;
  CHECK(CreateError(spec) == "cluster \"backend\": endpoints[0].weight must be at least 1");

  spec = StaticSpec(0);
  spec.type = ClusterType::kStrictDns;
  spec.endpoints.push_back({"server_0.local", 8081});
  CHECK(CreateError(spec) ==
        "cluster \"backend\": endpoints[0].address \"server_0.local\" is not a "
        "DNS name or IP address");

  spec = StaticSpec(1);
  spec.name = "";
  CHECK(CreateError(spec) == "cluster \"\": name must not be empty");
}

TEST_CASE("Cluster::Create pairs CLUSTER_PROVIDED with DYNAMIC_FORWARD_PROXY") {
  ClusterSpec dfp{.name = "dfp", .type = ClusterType::kDynamicForwardProxy,
                  .lb_policy = LbPolicy::kRoundRobin,
                  .dns_cache_config = DnsCacheConfig{}};
  CHECK(CreateError(dfp) ==
        "cluster \"dfp\": type DYNAMIC_FORWARD_PROXY requires lb_policy "
        "CLUSTER_PROVIDED, got ROUND_ROBIN");

  ClusterSpec provided = StaticSpec(1, LbPolicy::kClusterProvided);
  CHECK(CreateError(provided) ==
        "cluster \"backend\": lb_policy CLUSTER_PROVIDED requires type "
        "DYNAMIC_FORWARD_PROXY");

  dfp.lb_policy = LbPolicy::kClusterProvided;
  dfp.endpoints.push_back({"127.0.0.1", 80});
  CHECK(CreateError(dfp) ==
        "cluster \"dfp\": endpoints must be empty for DYNAMIC_FORWARD_PROXY "
        "clusters (the request names the host)");

  dfp.endpoints.clear();
  dfp.dns_cache_config.reset();
  CHECK(CreateError(dfp) ==
        "cluster \"dfp\": dns_cache_config is required for "
        "DYNAMIC_FORWARD_PROXY clusters");
}

TEST_CASE("Cluster::Create validates balancer parameters") {
  ClusterSpec spec = StaticSpec(2, LbPolicy::kMaglev);
  spec.maglev_table_size = 65536;
  CHECK(CreateError(spec) == "cluster \"backend\": maglev_table_size 65536 is not prime");
  spec.maglev_table_size = 5000113;  // prime, above Envoy's bound
  CHECK(CreateError(spec) ==
        "cluster \"backend\": maglev_table_size must be at most 5000011, got "
        "5000113");

  spec = StaticSpec(2, LbPolicy::kRingHash);
  spec.ring_hash_minimum_ring_size = 0;
  CHECK(CreateError(spec) ==
        "cluster \"backend\": ring_hash_minimum_ring_size must be at least 1");
  spec.ring_hash_minimum_ring_size = 4096;
  spec.ring_hash_maximum_ring_size = 2048;
  CHECK(CreateError(spec) ==
        "cluster \"backend\": ring_hash_minimum_ring_size must not exceed "
        "ring_hash_maximum_ring_size");
  spec.ring_hash_maximum_ring_size = 16 * 1024 * 1024;
  CHECK(CreateError(spec) ==
        "cluster \"backend\": ring_hash_maximum_ring_size must be at most "
        "8388608, got 16777216");

  spec = StaticSpec(2, LbPolicy::kLeastRequest);
  spec.least_request_choice_count = 1;
  CHECK(CreateError(spec) ==
        "cluster \"backend\": least_request_choice_count must be at least 2, got 1");
}

TEST_CASE("Cluster::Create validates durations and outlier detection") {
  ClusterSpec spec = StaticSpec(1);
  spec.connect_timeout = Duration::zero();
  CHECK(CreateError(spec) == "cluster \"backend\": connect_timeout must be positive");

  spec = StaticSpec(0);
  spec.type = ClusterType::kStrictDns;
  spec.dns_refresh_rate = Duration::zero();
  CHECK(CreateError(spec) == "cluster \"backend\": dns_refresh_rate must be positive");

  spec = WithOutlierDetection(StaticSpec(1), {.base_ejection_time = Duration::zero()});
  CHECK(CreateError(spec) ==
        "cluster \"backend\": outlier_detection.base_ejection_time must be positive");
  spec = WithOutlierDetection(StaticSpec(1), {.base_ejection_time = seconds(30),
                                              .max_ejection_time = seconds(10)});
  CHECK(CreateError(spec) ==
        "cluster \"backend\": outlier_detection.max_ejection_time must be at "
        "least base_ejection_time");
  spec = WithOutlierDetection(StaticSpec(1), {.max_ejection_percent = 101});
  CHECK(CreateError(spec) ==
        "cluster \"backend\": outlier_detection.max_ejection_percent must be "
        "0-100, got 101");
}

TEST_CASE("STATIC cluster: hosts from endpoints, duplicates once, weights kept") {
  Fixture f;
  ClusterSpec spec = StaticSpec(3);
  spec.endpoints.push_back(spec.endpoints[0]);
  spec.endpoints[2].weight = 5;
  auto cluster = f.Make(spec);
  REQUIRE(cluster->hosts().size() == 3);
  CHECK(cluster->hosts()[0]->address_string() == "127.0.1.10:8081");
  CHECK(cluster->hosts()[2]->weight() == 5);
  CHECK(cluster->name() == "backend");
  CHECK(cluster->spec() == spec);
  CHECK(f.Gauge("membership_total") == 3);
  CHECK(f.Gauge("membership_healthy") == 3);
  CHECK(cluster->ChooseHost({}) != nullptr);
}

TEST_CASE("STRICT_DNS cluster: empty until SetHosts, which keeps survivors") {
  Fixture f;
  ClusterSpec spec{.name = "backend", .type = ClusterType::kStrictDns,
                   .lb_policy = LbPolicy::kRingHash,
                   .endpoints = {{"server.headless.local", 8081, 3}}};
  auto cluster = f.Make(spec);
  CHECK(cluster->hosts().empty());
  CHECK(cluster->ChooseHost({.hash = 1}) == nullptr);

  cluster->SetHosts(Addresses(3), "server.headless.local");
  REQUIRE(cluster->hosts().size() == 3);
  HostSharedPtr kept = cluster->hosts()[1];
  CHECK(kept->hostname() == "server.headless.local");
  CHECK(kept->weight() == 3);
  kept->stats().rq_active = 2;
  CHECK(f.Gauge("membership_total") == 3);

  std::vector<SocketAddress> next = {Address(1), Address(3), Address(1)};
  cluster->SetHosts(next, "server.headless.local");
  REQUIRE(cluster->hosts().size() == 2);
  CHECK(cluster->hosts()[0] == kept);  // the same object: stats survive
  CHECK(cluster->hosts()[0]->stats().rq_active == 2);
  CHECK(cluster->hosts()[1]->address_string() == "127.0.1.13:8081");
  CHECK(f.Gauge("membership_total") == 2);

  cluster->SetHosts({}, "server.headless.local");
  CHECK(cluster->hosts().empty());
  CHECK(cluster->ChooseHost({}) == nullptr);
  CHECK(f.Gauge("membership_total") == 0);
}

TEST_CASE("SetHosts keeps consistent-hash keys of unaffected hosts in place") {
  for (LbPolicy policy : {LbPolicy::kRingHash, LbPolicy::kMaglev}) {
    CAPTURE(LbPolicyName(policy));
    Fixture f;
    ClusterSpec spec{.name = "backend", .type = ClusterType::kStrictDns,
                     .lb_policy = policy,
                     .endpoints = {{"server.local", 8081}}};
    auto cluster = f.Make(spec);
    cluster->SetHosts(Addresses(4), "server.local");
    std::vector<const Host*> before;
    for (int i = 0; i < 10000; ++i) {
      before.push_back(cluster->ChooseHost({.hash = KeyHash(std::to_string(i))}).get());
    }
    cluster->SetHosts(Addresses(5), "server.local");
    const Host* added = cluster->hosts()[4].get();
    int moved_elsewhere = 0;
    for (int i = 0; i < 10000; ++i) {
      const Host* now = cluster->ChooseHost({.hash = KeyHash(std::to_string(i))}).get();
      if (now != before[i] && now != added) ++moved_elsewhere;
    }
    // Ring hash: none; Maglev: its small documented churn (see upstream_test).
    CHECK(moved_elsewhere < (policy == LbPolicy::kRingHash ? 1 : 100));
  }
}

TEST_CASE("DYNAMIC_FORWARD_PROXY cluster has no hosts") {
  Fixture f;
  ClusterSpec spec{.name = "dfp", .type = ClusterType::kDynamicForwardProxy,
                   .lb_policy = LbPolicy::kClusterProvided,
                   .dns_cache_config = DnsCacheConfig{}};
  auto cluster = f.Make(spec);
  CHECK(cluster->ChooseHost({}) == nullptr);
  cluster->SetHosts(Addresses(2), "x");
  CHECK(cluster->hosts().empty());
}

TEST_CASE("ReportOutcome counts cluster and host stats") {
  Fixture f;
  auto cluster = f.Make(StaticSpec(2));
  const Host& host = *cluster->hosts()[0];
  cluster->ReportOutcome(host, RequestOutcome::kSuccess);
  cluster->ReportOutcome(host, RequestOutcome::kServerError);
  cluster->ReportOutcome(host, RequestOutcome::kTimeout);
  cluster->ReportOutcome(host, RequestOutcome::kReset);
  cluster->ReportOutcome(host, RequestOutcome::kConnectFailure);
  CHECK(f.Count("upstream_rq_total") == 4);
  CHECK(f.Count("upstream_rq_5xx") == 1);
  CHECK(f.Count("upstream_rq_timeout") == 1);
  CHECK(f.Count("upstream_cx_connect_fail") == 1);
  CHECK(host.stats().rq_total == 4);
  CHECK(host.stats().rq_error == 3);
  CHECK(host.stats().cx_connect_fail == 1);
  // Without outlier detection nothing is ejected.
  Fail(*cluster, host, RequestOutcome::kServerError, 10);
  CHECK(host.healthy());
}

TEST_CASE("consecutive 5xx eject a host; a success resets the count") {
  Fixture f;
  auto cluster = f.Make(WithOutlierDetection(StaticSpec(4), {.consecutive_5xx = 3}));
  HostSharedPtr host = cluster->hosts()[0];
  Fail(*cluster, *host, RequestOutcome::kServerError, 2);
  cluster->ReportOutcome(*host, RequestOutcome::kSuccess);
  Fail(*cluster, *host, RequestOutcome::kServerError, 2);
  CHECK(host->healthy());
  // Local-origin failures do not add to the 5xx count.
  Fail(*cluster, *host, RequestOutcome::kConnectFailure, 1);
  CHECK(host->healthy());
  Fail(*cluster, *host, RequestOutcome::kServerError, 3);
  CHECK(!host->healthy());
  CHECK(f.Count("outlier_detection.ejections_enforced_total") == 1);
  CHECK(f.Gauge("outlier_detection.ejections_active") == 1);
  CHECK(f.Gauge("membership_healthy") == 3);
  for (int i = 0; i < 100; ++i) CHECK(cluster->ChooseHost({}) != host);
}

TEST_CASE("consecutive local-origin failures eject a host") {
  for (RequestOutcome failure : {RequestOutcome::kConnectFailure,
                                 RequestOutcome::kReset, RequestOutcome::kTimeout}) {
    Fixture f;
    auto cluster = f.Make(WithOutlierDetection(
        StaticSpec(2), {.consecutive_local_origin_failure = 2}));
    const Host& host = *cluster->hosts()[1];
    Fail(*cluster, host, failure, 1);
    // A 5xx answer means the connection worked: the count starts over.
    cluster->ReportOutcome(host, RequestOutcome::kServerError);
    Fail(*cluster, host, failure, 1);
    CHECK(host.healthy());
    Fail(*cluster, host, failure, 1);
    CHECK(!host.healthy());
  }
}

TEST_CASE("a threshold of 0 turns that detector off") {
  Fixture f;
  auto cluster = f.Make(WithOutlierDetection(
      StaticSpec(2), {.consecutive_5xx = 0, .consecutive_local_origin_failure = 1}));
  const Host& host = *cluster->hosts()[0];
  Fail(*cluster, host, RequestOutcome::kServerError, 50);
  CHECK(host.healthy());
  Fail(*cluster, host, RequestOutcome::kConnectFailure, 1);
  CHECK(!host.healthy());
}

TEST_CASE("ejection lasts base x 2^(n-1), capped, and the host returns") {
  Fixture f;
  auto cluster = f.Make(WithOutlierDetection(
      StaticSpec(2), {.consecutive_5xx = 1,
                      .base_ejection_time = seconds(10),
                      .max_ejection_time = seconds(35)}));
  HostSharedPtr host = cluster->hosts()[0];
  // Ejections 1..4 last 10s, 20s, 35s (40s capped), 35s.
  for (Duration expected : {seconds(10), seconds(20), seconds(35), seconds(35)}) {
    CAPTURE(expected.count());
    cluster->ReportOutcome(*host, RequestOutcome::kServerError);
    REQUIRE(!host->healthy());
    f.time.Advance(expected - seconds(1));
    cluster->ChooseHost({});
    CHECK(!host->healthy());
    f.time.Advance(seconds(1));
    cluster->ChooseHost({});
    CHECK(host->healthy());
  }
  CHECK(f.Gauge("outlier_detection.ejections_active") == 0);
  CHECK(f.Gauge("membership_healthy") == 2);
  CHECK(f.Count("outlier_detection.ejections_enforced_total") == 4);
  // Back in rotation.
  std::map<Host*, int> counts;
  for (int i = 0; i < 10; ++i) ++counts[cluster->ChooseHost({}).get()];
  CHECK(counts[host.get()] == 5);
}

TEST_CASE("healthy service forgives one ejection per base_ejection_time") {
  Fixture f;
  auto cluster = f.Make(WithOutlierDetection(
      StaticSpec(2), {.consecutive_5xx = 1,
                      .base_ejection_time = seconds(10),
                      .max_ejection_time = seconds(300)}));
  HostSharedPtr host = cluster->hosts()[0];
  auto eject_and_measure = [&] {
    cluster->ReportOutcome(*host, RequestOutcome::kServerError);
    int waited = 0;
    while (!host->healthy()) {
      f.time.Advance(seconds(1));
      cluster->ChooseHost({});
      ++waited;
    }
    return waited;
  };
  CHECK(eject_and_measure() == 10);
  CHECK(eject_and_measure() == 20);
  CHECK(eject_and_measure() == 40);
  f.time.Advance(seconds(25));  // two steps forgiven: back to the first
  CHECK(eject_and_measure() == 20);
  f.time.Advance(seconds(100));
  CHECK(eject_and_measure() == 10);
}

TEST_CASE("max_ejection_percent bounds ejections, but one host may always go") {
  SUBCASE("20% of 10 hosts") {
    Fixture f;
    auto cluster = f.Make(WithOutlierDetection(
        StaticSpec(10), {.consecutive_5xx = 1, .max_ejection_percent = 20}));
    for (int i = 0; i < 4; ++i) {
      cluster->ReportOutcome(*cluster->hosts()[i], RequestOutcome::kServerError);
    }
    CHECK(!cluster->hosts()[0]->healthy());
    CHECK(!cluster->hosts()[1]->healthy());
    CHECK(cluster->hosts()[2]->healthy());
    CHECK(cluster->hosts()[3]->healthy());
    CHECK(f.Count("outlier_detection.ejections_overflow") == 2);
    CHECK(f.Gauge("outlier_detection.ejections_active") == 2);
  }
  SUBCASE("0% still lets one host go") {
    Fixture f;
    auto cluster = f.Make(WithOutlierDetection(
        StaticSpec(3), {.consecutive_5xx = 1, .max_ejection_percent = 0}));
    cluster->ReportOutcome(*cluster->hosts()[0], RequestOutcome::kServerError);
    cluster->ReportOutcome(*cluster->hosts()[1], RequestOutcome::kServerError);
    CHECK(!cluster->hosts()[0]->healthy());
    CHECK(cluster->hosts()[1]->healthy());
  }
}

TEST_CASE("panic mode: with every host ejected, all hosts are picked") {
  Fixture f;
  auto cluster = f.Make(WithOutlierDetection(
      StaticSpec(2, LbPolicy::kMaglev),
      {.consecutive_5xx = 1, .max_ejection_percent = 100}));
  for (const HostSharedPtr& host : cluster->hosts()) {
    cluster->ReportOutcome(*host, RequestOutcome::kServerError);
  }
  CHECK(f.Gauge("membership_healthy") == 0);
  std::map<Host*, int> counts;
  for (int i = 0; i < 100; ++i) ++counts[cluster->ChooseHost({}).get()];
  CHECK(counts.size() == 2);
  CHECK(f.Count("lb_healthy_panic") == 100);
  // Hashed requests keep their owner even in panic.
  HostSharedPtr owner = cluster->ChooseHost({.hash = 99});
  for (int i = 0; i < 10; ++i) CHECK(cluster->ChooseHost({.hash = 99}) == owner);
}

TEST_CASE("an ejected host's keys spread over the rest and come back") {
  for (LbPolicy policy : {LbPolicy::kRingHash, LbPolicy::kMaglev}) {
    CAPTURE(LbPolicyName(policy));
    Fixture f;
    auto cluster = f.Make(WithOutlierDetection(
        StaticSpec(4, policy), {.consecutive_5xx = 1,
                                .base_ejection_time = seconds(30)}));
    std::vector<HostSharedPtr> before;
    for (int i = 0; i < 4000; ++i) before.push_back(cluster->ChooseHost({.hash = KeyHash(std::to_string(i))}));
    HostSharedPtr ejected = cluster->hosts()[2];
    cluster->ReportOutcome(*ejected, RequestOutcome::kServerError);
    REQUIRE(!ejected->healthy());
    std::map<Host*, int> received;
    int others_moved = 0;
    for (int i = 0; i < 4000; ++i) {
      HostSharedPtr now = cluster->ChooseHost({.hash = KeyHash(std::to_string(i))});
      CHECK(now != ejected);
      if (before[i] == ejected) {
        ++received[now.get()];
      } else if (now != before[i]) {
        ++others_moved;
      }
    }
    CHECK(others_moved == 0);
    CHECK(received.size() == 3);
    f.time.Advance(seconds(30));
    int back = 0;
    for (int i = 0; i < 4000; ++i) {
      back += cluster->ChooseHost({.hash = KeyHash(std::to_string(i))}) == before[i];
    }
    CHECK(back == 4000);
  }
}

TEST_CASE("ejection state survives SetHosts; removed hosts are forgotten") {
  Fixture f;
  ClusterSpec spec{.name = "backend", .type = ClusterType::kStrictDns,
                   .endpoints = {{"server.local", 8081}},
                   .outlier_detection = OutlierDetectionSpec{
                       .consecutive_5xx = 1, .max_ejection_percent = 100}};
  auto cluster = f.Make(spec);
  cluster->SetHosts(Addresses(3), "server.local");
  HostSharedPtr first = cluster->hosts()[0];
  HostSharedPtr second = cluster->hosts()[1];
  cluster->ReportOutcome(*first, RequestOutcome::kServerError);
  cluster->ReportOutcome(*second, RequestOutcome::kServerError);
  CHECK(f.Gauge("outlier_detection.ejections_active") == 2);

  cluster->SetHosts({Address(0), Address(2)}, "server.local");
  CHECK(!cluster->hosts()[0]->healthy());  // still ejected
  CHECK(f.Gauge("outlier_detection.ejections_active") == 1);
  CHECK(f.Gauge("membership_healthy") == 1);
  // Reports for the removed host count in stats only.
  cluster->ReportOutcome(*second, RequestOutcome::kServerError);
  CHECK(f.Count("outlier_detection.ejections_enforced_total") == 2);
  CHECK(f.Count("upstream_rq_5xx") == 3);

  f.time.Advance(seconds(30));
  cluster->ChooseHost({});
  CHECK(cluster->hosts()[0]->healthy());
  CHECK(f.Gauge("outlier_detection.ejections_active") == 0);
}

}  // namespace
}  // namespace homing
