// The config loader on valid input: the seed fixture, JSON, defaults, every
// supported field, resolver inheritance and durations. Error paths are in
// config_errors_test.cc.

#include "homing/config.h"

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>

#include "config_test_util.h"
#include "homing/stats.h"
#include "homing/upstream.h"

namespace homing {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::Edit;
using testing::kBaseConfig;

Bootstrap Load(std::string_view text) {
  absl::StatusOr<Bootstrap> config = ParseConfig(text, "test.yaml");
  REQUIRE_MESSAGE(config.ok(), config.status().ToString());
  return *std::move(config);
}

// What examples/proxy/seed.yaml means, written out by hand.
Bootstrap ExpectedSeed() {
  DnsCacheConfig cache;
  cache.name = "dynamic_forward_proxy_cache";
  cache.dns_lookup_family = DnsLookupFamily::kV4Only;

  auto affinity = std::make_shared<AffinityPolicy>();
  affinity->lookup_cluster = "resolver";
  affinity->lookup_path = "/where";
  affinity->key = {KeySource::Kind::kQueryParameter, "client_id"};
  affinity->hostport_field = "hostport";
  affinity->lookup_timeout = seconds(1);
  affinity->max_age = seconds(30);
  affinity->stale_age = seconds(60);
  affinity->max_entries = 100000;
  affinity->allowed_hostports = {"*.server-headless.poc-routing.svc.cluster.local:8081"};

  RouteSpec join;
  join.match.path_specifier = PathMatchKind::kPrefix;
  join.match.path = "/join";
  join.action.cluster = "dynamic_forward_proxy_cluster";
  join.action.affinity = affinity;
  RouteSpec rest;
  rest.match.path_specifier = PathMatchKind::kPrefix;
  rest.match.path = "/";
  rest.action.cluster = "resolver";

  ListenerSpec listener;
  listener.name = "listener_0";
  listener.address = {"0.0.0.0", 10000};
  HttpConnectionManagerSpec& hcm = listener.http_connection_manager;
  hcm.stat_prefix = "ingress_http";
  hcm.route_config.name = "local_route";
  hcm.route_config.virtual_hosts = {{"backend", {"*"}, {join, rest}}};
  hcm.http_filters = {{"homing.filters.http.affinity", std::nullopt},
                      {"envoy.filters.http.dynamic_forward_proxy", cache},
                      {"envoy.filters.http.router", std::nullopt}};

  ClusterSpec resolver;
  resolver.name = "resolver";
  resolver.type = ClusterType::kStrictDns;
  resolver.lb_policy = LbPolicy::kRoundRobin;
  resolver.connect_timeout = milliseconds(250);
  resolver.endpoints = {{"server", 8081, 1}};
  ClusterSpec forward;
  forward.name = "dynamic_forward_proxy_cluster";
  forward.type = ClusterType::kDynamicForwardProxy;
  forward.lb_policy = LbPolicy::kClusterProvided;
  forward.connect_timeout = seconds(1);
  forward.dns_cache_config = cache;

  Bootstrap bootstrap;
  bootstrap.admin.address = {"127.0.0.1", 9901};
  bootstrap.listeners = {listener};
  bootstrap.clusters = {resolver, forward};
  return bootstrap;
}

TEST_CASE("The Kubernetes ConfigMap's configuration is the seed's with the cluster's names") {
  absl::StatusOr<Bootstrap> config = LoadConfigFile(HOMING_KUBE_CONFIG);
  REQUIRE_MESSAGE(config.ok(), config.status().ToString());
  // The kubelet's probes and Prometheus reach the admin listener on the pod's
  // address; the resolver is service/server by its full name; the routes,
  // filters and affinity policy are the seed's.
  CHECK(config->admin.address == SocketAddressSpec{"0.0.0.0", 9901});
  CHECK(config->FindCluster("resolver")->endpoints ==
        std::vector<EndpointSpec>{{"server.poc-routing.svc.cluster.local", 8081, 1}});
  CHECK(config->listeners == ExpectedSeed().listeners);
}

TEST_CASE("The seed's configuration, Lua replaced by the affinity filter, loads") {
  absl::StatusOr<Bootstrap> config = LoadConfigFile(HOMING_SEED_CONFIG);
  REQUIRE_MESSAGE(config.ok(), config.status().ToString());

  // The parts a reader of the seed looks for, one by one...
  CHECK(config->admin.address.port == 9901);
  REQUIRE(config->listeners.size() == 1);
  const ListenerSpec& listener = config->listeners[0];
  CHECK(listener.address == SocketAddressSpec{"0.0.0.0", 10000});
  CHECK(listener.http_connection_manager.stat_prefix == "ingress_http");
  const auto& routes = listener.http_connection_manager.route_config.virtual_hosts.at(0).routes;
  REQUIRE(routes.size() == 2);
  CHECK(routes[0].match.path == "/join");
  CHECK(routes[0].action.cluster == "dynamic_forward_proxy_cluster");
  REQUIRE(routes[0].action.affinity != nullptr);
  CHECK(routes[0].action.affinity->lookup_cluster == "resolver");
  CHECK(routes[1].match.path == "/");
  CHECK(routes[1].action.cluster == "resolver");
  CHECK(routes[1].action.affinity == nullptr);
  const auto& filters = listener.http_connection_manager.http_filters;
  REQUIRE(filters.size() == 3);
  CHECK(filters[0].name == "homing.filters.http.affinity");
  CHECK(filters[1].name == "envoy.filters.http.dynamic_forward_proxy");
  CHECK(filters[2].name == "envoy.filters.http.router");
  const ClusterSpec* resolver = config->FindCluster("resolver");
  REQUIRE(resolver != nullptr);
  CHECK(resolver->type == ClusterType::kStrictDns);
  CHECK(resolver->lb_policy == LbPolicy::kRoundRobin);
  CHECK(resolver->endpoints == std::vector<EndpointSpec>{{"server", 8081, 1}});
  const ClusterSpec* forward = config->FindCluster("dynamic_forward_proxy_cluster");
  REQUIRE(forward != nullptr);
  REQUIRE(forward->dns_cache_config.has_value());
  CHECK(forward->dns_cache_config->name == "dynamic_forward_proxy_cache");
  CHECK(forward->dns_cache_config->dns_lookup_family == DnsLookupFamily::kV4Only);
  CHECK(config->FindCluster("server") == nullptr);

  // ...and nothing else: the whole result, field for field.
  CHECK(*config == ExpectedSeed());
}

TEST_CASE("JSON loads like the equivalent YAML, with errors at JSON lines") {
  constexpr std::string_view kJson = R"({
  "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 19901}}},
  "static_resources": {
    "clusters": [{
      "name": "backend",
      "type": "STATIC",
      "connect_timeout": "0.5s",
      "lb_policy": "RANDOM",
      "load_assignment": {"endpoints": [{"lb_endpoints": [
        {"endpoint": {"address": {"socket_address": {"address": "127.0.1.1", "port_value": 8080}}}},
        {"endpoint": {"address": {"socket_address": {"address": "127.0.1.2", "port_value": "8080"}}},
         "load_balancing_weight": 2}
      ]}]}
    }],
    "listeners": [{
      "name": "in",
      "address": {"socket_address": {"address": "127.0.0.1", "port_value": 18080}},
      "filter_chains": [{"filters": [{
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
          "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          "stat_prefix": "in",
          "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"],
            "routes": [{"match": {"prefix": "/", "case_sensitive": false},
                        "route": {"cluster": "backend", "timeout": "100ms"}}]}]},
          "http_filters": [{"name": "envoy.filters.http.router"}]
        }
      }]}]
    }]
  }
})";
  constexpr std::string_view kYaml = R"(
