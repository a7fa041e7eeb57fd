// The routing pipeline end to end on real parts: a dnsmasq answering the
// cluster names, resolver_server.py as the resolver service, c-ares, libcurl
// and libuv under a ClusterManager and a Router built from a real config.

#include "homing/router.h"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dnsmasq.h"
#include "homing/config.h"
#include "homing/libuv_dispatcher.h"
#include "resolver_process.h"

namespace homing {
namespace {

using testing::DnsRecord;
using testing::Dnsmasq;
using testing::ResolverProcess;

constexpr char kResolverIp[] = "127.0.1.60";
constexpr char kResolverName[] = "resolver.router-test.cluster.local";

std::string Owner(int i) {
  return absl::StrCat("server-", i, ".server-headless.poc-routing.svc.cluster.local:8081");
}

// `affinity_extra`: more lines for the /join route's affinity settings.
std::string Config(uint16_t dns_port, uint16_t resolver_port,
                   std::string_view affinity_extra = "") {
  return absl::StrCat(R"(
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
              - match: {prefix: /join}
                route: {cluster: dynamic_forward_proxy_cluster}
                typed_per_filter_config:
                  homing.filters.http.affinity:
                    lookup_cluster: resolver
                    lookup_path: /where
                    key: {query_parameter: client_id}
                    lookup_timeout: 1s
                    max_age: 30s
                    allowed_hostports: ["*.server-headless.poc-routing.svc.cluster.local:8081"]
)", std::string(affinity_extra), R"(
              - match: {prefix: /where}
                route: {cluster: resolver}
          http_filters:
          - name: homing.filters.http.affinity
          - name: envoy.filters.http.dynamic_forward_proxy
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig
              dns_cache_config: {name: dfp_cache, dns_lookup_family: V4_ONLY}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: resolver
    type: STRICT_DNS
    dns_lookup_family: V4_ONLY
    load_assignment:
      cluster_name: resolver
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: )", kResolverName,
                      R"(, port_value: )", resolver_port, R"(}}}
  - name: dynamic_forward_proxy_cluster
    lb_policy: CLUSTER_PROVIDED
    cluster_type:
      name: envoy.clusters.dynamic_forward_proxy
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig
        dns_cache_config: {name: dfp_cache, dns_lookup_family: V4_ONLY}
typed_dns_resolver_config:
  name: envoy.network.dns_resolver.cares
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig
    resolvers: [{socket_address: {address: 127.0.0.1, port_value: )", dns_port, R"(}}]
)");
}

// The whole pipeline on one loop.
struct Pipeline {
  Dnsmasq dns;
  std::unique_ptr<ResolverProcess> resolver;
  std::unique_ptr<LibuvDispatcher> dispatcher;
  StatsStore stats;
  std::unique_ptr<ClusterManager> clusters;
  std::unique_ptr<Router> router;
  std::optional<Bootstrap> config;

  explicit Pipeline(std::string_view affinity_extra = "") {
    REQUIRE(dns.Start().ok());
    REQUIRE(dns.SetRecords({{kResolverName, kResolverIp},
                            {"server-0.server-headless.poc-routing.svc.cluster.local", "127.0.1.61"},
                            {"server-1.server-headless.poc-routing.svc.cluster.local", "127.0.1.62"}})
                .ok());
    auto started = ResolverProcess::Start({.address = kResolverIp});
    REQUIRE_MESSAGE(started.ok(), started.status().ToString());
    resolver = *std::move(started);
    auto parsed = ParseConfig(Config(dns.port(), resolver->port(), affinity_extra));
    REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
    config = *std::move(parsed);
    auto created = LibuvDispatcher::Create();
    REQUIRE(created.ok());
    dispatcher = *std::move(created);
    auto manager = ClusterManager::Create(*dispatcher, *config, stats);
    REQUIRE_MESSAGE(manager.ok(), manager.status().ToString());
    clusters = *std::move(manager);
    auto made = Router::Create(
        *dispatcher, *clusters, config->listeners[0].http_connection_manager, stats,
        [this] { return LookupTransport::CreateCurl(*dispatcher); });
    REQUIRE_MESSAGE(made.ok(), made.status().ToString());
    router = *std::move(made);
    clusters->Start();
    REQUIRE(dispatcher->RunUntil([&] { return clusters->initialized(); },
                                 std::chrono::seconds(10)));
  }

