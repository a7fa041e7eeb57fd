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
// The result is complete: defaults are filled in (Envoy's where Envoy has
// them), the bootstrap's `typed_dns_resolver_config` is copied into every
// STRICT_DNS cluster and DNS cache that sets none, and every cross-reference
// (route → cluster, affinity → lookup cluster, DFP filter ↔ DFP cluster cache)
// has been checked, so consumers need no further validation.
// docs/configuration.md is the field-by-field reference.
//
// Durations take Envoy's JSON form ("5s", "0.25s"), the shorter units "100ms",
// "2m", "1h", "250us", and protobuf's `{seconds, nanos}` object.
//
// Example:
//
//   absl::StatusOr<homing::Bootstrap> config =
//       homing::LoadConfigFile("examples/proxy/seed.yaml");
//   if (!config.ok()) { std::cerr << config.status().message() << "\n"; }
//   const homing::ClusterSpec* resolver = config->FindCluster("resolver");
//
// Thread safety: pure functions; the result is a value.

#ifndef HOMING_CONFIG_H_
#define HOMING_CONFIG_H_

#include <chrono>
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
// Envoy's `socket_address: {address, port_value}`. Listener and admin
// addresses are IP literals; port 0 binds an ephemeral port.
struct SocketAddressSpec {
  std::string address;
  uint16_t port = 0;
  bool operator==(const SocketAddressSpec&) const = default;
};

// HttpFilterSpec
//
// One entry of `http_filters`, in configured order. Supported:
// homing.filters.http.affinity (before the DFP filter),
// envoy.filters.http.dynamic_forward_proxy (with its `dns_cache_config`),
// envoy.filters.http.buffer (its `max_request_bytes` lands in
// HttpConnectionManagerSpec) and envoy.filters.http.router (last). The Lua
// filter is rejected with a message pointing at the affinity filter.
struct HttpFilterSpec {
  std::string name;
  // The dynamic_forward_proxy filter's cache: the same settings as the cache
  // of every dynamic forward proxy cluster its routes reach.
  std::optional<DnsCacheConfig> dns_cache_config;
  bool operator==(const HttpFilterSpec&) const = default;
};

// HttpConnectionManagerSpec
//
// `envoy.filters.network.http_connection_manager` with its bounds. Zero
// disables a timeout, as in Envoy.
struct HttpConnectionManagerSpec {
  std::string stat_prefix;
  RouteConfigSpec route_config;
  std::vector<HttpFilterSpec> http_filters;
  uint32_t max_request_headers_kb = 60;  // → 431 beyond
  Duration request_headers_timeout = std::chrono::seconds(10);  // → 408
  Duration stream_idle_timeout = std::chrono::minutes(5);
  Duration idle_timeout = std::chrono::hours(1);  // keep-alive connection
  // Request body bound → 413; envoy.filters.http.buffer's max_request_bytes.
  uint64_t max_request_bytes = 1024 * 1024;
  // The upgrades (WebSocket, …) its routes forward unless a route's own
  // upgrade_configs say otherwise (see UpgradeEnabled()); none by default.
  std::vector<UpgradeConfigSpec> upgrade_configs;
  bool operator==(const HttpConnectionManagerSpec&) const = default;
};

// ListenerSpec
//
// One listener: one filter chain holding one http_connection_manager.
struct ListenerSpec {
  std::string name;
  SocketAddressSpec address;
  HttpConnectionManagerSpec http_connection_manager;
  bool operator==(const ListenerSpec&) const = default;
};

// AdminSpec
//
// The admin listener. A config without `admin` gets 127.0.0.1:9901.
struct AdminSpec {
  SocketAddressSpec address{.address = "127.0.0.1", .port = 9901};
  bool operator==(const AdminSpec&) const = default;
};

// Bootstrap
//
// A loaded, validated configuration.
struct Bootstrap {
  AdminSpec admin;
  std::vector<ListenerSpec> listeners;
  std::vector<ClusterSpec> clusters;
  // Bootstrap-level `typed_dns_resolver_config`: the default for clusters
  // and DNS caches that configure none.
  DnsResolverConfig dns_resolver;
  bool operator==(const Bootstrap&) const = default;

  // Bootstrap::FindCluster()
  //
  // Returns the cluster named `name`, or nullptr. Names are unique.
  const ClusterSpec* FindCluster(std::string_view name) const;
};

// ParseConfig()
//
// Parses YAML or JSON text (one document). Errors are InvalidArgument:
// "<path> (line N): <message>" for configuration errors and
// "<source_name>:<line>:<column>: <message>" for YAML syntax errors.
absl::StatusOr<Bootstrap> ParseConfig(std::string_view text,
                                      std::string_view source_name = "config");

// LoadConfigFile()
//
// Reads and parses a file (its path is the `source_name`); NotFound when it
// cannot be read.
absl::StatusOr<Bootstrap> LoadConfigFile(const std::string& path);

// ParseDuration()
//
// "5s", "0.25s", "100ms", "2m", "1h", "250us", "10ns": a non-negative
// decimal number (up to 9 fractional digits) and a unit. InvalidArgument
// `invalid duration "<text>": <reason>` otherwise.
absl::StatusOr<Duration> ParseDuration(std::string_view text);

// DumpConfigJson()
//
// `config` as JSON in Envoy's v3 bootstrap shapes, every default spelled
// out (durations as "0.25s"): what the admin listener's /config_dump shows.
// Feeding it back to ParseConfig() gives an equal Bootstrap.
std::string DumpConfigJson(const Bootstrap& config);

}  // namespace homing

#endif  // HOMING_CONFIG_H_