admin:
  address: {socket_address: {address: 127.0.0.1, port_value: 19901}}
static_resources:
  clusters:
  - name: backend
    type: STATIC
    connect_timeout: 500ms
    lb_policy: RANDOM
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.1.1, port_value: 8080}}}
        - endpoint: {address: {socket_address: {address: 127.0.1.2, port_value: 8080}}}
          load_balancing_weight: 2
  listeners:
  - name: in
    address: {socket_address: {address: 127.0.0.1, port_value: 18080}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: in
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: /, case_sensitive: false}
                route: {cluster: backend, timeout: 0.1s}
          http_filters:
          - name: envoy.filters.http.router
)";
  Bootstrap from_json = Load(kJson);
  CHECK(from_json == Load(kYaml));
  CHECK(from_json.clusters.at(0).lb_policy == LbPolicy::kRandom);
  CHECK(from_json.clusters.at(0).endpoints.at(1) == EndpointSpec{"127.0.1.2", 8080, 2});

  std::string bad = Edit(kJson, R"("lb_policy": "RANDOM")", R"("lb_policy": "RANDOMLY")");
  CHECK(testing::ErrorOf(bad) ==
        "static_resources.clusters[0].lb_policy (line 8): unknown value \"RANDOMLY\" "
        "(expected ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV or "
        "CLUSTER_PROVIDED)");
}