  // Routes `path` and waits for the decision, however it comes.
  RoutingDecision Route(std::string_view path) {
    RequestView request{.method = "GET", .authority = "proxy.local", .path = path};
    std::optional<RoutingDecision> decision;
    Router::Result result =
        router->Route(request, [&](RoutingDecision d) { decision = std::move(d); });
    if (result.decision) return *std::move(result.decision);
    REQUIRE(result.handle != nullptr);
    REQUIRE(dispatcher->RunUntil([&] { return decision.has_value(); },
                                 std::chrono::seconds(10)));
    return *std::move(decision);
  }

  // Routes `path` expecting an answer without waiting.
  std::optional<RoutingDecision> RouteNow(std::string_view path) {
    RequestView request{.method = "GET", .authority = "proxy.local", .path = path};
    Router::Result result = router->Route(request, [](RoutingDecision) {
      FAIL("a cached request must be decided synchronously");
    });
    return std::move(result.decision);
  }

  void Control(std::string_view json) { REQUIRE(resolver->Control(json).ok()); }
  uint64_t Counter(std::string_view name) { return stats.Counter(name).value(); }
};

TEST_CASE("/join goes to the owner the resolver names, then from cache") {
  Pipeline p;
  p.Control(R"({"mapping": {"123": ")" + Owner(1) + R"("}})");

  RoutingDecision first = p.Route("/join?client_id=123");
  REQUIRE_MESSAGE(first.forward(), first.detail);
  CHECK(first.route->action().cluster == "dynamic_forward_proxy_cluster");
  CHECK(first.key == "123");
  CHECK(first.lookup_source == LookupOutcome::Source::kResolver);
  CHECK(first.authority == Owner(1));
  CHECK(first.upstream.ToString() == "127.0.1.62:8081");

  std::optional<RoutingDecision> second = p.RouteNow("/join?client_id=123");
  REQUIRE(second.has_value());
  CHECK(second->lookup_source == LookupOutcome::Source::kCache);
  CHECK(second->upstream.ToString() == "127.0.1.62:8081");
  CHECK(second->target == first.target);

  CHECK(p.resolver->GetStats()->total == 1);
  CHECK(p.Counter("http.ingress_http.affinity.cache_hit") == 1);
  CHECK(p.Counter("dns_cache.dfp_cache.dns_query_attempt") == 1);
}

TEST_CASE("/where goes round robin over the resolver cluster") {
  Pipeline p;
  RoutingDecision decision = p.Route("/where?client_id=123");
  REQUIRE(decision.forward());
  CHECK(decision.route->action().cluster == "resolver");
  CHECK(decision.host != nullptr);
  CHECK(decision.upstream.ToString() == p.resolver->hostport());
  CHECK(decision.authority.empty());
}

TEST_CASE("requests the router cannot send anywhere get a local reply") {
  Pipeline p;
  struct Case {
    std::string control;
    std::string path;
    int status;
    std::string error;
    std::string detail;
  };
  const Case cases[] = {
      {"{}", "/nowhere", 404, "no_route", "no route matches GET /nowhere for host \"proxy.local\""},
      {"{}", "/join", 400, "missing_key", "query parameter \"client_id\" is required"},
      {"{}", "/join?client_id=", 400, "empty_key", "query parameter \"client_id\" is empty"},
      {"{}", "/join?client_id=" + std::string(300, 'k'), 400, "invalid_key",
       "query parameter \"client_id\" is longer than 256 bytes"},
      {R"({"status": 500})", "/join?client_id=a", 503, "resolver_unavailable", "500"},
      {R"({"mode": "garbage"})", "/join?client_id=b", 502, "bad_resolver_answer", "not JSON"},
      {R"({"hostport": "evil.example.com:8081"})", "/join?client_id=c", 502,
       "hostport_rejected", "not in allowed_hostports"},
      {R"({"hostport": ")" + Owner(7) + R"("})", "/join?client_id=d", 503,
       "dns_resolution_failed", "DNS resolution of \"server-7."},
  };
  for (const Case& c : cases) {
    CAPTURE(c.path);
    p.Control(R"({"reset": true})");
    p.Control(c.control);
    RoutingDecision decision = p.Route(c.path);
    CHECK(decision.status == c.status);
    CHECK(decision.error == c.error);
    CHECK_MESSAGE(decision.detail.find(c.detail) != std::string::npos, decision.detail);
  }
  CHECK(p.Counter("http.ingress_http.no_route") == 1);
  CHECK(p.Counter("http.ingress_http.rq_local_reply") == std::size(cases));
}

TEST_CASE("a misdirected answer sends the next request back to the resolver") {
  Pipeline p;
  p.Control(R"({"mapping": {"k": ")" + Owner(0) + R"("}})");
  RoutingDecision first = p.Route("/join?client_id=k");
  REQUIRE(first.forward());
  CHECK(first.upstream.ToString() == "127.0.1.61:8081");

  // The cluster scaled: k moved to server-1, and server-0 answered 421.
  p.Control(R"({"mapping": {"k": ")" + Owner(1) + R"("}})");
  p.router->Misdirected(first);
  RoutingDecision second = p.Route("/join?client_id=k");
  REQUIRE(second.forward());
  CHECK(second.lookup_source == LookupOutcome::Source::kResolver);
  CHECK(second.upstream.ToString() == "127.0.1.62:8081");
  CHECK(p.resolver->GetStats()->per_key["k"] == 2);
  CHECK(p.Counter("http.ingress_http.affinity.owner_misdirected") == 1);
}

TEST_CASE("an unreachable owner sends the next request back to the resolver") {
  Pipeline p;
  p.Control(R"({"mapping": {"k": ")" + Owner(0) + R"("}})");
  RoutingDecision first = p.Route("/join?client_id=k");
  REQUIRE(first.forward());

  // server-0 left without answering 421; the resolver now names server-1.
  p.Control(R"({"mapping": {"k": ")" + Owner(1) + R"("}})");
  p.router->ReportOutcome(first, RequestOutcome::kConnectFailure);
  RoutingDecision second = p.Route("/join?client_id=k");
  REQUIRE(second.forward());
  CHECK(second.upstream.ToString() == "127.0.1.62:8081");
  CHECK(p.Counter("http.ingress_http.affinity.owner_unreachable") == 1);
  CHECK(p.Counter("http.ingress_http.affinity.owner_misdirected") == 0);

  // Decisions of other routes have no owner to forget.
  p.router->ReportOutcome(p.Route("/where?client_id=k"), RequestOutcome::kConnectFailure);
  CHECK(p.Counter("http.ingress_http.affinity.owner_unreachable") == 1);

  // Other failures say nothing about the membership.
  RoutingDecision third = p.Route("/join?client_id=k");
  REQUIRE(third.forward());
  p.router->ReportOutcome(third, RequestOutcome::kReset);
  CHECK(p.Counter("http.ingress_http.affinity.owner_unreachable") == 1);
  CHECK(p.Route("/join?client_id=k").lookup_source == LookupOutcome::Source::kCache);
}

TEST_CASE("an affinity decision carries the owner's host, which the router keeps") {
  Pipeline p;
  p.Control(R"({"mapping": {"a": ")" + Owner(0) + R"(", "b": ")" + Owner(0) + R"("}})");
  RoutingDecision first = p.Route("/join?client_id=a");
  REQUIRE(first.forward());
  REQUIRE(first.host != nullptr);
  CHECK(first.host->hostname() == Owner(0));
  CHECK(first.host->address() == first.upstream);
  CHECK(first.host->stats().rq_active.load() == 1);

  // Another key with the same owner: the same host, in flight twice.
  RoutingDecision second = p.Route("/join?client_id=b");
  REQUIRE(second.forward());
  CHECK(second.host == first.host);
  CHECK(first.host->stats().rq_active.load() == 2);

  p.router->ReportOutcome(first, RequestOutcome::kServerError);
  p.router->ReportOutcome(second, RequestOutcome::kConnectFailure);
  CHECK(first.host->stats().rq_active.load() == 0);
  CHECK(first.host->stats().rq_error.load() == 1);
  CHECK(first.host->stats().cx_connect_fail.load() == 1);
  CHECK(p.Counter("cluster.dynamic_forward_proxy_cluster.upstream_rq_5xx") == 1);
  CHECK(p.Counter("cluster.dynamic_forward_proxy_cluster.upstream_cx_connect_fail") == 1);

  const Cluster& cluster = *p.clusters->FindCluster("dynamic_forward_proxy_cluster");
  REQUIRE(p.clusters->OwnerHosts(cluster).size() == 1);
  CHECK(p.clusters->OwnerHosts(cluster)[0] == first.host);
  CHECK(p.clusters->OwnerHosts(*p.clusters->FindCluster("resolver")).empty());
}

TEST_CASE("a failing default target does not end the key's failure backoff") {
  Pipeline p("                    default_target: " + Owner(1));
  p.Control(R"({"status": 503})");
  RoutingDecision first = p.Route("/join?client_id=k");
  REQUIRE(first.forward());
  CHECK(first.lookup_source == LookupOutcome::Source::kDefaultTarget);
  const uint64_t attempts = p.Counter("http.ingress_http.affinity.lookup_attempt");

  // Neither a refused connection nor a 421 from the fallback makes the next
  // request ask the failing resolver before its backoff ends.
  p.router->ReportOutcome(first, RequestOutcome::kConnectFailure);
  p.router->Misdirected(p.Route("/join?client_id=k"));
  CHECK(p.Counter("http.ingress_http.affinity.owner_unreachable") == 0);
  CHECK(p.Counter("http.ingress_http.affinity.owner_misdirected") == 0);
  std::optional<RoutingDecision> second = p.RouteNow("/join?client_id=k");
  REQUIRE(second.has_value());
  CHECK(second->lookup_source == LookupOutcome::Source::kDefaultTarget);
  CHECK(p.Counter("http.ingress_http.affinity.lookup_attempt") == attempts);
}

TEST_CASE("Router::Create needs a transport factory") {
  Pipeline p;
  auto made = Router::Create(*p.dispatcher, *p.clusters,
                             p.config->listeners[0].http_connection_manager, p.stats,
                             Router::TransportFactory());
  REQUIRE_FALSE(made.ok());
  CHECK(made.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(made.status().message()) == "Router::Create: no transport factory");
}

TEST_CASE("destroying the handle cancels a pending decision") {
  Pipeline p;
  p.Control(R"({"delay_ms": 200})");
  bool called = false;
  RequestView request{.method = "GET", .authority = "x", .path = "/join?client_id=slow"};
  Router::Result result = p.router->Route(request, [&](RoutingDecision) { called = true; });
  REQUIRE(result.handle != nullptr);
  result.handle.reset();
  // Let the resolver answer and the lookup complete.
  p.dispatcher->RunUntil([] { return false; }, std::chrono::milliseconds(600));
  CHECK_FALSE(called);
  // The lookup itself went on and its answer is cached.
  CHECK(p.Route("/join?client_id=slow").lookup_source == LookupOutcome::Source::kCache);
  CHECK(p.resolver->GetStats()->per_key["slow"] == 1);
}

}  // namespace
}  // namespace homing
