// File: homing/config_spec.h
//
// The plain structs a loaded configuration is made of: the bootstrap, its
// listeners, connection managers and admin (clusters, routes and DNS settings
// have their own headers). Components that run a configuration (ClusterManager,
// Router) take these and need no loader; `homing/config.h` fills them from
// YAML or JSON, and an embedder may fill them in code.
//
// Example:
//
//   homing::Bootstrap bootstrap;
//   bootstrap.clusters.push_back(resolver_cluster);
//   const homing::ClusterSpec* resolver = bootstrap.FindCluster("resolver");
//
// Thread safety: plain values.

#ifndef HOMING_CONFIG_SPEC_H_
#define HOMING_CONFIG_SPEC_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

}  // namespace homing

#endif  // HOMING_CONFIG_SPEC_H_
