// DumpConfigJson(): a loaded Bootstrap written back in Envoy's v3 shapes,
// every default spelled out, so that ParseConfig() of the text gives the
// same Bootstrap (the admin listener's /config_dump).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "config/parsers.h"
#include "config/type_urls.h"
#include "homing/config.h"

namespace homing {
namespace {

using config_internal::kBufferFilterType;
using config_internal::kCaresResolverType;
using config_internal::kDfpClusterType;
using config_internal::kDfpFilterType;
using config_internal::kHttpConnectionManagerType;
using config_internal::kRouterFilterType;
using internal::ToAbsl;

// A JSON writer that places the commas.
class JsonWriter {
 public:
  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }

  // JsonWriter::Key()
  //
  // The next value is this member's.
  JsonWriter& Key(std::string_view key) {
    Separate();
    AppendString(key);
    out_.push_back(':');
    after_key_ = true;
    return *this;
  }

  void String(std::string_view value) {
    Separate();
    AppendString(value);
  }
  void Uint(uint64_t value) {
    Separate();
    absl::StrAppend(&out_, value);
  }
  void Bool(bool value) {
    Separate();
    out_.append(value ? "true" : "false");
  }
  // Protobuf's JSON form: "5s", "0.25s".
  void Duration(homing::Duration value) {
    const int64_t nanos = value.count();
    std::string text = absl::StrCat(nanos / 1000000000);
    if (const int64_t fraction = nanos % 1000000000; fraction != 0) {
      std::string digits = absl::StrCat(fraction + 1000000000).substr(1);
      while (digits.back() == '0') digits.pop_back();
      absl::StrAppend(&text, ".", digits);
    }
    String(text + "s");
  }
  void Strings(const std::vector<std::string>& values) {
    BeginArray();
    for (const std::string& value : values) String(value);
    EndArray();
  }

  std::string Take() { return std::move(out_); }

