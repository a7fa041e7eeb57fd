// Every class of config error, with its full message and line. Most cases
// edit one spot of the valid base config (config_test_util.h); the expected
// line is where the edit put the offending text.

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "config_test_util.h"
#include "homing/config.h"

namespace homing {
namespace {

using testing::At;
using testing::Edit;
using testing::ErrorOf;
using testing::kBaseConfig;
using testing::LineOf;

const std::string kHcm =
    "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";
const std::string kFilters = kHcm + ".http_filters";
const std::string kVhost = kHcm + ".route_config.virtual_hosts[0]";
const std::string kRoutes = kVhost + ".routes";
const std::string kAffinity =
    kRoutes + "[0].typed_per_filter_config[\"homing.filters.http.affinity\"]";
const std::string kLookupCluster = "static_resources.clusters[0]";
const std::string kDfpCluster = "static_resources.clusters[1]";
const std::string kDfpClusterCache =
    kDfpCluster + ".cluster_type.typed_config.dns_cache_config";

constexpr char kLuaMessage[] =
    "envoy.filters.http.lua is not supported: homing replaces the Lua script with "
    "its native affinity filter, homing.filters.http.affinity (see "
    "docs/configuration.md)";
constexpr char kFilterCacheLine[] =
    "FilterConfig\n              dns_cache_config: {name: cache, dns_lookup_family: V4_ONLY}";

// Checks that `text` fails with "<path> (line of `marker`): <message>".
void ExpectError(const std::string& text, const std::string& path,
                 std::string_view marker, std::string_view message) {
  CHECK(ErrorOf(text) == At(path, text, marker, message));
}

// Inserts `lines` after the one occurrence of `after`.
std::string Insert(std::string_view after, std::string_view lines) {
  return Edit(kBaseConfig, after, std::string(after) + std::string(lines));
}

TEST_CASE("The base config of these tests is valid") {
  CHECK(ParseConfig(kBaseConfig).ok());
}

TEST_CASE("An unknown enum value names the path and line (the issue's example)") {
  CHECK(ErrorOf(Edit(kBaseConfig, "lb_policy: CLUSTER_PROVIDED", "lb_policy: FOO")) ==
        "static_resources.clusters[1].lb_policy (line 42): unknown value \"FOO\" "
        "(expected ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV or "
        "CLUSTER_PROVIDED)");
  ExpectError(Edit(kBaseConfig, "    type: STRICT_DNS", "    type: FOO"),
              kLookupCluster + ".type", "type: FOO",
              "unknown value \"FOO\" (expected STATIC or STRICT_DNS)");
  std::string family = Edit(kBaseConfig,
                            "ClusterConfig\n        dns_cache_config: {name: cache, "
                            "dns_lookup_family: V4_ONLY}",
                            "ClusterConfig\n        dns_cache_config: {name: cache, "
                            "dns_lookup_family: V5}");
  ExpectError(family, kDfpClusterCache + ".dns_lookup_family", "V5",
              "unknown value \"V5\" (expected V4_ONLY, V6_ONLY, V4_PREFERRED, AUTO or ALL)");
  ExpectError(Insert("          stat_prefix: ingress\n", "          codec_type: SPDY\n"),
              kHcm + ".codec_type", "SPDY",
              "unknown value \"SPDY\" (expected AUTO or HTTP1)");
}

TEST_CASE("An unknown field is an error, never ignored") {
  ExpectError(Insert("    type: STRICT_DNS\n", "    conect_timeout: 1s\n"),
              kLookupCluster + ".conect_timeout", "conect_timeout", "unknown field");
  ExpectError(std::string(kBaseConfig) + "stats: {}\n", "stats", "stats: {}",
              "unknown field");
  ExpectError(Insert("                    lookup_cluster: lookup\n",
                     "                    ttl: 5s\n"),
              kAffinity + ".ttl", "ttl: 5s", "unknown field");
  ExpectError(Edit(kBaseConfig, "port_value: 10000}", "port_value: 10000, portt: 1}"),
              "static_resources.listeners[0].address.socket_address.portt", "portt",
              "unknown field");
}

TEST_CASE("A value of the wrong type names what was expected") {
  ExpectError(Edit(kBaseConfig, "port_value: 8081}", "port_value: abc}"),
              kLookupCluster +
                  ".load_assignment.endpoints[0].lb_endpoints[0].endpoint.address"
                  ".socket_address.port_value",
              "port_value: abc", "expected a non-negative integer, got \"abc\"");
  ExpectError(Edit(kBaseConfig, "domains: [\"*\"]", "domains: \"*\""),
              kVhost + ".domains", "domains:", "expected a list, got \"*\"");
  ExpectError(Insert("    type: STRICT_DNS\n", "    respect_dns_ttl: yes\n"),
              kLookupCluster + ".respect_dns_ttl", "respect_dns_ttl",
              "expected a boolean (true or false), got \"yes\"");
  ExpectError(Edit(kBaseConfig, "stat_prefix: ingress", "stat_prefix: {a: b}"),
              kHcm + ".stat_prefix", "stat_prefix", "expected a string, got a mapping");
  ExpectError(Edit(kBaseConfig, "route: {cluster: lookup}", "route: [lookup]"),
              kRoutes + "[1].route", "route: [lookup]", "expected a mapping, got a list");
  ExpectError(Edit(kBaseConfig, "domains: [\"*\"]", "domains: {any: true}"),
              kVhost + ".domains", "domains:", "expected a list, got a mapping");
  ExpectError(Edit(kBaseConfig, "port_value: 8081}", "port_value: 70000}"),
              kLookupCluster +
                  ".load_assignment.endpoints[0].lb_endpoints[0].endpoint.address"
                  ".socket_address.port_value",
              "port_value: 70000", "must be between 1 and 65535, got 70000");
  ExpectError(std::string("static_resources: [clusters]\n"), "static_resources",
              "static_resources", "expected a mapping, got a list");
}

TEST_CASE("A missing required field is named at its mapping's line") {
  ExpectError(Edit(kBaseConfig, "          stat_prefix: ingress\n", ""),
              kHcm + ".stat_prefix", "\"@type\": type.googleapis.com/envoy.extensions.filters.network",
              "missing required field");
  ExpectError(Edit(kBaseConfig, "          stat_prefix: ingress\n", "          stat_prefix:\n"),
              kHcm + ".stat_prefix", "stat_prefix:", "missing required field");
  ExpectError(Edit(kBaseConfig, "  - name: lookup\n    type: STRICT_DNS\n",
                   "  - type: STRICT_DNS\n"),
              kLookupCluster + ".name", "- type: STRICT_DNS", "missing required field");
  ExpectError(Edit(kBaseConfig, "route: {cluster: lookup}", "route: {timeout: 1s}"),
              kRoutes + "[1].route.cluster", "route: {timeout: 1s}",
              "missing required field");
  ExpectError(Edit(kBaseConfig, "                    lookup_cluster: lookup\n", ""),
              kAffinity + ".lookup_cluster", "homing.filters.http.affinity:",
              "missing required field");
  ExpectError(Edit(kBaseConfig, "    load_assignment:\n      endpoints:\n", "    x:\n      endpoints:\n"),
              kLookupCluster + ".load_assignment", "- name: lookup", "missing required field");
}

TEST_CASE("A dangling cluster reference is an error") {
  ExpectError(Edit(kBaseConfig, "route: {cluster: lookup}", "route: {cluster: nope}"),
              kRoutes + "[1].route.cluster", "cluster: nope", "unknown cluster \"nope\"");
  ExpectError(Edit(kBaseConfig, "lookup_cluster: lookup", "lookup_cluster: nope"),
              kAffinity + ".lookup_cluster", "lookup_cluster: nope",
              "unknown cluster \"nope\"");
}

TEST_CASE("Envoy features homing does not support are rejected, not ignored") {
  ExpectError(Edit(kBaseConfig, "    type: STRICT_DNS", "    type: LOGICAL_DNS"),
              kLookupCluster + ".type", "LOGICAL_DNS",
              "LOGICAL_DNS clusters are not supported by homing (use STATIC, STRICT_DNS "
              "or cluster_type envoy.clusters.dynamic_forward_proxy)");
  ExpectError(Insert("    type: STRICT_DNS\n",
                     "    transport_socket: {name: envoy.transport_sockets.tls}\n"),
              kLookupCluster + ".transport_socket", "transport_socket:",
              "not supported by homing");
  ExpectError(std::string(kBaseConfig) + "node: {id: proxy}\n", "node", "node:",
              "not supported by homing");
  ExpectError(Insert("          stat_prefix: ingress\n", "          rds: {route_config_name: r}\n"),
              kHcm + ".rds", "rds:", "not supported by homing");
  ExpectError(Insert("          stat_prefix: ingress\n", "          codec_type: HTTP2\n"),
              kHcm + ".codec_type", "HTTP2",
              "HTTP2 is not supported by homing (HTTP/1.1 only: AUTO or HTTP1)");
  ExpectError(Edit(kBaseConfig, "route: {cluster: lookup}", "redirect: {path_redirect: /}"),
              kRoutes + "[1].redirect", "redirect: {", "not supported by homing");
  ExpectError(Edit(kBaseConfig, "route: {cluster: lookup}",
                   "route: {cluster: lookup, hash_policy: [{cookie: {name: c}}]}"),
              kRoutes + "[1].route.hash_policy[0].cookie", "cookie",
              "not supported by homing");
  ExpectError(Edit(kBaseConfig, "route: {cluster: lookup}",
                   "route: {cluster: lookup, retry_policy: {retry_on: \"5xx,refused-stream\"}}"),
              kRoutes + "[1].route.retry_policy.retry_on", "retry_on",
              "retry condition \"refused-stream\" is not supported (supported: 5xx, "
              "gateway-error, connect-failure, reset, retriable-4xx)");
  ExpectError(Edit(kBaseConfig, "      - name: envoy.filters.network.http_connection_manager",
                   "      - name: envoy.filters.network.tcp_proxy"),
              "static_resources.listeners[0].filter_chains[0].filters[0].name", "tcp_proxy",
              "network filter \"envoy.filters.network.tcp_proxy\" is not supported by homing "
              "(only envoy.filters.network.http_connection_manager)");
  ExpectError(Edit(kBaseConfig, "    filter_chains:\n    - filters:\n",
                   "    filter_chains:\n    - filters: []\n    - filters:\n"),
              "static_resources.listeners[0].filter_chains[1]", "    - filters:\n",
              "homing supports one filter chain per listener");
  ExpectError(Edit(kBaseConfig, "name: envoy.clusters.dynamic_forward_proxy",
                   "name: envoy.clusters.aggregate"),
              kDfpCluster + ".cluster_type.name", "envoy.clusters.aggregate",
              "cluster type \"envoy.clusters.aggregate\" is not supported by homing (only "
              "envoy.clusters.dynamic_forward_proxy)");
  ExpectError(Insert("    type: STRICT_DNS\n",
                     "    circuit_breakers: {thresholds: [{priority: HIGH}]}\n"),
              kLookupCluster + ".circuit_breakers.thresholds[0].priority", "HIGH",
              "priority HIGH is not supported by homing (only DEFAULT)");
  ExpectError(Edit(kBaseConfig, "          - name: envoy.filters.http.router",
                   "          - name: envoy.filters.http.cors"),
              kFilters + "[2].name", "cors",
              "http filter \"envoy.filters.http.cors\" is not supported by homing "
              "(supported: homing.filters.http.affinity, "
              "envoy.filters.http.dynamic_forward_proxy, envoy.filters.http.buffer, "
              "envoy.filters.http.router)");
  ExpectError(Edit(kBaseConfig, "                  homing.filters.http.affinity:",
                   "                  envoy.filters.http.cors:"),
              kRoutes + "[0].typed_per_filter_config[\"envoy.filters.http.cors\"]",
              "envoy.filters.http.cors:",
              "per-route config for \"envoy.filters.http.cors\" is not supported by homing "
              "(only homing.filters.http.affinity)");
}

TEST_CASE("The Lua filter is rejected with a pointer at the affinity filter") {
  ExpectError(Edit(kBaseConfig, "          - name: homing.filters.http.affinity",
                   "          - name: envoy.filters.http.lua"),
              kFilters + "[0].name", "envoy.filters.http.lua", kLuaMessage);
  ExpectError(Edit(kBaseConfig, "                  homing.filters.http.affinity:",
                   "                  envoy.filters.http.lua:"),
              kRoutes + "[0].typed_per_filter_config[\"envoy.filters.http.lua\"]",
              "envoy.filters.http.lua:", kLuaMessage);

  // The seed itself, with its Lua filter put back.
  std::ifstream file(HOMING_SEED_CONFIG);
  std::stringstream seed;
  seed << file.rdbuf();
  std::string with_lua = Edit(seed.str(), "                  - name: homing.filters.http.affinity",
                              "                  - name: envoy.filters.http.lua");
  ExpectError(with_lua, kFilters + "[0].name", "- name: envoy.filters.http.lua", kLuaMessage);
}

TEST_CASE("A wrong or missing @type is an error") {
  ExpectError(Edit(kBaseConfig, "http_connection_manager.v3.HttpConnectionManager",
                   "http_connection_manager.v2.HttpConnectionManager"),
              kHcm + ".@type", "v2.HttpConnectionManager",
              "expected \"type.googleapis.com/envoy.extensions.filters.network."
              "http_connection_manager.v3.HttpConnectionManager\", got "
              "\"type.googleapis.com/envoy.extensions.filters.network."
              "http_connection_manager.v2.HttpConnectionManager\"");
  ExpectError(Edit(kBaseConfig,
                   "              \"@type\": type.googleapis.com/envoy.extensions.filters."
                   "http.dynamic_forward_proxy.v3.FilterConfig\n",
                   ""),
              kFilters + "[1].typed_config.@type",
              "dns_cache_config: {name: cache, dns_lookup_family: V4_ONLY}\n          - name",
              "missing required field");
  ExpectError(Insert("          - name: envoy.filters.http.router\n",
                     "            typed_config: {\"@type\": type.googleapis.com/Router}\n"),
              kFilters + "[2].typed_config.@type", "type.googleapis.com/Router",
              "expected \"type.googleapis.com/envoy.extensions.filters.http.router.v3.Router\", "
              "got \"type.googleapis.com/Router\"");
}

TEST_CASE("Bad durations are errors with the reason") {
  ExpectError(Insert("    type: STRICT_DNS\n", "    connect_timeout: 5\n"),
              kLookupCluster + ".connect_timeout", "connect_timeout",
              "invalid duration \"5\": missing unit (use ns, us, ms, s, m or h)");
  ExpectError(Edit(kBaseConfig, "route: {cluster: lookup}", "route: {cluster: lookup, timeout: -1s}"),
              kRoutes + "[1].route.timeout", "timeout: -1s",
              "invalid duration \"-1s\": must not be negative");
  ExpectError(Insert("    type: STRICT_DNS\n", "    connect_timeout: 0s\n"),
              kLookupCluster + ".connect_timeout", "connect_timeout", "must be greater than 0");
  std::string min_refresh = Edit(
      kBaseConfig, "ClusterConfig\n        dns_cache_config: {name: cache,",
      "ClusterConfig\n        dns_cache_config: {dns_min_refresh_rate: 500ms, name: cache,");
  ExpectError(min_refresh, kDfpClusterCache + ".dns_min_refresh_rate", "500ms",
              "must be at least 1s");
  ExpectError(Insert("    type: STRICT_DNS\n", "    dns_refresh_rate: [5s]\n"),
              kLookupCluster + ".dns_refresh_rate", "dns_refresh_rate",
              "expected a duration such as \"5s\", got a list");
}

TEST_CASE("Regexes are compiled and their errors reported at their line") {
  ExpectError(Edit(kBaseConfig, "match: {prefix: /}", "match: {safe_regex: {regex: \"/(a\"}}"),
              kRoutes + "[1].match.safe_regex.regex", "/(a",
              "invalid regex: missing ): /(a");
  ExpectError(Edit(kBaseConfig, "match: {prefix: /}",
                   "match: {prefix: /, headers: [{name: x, safe_regex_match: {regex: \"[z-a]\"}}]}"),
              kRoutes + "[1].match.headers[0].safe_regex_match.regex", "[z-a]",
              "invalid regex: invalid character class range: z-a");
}

TEST_CASE("Allow-list patterns are syntax-checked") {
  auto with_patterns = [](std::string_view patterns) {
    return Edit(kBaseConfig, "allowed_hostports: [\"*.example.com:8081\"]",
                std::string("allowed_hostports: ") + std::string(patterns));
  };
  std::string suffix = kAffinity + ".allowed_hostports";
  ExpectError(with_patterns("[\"*.example.com\"]"), suffix + "[0]", "allowed_hostports",
              "invalid hostport \"example.com\": missing port (patterns are host:port "
              "or *.suffix:port)");
  ExpectError(with_patterns("[\"a.example.com:8081\", \"*:8081\"]"), suffix + "[1]",
              "allowed_hostports",
              "invalid hostport \"*:8081\": host is not a valid DNS name or IP address "
              "(patterns are host:port or *.suffix:port)");
  ExpectError(with_patterns("[\"server:99999\"]"), suffix + "[0]", "allowed_hostports",
              "invalid hostport \"server:99999\": port must be 1-65535 (patterns are "
              "host:port or *.suffix:port)");
  ExpectError(with_patterns("[\"*.10.0.0.1:80\"]"), suffix + "[0]", "allowed_hostports",
              "invalid pattern \"*.10.0.0.1:80\": '*.' must be followed by a DNS name");
  ExpectError(with_patterns("[]"), suffix, "allowed_hostports",
              "must list at least one pattern (an empty list allows nothing)");
  ExpectError(Insert("                    lookup_cluster: lookup\n",
                     "                    default_target: server-0\n"),
              kAffinity + ".default_target", "default_target",
              "invalid hostport \"server-0\": missing port");
}

TEST_CASE("The DFP filter and the DFP cluster must share one identical cache") {
  std::string different = Edit(kBaseConfig, kFilterCacheLine,
                               "FilterConfig\n              dns_cache_config: {name: cache, "
                               "dns_lookup_family: AUTO}");
  CHECK(ErrorOf(different) ==
        At(kFilters + "[1].typed_config.dns_cache_config", different, "AUTO",
           "DNS cache \"cache\" is configured differently at " + kDfpClusterCache +
               " (line " + std::to_string(LineOf(different, "ClusterConfig") + 1) +
               "); every use of one cache name must have identical settings"));

  std::string other_cache = Edit(kBaseConfig, kFilterCacheLine,
                                 "FilterConfig\n              dns_cache_config: {name: other, "
                                 "dns_lookup_family: V4_ONLY}");
  ExpectError(other_cache, kRoutes + "[0].route.cluster", "cluster: dfp",
              "cluster \"dfp\" uses DNS cache \"cache\" but "
              "envoy.filters.http.dynamic_forward_proxy uses \"other\"; they must share "
              "one cache");

  std::string no_filter = Edit(
      kBaseConfig,
      "          - name: envoy.filters.http.dynamic_forward_proxy\n            typed_config:\n"
      "              \"@type\": type.googleapis.com/envoy.extensions.filters.http."
      "dynamic_forward_proxy.v3.FilterConfig\n"
      "              dns_cache_config: {name: cache, dns_lookup_family: V4_ONLY}\n",
      "");
  ExpectError(no_filter, kRoutes + "[0].route.cluster", "cluster: dfp",
              "\"dfp\" is a dynamic forward proxy cluster, which needs "
              "envoy.filters.http.dynamic_forward_proxy in http_filters");
}

TEST_CASE("Affinity routes are checked against clusters and filters") {
  std::string to_lookup = Edit(kBaseConfig, "route: {cluster: dfp}", "route: {cluster: lookup}");
  CHECK(ErrorOf(to_lookup) ==
        At(kRoutes + "[0].route.cluster", kBaseConfig, "route: {cluster: dfp}",
           "a route with homing.filters.http.affinity config must target a dynamic "
           "forward proxy cluster; \"lookup\" is a STRICT_DNS cluster"));
  ExpectError(Edit(kBaseConfig, "lookup_cluster: lookup", "lookup_cluster: dfp"),
              kAffinity + ".lookup_cluster", "lookup_cluster: dfp",
              "\"dfp\" is a dynamic forward proxy cluster; the lookup needs a STATIC or "
              "STRICT_DNS cluster");
  ExpectError(Edit(kBaseConfig, "          - name: homing.filters.http.affinity\n", ""),
              kAffinity, "homing.filters.http.affinity:",
              "homing.filters.http.affinity must be listed in http_filters for its "
              "per-route config to apply");
  ExpectError(Insert("                    lookup_cluster: lookup\n",
                     "                    max_age: 1m\n                    stale_age: 30s\n"),
              kAffinity + ".stale_age", "stale_age", "must not be less than max_age (1m)");
  ExpectError(Insert("                    lookup_cluster: lookup\n",
                     "                    max_age: 0s\n                    stale_age: 30s\n"),
              kAffinity + ".stale_age", "stale_age",
              "must be 0 when max_age is 0 (caching off)");
  ExpectError(Insert("                    lookup_cluster: lookup\n",
                     "                    lookup_path: where\n"),
              kAffinity + ".lookup_path", "lookup_path",
              "must start with '/' and contain no '?' or '#'");
  ExpectError(Insert("                    lookup_cluster: lookup\n",
                     "                    key: {header: x-id, query_parameter: id}\n"),
              kAffinity + ".key.query_parameter", "key:", "cannot be combined with header");
  ExpectError(Insert("                    lookup_cluster: lookup\n",
                     "                    key: {}\n"),
              kAffinity + ".key", "key:", "one of query_parameter or header is required");
}

TEST_CASE("http_filters order: affinity before DFP, router last") {
  ExpectError(Edit(kBaseConfig, "          - name: homing.filters.http.affinity\n",
                   "          - name: envoy.filters.http.router\n"
                   "          - name: homing.filters.http.affinity\n"),
              kFilters + "[0]", "- name: envoy.filters.http.router\n          - name: homing",
              "envoy.filters.http.router must be the last http filter");
  ExpectError(Edit(kBaseConfig, "          - name: envoy.filters.http.router\n", ""),
              kFilters, "          - name: homing.filters.http.affinity",
              "must end with envoy.filters.http.router");
  std::string moved = Edit(Edit(kBaseConfig, "          - name: homing.filters.http.affinity\n", ""),
                           "          - name: envoy.filters.http.router\n",
                           "          - name: homing.filters.http.affinity\n"
                           "          - name: envoy.filters.http.router\n");
  ExpectError(moved, kFilters + "[1]", "- name: homing.filters.http.affinity",
              "homing.filters.http.affinity must come before "
              "envoy.filters.http.dynamic_forward_proxy (it chooses the host the DNS "
              "cache resolves)");
  ExpectError(Insert("          - name: homing.filters.http.affinity\n",
                     "          - name: homing.filters.http.affinity\n"),
              kFilters + "[1]", "- name: homing.filters.http.affinity\n          - name: envoy",
              "http filter \"homing.filters.http.affinity\" is listed twice");
  ExpectError(Insert("          - name: homing.filters.http.affinity\n",
                     "          - name: envoy.filters.http.buffer\n"),
              kFilters + "[1].typed_config", "- name: envoy.filters.http.buffer",
              "missing required field");
}

TEST_CASE("Cluster rules: types, policies, endpoints and balancer settings") {
  ExpectError(Edit(kBaseConfig, "    lb_policy: CLUSTER_PROVIDED\n", ""), kDfpCluster + ".lb_policy",
              "- name: dfp", "dynamic forward proxy clusters require lb_policy: CLUSTER_PROVIDED");
  ExpectError(Insert("    type: STRICT_DNS\n", "    lb_policy: CLUSTER_PROVIDED\n"),
              kLookupCluster + ".lb_policy", "lb_policy: CLUSTER_PROVIDED\n    load",
              "CLUSTER_PROVIDED is only valid for dynamic forward proxy clusters");
  ExpectError(Edit(kBaseConfig, "    type: STRICT_DNS", "    type: STATIC"),
              kLookupCluster +
                  ".load_assignment.endpoints[0].lb_endpoints[0].endpoint.address"
                  ".socket_address.address",
              "address: server",
              "expected an IP address, got \"server\" (STATIC clusters take IP addresses; "
              "use type: STRICT_DNS for DNS names)");
  ExpectError(Edit(kBaseConfig, "{address: server,", "{address: \"-bad-\","),
              kLookupCluster +
                  ".load_assignment.endpoints[0].lb_endpoints[0].endpoint.address"
                  ".socket_address.address",
              "-bad-", "expected an IP address or a DNS name, got \"-bad-\"");
  ExpectError(Insert("  - name: dfp\n", "    type: STATIC\n"), kDfpCluster + ".cluster_type",
              "name: envoy.clusters.dynamic_forward_proxy",
              "cannot be combined with type (set one or the other)");
  ExpectError(Insert("  - name: dfp\n", "    load_assignment: {endpoints: []}\n"),
              kDfpCluster + ".load_assignment", "load_assignment: {endpoints: []}",
              "not allowed on a dynamic forward proxy cluster (its hosts come from the DNS "
              "cache)");
  ExpectError(Insert("  - name: dfp\n", "    dns_lookup_family: V4_ONLY\n"),
              kDfpCluster + ".dns_lookup_family", "dns_lookup_family: V4_ONLY\n    lb",
              "applies only to STRICT_DNS clusters");
  ExpectError(Edit(kBaseConfig, "      - lb_endpoints:\n", "      - bogus: 1\n        lb_endpoints:\n"),
              kLookupCluster + ".load_assignment.endpoints[0].bogus", "bogus", "unknown field");
  ExpectError(Edit(kBaseConfig,
                   "      endpoints:\n      - lb_endpoints:\n        - endpoint:\n            "
                   "address:\n              socket_address: {address: server, port_value: 8081}\n",
                   "      endpoints: []\n"),
              kLookupCluster + ".load_assignment", "endpoints: []",
              "needs at least one endpoint");
  ExpectError(Insert("    type: STRICT_DNS\n",
                     "    lb_policy: MAGLEV\n    maglev_lb_config: {table_size: 100}\n"),
              kLookupCluster + ".maglev_lb_config.table_size", "table_size",
              "must be a prime number, got 100");
  ExpectError(Insert("    type: STRICT_DNS\n", "    ring_hash_lb_config: {minimum_ring_size: 8}\n"),
              kLookupCluster + ".ring_hash_lb_config", "ring_hash_lb_config",
              "applies only to lb_policy RING_HASH");
  ExpectError(Insert("    type: STRICT_DNS\n",
                     "    lb_policy: RING_HASH\n"
                     "    ring_hash_lb_config: {minimum_ring_size: 8, maximum_ring_size: 4}\n"),
              kLookupCluster + ".ring_hash_lb_config.minimum_ring_size", "minimum_ring_size",
              "must not exceed maximum_ring_size");
  ExpectError(Insert("    type: STRICT_DNS\n",
                     "    outlier_detection: {base_ejection_time: 1m, max_ejection_time: 10s}\n"),
              kLookupCluster + ".outlier_detection.max_ejection_time", "outlier_detection",
              "must not be less than base_ejection_time");
  std::string duplicate = Edit(kBaseConfig, "  - name: dfp\n", "  - name: lookup\n");
  ExpectError(duplicate, kDfpCluster + ".name", "name: lookup\n    lb_policy",
              "duplicate cluster name \"lookup\"");
  ExpectError(Insert("    type: STRICT_DNS\n", "    type: STATIC\n"), kLookupCluster + ".type",
              "type: STATIC", "duplicate field");
}

TEST_CASE("DNS cache and resolver rules") {
  auto cluster_cache = [](std::string_view fields) {
    return Edit(kBaseConfig, "ClusterConfig\n        dns_cache_config: {name: cache,",
                "ClusterConfig\n        dns_cache_config: {" + std::string(fields) +
                    ", name: cache,");
  };
  ExpectError(cluster_cache("dns_failure_refresh_rate: {base_interval: 5s, max_interval: 1s}"),
              kDfpClusterCache + ".dns_failure_refresh_rate.max_interval", "max_interval",
              "must not be less than base_interval");
  ExpectError(cluster_cache("dns_failure_refresh_rate: {base_interval: 1ms}"),
              kDfpClusterCache + ".dns_failure_refresh_rate.base_interval", "base_interval",
              "must be greater than 1ms");
  ExpectError(cluster_cache("host_ttl: 0s"), kDfpClusterCache + ".host_ttl", "host_ttl",
              "must be greater than 0");
  ExpectError(cluster_cache("dns_failure_refresh_rate: {max_interval: 1s}"),
              kDfpClusterCache + ".dns_failure_refresh_rate.base_interval", "max_interval",
              "missing required field");
  ExpectError(cluster_cache("max_hosts: 1, preresolve_hostnames: [{address: a, port_value: 1}, "
                            "{address: b, port_value: 1}]"),
              kDfpClusterCache + ".preresolve_hostnames", "preresolve_hostnames",
              "has 2 entries, more than max_hosts (1)");
  ExpectError(cluster_cache("disable_dns_refresh_on_failure: true"),
              kDfpClusterCache + ".disable_dns_refresh_on_failure",
              "disable_dns_refresh_on_failure", "not supported by homing");

  std::string resolver_head =
      "typed_dns_resolver_config:\n  name: envoy.network.dns_resolver.cares\n  typed_config:\n"
      "    \"@type\": type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3."
      "CaresDnsResolverConfig\n";
  std::string by_name = resolver_head + "    resolvers: [{socket_address: {address: dns.local}}]\n" +
                        std::string(kBaseConfig);
  ExpectError(by_name, "typed_dns_resolver_config.typed_config.resolvers[0].socket_address.address",
              "dns.local", "expected an IP address, got \"dns.local\"");
  std::string apple = Edit(resolver_head + std::string(kBaseConfig), "dns_resolver.cares\n",
                           "dns_resolver.apple\n");
  ExpectError(apple, "typed_dns_resolver_config.name", "dns_resolver.apple",
              "DNS resolver \"envoy.network.dns_resolver.apple\" is not supported by homing "
              "(only envoy.network.dns_resolver.cares)");
}

TEST_CASE("Route and virtual host rules") {
  ExpectError(Edit(kBaseConfig, "match: {prefix: /}", "match: {prefix: /, path: /x}"),
              kRoutes + "[1].match.path", "path: /x", "cannot be combined with prefix");
  ExpectError(Edit(kBaseConfig, "match: {prefix: /}", "match: {case_sensitive: false}"),
              kRoutes + "[1].match", "case_sensitive",
              "one of prefix, path, safe_regex or path_separated_prefix is required");
  ExpectError(Edit(kBaseConfig, "match: {prefix: /}", "match: {path_separated_prefix: /api/}"),
              kRoutes + "[1].match.path_separated_prefix", "/api/",
              "must be non-empty, contain no '?' or '#', and not end with '/'");
  ExpectError(Edit(kBaseConfig, "domains: [\"*\"]", "domains: [\"*\", \"*\"]"),
              kVhost + ".domains[1]", "domains:",
              "domain \"*\" is already used by virtual host \"all\"");
  ExpectError(Edit(kBaseConfig, "domains: [\"*\"]", "domains: [\"a*b\"]"),
              kVhost + ".domains[0]", "domains:",
              "invalid domain \"a*b\": a wildcard may only start or end a domain "
              "(\"*.example.com\", \"example.*\")");
  ExpectError(Edit(kBaseConfig, "domains: [\"*\"]", "domains: []"), kVhost + ".domains",
              "domains:", "must list at least one domain");
  std::string second_host = Edit(kBaseConfig, "          http_filters:\n",
                                 "            - {name: all, domains: [a.example]}\n"
                                 "          http_filters:\n");
  ExpectError(second_host, kHcm + ".route_config.virtual_hosts[1].name", "{name: all,",
              "duplicate virtual host name \"all\"");
  ExpectError(Edit(kBaseConfig, "match: {prefix: /}",
                   "match: {prefix: /, headers: [{name: \"bad header\"}]}"),
              kRoutes + "[1].match.headers[0].name", "bad header",
              "invalid header name \"bad header\"");
  ExpectError(Edit(kBaseConfig, "match: {prefix: /}",
                   "match: {prefix: /, headers: [{name: x, range_match: {start: 1, end: 2}}]}"),
              kRoutes + "[1].match.headers[0].range_match", "range_match",
              "not supported by homing");
  ExpectError(Edit(kBaseConfig, "match: {prefix: /}",
                   "match: {prefix: /, query_parameters: [{name: q, present_match: false}]}"),
              kRoutes + "[1].match.query_parameters[0].present_match", "present_match",
              "must be true (Envoy has no absence matcher for query parameters)");
  ExpectError(Edit(kBaseConfig, "match: {prefix: /}",
                   "match: {prefix: /, headers: [{name: x, string_match: {prefix: \"\"}}]}"),
              kRoutes + "[1].match.headers[0].string_match.prefix", "string_match",
              "must not be empty");
}

TEST_CASE("upgrade_configs rules, on the connection manager and on routes") {
  auto hcm = [](std::string_view list) {
    return Insert("          stat_prefix: ingress\n",
                  "          upgrade_configs: " + std::string(list) + "\n");
  };
  auto route = [](std::string_view list) {
    return Edit(kBaseConfig, "route: {cluster: lookup}",
                "route: {cluster: lookup, upgrade_configs: " + std::string(list) + "}");
  };
  ExpectError(hcm("[{upgrade_type: h2c}]"), kHcm + ".upgrade_configs[0].upgrade_type",
              "h2c",
              "upgrade_type \"h2c\" is not supported by homing (it speaks HTTP/1.1 only; "
              "a request asking for h2c is served as HTTP/1.1)");
  ExpectError(route("[{upgrade_type: H2C}]"),
              kRoutes + "[1].route.upgrade_configs[0].upgrade_type", "H2C",
              "upgrade_type \"H2C\" is not supported by homing (it speaks HTTP/1.1 only; "
              "a request asking for h2c is served as HTTP/1.1)");
  ExpectError(hcm("[{upgrade_type: CONNECT}]"), kHcm + ".upgrade_configs[0].upgrade_type",
              "CONNECT",
              "upgrade_type \"CONNECT\" is not supported by homing (CONNECT requests are "
              "answered 405)");
  ExpectError(hcm("[{upgrade_type: \"web socket\"}]"),
              kHcm + ".upgrade_configs[0].upgrade_type", "web socket",
              "invalid upgrade_type \"web socket\": expected a protocol token such as "
              "\"websocket\"");
  ExpectError(hcm("[{upgrade_type: websocket}, {upgrade_type: WebSocket}]"),
              kHcm + ".upgrade_configs[1].upgrade_type", "upgrade_configs:",
              "upgrade_type \"WebSocket\" is listed twice (types compare "
              "case-insensitively)");
  ExpectError(route("[{enabled: false}]"),
              kRoutes + "[1].route.upgrade_configs[0].upgrade_type", "upgrade_configs:",
              "missing required field");
  ExpectError(hcm("[{upgrade_type: websocket, enabled: no}]"),
              kHcm + ".upgrade_configs[0].enabled", "upgrade_configs:",
              "expected a boolean (true or false), got \"no\"");
  ExpectError(hcm("{upgrade_type: websocket}"), kHcm + ".upgrade_configs",
              "upgrade_configs:", "expected a list, got a mapping");
  ExpectError(hcm("[{upgrade_type: websocket, timeout: 1s}]"),
              kHcm + ".upgrade_configs[0].timeout", "upgrade_configs:", "unknown field");
  ExpectError(hcm("[{upgrade_type: websocket, filters: []}]"),
              kHcm + ".upgrade_configs[0].filters", "upgrade_configs:",
              "not supported by homing");
  ExpectError(route("[{upgrade_type: CONNECT-UDP, connect_config: {}}]"),
              kRoutes + "[1].route.upgrade_configs[0].connect_config", "connect_config",
              "not supported by homing");
}

TEST_CASE("Listener and admin rules") {
  ExpectError(Edit(kBaseConfig, "{address: 127.0.0.1, port_value: 10000}",
                   "{address: localhost, port_value: 10000}"),
              "static_resources.listeners[0].address.socket_address.address", "localhost",
              "expected an IP address, got \"localhost\"");
  ExpectError("admin: {address: {socket_address: {address: 127.0.0.1}}}\n",
              "admin.address.socket_address.port_value", "admin:",
              "missing required field");
  ExpectError("admin: {address: {pipe: {path: /tmp/admin}}}\n", "admin.address.pipe", "admin:",
              "not supported by homing");

  std::string listener =
      "  - name: NAME\n"
      "    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}\n"
      "    filter_chains:\n"
      "    - filters:\n"
      "      - name: envoy.filters.network.http_connection_manager\n"
      "        typed_config:\n"
      "          \"@type\": type.googleapis.com/envoy.extensions.filters.network."
      "http_connection_manager.v3.HttpConnectionManager\n"
      "          stat_prefix: in\n"
      "          route_config: {virtual_hosts: []}\n"
      "          http_filters: [{name: envoy.filters.http.router}]\n";
  auto named = [&](std::string_view name) {
    return Edit(listener, "NAME", name);
  };
  std::string two = "static_resources:\n  listeners:\n" + named("one") + named("two");
  CHECK(ErrorOf(two) ==
        "static_resources.listeners[1].address (line 14): address 127.0.0.1:10000 is "
        "already used by listener \"one\"");
  std::string same_name = "static_resources:\n  listeners:\n" + named("one") +
                          Edit(named("one"), "port_value: 10000", "port_value: 10001");
  CHECK(ErrorOf(same_name) ==
        "static_resources.listeners[1].name (line 13): duplicate listener name \"one\"");
  CHECK(ParseConfig("static_resources:\n  listeners:\n" + named("one") +
                    Edit(named("two"), "port_value: 10000", "port_value: 10001"))
            .ok());
}

TEST_CASE("YAML syntax errors name the source, line and column") {
  absl::StatusOr<Bootstrap> config =
      ParseConfig("static_resources:\n  clusters: [\n", "seed.yaml");
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(config.status().message()) ==
        "seed.yaml:3:1: end of sequence flow not found");

