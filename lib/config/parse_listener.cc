// Listeners, the http_connection_manager and its http_filters.

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "config/parsers.h"
#include "config/type_urls.h"

namespace homing::config_internal {
namespace {

constexpr uint32_t kMaxRequestHeadersKb = 8192;  // Envoy's bound

absl::Status ParseRouterConfig(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  HOMING_CONFIG_RETURN_IF_ERROR(object.CheckType(kRouterFilterType));
  return object.Finish(
      {"dynamic_stats", "start_child_span", "upstream_log", "upstream_log_options",
       "suppress_envoy_headers", "strict_check_headers",
       "respect_expected_rq_timeout", "suppress_grpc_request_failure_code_stats",
       "upstream_http_filters"});
}

absl::StatusOr<DnsCacheConfig> ParseDfpFilterConfig(const Node& node,
                                                    LoadContext& context) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  HOMING_CONFIG_RETURN_IF_ERROR(object.CheckType(kDfpFilterType));
  std::optional<Node> cache = object.Get("dns_cache_config");
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish(
      {"sub_cluster_config", "save_upstream_address",
       "allow_dynamic_host_from_filter_state"}));
  if (!cache) return object.FieldError("dns_cache_config", "missing required field");
  return ParseDnsCacheConfig(*cache, context);
}

absl::StatusOr<uint64_t> ParseBufferConfig(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  HOMING_CONFIG_RETURN_IF_ERROR(object.CheckType(kBufferFilterType));
  HOMING_CONFIG_ASSIGN_OR_RETURN(Node max_bytes, object.Require("max_request_bytes"));
  HOMING_CONFIG_ASSIGN_OR_RETURN(uint64_t bytes,
                                 max_bytes.AsUint(1, std::numeric_limits<uint32_t>::max()));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish());
  return bytes;
}

absl::Status ParseAffinityFilterConfig(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  if (object.Has("@type")) {
    HOMING_CONFIG_RETURN_IF_ERROR(object.CheckType(kAffinityFilterType));
  }
  return object.Finish();
}

absl::StatusOr<HttpFilterSpec> ParseHttpFilter(const Node& node, LoadContext& context,
                                               HttpConnectionManagerSpec* hcm) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  HttpFilterSpec filter;
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadRequired("name", &filter.name));
  HOMING_CONFIG_ASSIGN_OR_RETURN(Node name, object.Require("name"));
  std::optional<Node> typed_config = object.Get("typed_config");
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.Finish({"config_discovery", "is_optional", "disabled"}));

  if (filter.name == kLuaFilterName) return name.Error(kLuaReplacedMessage);
  bool config_required = filter.name == kDfpFilterName || filter.name == kBufferFilterName;
  if (config_required && !typed_config) {
    return object.FieldError("typed_config", "missing required field");
  }
  if (filter.name == kRouterFilterName) {
    if (typed_config) HOMING_CONFIG_RETURN_IF_ERROR(ParseRouterConfig(*typed_config));
  } else if (filter.name == kDfpFilterName) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(filter.dns_cache_config,
                                   ParseDfpFilterConfig(*typed_config, context));
  } else if (filter.name == kBufferFilterName) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(hcm->max_request_bytes,
                                   ParseBufferConfig(*typed_config));
  } else if (filter.name == kAffinityFilterName) {
    if (typed_config) HOMING_CONFIG_RETURN_IF_ERROR(ParseAffinityFilterConfig(*typed_config));
  } else {
    return name.Error(absl::StrCat(
        "http filter ", Quote(filter.name), " is not supported by homing (supported: ",
        kAffinityFilterName, ", ", kDfpFilterName, ", ", kBufferFilterName, ", ",
        kRouterFilterName, ")"));
  }
  return filter;
}

