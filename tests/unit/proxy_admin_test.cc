// lib/admin: the endpoints (HandleAdminRequest), the /clusters renderings,
// merging workers' views, and the AdminServer on a real socket.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "homing/admin.h"
#include "homing/clock.h"
#include "proxy_test_support.h"

namespace homing {
namespace {

using testing::Exchange;
using testing::GetRequest;
using testing::Loopback;
using testing::TestLoop;

class FixedTime final : public TimeSource {
 public:
  MonotonicTime Now() const override { return MonotonicTime(); }
};

HostStatus MakeHost(std::string_view address, uint64_t rq_total) {
  HostStatus host;
  host.address = *SocketAddress::Parse(address);
  host.hostname = "server";
  host.rq_total = rq_total;
  return host;
}

ClusterStatus MakeCluster() {
  ClusterStatus cluster;
  cluster.name = "resolver";
  cluster.type = ClusterType::kStrictDns;
  cluster.max_connections = 1024;
  cluster.max_pending_requests = 1024;
  cluster.max_requests = 1024;
  cluster.hosts = {MakeHost("127.0.1.10:8081", 3), MakeHost("127.0.1.11:8081", 4)};
  cluster.hosts[1].healthy = false;
  cluster.hosts[1].rq_active = 2;
  cluster.hosts[1].rq_error = 1;
  cluster.hosts[1].cx_connect_fail = 5;
  return cluster;
}

struct Sources {
  StatsStore stats;
  ServerState state = ServerState::kPreInitializing;
  AdminSources sources;

