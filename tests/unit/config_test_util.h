// File: tests/unit/config_test_util.h
//
// Helpers shared by the config loader's tests: a small valid configuration
// that exercises every cross-reference (affinity route → DFP cluster, lookup
// cluster, DFP filter ↔ DFP cluster cache), and text edits on it whose
// expected error lines are found in the edited text rather than hard-coded.

#ifndef HOMING_TESTS_UNIT_CONFIG_TEST_UTIL_H_
#define HOMING_TESTS_UNIT_CONFIG_TEST_UTIL_H_

#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "homing/config.h"

namespace homing::testing {

inline constexpr std::string_view kBaseConfig = R"(static_resources:
  listeners:
  - name: main
    address:
      socket_address: {address: 127.0.0.1, port_value: 10000}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: /join}
                route: {cluster: dfp}
                typed_per_filter_config:
                  homing.filters.http.affinity:
                    lookup_cluster: lookup
                    allowed_hostports: ["*.example.com:8081"]
              - match: {prefix: /}
                route: {cluster: lookup}
          http_filters:
          - name: homing.filters.http.affinity
          - name: envoy.filters.http.dynamic_forward_proxy
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig
              dns_cache_config: {name: cache, dns_lookup_family: V4_ONLY}
          - name: envoy.filters.http.router
  clusters:
  - name: lookup
    type: STRICT_DNS
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {address: server, port_value: 8081}
  - name: dfp
    lb_policy: CLUSTER_PROVIDED
    cluster_type:
      name: envoy.clusters.dynamic_forward_proxy
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig
        dns_cache_config: {name: cache, dns_lookup_family: V4_ONLY}
)";

// Edit()
//
// Replaces the one occurrence of `from` in `text` with `to`.
inline std::string Edit(std::string_view text, std::string_view from,
                        std::string_view to) {
  size_t at = text.find(from);
  REQUIRE_MESSAGE(at != std::string_view::npos, "not in the config: ", std::string(from));
  REQUIRE_MESSAGE(text.find(from, at + 1) == std::string_view::npos,
                  "more than once in the config: ", std::string(from));
  std::string edited(text);
  edited.replace(at, from.size(), to);
  return edited;
}

// LineOf()
//
// The 1-based line of the one occurrence of `needle` in `text`.
inline int LineOf(std::string_view text, std::string_view needle) {
  size_t at = text.find(needle);
  REQUIRE_MESSAGE(at != std::string_view::npos, "not in the config: ", std::string(needle));
  REQUIRE_MESSAGE(text.find(needle, at + 1) == std::string_view::npos,
                  "more than once in the config: ", std::string(needle));
  int line = 1;
  for (size_t i = 0; i < at; ++i) line += text[i] == '\n';
  return line;
}

// ErrorOf()
//
// The message of the error `text` must fail with.
inline std::string ErrorOf(std::string_view text) {
  absl::StatusOr<Bootstrap> config = ParseConfig(text, "test.yaml");
  REQUIRE_MESSAGE(!config.ok(), "the config loaded");
  CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

// At()
//
// "<path> (line <line of marker>): <message>", the loader's error format.
inline std::string At(std::string_view path, std::string_view text,
                      std::string_view marker, std::string_view message) {
  return std::string(path) + " (line " + std::to_string(LineOf(text, marker)) +
         "): " + std::string(message);
}

}  // namespace homing::testing

#endif  // HOMING_TESTS_UNIT_CONFIG_TEST_UTIL_H_
