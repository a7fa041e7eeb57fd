// Clusters: STATIC, STRICT_DNS and envoy.clusters.dynamic_forward_proxy.

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "config/parsers.h"
#include "config/type_urls.h"

namespace homing::config_internal {
namespace {

constexpr uint64_t kMaxRingSize = 8 * 1024 * 1024;  // Envoy's bound
constexpr uint64_t kMaxMaglevTableSize = 5000011;    // Envoy's bound

bool IsPrime(uint64_t n) {
  if (n < 2) return false;
  for (uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

absl::StatusOr<ClusterType> ParseClusterType(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::string name, node.AsString());
  if (name == "STATIC") return ClusterType::kStatic;
  if (name == "STRICT_DNS") return ClusterType::kStrictDns;
  if (name == "LOGICAL_DNS" || name == "EDS" || name == "ORIGINAL_DST") {
    return node.Error(absl::StrCat(
        name, " clusters are not supported by homing (use STATIC, STRICT_DNS "
              "or cluster_type ", kDfpClusterName, ")"));
  }
  return node.Error(absl::StrCat("unknown value ", Quote(name),
                                 " (expected STATIC or STRICT_DNS)"));
}

// `cluster_type: {name: envoy.clusters.dynamic_forward_proxy, typed_config}`:
// returns the cluster's DNS cache.
absl::StatusOr<DnsCacheConfig> ParseDfpClusterType(const Node& node,
                                                   LoadContext& context) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  std::string name;
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadRequired("name", &name));
  if (name != kDfpClusterName) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(Node name_node, object.Require("name"));
    return name_node.Error(absl::StrCat("cluster type ", Quote(name),
                                        " is not supported by homing (only ",
                                        kDfpClusterName, ")"));
  }
  HOMING_CONFIG_ASSIGN_OR_RETURN(Node typed_config_node,
                                 object.Require("typed_config"));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish());

  HOMING_CONFIG_ASSIGN_OR_RETURN(Object typed_config, typed_config_node.AsObject());
  HOMING_CONFIG_RETURN_IF_ERROR(typed_config.CheckType(kDfpClusterType));
  std::optional<Node> cache = typed_config.Get("dns_cache_config");
  HOMING_CONFIG_RETURN_IF_ERROR(typed_config.Finish(
      {"sub_clusters_config", "allow_insecure_cluster_options",
       "allow_coalesced_connections"}));
  if (!cache) {
    return typed_config.FieldError("dns_cache_config", "missing required field");
  }
  return ParseDnsCacheConfig(*cache, context);
}

absl::Status ParseEndpoint(const Node& node, const AddressRules& rules,
                           std::vector<EndpointSpec>* endpoints) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object lb_endpoint, node.AsObject());
  EndpointSpec endpoint;
  HOMING_CONFIG_RETURN_IF_ERROR(lb_endpoint.ReadUint(
      "load_balancing_weight", &endpoint.weight, 1));
  std::optional<Node> endpoint_node = lb_endpoint.Get("endpoint");
  HOMING_CONFIG_RETURN_IF_ERROR(
      lb_endpoint.Finish({"health_status", "metadata", "endpoint_name"}));
  if (!endpoint_node) {
    return lb_endpoint.FieldError("endpoint", "missing required field");
  }
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, endpoint_node->AsObject());
  HOMING_CONFIG_ASSIGN_OR_RETURN(Node address, object.Require("address"));
  HOMING_CONFIG_ASSIGN_OR_RETURN(SocketAddressSpec socket_address,
                                 ParseAddress(address, rules));
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.Finish({"health_check_config", "hostname", "additional_addresses"}));
  endpoint.address = std::move(socket_address.address);
  endpoint.port = socket_address.port;
  endpoints->push_back(std::move(endpoint));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<EndpointSpec>> ParseLoadAssignment(
    const Node& node, ClusterType type) {
  AddressRules rules = AddressRules::Upstream(
      type == ClusterType::kStrictDns,
      " (STATIC clusters take IP addresses; use type: STRICT_DNS for DNS names)");
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  std::string cluster_name;  // informational in Envoy, as here
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("cluster_name", &cluster_name));
  std::vector<EndpointSpec> endpoints;
  if (std::optional<Node> localities = object.Get("endpoints")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> items, localities->AsList());
    for (const Node& item : items) {
      HOMING_CONFIG_ASSIGN_OR_RETURN(Object locality, item.AsObject());
      if (std::optional<Node> lb_endpoints = locality.Get("lb_endpoints")) {
        HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> hosts, lb_endpoints->AsList());
        for (const Node& host : hosts) {
          HOMING_CONFIG_RETURN_IF_ERROR(ParseEndpoint(host, rules, &endpoints));
        }
      }
      HOMING_CONFIG_RETURN_IF_ERROR(locality.Finish(
          {"locality", "metadata", "load_balancing_weight", "priority",
           "proximity", "leds_cluster_locality_config"}));
    }
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish({"policy", "named_endpoints"}));
  if (endpoints.empty()) return node.Error("needs at least one endpoint");
  return endpoints;
}