// Fills `hcm->http_filters` and checks their order: the affinity filter
// chooses the host before the DFP filter resolves it, and the router ends
// the chain.
absl::Status ParseHttpFilters(const Node& node, LoadContext& context,
                              HttpConnectionManagerSpec* hcm) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> items, node.AsList());
  std::optional<size_t> dfp_index;
  for (size_t i = 0; i < items.size(); ++i) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(HttpFilterSpec filter,
                                   ParseHttpFilter(items[i], context, hcm));
    for (const HttpFilterSpec& earlier : hcm->http_filters) {
      if (earlier.name == filter.name) {
        return items[i].Error(
            absl::StrCat("http filter ", Quote(filter.name), " is listed twice"));
      }
    }
    if (filter.name == kRouterFilterName && i + 1 != items.size()) {
      return items[i].Error(
          absl::StrCat(kRouterFilterName, " must be the last http filter"));
    }
    if (filter.name == kDfpFilterName) dfp_index = i;
    if (filter.name == kAffinityFilterName && dfp_index) {
      return items[i].Error(absl::StrCat(
          kAffinityFilterName, " must come before ", kDfpFilterName,
          " (it chooses the host the DNS cache resolves)"));
    }
    hcm->http_filters.push_back(std::move(filter));
  }
  if (hcm->http_filters.empty() || hcm->http_filters.back().name != kRouterFilterName) {
    return node.Error(absl::StrCat("must end with ", kRouterFilterName));
  }
  return absl::OkStatus();
}

absl::Status ParseCodecType(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::string codec, node.AsString());
  if (codec == "AUTO" || codec == "HTTP1") return absl::OkStatus();
  if (codec == "HTTP2" || codec == "HTTP3") {
    return node.Error(absl::StrCat(codec, " is not supported by homing (HTTP/1.1 "
                                          "only: AUTO or HTTP1)"));
  }
  return node.Error(
      absl::StrCat("unknown value ", Quote(codec), " (expected AUTO or HTTP1)"));
}

absl::StatusOr<HttpConnectionManagerSpec> ParseHttpConnectionManager(
    const Node& node, LoadContext& context) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  HOMING_CONFIG_RETURN_IF_ERROR(object.CheckType(kHttpConnectionManagerType));
  HttpConnectionManagerSpec spec;
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadRequired("stat_prefix", &spec.stat_prefix));
  if (std::optional<Node> codec = object.Get("codec_type")) {
    HOMING_CONFIG_RETURN_IF_ERROR(ParseCodecType(*codec));
  }
  HOMING_CONFIG_ASSIGN_OR_RETURN(Node filters, object.Require("http_filters"));
  HOMING_CONFIG_RETURN_IF_ERROR(ParseHttpFilters(filters, context, &spec));
  std::optional<Node> route_config = object.Get("route_config");
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadUint(
      "max_request_headers_kb", &spec.max_request_headers_kb, 1, kMaxRequestHeadersKb));
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.Read("request_headers_timeout", &spec.request_headers_timeout));
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.Read("stream_idle_timeout", &spec.stream_idle_timeout));
  if (std::optional<Node> upgrades = object.Get("upgrade_configs")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(spec.upgrade_configs,
                                   ParseUpgradeConfigs(*upgrades, {"filters"}));
  }
  if (std::optional<Node> options = object.Get("common_http_protocol_options")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(Object protocol, options->AsObject());
    HOMING_CONFIG_RETURN_IF_ERROR(protocol.Read("idle_timeout", &spec.idle_timeout));
    HOMING_CONFIG_RETURN_IF_ERROR(protocol.Finish(
        {"max_connection_duration", "max_headers_count", "max_response_headers_kb",
         "max_stream_duration", "headers_with_underscores_action",
         "max_requests_per_connection"}));
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish(
      {"rds", "scoped_routes", "access_log", "access_log_options",
       "use_remote_address", "xff_num_trusted_hops", "skip_xff_append", "via",
       "generate_request_id", "preserve_external_request_id",
       "always_set_request_id_in_response", "request_id_extension",
       "normalize_path", "merge_slashes", "path_with_escaped_slashes_action",
       "strip_matching_host_port", "strip_any_host_port",
       "strip_trailing_host_dot", "server_name", "server_header_transformation",
       "tracing", "http_protocol_options", "http2_protocol_options",
       "http3_protocol_options", "forward_client_cert_details",
       "set_current_client_cert_details", "proxy_100_continue",
       "represent_ipv4_remote_address_as_ipv4_mapped_ipv6", "local_reply_config",
       "drain_timeout", "delayed_close_timeout", "request_timeout",
       "max_request_headers_count", "add_user_agent", "internal_address_config",
       "stream_error_on_invalid_http_message", "original_ip_detection_extensions",
       "early_header_mutation_extensions", "typed_header_validation_config",
       "append_x_forwarded_port", "append_local_overload", "proxy_status_config",
       "user_agent"}));
  if (!route_config) return object.FieldError("route_config", "missing required field");

  HttpFilterFacts facts;
  for (const HttpFilterSpec& filter : spec.http_filters) {
    if (filter.name == kAffinityFilterName) facts.has_affinity_filter = true;
    if (filter.dns_cache_config) facts.dfp_cache = &*filter.dns_cache_config;
  }
  HOMING_CONFIG_ASSIGN_OR_RETURN(spec.route_config,
                                 ParseRouteConfig(*route_config, context, facts));
  return spec;
}