  config = ParseConfig("admin:\n  address: {}\n bad: 1\n", "a.yaml");
  REQUIRE_FALSE(config.ok());
  CHECK(std::string(config.status().message()) == "a.yaml:3:2: end of map not found");
}

TEST_CASE("Nested aliases are not expanded into work: a billion laughs fails at once") {
  // Nine levels of ten aliases each name 10^9 scalars; yaml-cpp shares the
  // aliased nodes, and the loader stops at the first element of the wrong
  // type instead of walking them all.
  std::string config = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level <= 8; ++level) {
    const std::string alias = absl::StrCat("*a", level - 1);
    config += absl::StrCat("a", level, ": &a", level, " [");
    for (int i = 0; i < 10; ++i) config += absl::StrCat(i == 0 ? "" : ", ", alias);
    config += "]\n";
  }
  config += "static_resources: {clusters: *a8}\n";
  CHECK(ErrorOf(config) ==
        "static_resources.clusters[0] (line 8): expected a mapping, got a list");  // where a7 is
}

TEST_CASE("A config is exactly one YAML mapping") {
  CHECK(ErrorOf("") == "bootstrap (line 1): expected a mapping, got null");
  CHECK(ErrorOf("- a\n- b\n") == "bootstrap (line 1): expected a mapping, got a list");
  CHECK(ErrorOf("admin: {address: {socket_address: {address: 127.0.0.1, port_value: 1}}}\n"
                "---\nstatic_resources: {}\n") ==
        "bootstrap (line 3): a config is one YAML document; this is a second");
  // yaml-cpp 0.7 reads a stray ',' after a document as endless empty
  // documents; the loader stops at the second (a fuzzer found the hang).
  CHECK(ErrorOf("{},") == "bootstrap (line 1): a config is one YAML document; this is a second");
  CHECK(ErrorOf("admin: {}\n---\n,") ==
        "bootstrap (line 3): a config is one YAML document; this is a second");
  CHECK(ErrorOf("\"admin\",") ==
        "bootstrap (line 1): a config is one YAML document; this is a second");
}

}  // namespace
}  // namespace homing