TEST_CASE("Defaults are Envoy's, and admin defaults to 127.0.0.1:9901") {
  Bootstrap config = Load(kBaseConfig);
  CHECK(config.admin.address == SocketAddressSpec{"127.0.0.1", 9901});
  CHECK(config.dns_resolver.resolvers.empty());

  const HttpConnectionManagerSpec& hcm = config.listeners.at(0).http_connection_manager;
  CHECK(hcm.max_request_headers_kb == 60);
  CHECK(hcm.request_headers_timeout == seconds(10));
  CHECK(hcm.stream_idle_timeout == minutes(5));
  CHECK(hcm.idle_timeout == hours(1));
  CHECK(hcm.max_request_bytes == 1024 * 1024);
  CHECK(hcm.upgrade_configs.empty());  // upgrades refused
  CHECK(hcm.route_config.name.empty());
  CHECK_FALSE(hcm.route_config.ignore_port_in_host_matching);

  const RouteSpec& join = hcm.route_config.virtual_hosts.at(0).routes.at(0);
  CHECK(join.name.empty());
  CHECK(join.match.case_sensitive);
  CHECK(join.action.timeout == seconds(15));
  CHECK_FALSE(join.action.retry_policy.has_value());
  CHECK(join.action.hash_policy.empty());
  CHECK(join.action.upgrade_configs.empty());
  REQUIRE(join.action.affinity != nullptr);
  const AffinityPolicy& affinity = *join.action.affinity;
  CHECK(affinity.lookup_path == "/where");
  CHECK(affinity.key == KeySource{KeySource::Kind::kQueryParameter, "client_id"});
  CHECK(affinity.hostport_field == "hostport");
  CHECK(affinity.lookup_timeout == seconds(1));
  CHECK(affinity.max_age == seconds(30));
  CHECK(affinity.stale_age == affinity.max_age);
  CHECK(affinity.max_entries == 100000);
  CHECK_FALSE(affinity.default_target.has_value());

  const ClusterSpec& lookup = config.clusters.at(0);
  CHECK(lookup.lb_policy == LbPolicy::kRoundRobin);
  CHECK(lookup.connect_timeout == seconds(5));
  CHECK(lookup.dns_lookup_family == DnsLookupFamily::kAuto);
  CHECK(lookup.dns_refresh_rate == seconds(5));
  CHECK_FALSE(lookup.respect_dns_ttl);
  CHECK(lookup.max_connections == 1024);
  CHECK(lookup.max_pending_requests == 1024);
  CHECK(lookup.max_requests == 1024);
  CHECK_FALSE(lookup.outlier_detection.has_value());

  const DnsCacheConfig& cache = config.clusters.at(1).dns_cache_config.value();
  CHECK(cache.dns_refresh_rate == seconds(60));
  CHECK(cache.dns_min_refresh_rate == seconds(5));
  CHECK_FALSE(cache.dns_failure_refresh_rate.has_value());
  CHECK(cache.host_ttl == minutes(5));
  CHECK(cache.max_hosts == 1024);
  CHECK(cache.max_pending_requests == 1024);
  CHECK(cache.dns_query_timeout == seconds(5));

  // A cluster type left out is STATIC, as in Envoy.
  Bootstrap static_cluster = Load(R"(
static_resources:
  clusters:
  - name: s
    load_assignment:
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: "::1", port_value: 80}}}}]}]
)");
  CHECK(static_cluster.clusters.at(0).type == ClusterType::kStatic);
  CHECK(static_cluster.listeners.empty());

  // An empty mapping is a valid (empty) configuration.
  CHECK(Load("{}") == Bootstrap{});
}