absl::StatusOr<OutlierDetectionSpec> ParseOutlierDetection(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  OutlierDetectionSpec spec;
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.ReadUint("consecutive_5xx", &spec.consecutive_5xx, 1));
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadUint(
      "consecutive_local_origin_failure", &spec.consecutive_local_origin_failure, 1));
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadAbove(
      "base_ejection_time", &spec.base_ejection_time, Duration::zero()));
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadAbove(
      "max_ejection_time", &spec.max_ejection_time, Duration::zero()));
  if (spec.max_ejection_time < spec.base_ejection_time) {
    return object.FieldError("max_ejection_time",
                             "must not be less than base_ejection_time");
  }
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.ReadUint("max_ejection_percent", &spec.max_ejection_percent, 0, 100));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish(
      {"interval", "consecutive_gateway_failure", "enforcing_consecutive_5xx",
       "enforcing_success_rate", "success_rate_minimum_hosts",
       "success_rate_request_volume", "success_rate_stdev_factor",
       "enforcing_consecutive_gateway_failure",
       "split_external_local_origin_errors",
       "enforcing_consecutive_local_origin_failure",
       "enforcing_local_origin_success_rate", "failure_percentage_threshold",
       "enforcing_failure_percentage",
       "enforcing_failure_percentage_local_origin",
       "failure_percentage_minimum_hosts", "failure_percentage_request_volume",
       "max_ejection_time_jitter", "successful_active_health_check_uneject_host",
       "monitors", "always_eject_one_host", "detect_degraded_hosts"}));
  return spec;
}

absl::Status ParseCircuitBreakers(const Node& node, ClusterSpec* spec) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  std::optional<Node> thresholds = object.Get("thresholds");
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish({"per_host_thresholds"}));
  if (!thresholds) return absl::OkStatus();
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> items, thresholds->AsList());
  if (items.size() > 1) {
    return items[1].Error(
        "homing supports one thresholds entry (priority DEFAULT)");
  }
  for (const Node& item : items) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(Object threshold, item.AsObject());
    if (std::optional<Node> priority = threshold.Get("priority")) {
      HOMING_CONFIG_ASSIGN_OR_RETURN(std::string name, priority->AsString());
      if (name == "HIGH") {
        return priority->Error("priority HIGH is not supported by homing (only DEFAULT)");
      }
      if (name != "DEFAULT") {
        return priority->Error(absl::StrCat("unknown value ", Quote(name),
                                            " (expected DEFAULT)"));
      }
    }
    HOMING_CONFIG_RETURN_IF_ERROR(
        threshold.ReadUint("max_connections", &spec->max_connections, 1));
    HOMING_CONFIG_RETURN_IF_ERROR(
        threshold.ReadUint("max_pending_requests", &spec->max_pending_requests, 1));
    HOMING_CONFIG_RETURN_IF_ERROR(
        threshold.ReadUint("max_requests", &spec->max_requests, 1));
    HOMING_CONFIG_RETURN_IF_ERROR(threshold.Finish(
        {"max_retries", "retry_budget", "track_remaining", "max_connection_pools"}));
  }
  return absl::OkStatus();
}