 private:
  void Open(char c) {
    Separate();
    out_.push_back(c);
    first_.push_back(true);
  }
  void Close(char c) {
    out_.push_back(c);
    first_.pop_back();
  }
  void Separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (first_.empty()) return;
    if (!first_.back()) out_.push_back(',');
    first_.back() = false;
  }
  void AppendString(std::string_view text) {
    out_.push_back('"');
    for (unsigned char c : text) {
      switch (c) {
        case '"':
          out_.append("\\\"");
          break;
        case '\\':
          out_.append("\\\\");
          break;
        case '\n':
          out_.append("\\n");
          break;
        case '\t':
          out_.append("\\t");
          break;
        default:
          if (c < 0x20) {
            constexpr char kHex[] = "0123456789abcdef";
            const char escaped[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
            out_.append(escaped, sizeof(escaped));
          } else {
            out_.push_back(static_cast<char>(c));
          }
      }
    }
    out_.push_back('"');
  }

  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written yet
  bool after_key_ = false;
};

// {"socket_address": {"address": ..., "port_value": ...}}
void WriteAddress(JsonWriter& json, std::string_view address, uint16_t port) {
  json.BeginObject();
  json.Key("socket_address").BeginObject();
  json.Key("address").String(address);
  json.Key("port_value").Uint(port);
  json.EndObject();
  json.EndObject();
}

void WriteResolver(JsonWriter& json, const DnsResolverConfig& resolver) {
  json.BeginObject();
  json.Key("name").String(config_internal::kCaresResolverName);
  json.Key("typed_config").BeginObject();
  json.Key("@type").String(kCaresResolverType);
  json.Key("resolvers").BeginArray();
  for (const std::string& server : resolver.resolvers) {
    // Stored as "ip:port" by the loader.
    absl::StatusOr<SocketAddress> address = SocketAddress::Parse(server);
    if (address.ok()) WriteAddress(json, address->Ip(), address->port());
  }
  json.EndArray();
  json.EndObject();
  json.EndObject();
}

void WriteDnsCache(JsonWriter& json, const DnsCacheConfig& cache) {
  json.BeginObject();
  json.Key("name").String(cache.name);
  json.Key("dns_lookup_family").String(DnsLookupFamilyName(cache.dns_lookup_family));
  json.Key("dns_refresh_rate").Duration(cache.dns_refresh_rate);
  json.Key("dns_min_refresh_rate").Duration(cache.dns_min_refresh_rate);
  if (cache.dns_failure_refresh_rate) {
    json.Key("dns_failure_refresh_rate").BeginObject();
    json.Key("base_interval").Duration(cache.dns_failure_refresh_rate->base);
    json.Key("max_interval").Duration(cache.dns_failure_refresh_rate->max);
    json.EndObject();
  }
  json.Key("host_ttl").Duration(cache.host_ttl);
  json.Key("max_hosts").Uint(cache.max_hosts);
  json.Key("dns_cache_circuit_breaker").BeginObject();
  json.Key("max_pending_requests").Uint(cache.max_pending_requests);
  json.EndObject();
  json.Key("dns_query_timeout").Duration(cache.dns_query_timeout);
  json.Key("preresolve_hostnames").BeginArray();
  for (const std::string& hostport : cache.preresolve_hostnames) {
    absl::StatusOr<HostPort> parsed = ParseHostPort(hostport);
    if (!parsed.ok()) continue;
    json.BeginObject();
    json.Key("address").String(parsed->host);
    json.Key("port_value").Uint(parsed->port);
    json.EndObject();
  }
  json.EndArray();
  json.Key("typed_dns_resolver_config");
  WriteResolver(json, cache.resolver);
  json.EndObject();
}

void WriteStringMatcher(JsonWriter& json, const StringMatcherSpec& matcher) {
  using Kind = StringMatcherSpec::Kind;
  json.BeginObject();
  switch (matcher.kind) {
    case Kind::kExact:
      json.Key("exact").String(matcher.value);
      break;
    case Kind::kPrefix:
      json.Key("prefix").String(matcher.value);
      break;
    case Kind::kSuffix:
      json.Key("suffix").String(matcher.value);
      break;
    case Kind::kContains:
      json.Key("contains").String(matcher.value);
      break;
    case Kind::kSafeRegex:
      json.Key("safe_regex").BeginObject();
      json.Key("regex").String(matcher.value);
      json.EndObject();
      break;
  }
  json.Key("ignore_case").Bool(matcher.ignore_case);
  json.EndObject();
}

void WriteRouteMatch(JsonWriter& json, const RouteMatchSpec& match) {
  json.BeginObject();
  switch (match.path_specifier) {
    case PathMatchKind::kPrefix:
      json.Key("prefix").String(match.path);
      break;
    case PathMatchKind::kPath:
      json.Key("path").String(match.path);
      break;
    case PathMatchKind::kSafeRegex:
      json.Key("safe_regex").BeginObject();
      json.Key("regex").String(match.path);
      json.EndObject();
      break;
    case PathMatchKind::kPathSeparatedPrefix:
      json.Key("path_separated_prefix").String(match.path);
      break;
  }
  json.Key("case_sensitive").Bool(match.case_sensitive);
  json.Key("headers").BeginArray();
  for (const HeaderMatcherSpec& header : match.headers) {
    json.BeginObject();
    json.Key("name").String(header.name);
    if (header.string_match) {
      json.Key("string_match");
      WriteStringMatcher(json, *header.string_match);
    } else {
      json.Key("present_match").Bool(header.present_match);
    }
    json.Key("invert_match").Bool(header.invert_match);
    json.Key("treat_missing_header_as_empty").Bool(header.treat_missing_header_as_empty);
    json.EndObject();
  }
  json.EndArray();
  json.Key("query_parameters").BeginArray();
  for (const QueryParameterMatcherSpec& parameter : match.query_parameters) {
    json.BeginObject();
    json.Key("name").String(parameter.name);
    if (parameter.string_match) {
      json.Key("string_match");
      WriteStringMatcher(json, *parameter.string_match);
    } else {
      json.Key("present_match").Bool(true);
    }
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
}

void WriteAffinity(JsonWriter& json, const AffinityPolicy& policy) {
  json.BeginObject();
  json.Key("lookup_cluster").String(policy.lookup_cluster);
  json.Key("lookup_path").String(policy.lookup_path);
  json.Key("key").BeginObject();
  json.Key(policy.key.kind == KeySource::Kind::kHeader ? "header"
                                                       : "query_parameter")
      .String(policy.key.name);
  json.EndObject();
  json.Key("hostport_field").String(policy.hostport_field);
  json.Key("lookup_timeout").Duration(policy.lookup_timeout);
  json.Key("max_age").Duration(policy.max_age);
  json.Key("stale_age").Duration(policy.stale_age);
  json.Key("max_entries").Uint(policy.max_entries);
  json.Key("max_key_length").Uint(policy.max_key_length);
  json.Key("max_pending_lookups").Uint(policy.max_pending_lookups);
  json.Key("max_waiters_per_key").Uint(policy.max_waiters_per_key);
  json.Key("allowed_hostports").Strings(policy.allowed_hostports);
  if (policy.default_target) {
    json.Key("default_target").String(*policy.default_target);
  }
  json.Key("owner_header").String(policy.owner_header);
  json.EndObject();
}

void WriteUpgradeConfigs(JsonWriter& json,
                         const std::vector<UpgradeConfigSpec>& configs) {
  json.BeginArray();
  for (const UpgradeConfigSpec& config : configs) {
    json.BeginObject();
    json.Key("upgrade_type").String(config.upgrade_type);
    json.Key("enabled").Bool(config.enabled);
    json.EndObject();
  }
  json.EndArray();
}

void WriteRouteAction(JsonWriter& json, const RouteActionSpec& action) {
  json.BeginObject();
  json.Key("cluster").String(action.cluster);
  json.Key("timeout").Duration(action.timeout);
  if (action.retry_policy) {
    const RetryPolicySpec& retry = *action.retry_policy;
    json.Key("retry_policy").BeginObject();
    if (retry.retry_on != RetryOn::kNone) {
      json.Key("retry_on").String(RetryOnNames(retry.retry_on));
    }
    json.Key("num_retries").Uint(retry.num_retries);
    json.Key("per_try_timeout").Duration(retry.per_try_timeout);
    json.EndObject();
  }
  json.Key("hash_policy").BeginArray();
  for (const HashPolicySpec& policy : action.hash_policy) {
    json.BeginObject();
    if (policy.kind == HashPolicySpec::Kind::kHeader) {
      json.Key("header").BeginObject();
      json.Key("header_name").String(policy.name);
    } else {
      json.Key("query_parameter").BeginObject();
      json.Key("name").String(policy.name);
    }
    json.EndObject();
    json.Key("terminal").Bool(policy.terminal);
    json.EndObject();
  }
  json.EndArray();
  json.Key("upgrade_configs");
  WriteUpgradeConfigs(json, action.upgrade_configs);
  json.EndObject();
}

void WriteRouteConfig(JsonWriter& json, const RouteConfigSpec& config) {
  json.BeginObject();
  json.Key("name").String(config.name);
  json.Key("ignore_port_in_host_matching").Bool(config.ignore_port_in_host_matching);
  json.Key("virtual_hosts").BeginArray();
  for (const VirtualHostSpec& vhost : config.virtual_hosts) {
    json.BeginObject();
    json.Key("name").String(vhost.name);
    json.Key("domains").Strings(vhost.domains);
    json.Key("routes").BeginArray();
    for (const RouteSpec& route : vhost.routes) {
      json.BeginObject();
      if (!route.name.empty()) json.Key("name").String(route.name);
      json.Key("match");
      WriteRouteMatch(json, route.match);
      json.Key("route");
      WriteRouteAction(json, route.action);
      if (route.action.affinity) {
        json.Key("typed_per_filter_config").BeginObject();
        json.Key(kAffinityFilterName);
        WriteAffinity(json, *route.action.affinity);
        json.EndObject();
      }
      json.EndObject();
    }
    json.EndArray();
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
}

void WriteHttpFilter(JsonWriter& json, const HttpFilterSpec& filter,
                     const HttpConnectionManagerSpec& hcm) {
  json.BeginObject();
  json.Key("name").String(filter.name);
  if (filter.name == config_internal::kRouterFilterName) {
    json.Key("typed_config").BeginObject();
    json.Key("@type").String(kRouterFilterType);
    json.EndObject();
  } else if (filter.name == config_internal::kBufferFilterName) {
    json.Key("typed_config").BeginObject();
    json.Key("@type").String(kBufferFilterType);
    json.Key("max_request_bytes").Uint(hcm.max_request_bytes);
    json.EndObject();
  } else if (filter.dns_cache_config) {
    json.Key("typed_config").BeginObject();
    json.Key("@type").String(kDfpFilterType);
    json.Key("dns_cache_config");
    WriteDnsCache(json, *filter.dns_cache_config);
    json.EndObject();
  }
  json.EndObject();
}

void WriteListener(JsonWriter& json, const ListenerSpec& listener) {
  const HttpConnectionManagerSpec& hcm = listener.http_connection_manager;
  json.BeginObject();
  json.Key("name").String(listener.name);
  json.Key("address");
  WriteAddress(json, listener.address.address, listener.address.port);
  json.Key("filter_chains").BeginArray();
  json.BeginObject();
  json.Key("filters").BeginArray();
  json.BeginObject();
  json.Key("name").String(config_internal::kHttpConnectionManagerName);
  json.Key("typed_config").BeginObject();
  json.Key("@type").String(kHttpConnectionManagerType);
  json.Key("stat_prefix").String(hcm.stat_prefix);
  json.Key("route_config");
  WriteRouteConfig(json, hcm.route_config);
  json.Key("http_filters").BeginArray();
  for (const HttpFilterSpec& filter : hcm.http_filters) {
    WriteHttpFilter(json, filter, hcm);
  }
  json.EndArray();
  json.Key("max_request_headers_kb").Uint(hcm.max_request_headers_kb);
  json.Key("request_headers_timeout").Duration(hcm.request_headers_timeout);
  json.Key("stream_idle_timeout").Duration(hcm.stream_idle_timeout);
  json.Key("upgrade_configs");
  WriteUpgradeConfigs(json, hcm.upgrade_configs);
  json.Key("common_http_protocol_options").BeginObject();
  json.Key("idle_timeout").Duration(hcm.idle_timeout);
  json.EndObject();
  json.EndObject();  // typed_config
  json.EndObject();  // filter
  json.EndArray();
  json.EndObject();  // filter chain
  json.EndArray();
  json.EndObject();
}

void WriteCluster(JsonWriter& json, const ClusterSpec& cluster) {
  json.BeginObject();
  json.Key("name").String(cluster.name);
  switch (cluster.type) {
    case ClusterType::kStatic:
      json.Key("type").String("STATIC");
      break;
    case ClusterType::kStrictDns:
      json.Key("type").String("STRICT_DNS");
      break;
    case ClusterType::kDynamicForwardProxy:
      json.Key("cluster_type").BeginObject();
      json.Key("name").String(config_internal::kDfpClusterName);
      json.Key("typed_config").BeginObject();
      json.Key("@type").String(kDfpClusterType);
      json.Key("dns_cache_config");
      WriteDnsCache(json, *cluster.dns_cache_config);
      json.EndObject();
      json.EndObject();
      break;
  }
  json.Key("lb_policy").String(LbPolicyName(cluster.lb_policy));
  json.Key("connect_timeout").Duration(cluster.connect_timeout);
  if (cluster.type != ClusterType::kDynamicForwardProxy) {
    json.Key("load_assignment").BeginObject();
    json.Key("cluster_name").String(cluster.name);
    json.Key("endpoints").BeginArray();
    json.BeginObject();
    json.Key("lb_endpoints").BeginArray();
    for (const EndpointSpec& endpoint : cluster.endpoints) {
      json.BeginObject();
      json.Key("endpoint").BeginObject();
      json.Key("address");
      WriteAddress(json, endpoint.address, endpoint.port);
      json.EndObject();
      json.Key("load_balancing_weight").Uint(endpoint.weight);
      json.EndObject();
    }
    json.EndArray();
    json.EndObject();
    json.EndArray();
    json.EndObject();
  }
  if (cluster.type == ClusterType::kStrictDns) {
    json.Key("dns_lookup_family").String(DnsLookupFamilyName(cluster.dns_lookup_family));
    json.Key("dns_refresh_rate").Duration(cluster.dns_refresh_rate);
    json.Key("respect_dns_ttl").Bool(cluster.respect_dns_ttl);
    json.Key("typed_dns_resolver_config");
    WriteResolver(json, cluster.dns_resolver);
  }
  if (cluster.outlier_detection) {
    const OutlierDetectionSpec& outlier = *cluster.outlier_detection;
    json.Key("outlier_detection").BeginObject();
    json.Key("consecutive_5xx").Uint(outlier.consecutive_5xx);
    json.Key("consecutive_local_origin_failure")
        .Uint(outlier.consecutive_local_origin_failure);
    json.Key("base_ejection_time").Duration(outlier.base_ejection_time);
    json.Key("max_ejection_time").Duration(outlier.max_ejection_time);
    json.Key("max_ejection_percent").Uint(outlier.max_ejection_percent);
    json.EndObject();
  }
  json.Key("circuit_breakers").BeginObject();
  json.Key("thresholds").BeginArray();
  json.BeginObject();
  json.Key("priority").String("DEFAULT");
  json.Key("max_connections").Uint(cluster.max_connections);
  json.Key("max_pending_requests").Uint(cluster.max_pending_requests);
  json.Key("max_requests").Uint(cluster.max_requests);
  json.EndObject();
  json.EndArray();
  json.EndObject();
  switch (cluster.lb_policy) {
    case LbPolicy::kRingHash:
      json.Key("ring_hash_lb_config").BeginObject();
      json.Key("minimum_ring_size").Uint(cluster.ring_hash_minimum_ring_size);
      json.Key("maximum_ring_size").Uint(cluster.ring_hash_maximum_ring_size);
      json.EndObject();
      break;
    case LbPolicy::kMaglev:
      json.Key("maglev_lb_config").BeginObject();
      json.Key("table_size").Uint(cluster.maglev_table_size);
      json.EndObject();
      break;
    case LbPolicy::kLeastRequest:
      json.Key("least_request_lb_config").BeginObject();
      json.Key("choice_count").Uint(cluster.least_request_choice_count);
      json.EndObject();
      break;
    default:
      break;
  }
  json.EndObject();
}

}  // namespace

std::string DumpConfigJson(const Bootstrap& config) {
  JsonWriter json;
  json.BeginObject();
  json.Key("admin").BeginObject();
  json.Key("address");
  WriteAddress(json, config.admin.address.address, config.admin.address.port);
  json.EndObject();
  json.Key("static_resources").BeginObject();
  json.Key("listeners").BeginArray();
  for (const ListenerSpec& listener : config.listeners) WriteListener(json, listener);
  json.EndArray();
  json.Key("clusters").BeginArray();
  for (const ClusterSpec& cluster : config.clusters) WriteCluster(json, cluster);
  json.EndArray();
  json.EndObject();
  json.Key("typed_dns_resolver_config");
  WriteResolver(json, config.dns_resolver);
  json.EndObject();
  std::string out = json.Take();
  out.push_back('\n');
  return out;
}

}  // namespace homing