constexpr std::string_view kEverything = R"(
admin:
  address: {socket_address: {address: "::1", port_value: 9902}}
typed_dns_resolver_config:
  name: envoy.network.dns_resolver.cares
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig
    resolvers:
    - socket_address: {address: 127.0.0.53, port_value: 5353}
    - socket_address: {address: "::1"}
static_resources:
  clusters:
  - name: ring
    type: STATIC
    connect_timeout: 100ms
    lb_policy: RING_HASH
    ring_hash_lb_config: {minimum_ring_size: 2048, maximum_ring_size: 4096, hash_function: XX_HASH}
    load_assignment:
      cluster_name: ring
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.1.10, port_value: 8081, protocol: TCP}}}
          load_balancing_weight: 3
        - endpoint: {address: {socket_address: {address: 127.0.1.11, port_value: 8082}}}
    outlier_detection:
      consecutive_5xx: 3
      consecutive_local_origin_failure: 2
      base_ejection_time: 10s
      max_ejection_time: 2m
      max_ejection_percent: 50
    circuit_breakers:
      thresholds:
      - {priority: DEFAULT, max_connections: 10, max_pending_requests: 20, max_requests: 30}
  - name: maglev
    type: STATIC
    lb_policy: MAGLEV
    maglev_lb_config: {table_size: 251}
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.1.12, port_value: 80}}}
  - name: least
    type: STRICT_DNS
    lb_policy: LEAST_REQUEST
    least_request_lb_config: {choice_count: 3}
    dns_lookup_family: V4_PREFERRED
    dns_refresh_rate: 2.5s
    respect_dns_ttl: true
    typed_dns_resolver_config:
      name: envoy.network.dns_resolver.cares
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig
        resolvers: [{socket_address: {address: 10.0.0.1}}]
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: server.local, port_value: 8081}}}
  - name: forward
    lb_policy: CLUSTER_PROVIDED
    cluster_type:
      name: envoy.clusters.dynamic_forward_proxy
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig
        dns_cache_config: &cache
          name: fp
          dns_lookup_family: ALL
          dns_refresh_rate: 30s
          dns_min_refresh_rate: 2s
          dns_failure_refresh_rate: {base_interval: 1s, max_interval: 20s}
          host_ttl: 10m
          max_hosts: 64
          dns_cache_circuit_breaker: {max_pending_requests: 32}
          dns_query_timeout: {seconds: 2, nanos: 500000000}
          preresolve_hostnames:
          - {address: a.example.com, port_value: 8081}
  listeners:
  - name: edge
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: edge
          codec_type: AUTO
          max_request_headers_kb: 16
          request_headers_timeout: 3s
          stream_idle_timeout: 1m
          common_http_protocol_options: {idle_timeout: 90s}
          upgrade_configs:
          - {upgrade_type: websocket}
          - {upgrade_type: CONNECT-UDP, enabled: false}
          route_config:
            name: edge_routes
            ignore_port_in_host_matching: true
            virtual_hosts:
            - name: api
              domains: ["api.example.com", "*.api.example.com", "api.*"]
              routes:
              - name: owned
                match:
                  path_separated_prefix: /join
                  case_sensitive: false
                  headers:
                  - name: x-tenant
                    string_match: {prefix: acme, ignore_case: true}
                    invert_match: true
                  - {name: x-debug, present_match: false}
                  - {name: x-legacy, exact_match: "1", treat_missing_header_as_empty: true}
                  - {name: x-re, safe_regex_match: {regex: "v[0-9]+"}}
                  query_parameters:
                  - {name: client_id, present_match: true}
                  - {name: region, string_match: {safe_regex: {regex: "eu-.*"}}}
                route:
                  cluster: forward
                  timeout: 2s
                  retry_policy: {retry_on: "connect-failure, reset", num_retries: 2, per_try_timeout: 500ms}
                  upgrade_configs: [{upgrade_type: WebSocket, enabled: false}]
                typed_per_filter_config:
                  homing.filters.http.affinity:
                    "@type": type.googleapis.com/homing.filters.http.affinity.v1.AffinityPerRoute
                    lookup_cluster: least
                    lookup_path: /owner
                    key: {header: x-client-id}
                    hostport_field: target
                    lookup_timeout: 250ms
                    max_age: 10s
                    stale_age: 1m
                    max_entries: 500
                    max_key_length: 64
                    max_pending_lookups: 100
                    max_waiters_per_key: 10
                    allowed_hostports: ["*.example.com:8081", "127.0.1.20:8081"]
                    default_target: fallback.example.com:8081
              - match: {safe_regex: {regex: "/v[0-9]+/.*"}}
                route:
                  cluster: ring
                  hash_policy:
                  - {header: {header_name: x-user}, terminal: true}
                  - query_parameter: {name: client_id}
              - match: {path: /exact}
                route: {cluster: maglev, timeout: 0s}
          http_filters:
          - name: homing.filters.http.affinity
            typed_config: {"@type": type.googleapis.com/homing.filters.http.affinity.v1.Affinity}
          - name: envoy.filters.http.dynamic_forward_proxy
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig
              dns_cache_config: *cache
          - name: envoy.filters.http.buffer
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer
              max_request_bytes: 65536
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
)";

