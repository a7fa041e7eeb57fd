// DumpConfigJson() (what /config_dump serves): the loaded config written back
// in Envoy's shapes, which the loader reads back to the same Bootstrap.

#include <doctest/doctest.h>

#include <string>

#include "homing/config.h"

namespace homing {
namespace {

// Everything the loader understands, away from its defaults.
constexpr char kRichConfig[] = R"(
admin:
  address: {socket_address: {address: "::1", port_value: 0}}
typed_dns_resolver_config:
  name: envoy.network.dns_resolver.cares
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig
    resolvers:
    - {socket_address: {address: 127.0.0.1, port_value: 5353}}
    - {socket_address: {address: "::1", port_value: 53}}
static_resources:
  clusters:
  - name: resolver
    type: STRICT_DNS
    lb_policy: RING_HASH
    connect_timeout: 0.25s
    dns_lookup_family: V4_PREFERRED
    dns_refresh_rate: 2500ms
    respect_dns_ttl: true
    ring_hash_lb_config: {minimum_ring_size: 64, maximum_ring_size: 4096}
    outlier_detection:
      consecutive_5xx: 3
      consecutive_local_origin_failure: 2
      base_ejection_time: 10s
      max_ejection_time: 1m
      max_ejection_percent: 50
    circuit_breakers:
      thresholds: [{priority: DEFAULT, max_connections: 10, max_pending_requests: 20, max_requests: 30}]
    load_assignment:
      cluster_name: resolver
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: server.svc.cluster.local, port_value: 8081}}}
          load_balancing_weight: 3
  - name: static
    type: STATIC
    lb_policy: MAGLEV
    maglev_lb_config: {table_size: 251}
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.1.10, port_value: 80}}}
        - endpoint: {address: {socket_address: {address: "::1", port_value: 81}}}
  - name: least
    type: STATIC
    lb_policy: LEAST_REQUEST
    least_request_lb_config: {choice_count: 3}
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.1.11, port_value: 80}}}
  - name: dfp
    lb_policy: CLUSTER_PROVIDED
    connect_timeout: 0.000000001s
    cluster_type:
      name: envoy.clusters.dynamic_forward_proxy
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig
        dns_cache_config: &cache
          name: owners
          dns_lookup_family: ALL
          dns_refresh_rate: 30s
          dns_min_refresh_rate: 2s
          dns_failure_refresh_rate: {base_interval: 1s, max_interval: 20s}
          host_ttl: 600s
          max_hosts: 16
          dns_cache_circuit_breaker: {max_pending_requests: 8}
          dns_query_timeout: 0s
          preresolve_hostnames:
          - {address: server-0.svc.cluster.local, port_value: 8081}
          - {address: "::1", port_value: 8082}
  listeners:
  - name: main
    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: edge
          max_request_headers_kb: 16
          request_headers_timeout: 0s
          stream_idle_timeout: 90s
          common_http_protocol_options: {idle_timeout: 0.5s}
          upgrade_configs: [{upgrade_type: websocket}, {upgrade_type: spdy/3, enabled: false}]
          route_config:
            name: routes
            ignore_port_in_host_matching: true
            virtual_hosts:
            - name: api
              domains: ["api.example.com", "*.api.example.com"]
              routes:
              - name: join
                match:
                  path_separated_prefix: /join
                  case_sensitive: false
                  headers:
                  - {name: x-exact, string_match: {exact: "a\"b\\c", ignore_case: true}}
                  - {name: x-regex, safe_regex_match: {regex: "^v[0-9]+$"}}
                  - {name: x-absent, present_match: false, invert_match: true}
                  - {name: x-empty, treat_missing_header_as_empty: true, prefix_match: p}
                  query_parameters:
                  - {name: client_id}
                  - {name: tier, string_match: {suffix: gold}}
                route:
                  cluster: dfp
                  timeout: 0s
                  retry_policy: {retry_on: "5xx,reset", num_retries: 2, per_try_timeout: 0.75s}
                  upgrade_configs: [{upgrade_type: WebSocket, enabled: false}]
                typed_per_filter_config:
                  homing.filters.http.affinity:
                    lookup_cluster: resolver
                    lookup_path: /owner
                    key: {header: X-Client-Id}
                    hostport_field: target
                    lookup_timeout: 0.3s
                    max_age: 5s
                    stale_age: 10s
                    max_entries: 10
                    max_key_length: 64
                    max_pending_lookups: 4
                    max_waiters_per_key: 5
                    allowed_hostports: ["*.svc.cluster.local:8081", "exact.example.com:9"]
                    default_target: fallback.svc.cluster.local:8081
              - match: {safe_regex: {regex: "/items/[0-9]+"}}
                route:
                  cluster: static
                  hash_policy:
                  - {header: {header_name: x-user}, terminal: true}
                  - {query_parameter: {name: user}}
              - match: {path: /exact}
                route: {cluster: least, retry_policy: {num_retries: 0}}
          http_filters:
          - name: homing.filters.http.affinity
          - name: envoy.filters.http.buffer
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer
              max_request_bytes: 4096
          - name: envoy.filters.http.dynamic_forward_proxy
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig
              dns_cache_config: *cache
          - name: envoy.filters.http.router
)";

