// File: homing/config.h
//
// Loads the subset of Envoy's v3 bootstrap that homing runs, from YAML or
// JSON (JSON is YAML), into plain structs. The loader is strict: an unknown
// field, a wrong type, a missing required field, a dangling cluster reference
// or an Envoy feature homing does not support is an error that names the path
// and line, never ignored:
//
//   static_resources.clusters[1].lb_policy (line 42): unknown value "FOO"
//
// Durations take Envoy's JSON form ("5s", "0.25s") and also "100ms", "2m".
//
// Example:
//
//   absl::StatusOr<homing::Bootstrap> config =
//       homing::LoadConfigFile("examples/proxy/seed.yaml");
//   if (!config.ok()) { std::cerr << config.status().message() << "\n"; }
//
// Thread safety: pure functions; the result is a value.

#ifndef HOMING_CONFIG_H_
#define HOMING_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "homing/dns_config.h"
#include "homing/route.h"
#include "homing/upstream.h"

namespace homing {

// SocketAddressSpec
//
// Envoy's `socket_address: {address, port_value}`.
struct SocketAddressSpec {
  std::string address;
  uint16_t port = 0;
  bool operator==(const SocketAddressSpec&) const = default;
};

// HttpFilterSpec
//
// One entry of `http_filters`. Supported: envoy.filters.http.router (must be
// last), envoy.filters.http.dynamic_forward_proxy (with its
// `dns_cache_config`), and homing.filters.http.affinity. The Lua filter is
// rejected with a message pointing at the affinity filter.
struct HttpFilterSpec {
  std::string name;
  std::optional<DnsCacheConfig> dns_cache_config;  // dynamic_forward_proxy
  bool operator==(const HttpFilterSpec&) const = default;
};

// HttpConnectionManagerSpec
//
// `envoy.filters.network.http_connection_manager` with its bounds.
struct HttpConnectionManagerSpec {
  std::string stat_prefix;
  RouteConfigSpec route_config;
  std::vector<HttpFilterSpec> http_filters;
  uint32_t max_request_headers_kb = 60;  // → 431 beyond
  Duration request_headers_timeout = std::chrono::seconds(10);  // → 408
  Duration stream_idle_timeout = std::chrono::minutes(5);
  Duration idle_timeout = std::chrono::hours(1);  // keep-alive connection
  uint64_t max_request_bytes = 1024 * 1024;  // request body bound → 413
  bool operator==(const HttpConnectionManagerSpec&) const = default;
};

struct ListenerSpec {
  std::string name;
  SocketAddressSpec address;
  HttpConnectionManagerSpec http_connection_manager;
  bool operator==(const ListenerSpec&) const = default;
};

struct AdminSpec {
  SocketAddressSpec address;  // default 127.0.0.1:9901
  bool operator==(const AdminSpec&) const = default;
};

// Bootstrap
struct Bootstrap {
  std::optional<AdminSpec> admin;
  std::vector<ListenerSpec> listeners;
  std::vector<ClusterSpec> clusters;
  // Bootstrap-level `typed_dns_resolver_config`: the default for clusters
  // and DNS caches that configure none.
  DnsResolverConfig dns_resolver;
  bool operator==(const Bootstrap&) const = default;

  // Bootstrap::FindCluster()
  const ClusterSpec* FindCluster(std::string_view name) const;
};

// ParseConfig()
//
// Parses YAML or JSON text. `source_name` prefixes syntax errors.
absl::StatusOr<Bootstrap> ParseConfig(std::string_view text,
                                      std::string_view source_name = "config");

// LoadConfigFile()
//
// Reads and parses a file; NotFound when it cannot be read.
absl::StatusOr<Bootstrap> LoadConfigFile(const std::string& path);

// ParseDuration()
//
// "5s", "0.25s", "100ms", "2m", "1h", "250us": non-negative.
absl::StatusOr<Duration> ParseDuration(std::string_view text);

}  // namespace homing

#endif  // HOMING_CONFIG_H_