TEST_CASE("max_age 0 (the cache off) loads, with stale_age 0 by default") {
  Bootstrap config = Load(Edit(kBaseConfig, "lookup_cluster: lookup\n",
                               "lookup_cluster: lookup\n                    max_age: 0s\n"));
  const AffinityPolicy& affinity = *config.listeners.at(0)
                                        .http_connection_manager.route_config.virtual_hosts.at(0)
                                        .routes.at(0)
                                        .action.affinity;
  CHECK(affinity.max_age == Duration::zero());
  CHECK(affinity.stale_age == Duration::zero());
}

TEST_CASE("Every supported field is read") {
  Bootstrap config = Load(kEverything);
  CHECK(config.admin.address == SocketAddressSpec{"::1", 9902});
  CHECK(config.dns_resolver.resolvers ==
        std::vector<std::string>{"127.0.0.53:5353", "[::1]:53"});

  SUBCASE("clusters") {
    const ClusterSpec& ring = *config.FindCluster("ring");
    CHECK(ring.type == ClusterType::kStatic);
    CHECK(ring.connect_timeout == milliseconds(100));
    CHECK(ring.lb_policy == LbPolicy::kRingHash);
    CHECK(ring.ring_hash_minimum_ring_size == 2048);
    CHECK(ring.ring_hash_maximum_ring_size == 4096);
    CHECK(ring.endpoints == std::vector<EndpointSpec>{{"127.0.1.10", 8081, 3},
                                                      {"127.0.1.11", 8082, 1}});
    CHECK(ring.outlier_detection ==
          OutlierDetectionSpec{3, 2, seconds(10), minutes(2), 50});
    CHECK(ring.max_connections == 10);
    CHECK(ring.max_pending_requests == 20);
    CHECK(ring.max_requests == 30);
    CHECK(ring.dns_resolver.resolvers.empty());  // STATIC resolves nothing

    const ClusterSpec& maglev = *config.FindCluster("maglev");
    CHECK(maglev.lb_policy == LbPolicy::kMaglev);
    CHECK(maglev.maglev_table_size == 251);

    const ClusterSpec& least = *config.FindCluster("least");
    CHECK(least.type == ClusterType::kStrictDns);
    CHECK(least.lb_policy == LbPolicy::kLeastRequest);
    CHECK(least.least_request_choice_count == 3);
    CHECK(least.dns_lookup_family == DnsLookupFamily::kV4Preferred);
    CHECK(least.dns_refresh_rate == milliseconds(2500));
    CHECK(least.respect_dns_ttl);
    CHECK(least.dns_resolver.resolvers == std::vector<std::string>{"10.0.0.1:53"});
    CHECK(least.endpoints == std::vector<EndpointSpec>{{"server.local", 8081, 1}});

    const DnsCacheConfig& cache = config.FindCluster("forward")->dns_cache_config.value();
    CHECK(cache.name == "fp");
    CHECK(cache.dns_lookup_family == DnsLookupFamily::kAll);
    CHECK(cache.dns_refresh_rate == seconds(30));
    CHECK(cache.dns_min_refresh_rate == seconds(2));
    CHECK(cache.dns_failure_refresh_rate == DnsFailureRefreshRate{seconds(1), seconds(20)});
    CHECK(cache.host_ttl == minutes(10));
    CHECK(cache.max_hosts == 64);
    CHECK(cache.max_pending_requests == 32);
    CHECK(cache.dns_query_timeout == milliseconds(2500));
    CHECK(cache.preresolve_hostnames == std::vector<std::string>{"a.example.com:8081"});
    // The cache sets no resolver, so it gets the bootstrap's.
    CHECK(cache.resolver == config.dns_resolver);
  }

  SUBCASE("listener, connection manager and filters") {
    const ListenerSpec& listener = config.listeners.at(0);
    CHECK(listener.name == "edge");
    CHECK(listener.address == SocketAddressSpec{"127.0.0.1", 0});
    const HttpConnectionManagerSpec& hcm = listener.http_connection_manager;
    CHECK(hcm.stat_prefix == "edge");
    CHECK(hcm.max_request_headers_kb == 16);
    CHECK(hcm.request_headers_timeout == seconds(3));
    CHECK(hcm.stream_idle_timeout == minutes(1));
    CHECK(hcm.idle_timeout == seconds(90));
    CHECK(hcm.max_request_bytes == 65536);
    CHECK(hcm.upgrade_configs == std::vector<UpgradeConfigSpec>{{"websocket", true},
                                                                {"CONNECT-UDP", false}});
    REQUIRE(hcm.http_filters.size() == 4);
    CHECK(hcm.http_filters[1].dns_cache_config ==
          config.FindCluster("forward")->dns_cache_config);
    CHECK(hcm.http_filters[2].name == "envoy.filters.http.buffer");
    CHECK(hcm.route_config.name == "edge_routes");
    CHECK(hcm.route_config.ignore_port_in_host_matching);
    const VirtualHostSpec& vhost = hcm.route_config.virtual_hosts.at(0);
    CHECK(vhost.domains ==
          std::vector<std::string>{"api.example.com", "*.api.example.com", "api.*"});
  }

  SUBCASE("matchers") {
    const RouteSpec& owned =
        config.listeners.at(0).http_connection_manager.route_config.virtual_hosts.at(0).routes.at(0);
    using Kind = StringMatcherSpec::Kind;
    CHECK(owned.name == "owned");
    CHECK(owned.match.path_specifier == PathMatchKind::kPathSeparatedPrefix);
    CHECK(owned.match.path == "/join");
    CHECK_FALSE(owned.match.case_sensitive);
    REQUIRE(owned.match.headers.size() == 4);
    CHECK(owned.match.headers[0] ==
          HeaderMatcherSpec{"x-tenant", StringMatcherSpec{Kind::kPrefix, "acme", true},
                            true, true, false});
    CHECK(owned.match.headers[1] ==
          HeaderMatcherSpec{"x-debug", std::nullopt, false, false, false});
    CHECK(owned.match.headers[2] ==
          HeaderMatcherSpec{"x-legacy", StringMatcherSpec{Kind::kExact, "1", false},
                            true, false, true});
    CHECK(owned.match.headers[3].string_match ==
          StringMatcherSpec{Kind::kSafeRegex, "v[0-9]+", false});
    REQUIRE(owned.match.query_parameters.size() == 2);
    CHECK(owned.match.query_parameters[0] ==
          QueryParameterMatcherSpec{"client_id", std::nullopt});
    CHECK(owned.match.query_parameters[1] ==
          QueryParameterMatcherSpec{"region", StringMatcherSpec{Kind::kSafeRegex, "eu-.*", false}});
  }

  SUBCASE("route actions and the affinity policy") {
    const auto& routes =
        config.listeners.at(0).http_connection_manager.route_config.virtual_hosts.at(0).routes;
    const RouteActionSpec& owned = routes.at(0).action;
    CHECK(owned.cluster == "forward");
    CHECK(owned.timeout == seconds(2));
    CHECK(owned.retry_policy ==
          RetryPolicySpec{RetryOn::kConnectFailure | RetryOn::kReset, 2, milliseconds(500)});
    CHECK(owned.upgrade_configs == std::vector<UpgradeConfigSpec>{{"WebSocket", false}});
    REQUIRE(owned.affinity != nullptr);
    AffinityPolicy expected;
    expected.lookup_cluster = "least";
    expected.lookup_path = "/owner";
    expected.key = {KeySource::Kind::kHeader, "x-client-id"};
    expected.hostport_field = "target";
    expected.lookup_timeout = milliseconds(250);
    expected.max_age = seconds(10);
    expected.stale_age = minutes(1);
    expected.max_entries = 500;
    expected.max_key_length = 64;
    expected.max_pending_lookups = 100;
    expected.max_waiters_per_key = 10;
    expected.allowed_hostports = {"*.example.com:8081", "127.0.1.20:8081"};
    expected.default_target = "fallback.example.com:8081";
    CHECK(*owned.affinity == expected);

    CHECK(routes.at(1).match.path_specifier == PathMatchKind::kSafeRegex);
    CHECK(routes.at(1).match.path == "/v[0-9]+/.*");
    CHECK(routes.at(1).action.hash_policy ==
          std::vector<HashPolicySpec>{{HashPolicySpec::Kind::kHeader, "x-user", true},
                                      {HashPolicySpec::Kind::kQueryParameter, "client_id", false}});
    CHECK(routes.at(2).match.path_specifier == PathMatchKind::kPath);
    CHECK(routes.at(2).action.timeout == Duration::zero());
  }
}

