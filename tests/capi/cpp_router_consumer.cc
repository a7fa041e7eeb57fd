// A C++ program built only against the installed homing-cpp package
// (headers under <prefix>/include/homing, libhoming-cpp.a, homing-cpp.pc):
// it loads a config, builds a ClusterManager and a Router on a libuv
// dispatcher and routes three requests, each decided synchronously, and
// checks each decision.
// install_test.py builds it with `pkg-config --cflags --libs homing-cpp`.

#include <cstdio>
#include <memory>
#include <string>

#include "homing/affinity_lookup.h"
#include "homing/config.h"
#include "homing/libuv_dispatcher.h"
#include "homing/router.h"
#include "homing/stats.h"

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
              - match: {prefix: /join}
                route: {cluster: owners}
                typed_per_filter_config:
                  homing.filters.http.affinity:
                    lookup_cluster: backend
                    key: {query_parameter: client_id}
                    allowed_hostports: ["*.example.test:8081"]
              - match: {prefix: /where}
                route: {cluster: backend}
          http_filters:
          - name: homing.filters.http.affinity
          - name: envoy.filters.http.dynamic_forward_proxy
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig
              dns_cache_config: {name: owners_cache, dns_lookup_family: V4_ONLY}
          - name: envoy.filters.http.router
  clusters:
  - name: backend
    type: STATIC
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.1.2, port_value: 8081}}}
  - name: owners
    lb_policy: CLUSTER_PROVIDED
    cluster_type:
      name: envoy.clusters.dynamic_forward_proxy
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig
        dns_cache_config: {name: owners_cache, dns_lookup_family: V4_ONLY}
)";

// Routes GET `path` and checks the synchronous decision, written as
// "<address>" or "<status> <error>", against `expected`.
bool Expect(homing::Router& router, const char* path, const std::string& expected) {
  homing::RequestView request;
  request.method = "GET";
  request.authority = "example.test";
  request.path = path;
  homing::Router::Result result = router.Route(request, [](homing::RoutingDecision) {});
  if (!result.decision) {
    std::fprintf(stderr, "%s: expected a synchronous decision\n", path);
    return false;
  }
  const homing::RoutingDecision& decision = *result.decision;
  const std::string got = decision.forward()
                              ? decision.upstream.ToString()
                              : std::to_string(decision.status) + " " +
                                    std::string(decision.error);
  std::printf("%s -> %s\n", path, got.c_str());
  if (got != expected) {
    std::fprintf(stderr, "%s: expected %s\n", path, expected.c_str());
    return false;
  }
  return true;
}

}  // namespace

int main() {
  auto bootstrap = homing::ParseConfig(kConfig, "consumer.yaml");
  if (!bootstrap.ok()) {
    std::fprintf(stderr, "config: %s\n", std::string(bootstrap.status().message()).c_str());
    return 1;
  }
  auto dispatcher = homing::LibuvDispatcher::Create();
  if (!dispatcher.ok()) return 1;
  homing::StatsStore stats;
  auto clusters = homing::ClusterManager::Create(**dispatcher, *bootstrap, stats);
  if (!clusters.ok()) {
    std::fprintf(stderr, "clusters: %s\n", std::string(clusters.status().message()).c_str());
    return 1;
  }
  (*clusters)->Start();
  homing::Dispatcher& loop = **dispatcher;
  auto router = homing::Router::Create(
      loop, **clusters, bootstrap->listeners[0].http_connection_manager, stats,
      [&loop] { return homing::LookupTransport::CreateCurl(loop); });
  if (!router.ok()) {
    std::fprintf(stderr, "router: %s\n", std::string(router.status().message()).c_str());
    return 1;
  }
  const bool ok = Expect(**router, "/where?client_id=a", "127.0.1.2:8081") &&
                  Expect(**router, "/join", "400 missing_key") &&
                  Expect(**router, "/elsewhere", "404 no_route");
  return ok ? 0 : 1;
}