void CheckRoundTrip(const Bootstrap& original) {
  const std::string json = DumpConfigJson(original);
  CAPTURE(json);
  absl::StatusOr<Bootstrap> reloaded = ParseConfig(json, "dump");
  REQUIRE_MESSAGE(reloaded.ok(), reloaded.status().ToString());
  CHECK(*reloaded == original);
  // Stable: dumping the reloaded config gives the same text.
  CHECK(DumpConfigJson(*reloaded) == json);
}

TEST_CASE("the seed's config dumps to JSON the loader reads back unchanged") {
  absl::StatusOr<Bootstrap> seed = LoadConfigFile(HOMING_SEED_CONFIG);
  REQUIRE_MESSAGE(seed.ok(), seed.status().ToString());
  CheckRoundTrip(*seed);
}

TEST_CASE("every supported field survives a dump and reload") {
  absl::StatusOr<Bootstrap> rich = ParseConfig(kRichConfig, "rich");
  REQUIRE_MESSAGE(rich.ok(), rich.status().ToString());
  CheckRoundTrip(*rich);
}

TEST_CASE("an empty config dumps its defaults") {
  absl::StatusOr<Bootstrap> empty = ParseConfig("{}", "empty");
  REQUIRE(empty.ok());
  CHECK(DumpConfigJson(*empty) ==
        "{\"admin\":{\"address\":{\"socket_address\":{\"address\":\"127.0.0.1\","
        "\"port_value\":9901}}},\"static_resources\":{\"listeners\":[],"
        "\"clusters\":[]},\"typed_dns_resolver_config\":{\"name\":"
        "\"envoy.network.dns_resolver.cares\",\"typed_config\":{\"@type\":"
        "\"type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3."
        "CaresDnsResolverConfig\",\"resolvers\":[]}}}\n");
  CheckRoundTrip(*empty);
}

TEST_CASE("durations are written in protobuf's seconds form") {
  absl::StatusOr<Bootstrap> rich = ParseConfig(kRichConfig, "rich");
  REQUIRE(rich.ok());
  const std::string json = DumpConfigJson(*rich);
  CHECK(json.find("\"connect_timeout\":\"0.25s\"") != std::string::npos);
  CHECK(json.find("\"connect_timeout\":\"0.000000001s\"") != std::string::npos);
  CHECK(json.find("\"dns_refresh_rate\":\"2.5s\"") != std::string::npos);
  CHECK(json.find("\"max_ejection_time\":\"60s\"") != std::string::npos);
  CHECK(json.find("\"request_headers_timeout\":\"0s\"") != std::string::npos);
}

TEST_CASE("upgrade_configs are dumped with enabled spelled out") {
  absl::StatusOr<Bootstrap> rich = ParseConfig(kRichConfig, "rich");
  REQUIRE(rich.ok());
  const std::string json = DumpConfigJson(*rich);
  CHECK(json.find("\"upgrade_configs\":[{\"upgrade_type\":\"websocket\",\"enabled\":true},"
                  "{\"upgrade_type\":\"spdy/3\",\"enabled\":false}]") != std::string::npos);
  CHECK(json.find("\"upgrade_configs\":[{\"upgrade_type\":\"WebSocket\",\"enabled\":false}]") !=
        std::string::npos);
  CHECK(json.find("\"upgrade_configs\":[]") != std::string::npos);  // the other routes
}

}  // namespace
}  // namespace homing