TEST_CASE("Every cluster the loader accepts, the upstream component accepts too") {
  RealTimeSource time;
  StatsStore stats;
  for (std::string_view text : {kEverything, kBaseConfig}) {
    for (const ClusterSpec& spec : Load(text).clusters) {
      CAPTURE(spec.name);
      absl::StatusOr<std::unique_ptr<Cluster>> cluster =
          Cluster::Create(spec, time, stats.Scope("cluster."));
      CHECK_MESSAGE(cluster.ok(), cluster.status().ToString());
    }
  }
}

TEST_CASE("The bootstrap's DNS resolver is the default of STRICT_DNS clusters and caches") {
  std::string config_text = std::string(R"(typed_dns_resolver_config:
  name: envoy.network.dns_resolver.cares
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig
    resolvers: [{socket_address: {address: 127.0.0.1, port_value: 5300}}]
)") + std::string(kBaseConfig);
  Bootstrap config = Load(config_text);
  DnsResolverConfig expected{{"127.0.0.1:5300"}};
  CHECK(config.dns_resolver == expected);
  CHECK(config.FindCluster("lookup")->dns_resolver == expected);
  CHECK(config.FindCluster("dfp")->dns_cache_config->resolver == expected);
  CHECK(config.listeners.at(0).http_connection_manager.http_filters.at(1)
            .dns_cache_config->resolver == expected);

  // Without one, everything keeps the system's resolv.conf (empty list).
  Bootstrap plain = Load(kBaseConfig);
  CHECK(plain.FindCluster("lookup")->dns_resolver.resolvers.empty());
  CHECK(plain.FindCluster("dfp")->dns_cache_config->resolver.resolvers.empty());
}