  Sources() {
    stats.Counter("dns_cache.dynamic_forward_proxy_cache.dns_query_attempt").Inc(2);
    stats.Counter("http.ingress_http.downstream_rq_2xx").Inc(7);
    stats.Gauge("server.live").Set(1);
    sources.stats = &stats;
    sources.state = [this] { return state; };
    sources.clusters = [] { return std::vector<ClusterStatus>{MakeCluster()}; };
    sources.config_dump = [] { return std::string("{\"admin\":{}}\n"); };
  }
  AdminResponse Get(std::string_view path) {
    return HandleAdminRequest(sources, "GET", path);
  }
};

TEST_CASE("/clusters text is Envoy's cluster::host::stat::value") {
  const ClusterStatus cluster = MakeCluster();
  CHECK(RenderClustersText({&cluster, 1}) ==
        "resolver::default_priority::max_connections::1024\n"
        "resolver::default_priority::max_pending_requests::1024\n"
        "resolver::default_priority::max_requests::1024\n"
        "resolver::added_via_api::false\n"
        "resolver::membership_total::2\n"
        "resolver::membership_healthy::1\n"
        "resolver::127.0.1.10:8081::cx_connect_fail::0\n"
        "resolver::127.0.1.10:8081::rq_active::0\n"
        "resolver::127.0.1.10:8081::rq_error::0\n"
        "resolver::127.0.1.10:8081::rq_total::3\n"
        "resolver::127.0.1.10:8081::hostname::server\n"
        "resolver::127.0.1.10:8081::health_flags::healthy\n"
        "resolver::127.0.1.10:8081::weight::1\n"
        "resolver::127.0.1.11:8081::cx_connect_fail::5\n"
        "resolver::127.0.1.11:8081::rq_active::2\n"
        "resolver::127.0.1.11:8081::rq_error::1\n"
        "resolver::127.0.1.11:8081::rq_total::4\n"
        "resolver::127.0.1.11:8081::hostname::server\n"
        "resolver::127.0.1.11:8081::health_flags::/failed_outlier_check\n"
        "resolver::127.0.1.11:8081::weight::1\n");
}

TEST_CASE("/clusters JSON follows admin.v3.Clusters") {
  ClusterStatus cluster = MakeCluster();
  cluster.hosts.resize(1);
  CHECK(RenderClustersJson({&cluster, 1}) ==
        "{\"cluster_statuses\":[{\"name\":\"resolver\",\"type\":\"STRICT_DNS\","
        "\"lb_policy\":\"ROUND_ROBIN\",\"added_via_api\":false,"
        "\"membership_total\":1,\"membership_healthy\":1,"
        "\"circuit_breakers\":{\"thresholds\":[{\"priority\":\"DEFAULT\","
        "\"max_connections\":1024,\"max_pending_requests\":1024,"
        "\"max_requests\":1024}]},\"host_statuses\":[{\"address\":"
        "{\"socket_address\":{\"address\":\"127.0.1.10\",\"port_value\":8081}},"
        "\"hostname\":\"server\",\"weight\":1,\"health_status\":"
        "{\"eds_health_status\":\"HEALTHY\",\"failed_outlier_check\":false},"
        "\"stats\":[{\"name\":\"cx_connect_fail\",\"value\":0},"
        "{\"name\":\"rq_active\",\"type\":\"GAUGE\",\"value\":0},"
        "{\"name\":\"rq_error\",\"value\":0},{\"name\":\"rq_total\",\"value\":3}]}]}]}\n");
}

TEST_CASE("merging workers sums host counters and keeps the worst health") {
  std::vector<ClusterStatus> merged = {MakeCluster()};
  ClusterStatus other = MakeCluster();
  other.hosts[0].rq_total = 10;
  other.hosts[0].healthy = false;
  other.hosts[1].healthy = true;
  other.hosts.push_back(MakeHost("127.0.1.12:8081", 1));
  ClusterStatus extra;
  extra.name = "dynamic_forward_proxy_cluster";
  MergeClusterStatus(&merged, {other, extra});
  REQUIRE(merged.size() == 2);
  const ClusterStatus& resolver = merged[0];
  REQUIRE(resolver.hosts.size() == 3);
  CHECK(resolver.hosts[0].rq_total == 13);
  CHECK_FALSE(resolver.hosts[0].healthy);
  CHECK(resolver.hosts[1].rq_total == 8);
  CHECK(resolver.hosts[1].rq_active == 4);
  CHECK(resolver.hosts[1].cx_connect_fail == 10);
  CHECK_FALSE(resolver.hosts[1].healthy);
  CHECK(resolver.hosts[2].address.ToString() == "127.0.1.12:8081");
  CHECK(merged[1].name == "dynamic_forward_proxy_cluster");
}

TEST_CASE("DescribeCluster reads a live cluster's hosts and their counters") {
  FixedTime time;
  StatsStore store;
  ClusterSpec spec{.name = "backend",
                   .type = ClusterType::kStatic,
                   .lb_policy = LbPolicy::kLeastRequest,
                   .endpoints = {{"127.0.1.10", 8081, 3}, {"127.0.1.11", 8081, 1}},
                   .max_requests = 7};
  auto cluster = Cluster::Create(spec, time, store.Scope("cluster.backend."));
  REQUIRE(cluster.ok());
  const HostSharedPtr first = (*cluster)->hosts()[0];
  (*cluster)->ReportOutcome(*first, RequestOutcome::kSuccess);
  (*cluster)->ReportOutcome(*first, RequestOutcome::kServerError);
  (*cluster)->ReportOutcome(*first, RequestOutcome::kConnectFailure);
  first->stats().rq_active = 1;

  const ClusterStatus status = DescribeCluster(**cluster);
  CHECK(status.name == "backend");
  CHECK(status.type == ClusterType::kStatic);
  CHECK(status.lb_policy == LbPolicy::kLeastRequest);
  CHECK(status.max_requests == 7);
  REQUIRE(status.hosts.size() == 2);
  CHECK(status.hosts[0].address.ToString() == "127.0.1.10:8081");
  CHECK(status.hosts[0].weight == 3);
  CHECK(status.hosts[0].rq_total == 2);
  CHECK(status.hosts[0].rq_error == 1);
  CHECK(status.hosts[0].cx_connect_fail == 1);
  CHECK(status.hosts[0].rq_active == 1);
  CHECK(status.hosts[1].rq_total == 0);
}

TEST_CASE("/ lists the endpoints") {
  Sources s;
  for (const char* path : {"/", "/help"}) {
    const AdminResponse response = s.Get(path);
    CHECK(response.status == 200);
    for (const char* endpoint :
         {"/stats", "/stats/prometheus", "/clusters", "/ready", "/config_dump"}) {
      CHECK(response.body.find(endpoint) != std::string::npos);
    }
  }
}

TEST_CASE("/stats in text, JSON and Prometheus, filtered by regex") {
  Sources s;
  AdminResponse text = s.Get("/stats");
  CHECK(text.status == 200);
  CHECK(text.content_type.find("text/plain") == 0);
  CHECK(text.body.find("dns_cache.dynamic_forward_proxy_cache.dns_query_attempt: 2\n") !=
        std::string::npos);
  CHECK(text.body.find("server.live: 1\n") != std::string::npos);

  AdminResponse filtered = s.Get("/stats?filter=dynamic_forward_proxy");
  CHECK(filtered.body ==
        "dns_cache.dynamic_forward_proxy_cache.dns_query_attempt: 2\n");
  // The filter is percent-decoded.
  CHECK(s.Get("/stats?filter=%5Eserver%5C.").body == "server.live: 1\n");

  AdminResponse json = s.Get("/stats?format=json&filter=rq_2xx");
  CHECK(json.content_type == "application/json");
  CHECK(json.body.find(
            "{\"name\":\"http.ingress_http.downstream_rq_2xx\",\"value\":7}") !=
        std::string::npos);

  for (const char* path : {"/stats?format=prometheus", "/stats/prometheus"}) {
    AdminResponse prometheus = s.Get(path);
    CHECK(prometheus.content_type.find("version=0.0.4") != std::string::npos);
    CHECK(prometheus.body.find(
              "homing_http_ingress_http_downstream_rq_2xx 7") != std::string::npos);
  }
}

TEST_CASE("/stats refuses an unknown format and a bad regex") {
  Sources s;
  AdminResponse format = s.Get("/stats?format=xml");
  CHECK(format.status == 400);
  CHECK(format.body ==
        "{\"error\":\"bad_request\",\"detail\":\"unknown format \\\"xml\\\" "
        "(expected text, json or prometheus)\"}\n");
  AdminResponse regex = s.Get("/stats?filter=(");
  CHECK(regex.status == 400);
  CHECK(regex.body.find("\"error\":\"bad_request\",\"detail\":\"filter: ") !=
        std::string::npos);
  CHECK(s.Get("/clusters?format=yaml").status == 400);
}

TEST_CASE("/clusters answers text or JSON from the clusters source") {
  Sources s;
  const ClusterStatus cluster = MakeCluster();
  AdminResponse text = s.Get("/clusters");
  CHECK(text.status == 200);
  CHECK(text.body == RenderClustersText({&cluster, 1}));
  AdminResponse json = s.Get("/clusters?format=json");
  CHECK(json.content_type == "application/json");
  CHECK(json.body == RenderClustersJson({&cluster, 1}));
}

TEST_CASE("/ready is 200 LIVE only when live") {
  Sources s;
  AdminResponse starting = s.Get("/ready");
  CHECK(starting.status == 503);
  CHECK(starting.body == "PRE_INITIALIZING\n");
  s.state = ServerState::kLive;
  AdminResponse live = s.Get("/ready");
  CHECK(live.status == 200);
  CHECK(live.body == "LIVE\n");
  s.state = ServerState::kDraining;
  AdminResponse draining = s.Get("/ready");
  CHECK(draining.status == 503);
  CHECK(draining.body == "DRAINING\n");
}

TEST_CASE("/config_dump, unknown paths, mutations and missing sources") {
  Sources s;
  AdminResponse dump = s.Get("/config_dump");
  CHECK(dump.status == 200);
  CHECK(dump.content_type == "application/json");
  CHECK(dump.body == "{\"admin\":{}}\n");

  AdminResponse unknown = s.Get("/quitquitquit?x=1");
  CHECK(unknown.status == 404);
  CHECK(unknown.content_type == "application/json");
  CHECK(unknown.body ==
        "{\"error\":\"not_found\",\"detail\":\"no admin endpoint "
        "/quitquitquit (GET / lists them)\"}\n");

  AdminResponse post = HandleAdminRequest(s.sources, "POST", "/stats");
  CHECK(post.status == 405);
  CHECK(post.body.find("\"error\":\"method_not_allowed\"") != std::string::npos);
  CHECK(HandleAdminRequest(s.sources, "HEAD", "/ready").status == 503);

  AdminSources none;
  for (const char* path : {"/stats", "/clusters", "/ready", "/config_dump"}) {
    CHECK(HandleAdminRequest(none, "GET", path).status == 404);
  }
}

TEST_CASE("AdminServer serves the endpoints on its own socket") {
  TestLoop loop;
  Sources s;
  s.state = ServerState::kLive;
  std::unique_ptr<AdminServer> admin;
  loop.Run([&] {
    auto created = AdminServer::Create(loop.dispatcher(), Loopback("127.0.1.80"), s.sources);
    REQUIRE_MESSAGE(created.ok(), created.status().ToString());
    admin = *std::move(created);
  });
  const SocketAddress address = admin->local_address();
  auto ready = Exchange(address, GetRequest("/ready"));
  REQUIRE(ready);
  CHECK(ready->status == 200);
  CHECK(ready->body == "LIVE\n");
  CHECK(ready->Header("content-type") == "text/plain; charset=UTF-8");
  auto missing = Exchange(address, GetRequest("/nope"));
  REQUIRE(missing);
  CHECK(missing->status == 404);
  // Its own requests count under http.admin.
  CHECK(s.stats.Counter("http.admin.downstream_rq_2xx").value() == 1);
  CHECK(s.stats.Counter("http.admin.downstream_rq_4xx").value() == 1);

  // A second admin on the same address cannot bind.
  loop.Run([&] {
    auto second = AdminServer::Create(loop.dispatcher(), address, {});
    CHECK(second.status().code() == absl::StatusCode::kUnavailable);
  });
  loop.Run([&] { admin.reset(); });
}

}  // namespace
}  // namespace homing
