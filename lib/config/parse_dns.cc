// Addresses, c-ares resolver configs and DNS cache configs.

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "config/parsers.h"
#include "config/type_urls.h"
#include "homing/address.h"

namespace homing::config_internal {
namespace {

using internal::ToAbsl;

bool IsIpLiteral(std::string_view address) {
  return SocketAddress::FromIp(address, 0).ok();
}

absl::StatusOr<DnsFailureRefreshRate> ParseFailureRefreshRate(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  DnsFailureRefreshRate rate;
  if (!object.Has("base_interval")) {
    return object.FieldError("base_interval", "missing required field");
  }
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.ReadAbove("base_interval", &rate.base, std::chrono::milliseconds(1)));
  rate.max = rate.base * 10;  // Envoy's default
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.ReadAbove("max_interval", &rate.max, std::chrono::milliseconds(1)));
  if (rate.max < rate.base) {
    return object.FieldError("max_interval",
                             "must not be less than base_interval");
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish());
  return rate;
}

absl::StatusOr<uint32_t> ParseDnsCacheCircuitBreaker(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  uint32_t max_pending_requests = DnsCacheConfig().max_pending_requests;
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.ReadUint("max_pending_requests", &max_pending_requests, 1));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish());
  return max_pending_requests;
}

}  // namespace

absl::StatusOr<SocketAddressSpec> ParseAddress(const Node& node,
                                               const AddressRules& rules) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  std::optional<Node> socket_address = object.Get("socket_address");
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.Finish({"pipe", "envoy_internal_address"}));
  if (!socket_address) return object.FieldError("socket_address", "missing required field");
  return ParseSocketAddress(*socket_address, rules);
}

absl::StatusOr<SocketAddressSpec> ParseSocketAddress(const Node& node,
                                                     const AddressRules& rules) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  SocketAddressSpec spec;
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadRequired("address", &spec.address));
  if (!IsIpLiteral(spec.address) &&
      !(rules.allow_dns_name && IsValidDnsName(spec.address))) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(Node address, object.Require("address"));
    return address.Error(
        rules.allow_dns_name
            ? absl::StrCat("expected an IP address or a DNS name, got ",
                           Quote(spec.address))
            : absl::StrCat("expected an IP address, got ", Quote(spec.address),
                           ToAbsl(rules.ip_hint)));
  }
  if (rules.default_port) {
    spec.port = *rules.default_port;
  } else if (!object.Has("port_value")) {
    return object.FieldError("port_value", "missing required field");
  }
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.ReadUint("port_value", &spec.port, rules.min_port, 65535));
  if (std::optional<Node> protocol = object.Get("protocol")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(std::string name, protocol->AsString());
    if (name != "TCP") {
      return protocol->Error(
          absl::StrCat("protocol ", Quote(name), " is not supported (only TCP)"));
    }
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish(
      {"named_port", "resolver_name", "ipv4_compat", "network_namespace_filepath"}));
  return spec;
}

absl::StatusOr<DnsLookupFamily> ParseDnsLookupFamilyField(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::string name, node.AsString());
  absl::StatusOr<DnsLookupFamily> family = ParseDnsLookupFamily(name);
  if (!family.ok()) return node.Error(internal::FromAbsl(family.status().message()));
  return *family;
}

absl::StatusOr<DnsResolverConfig> ParseDnsResolverConfig(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  std::string name;
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadRequired("name", &name));
  if (name != kCaresResolverName) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(Node name_node, object.Require("name"));
    return name_node.Error(absl::StrCat("DNS resolver ", Quote(name),
                                        " is not supported by homing (only ",
                                        kCaresResolverName, ")"));
  }
  HOMING_CONFIG_ASSIGN_OR_RETURN(Node typed_config_node,
                                 object.Require("typed_config"));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish());

  HOMING_CONFIG_ASSIGN_OR_RETURN(Object typed_config, typed_config_node.AsObject());
  HOMING_CONFIG_RETURN_IF_ERROR(typed_config.CheckType(kCaresResolverType));
  DnsResolverConfig config;
  if (std::optional<Node> resolvers = typed_config.Get("resolvers")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> items, resolvers->AsList());
    for (const Node& item : items) {
      HOMING_CONFIG_ASSIGN_OR_RETURN(
          SocketAddressSpec address,
          ParseAddress(item, AddressRules::NameServer()));
      config.resolvers.push_back(
          SocketAddress::FromIp(address.address, address.port)->ToString());
    }
  }
  HOMING_CONFIG_RETURN_IF_ERROR(typed_config.Finish(
      {"use_resolvers_as_fallback", "filter_unroutable_families",
       "dns_resolver_options", "udp_max_queries", "query_timeout_seconds",
       "query_tries", "rotate_nameservers", "edns0_max_payload_size",
       "max_udp_channel_duration", "reinit_channel_on_timeout"}));
  return config;
}

absl::StatusOr<DnsCacheConfig> ParseDnsCacheConfig(const Node& node,
                                                   LoadContext& context) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  DnsCacheConfig config;
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadRequired("name", &config.name));
  if (std::optional<Node> family = object.Get("dns_lookup_family")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(config.dns_lookup_family,
                                   ParseDnsLookupFamilyField(*family));
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read(
      "dns_refresh_rate", &config.dns_refresh_rate, std::chrono::milliseconds(1)));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("dns_min_refresh_rate",
                                            &config.dns_min_refresh_rate,
                                            std::chrono::seconds(1)));
  if (std::optional<Node> rate = object.Get("dns_failure_refresh_rate")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(config.dns_failure_refresh_rate,
                                   ParseFailureRefreshRate(*rate));
  }
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.ReadAbove("host_ttl", &config.host_ttl, Duration::zero()));
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadUint("max_hosts", &config.max_hosts, 1));
  if (std::optional<Node> breaker = object.Get("dns_cache_circuit_breaker")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(config.max_pending_requests,
                                   ParseDnsCacheCircuitBreaker(*breaker));
  }
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.Read("dns_query_timeout", &config.dns_query_timeout));
  if (std::optional<Node> hosts = object.Get("preresolve_hostnames")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> items, hosts->AsList());
    if (items.size() > config.max_hosts) {
      return hosts->Error(absl::StrCat("has ", items.size(),
                                       " entries, more than max_hosts (",
                                       config.max_hosts, ")"));
    }
    for (const Node& item : items) {
      HOMING_CONFIG_ASSIGN_OR_RETURN(
          SocketAddressSpec address,
          ParseSocketAddress(item, AddressRules::Upstream(true)));
      config.preresolve_hostnames.push_back(
          HostPort{address.address, address.port}.ToString());
    }
  }
  config.resolver = context.default_resolver;
  if (std::optional<Node> resolver = object.Get("typed_dns_resolver_config")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(config.resolver, ParseDnsResolverConfig(*resolver));
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish(
      {"disable_dns_refresh_on_failure", "use_tcp_for_dns_lookups",
       "dns_resolution_config", "key_value_config"}));
  HOMING_CONFIG_RETURN_IF_ERROR(context.dns_caches.Register(config, node));
  return config;
}

absl::Status DnsCacheRegistry::Register(const DnsCacheConfig& config,
                                        const Node& where) {
  auto [it, inserted] =
      caches_.try_emplace(config.name, FirstUse{config, where.path(), where.line()});
  if (inserted || it->second.config == config) return absl::OkStatus();
  return where.Error(absl::StrCat(
      "DNS cache ", Quote(config.name), " is configured differently at ",
      it->second.path, " (line ", it->second.line,
      "); every use of one cache name must have identical settings"));
}

}  // namespace homing::config_internal