TEST_CASE("ParseDuration reads Envoy's and the short forms") {
  struct Good {
    const char* text;
    Duration expected;
  };
  for (const Good& good : {
           Good{"5s", seconds(5)},
           Good{"0.25s", milliseconds(250)},
           Good{"100ms", milliseconds(100)},
           Good{"2m", minutes(2)},
           Good{"1h", hours(1)},
           Good{"250us", std::chrono::microseconds(250)},
           Good{"10ns", std::chrono::nanoseconds(10)},
           Good{"0s", Duration::zero()},
           Good{"1.5ms", std::chrono::microseconds(1500)},
           Good{"0.000000001s", std::chrono::nanoseconds(1)},
           Good{"9223372036s", seconds(9223372036)},
       }) {
    CAPTURE(good.text);
    absl::StatusOr<Duration> parsed = ParseDuration(good.text);
    REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
    CHECK(*parsed == good.expected);
  }
}

TEST_CASE("ParseDuration rejects negatives, junk and missing units") {
  struct Bad {
    const char* text;
    const char* message;
  };
  for (const Bad& bad : {
           Bad{"-5s", "invalid duration \"-5s\": must not be negative"},
           Bad{"5", "invalid duration \"5\": missing unit (use ns, us, ms, s, m or h)"},
           Bad{"", "invalid duration \"\": empty"},
           Bad{"abc", "invalid duration \"abc\": expected a number followed by a unit, "
                      "such as 5s, 0.25s or 100ms"},
           Bad{"5 s", "invalid duration \"5 s\": unknown unit \" s\" (use ns, us, ms, s, m or h)"},
           Bad{"5sec", "invalid duration \"5sec\": unknown unit \"sec\" (use ns, us, ms, s, m or h)"},
           Bad{"1h30m", "invalid duration \"1h30m\": unknown unit \"h30m\" (use ns, us, ms, s, m or h)"},
           Bad{"1.s", "invalid duration \"1.s\": expected digits after '.'"},
           Bad{"0.0000000001s", "invalid duration \"0.0000000001s\": more than 9 fractional digits"},
           Bad{"1.5ns", "invalid duration \"1.5ns\": finer than a nanosecond"},
           Bad{"9223372037s", "invalid duration \"9223372037s\": too large"},
           Bad{"99999999999999999999999h", "invalid duration \"99999999999999999999999h\": too large"},
       }) {
    CAPTURE(bad.text);
    absl::StatusOr<Duration> parsed = ParseDuration(bad.text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(parsed.status().message()) == bad.message);
  }
}

TEST_CASE("Durations may be protobuf {seconds, nanos} objects") {
  std::string text = Edit(kBaseConfig, "    type: STRICT_DNS\n",
                          "    type: STRICT_DNS\n    connect_timeout: {seconds: 1, nanos: 5}\n");
  CHECK(Load(text).FindCluster("lookup")->connect_timeout ==
        seconds(1) + std::chrono::nanoseconds(5));
  std::string bad = Edit(kBaseConfig, "    type: STRICT_DNS\n",
                         "    type: STRICT_DNS\n    connect_timeout: {seconds: 1, nanos: 1000000000}\n");
  CHECK(testing::ErrorOf(bad) ==
        testing::At("static_resources.clusters[0].connect_timeout.nanos", bad,
                    "connect_timeout:", "must be between 0 and 999999999, got 1000000000"));
}

TEST_CASE("LoadConfigFile reports a file it cannot read as NotFound") {
  absl::StatusOr<Bootstrap> config = LoadConfigFile("/nonexistent/homing.yaml");
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().code() == absl::StatusCode::kNotFound);
  CHECK(std::string(config.status().message()) ==
        "cannot read config file /nonexistent/homing.yaml: No such file or directory");
}

}  // namespace
}  // namespace homing