absl::Status ParseRingHashConfig(const Node& node, ClusterSpec* spec) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadUint(
      "minimum_ring_size", &spec->ring_hash_minimum_ring_size, 1, kMaxRingSize));
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadUint(
      "maximum_ring_size", &spec->ring_hash_maximum_ring_size, 1, kMaxRingSize));
  if (spec->ring_hash_minimum_ring_size > spec->ring_hash_maximum_ring_size) {
    return object.FieldError("minimum_ring_size",
                             "must not exceed maximum_ring_size");
  }
  if (std::optional<Node> function = object.Get("hash_function")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(std::string name, function->AsString());
    if (name == "MURMUR_HASH_2") {
      return function->Error(
          "MURMUR_HASH_2 is not supported by homing (only XX_HASH)");
    }
    if (name != "XX_HASH") {
      return function->Error(
          absl::StrCat("unknown value ", Quote(name), " (expected XX_HASH)"));
    }
  }
  return object.Finish();
}

absl::Status ParseMaglevConfig(const Node& node, ClusterSpec* spec) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  if (std::optional<Node> size = object.Get("table_size")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(spec->maglev_table_size,
                                   size->AsUint(1, kMaxMaglevTableSize));
    if (!IsPrime(spec->maglev_table_size)) {
      return size->Error(
          absl::StrCat("must be a prime number, got ", spec->maglev_table_size));
    }
  }
  return object.Finish();
}

absl::Status ParseLeastRequestConfig(const Node& node, ClusterSpec* spec) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.ReadUint("choice_count", &spec->least_request_choice_count, 2));
  return object.Finish(
      {"active_request_bias", "slow_start_config", "locality_lb_config"});
}

// The load balancer's own config block, which only its policy may carry.
absl::Status ParseLbConfig(Object& cluster, std::string_view field,
                           LbPolicy policy, ClusterSpec* spec,
                           absl::Status (*parse)(const Node&, ClusterSpec*)) {
  std::optional<Node> config = cluster.Get(field);
  if (!config) return absl::OkStatus();
  if (spec->lb_policy != policy) {
    return cluster.FieldError(
        field, absl::StrCat("applies only to lb_policy ",
                            internal::ToAbsl(LbPolicyName(policy))));
  }
  return parse(*config, spec);
}

