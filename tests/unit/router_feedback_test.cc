// The router's side of forwarding, on a STATIC cluster and a manual
// dispatcher: requests in flight against max_requests and on their host,
// the one feedback path (ReportOutcome), and retries choosing the next host.

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>

#include "homing/config.h"
#include "homing/manual_dispatcher.h"
#include "homing/router.h"

namespace homing {
namespace {

constexpr char kConfig[] = R"(
static_resources:
  listeners:
  - name: listener_0
    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          route_config:
            virtual_hosts:
            - name: local
              domains: ["*"]
              routes:
              - match: {prefix: /retry}
                route:
                  cluster: pool
                  hash_policy: [{query_parameter: {name: client_id}}]
                  retry_policy: {retry_on: "5xx,connect-failure", num_retries: 1}
              - match: {prefix: /reset}
                route:
                  cluster: pool
                  retry_policy: {retry_on: reset, num_retries: 1}
              - match: {prefix: /once}
                route: {cluster: pool}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: pool
    type: STATIC
    lb_policy: RING_HASH
    load_assignment:
      cluster_name: pool
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.1.10, port_value: 8081}}}
        - endpoint: {address: {socket_address: {address: 127.0.1.11, port_value: 8081}}}
    circuit_breakers:
      thresholds:
      - {priority: DEFAULT, max_requests: 2}
)";

struct Fixture {
  Fixture() {
    auto parsed = ParseConfig(kConfig);
    REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
    config = *std::move(parsed);
    auto manager = ClusterManager::Create(dispatcher, *config, stats);
    REQUIRE_MESSAGE(manager.ok(), manager.status().ToString());
    clusters = *std::move(manager);
    auto made = Router::Create(
        dispatcher, *clusters, config->listeners[0].http_connection_manager, stats,
        [] { return absl::UnimplementedError("no affinity route here"); });
    REQUIRE_MESSAGE(made.ok(), made.status().ToString());
    router = *std::move(made);
    clusters->Start();
  }

  RoutingDecision Route(std::string_view path) {
    const RequestView request{.method = "GET", .authority = "x", .path = path};
    Router::Result result = router->Route(request, [](RoutingDecision) {
      FAIL("a STATIC cluster decides synchronously");
    });
    REQUIRE(result.decision.has_value());
    CHECK(result.route == result.decision->route);
    return *std::move(result.decision);
  }

  uint64_t Counter(std::string_view name) { return stats.Counter(name).value(); }

  ManualDispatcher dispatcher;
  StatsStore stats;
  std::optional<Bootstrap> config;
  std::unique_ptr<ClusterManager> clusters;
  std::unique_ptr<Router> router;
};

int64_t Active(const HostSharedPtr& host) {
  return host->stats().rq_active.load(std::memory_order_relaxed);
}

TEST_CASE("a forwarded decision is in flight until its outcome is reported") {
  Fixture f;
  RoutingDecision first = f.Route("/once");
  REQUIRE(first.forward());
  REQUIRE(first.in_flight.active());
  CHECK(Active(first.host) == 1);

  RoutingDecision second = f.Route("/once");
  RoutingDecision third = f.Route("/once");  // max_requests is 2
  CHECK(third.status == 503);
  CHECK(third.error == "upstream_overflow");
  CHECK(third.detail == "cluster \"pool\" has max_requests (2) requests in flight");
  CHECK(f.Counter("cluster.pool.upstream_rq_overflow") == 1);

  f.router->ReportOutcome(first, RequestOutcome::kSuccess);
  CHECK_FALSE(first.in_flight.active());
  CHECK(f.Route("/once").forward());  // admitted, and released at once

  // A decision dropped without an outcome (the client left) stops counting.
  second = RoutingDecision();
  for (const HostSharedPtr& host : f.clusters->FindCluster("pool")->hosts()) {
    CHECK(Active(host) == 0);
  }
  RoutingDecision fourth = f.Route("/once");
  RoutingDecision fifth = f.Route("/once");
  CHECK((fourth.forward() && fifth.forward()));
}

TEST_CASE("an outcome counts once, whichever copy reports it") {
  Fixture f;
  RoutingDecision decision = f.Route("/once");
  const RoutingDecision copy = decision;
  f.router->ReportOutcome(decision, RequestOutcome::kServerError);
  f.router->ReportOutcome(copy, RequestOutcome::kServerError);
  f.router->Misdirected(copy);
  CHECK(decision.host->stats().rq_total.load() == 1);
  CHECK(decision.host->stats().rq_error.load() == 1);
  CHECK(f.Counter("cluster.pool.upstream_rq_5xx") == 1);
  CHECK(Active(decision.host) == 0);
}

TEST_CASE("a retry the policy covers moves the decision to another host") {
  Fixture f;
  RoutingDecision decision = f.Route("/retry?client_id=7");
  REQUIRE(decision.forward());
  REQUIRE(decision.retries_left == 1);
  REQUIRE(decision.hash.has_value());
  const HostSharedPtr first = decision.host;

  // A 404 is an answer: nothing to retry.
  CHECK_FALSE(f.router->RetryAttempt(decision, 404, RequestOutcome::kSuccess));
  CHECK(decision.host == first);

  REQUIRE(f.router->RetryAttempt(decision, 503, RequestOutcome::kServerError));
  CHECK(decision.host != first);
  CHECK(decision.upstream == decision.host->address());
  CHECK(decision.retries_left == 0);
  CHECK(first->stats().rq_error.load() == 1);  // the failed attempt counted
  CHECK(Active(first) == 0);
  CHECK(Active(decision.host) == 1);

  // No retry left.
  CHECK_FALSE(f.router->RetryAttempt(decision, 0, RequestOutcome::kConnectFailure));
  f.router->ReportOutcome(decision, RequestOutcome::kConnectFailure);
  CHECK(decision.host->stats().cx_connect_fail.load() == 1);
  CHECK(Active(decision.host) == 0);
}

TEST_CASE("an outcome reported through an older copy counts on the retried host") {
  Fixture f;
  RoutingDecision decision = f.Route("/retry?client_id=7");
  const RoutingDecision before_retry = decision;  // e.g. a C embedder's copy
  REQUIRE(f.router->RetryAttempt(decision, 503, RequestOutcome::kServerError));
  f.router->ReportOutcome(before_retry, RequestOutcome::kConnectFailure);
  CHECK(decision.host->stats().cx_connect_fail.load() == 1);
  CHECK(before_retry.host->stats().cx_connect_fail.load() == 0);
  CHECK(Active(decision.host) == 0);
  CHECK(Active(before_retry.host) == 0);
}

TEST_CASE("a route without a retry policy, or a condition it lacks, is not retried") {
  Fixture f;
  RoutingDecision once = f.Route("/once");
  CHECK_FALSE(f.router->RetryAttempt(once, 503, RequestOutcome::kServerError));
  RoutingDecision reset = f.Route("/reset");
  CHECK_FALSE(f.router->RetryAttempt(reset, 0, RequestOutcome::kTimeout));
  CHECK_FALSE(f.router->RetryAttempt(reset, 503, RequestOutcome::kServerError));
  CHECK_FALSE(f.router->RetryAttempt(reset, 409, RequestOutcome::kSuccess));
  CHECK(f.router->RetryAttempt(reset, 0, RequestOutcome::kReset));
}

}  // namespace
}  // namespace homing