// Walks `filter_chains[0].filters[0]` down to the connection manager's
// typed_config: homing serves exactly that shape.
absl::StatusOr<Node> FindConnectionManager(const Node& filter_chains) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> chains, filter_chains.AsList());
  if (chains.empty()) return filter_chains.Error("must hold exactly one filter chain");
  if (chains.size() > 1) {
    return chains[1].Error("homing supports one filter chain per listener");
  }
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object chain, chains[0].AsObject());
  HOMING_CONFIG_ASSIGN_OR_RETURN(Node filters_node, chain.Require("filters"));
  HOMING_CONFIG_RETURN_IF_ERROR(chain.Finish(
      {"filter_chain_match", "transport_socket", "transport_socket_connect_timeout",
       "use_proxy_proto", "metadata", "name", "on_demand_configuration"}));
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> filters, filters_node.AsList());
  if (filters.empty()) {
    return filters_node.Error(absl::StrCat("must hold exactly one filter, ",
                                           kHttpConnectionManagerName));
  }
  if (filters.size() > 1) {
    return filters[1].Error(absl::StrCat("homing supports one network filter, ",
                                         kHttpConnectionManagerName));
  }
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object filter, filters[0].AsObject());
  std::string name;
  HOMING_CONFIG_RETURN_IF_ERROR(filter.ReadRequired("name", &name));
  if (name != kHttpConnectionManagerName) {
    return filter.FieldError(
        "name", absl::StrCat("network filter ", Quote(name),
                             " is not supported by homing (only ",
                             kHttpConnectionManagerName, ")"));
  }
  HOMING_CONFIG_ASSIGN_OR_RETURN(Node typed_config, filter.Require("typed_config"));
  HOMING_CONFIG_RETURN_IF_ERROR(filter.Finish({"config_discovery"}));
  return typed_config;
}

}  // namespace

absl::StatusOr<ListenerSpec> ParseListener(const Node& node, LoadContext& context) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  ListenerSpec spec;
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("name", &spec.name));
  HOMING_CONFIG_ASSIGN_OR_RETURN(Node address, object.Require("address"));
  HOMING_CONFIG_ASSIGN_OR_RETURN(spec.address,
                                 ParseAddress(address, AddressRules::Bind()));
  HOMING_CONFIG_ASSIGN_OR_RETURN(Node filter_chains, object.Require("filter_chains"));
  HOMING_CONFIG_ASSIGN_OR_RETURN(Node hcm, FindConnectionManager(filter_chains));
  HOMING_CONFIG_ASSIGN_OR_RETURN(spec.http_connection_manager,
                                 ParseHttpConnectionManager(hcm, context));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish(
      {"additional_addresses", "stat_prefix", "filter_chain_matcher",
       "default_filter_chain", "listener_filters", "listener_filters_timeout",
       "continue_on_listener_filters_timeout", "per_connection_buffer_limit_bytes",
       "metadata", "deprecated_v1", "drain_type", "use_original_dst",
       "transparent", "freebind", "socket_options", "tcp_fast_open_queue_length",
       "traffic_direction", "udp_listener_config", "api_listener",
       "connection_balance_config", "reuse_port", "enable_reuse_port",
       "access_log", "tcp_backlog_size", "max_connections_to_accept_per_socket_event",
       "bind_to_port", "internal_listener", "enable_mptcp",
       "ignore_global_conn_limit", "bypass_overload_manager", "fcds_config"}));
  return spec;
}

}  // namespace homing::config_internal