// STRICT_DNS settings, which other cluster types must not carry.
absl::Status ParseClusterDns(Object& cluster, LoadContext& context,
                             ClusterSpec* spec) {
  if (spec->type == ClusterType::kStrictDns) {
    spec->dns_resolver = context.default_resolver;
  }
  for (std::string_view field : {"dns_lookup_family", "dns_refresh_rate",
                                 "respect_dns_ttl", "typed_dns_resolver_config"}) {
    if (cluster.Has(field) && spec->type != ClusterType::kStrictDns) {
      return cluster.FieldError(field, "applies only to STRICT_DNS clusters");
    }
  }
  if (std::optional<Node> family = cluster.Get("dns_lookup_family")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(spec->dns_lookup_family,
                                   ParseDnsLookupFamilyField(*family));
  }
  HOMING_CONFIG_RETURN_IF_ERROR(cluster.ReadAbove(
      "dns_refresh_rate", &spec->dns_refresh_rate, std::chrono::milliseconds(1)));
  HOMING_CONFIG_RETURN_IF_ERROR(cluster.Read("respect_dns_ttl", &spec->respect_dns_ttl));
  if (std::optional<Node> resolver = cluster.Get("typed_dns_resolver_config")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(spec->dns_resolver, ParseDnsResolverConfig(*resolver));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ClusterSpec> ParseCluster(const Node& node, LoadContext& context) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  ClusterSpec spec;
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadRequired("name", &spec.name));

  std::optional<Node> type = object.Get("type");
  std::optional<Node> cluster_type = object.Get("cluster_type");
  if (type && cluster_type) {
    return cluster_type->Error("cannot be combined with type (set one or the other)");
  }
  if (type) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(spec.type, ParseClusterType(*type));
  } else if (cluster_type) {
    spec.type = ClusterType::kDynamicForwardProxy;
    HOMING_CONFIG_ASSIGN_OR_RETURN(spec.dns_cache_config,
                                   ParseDfpClusterType(*cluster_type, context));
  }
  bool dfp = spec.type == ClusterType::kDynamicForwardProxy;

  std::optional<Node> lb_policy = object.Get("lb_policy");
  if (lb_policy) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(std::string name, lb_policy->AsString());
    absl::StatusOr<LbPolicy> policy = ParseLbPolicy(name);
    if (!policy.ok()) {
      return lb_policy->Error(absl::StrCat(
          "unknown value ", Quote(name),
          " (expected ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV or "
          "CLUSTER_PROVIDED)"));
    }
    spec.lb_policy = *policy;
  }
  if (dfp && spec.lb_policy != LbPolicy::kClusterProvided) {
    return object.FieldError(
        "lb_policy", "dynamic forward proxy clusters require lb_policy: CLUSTER_PROVIDED");
  }
  if (!dfp && spec.lb_policy == LbPolicy::kClusterProvided) {
    return lb_policy->Error(
        "CLUSTER_PROVIDED is only valid for dynamic forward proxy clusters");
  }
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.ReadAbove("connect_timeout", &spec.connect_timeout, Duration::zero()));

  if (dfp) {
    if (object.Has("load_assignment")) {
      return object.FieldError("load_assignment",
                               "not allowed on a dynamic forward proxy cluster "
                               "(its hosts come from the DNS cache)");
    }
  } else {
    HOMING_CONFIG_ASSIGN_OR_RETURN(Node load_assignment,
                                   object.Require("load_assignment"));
    HOMING_CONFIG_ASSIGN_OR_RETURN(spec.endpoints,
                                   ParseLoadAssignment(load_assignment, spec.type));
  }
  HOMING_CONFIG_RETURN_IF_ERROR(ParseClusterDns(object, context, &spec));

  if (std::optional<Node> outlier = object.Get("outlier_detection")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(spec.outlier_detection,
                                   ParseOutlierDetection(*outlier));
  }
  if (std::optional<Node> breakers = object.Get("circuit_breakers")) {
    HOMING_CONFIG_RETURN_IF_ERROR(ParseCircuitBreakers(*breakers, &spec));
  }
  HOMING_CONFIG_RETURN_IF_ERROR(ParseLbConfig(object, "ring_hash_lb_config",
                                              LbPolicy::kRingHash, &spec,
                                              ParseRingHashConfig));
  HOMING_CONFIG_RETURN_IF_ERROR(ParseLbConfig(object, "maglev_lb_config",
                                              LbPolicy::kMaglev, &spec,
                                              ParseMaglevConfig));
  HOMING_CONFIG_RETURN_IF_ERROR(ParseLbConfig(object, "least_request_lb_config",
                                              LbPolicy::kLeastRequest, &spec,
                                              ParseLeastRequestConfig));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish(
      {"transport_socket", "transport_socket_matches", "health_checks",
       "http_protocol_options", "http2_protocol_options",
       "common_http_protocol_options", "upstream_http_protocol_options",
       "typed_extension_protocol_options", "upstream_connection_options",
       "common_lb_config", "lb_subset_config", "original_dst_lb_config",
       "load_balancing_policy", "dns_resolvers", "dns_resolution_config",
       "use_tcp_for_dns_lookups", "dns_failure_refresh_rate", "dns_jitter",
       "wait_for_warm_on_init", "eds_cluster_config", "cleanup_interval",
       "per_connection_buffer_limit_bytes", "max_requests_per_connection",
       "alt_stat_name", "upstream_bind_config", "track_cluster_stats",
       "track_timeout_budgets", "preconnect_policy", "protocol_selection",
       "close_connections_on_host_health_failure",
       "ignore_health_on_host_removal", "filters", "metadata", "lrs_server",
       "lrs_report_endpoint_metrics", "upstream_config",
       "connection_pool_per_downstream_connection"}));
  return spec;
}

}  // namespace homing::config_internal
