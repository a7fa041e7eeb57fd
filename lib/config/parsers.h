// File: lib/config/parsers.h
//
// The loader's parsers, one per Envoy message family, and the state they
// share while one document is loaded. `ParseConfig()` (config.cc) runs them
// in dependency order rather than document order: the bootstrap's DNS
// resolver first (every other DNS setting defaults to it), then clusters
// (routes refer to them), then listeners, each http_connection_manager
// reading its http_filters before its routes (per-route configs refer to
// them). Each parser validates what it can see and returns complete specs.
//
// Example:
//
//   LoadContext context;
//   HOMING_CONFIG_ASSIGN_OR_RETURN(ClusterSpec cluster, ParseCluster(node, context));
//
// Thread safety: a LoadContext belongs to one ParseConfig() call.

#ifndef HOMING_LIB_CONFIG_PARSERS_H_
#define HOMING_LIB_CONFIG_PARSERS_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/node.h"
#include "homing/config.h"
#include "homing/dns_config.h"
#include "homing/route.h"
#include "homing/upstream.h"

namespace homing::config_internal {

// Names Envoy gives the extensions homing understands.
inline constexpr char kHttpConnectionManagerName[] =
    "envoy.filters.network.http_connection_manager";
inline constexpr char kRouterFilterName[] = "envoy.filters.http.router";
inline constexpr char kDfpFilterName[] = "envoy.filters.http.dynamic_forward_proxy";
inline constexpr char kBufferFilterName[] = "envoy.filters.http.buffer";
inline constexpr char kLuaFilterName[] = "envoy.filters.http.lua";
inline constexpr char kDfpClusterName[] = "envoy.clusters.dynamic_forward_proxy";
inline constexpr char kCaresResolverName[] = "envoy.network.dns_resolver.cares";

// What a Lua filter anywhere in a config is told.
inline constexpr char kLuaReplacedMessage[] =
    "envoy.filters.http.lua is not supported: homing replaces the Lua script "
    "with its native affinity filter, homing.filters.http.affinity (see "
    "docs/configuration.md)";

// DnsCacheRegistry
//
// Envoy shares one DNS cache per name and refuses two different settings
// for one name; the registry remembers the first settings seen per name.
class DnsCacheRegistry {
 public:
  // DnsCacheRegistry::Register()
  //
  // Accepts `config` when its name is new or its settings equal those seen
  // first; otherwise the error is at `where` and names the first place.
  absl::Status Register(const DnsCacheConfig& config, const Node& where);

 private:
  struct FirstUse {
    DnsCacheConfig config;
    std::string path;
    int line;
  };
  absl::flat_hash_map<std::string, FirstUse> caches_;
};

// LoadContext
//
// What parsers of later sections need from earlier ones.
struct LoadContext {
  DnsResolverConfig default_resolver;  // the bootstrap's
  DnsCacheRegistry dns_caches;
  const std::vector<ClusterSpec>* clusters = nullptr;  // set once parsed

  // LoadContext::FindCluster()
  const ClusterSpec* FindCluster(std::string_view name) const;
};

// HttpFilterFacts
//
// What routes need to know about their connection manager's http_filters.
struct HttpFilterFacts {
  bool has_affinity_filter = false;
  const DnsCacheConfig* dfp_cache = nullptr;  // the DFP filter's, if listed
};

// AddressRules
//
// What a `socket_address` may hold where it is used.
struct AddressRules {
  bool allow_dns_name = false;  // else an IP literal
  uint32_t min_port = 1;
  std::optional<uint16_t> default_port;  // else port_value is required
  // Appended to "expected an IP address" errors, e.g. a hint at STRICT_DNS.
  std::string_view ip_hint;

  // An address to bind (listener, admin): an IP, port 0 for an ephemeral one.
  static AddressRules Bind() {
    AddressRules rules;
    rules.min_port = 0;
    return rules;
  }
  // A name server: an IP, port 53 unless given.
  static AddressRules NameServer() {
    AddressRules rules;
    rules.default_port = 53;
    return rules;
  }
  // An upstream host: an IP, or a DNS name when `allow_dns_name`.
  static AddressRules Upstream(bool allow_dns_name, std::string_view ip_hint = {}) {
    AddressRules rules;
    rules.allow_dns_name = allow_dns_name;
    rules.ip_hint = ip_hint;
    return rules;
  }
};

// Parsers of `{socket_address: {...}}` (an Envoy Address) and of a bare
// SocketAddress.
absl::StatusOr<SocketAddressSpec> ParseAddress(const Node& node,
                                               const AddressRules& rules);
absl::StatusOr<SocketAddressSpec> ParseSocketAddress(const Node& node,
                                                     const AddressRules& rules);

// ParseDnsLookupFamilyField()
//
// A `dns_lookup_family` value: V4_ONLY, V6_ONLY, V4_PREFERRED, AUTO or ALL.
absl::StatusOr<DnsLookupFamily> ParseDnsLookupFamilyField(const Node& node);

// ParseDnsResolverConfig()
//
// A `typed_dns_resolver_config` naming the c-ares resolver.
absl::StatusOr<DnsResolverConfig> ParseDnsResolverConfig(const Node& node);

// ParseDnsCacheConfig()
//
// A `dns_cache_config`; fills in the default resolver and registers the
// cache with `context.dns_caches`.
absl::StatusOr<DnsCacheConfig> ParseDnsCacheConfig(const Node& node,
                                                   LoadContext& context);

// ParseCluster()
absl::StatusOr<ClusterSpec> ParseCluster(const Node& node, LoadContext& context);

// ParseRouteConfig()
//
// A `route_config`, with every route's cluster and per-route affinity config
// checked against `context` and `filters`.
absl::StatusOr<RouteConfigSpec> ParseRouteConfig(const Node& node,
                                                 const LoadContext& context,
                                                 const HttpFilterFacts& filters);

// ParseUpgradeConfigs()
//
// An `upgrade_configs` list (the connection manager's or a route's): each
// entry's upgrade_type must pass CheckUpgradeType() and appear once;
// `unsupported_fields` are the Envoy fields of that list's entries homing
// leaves out.
absl::StatusOr<std::vector<UpgradeConfigSpec>> ParseUpgradeConfigs(
    const Node& node, std::initializer_list<std::string_view> unsupported_fields);

// ParseListener()
absl::StatusOr<ListenerSpec> ParseListener(const Node& node, LoadContext& context);

}  // namespace homing::config_internal

#endif  // HOMING_LIB_CONFIG_PARSERS_H_
