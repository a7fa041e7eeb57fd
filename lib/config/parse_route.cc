// Route configurations: virtual hosts, matchers, route actions and the
// per-route config of homing's affinity filter.

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/string_util.h"
#include "config/parsers.h"
#include "config/type_urls.h"
#include "homing/address.h"
#include "re2/re2.h"

namespace homing::config_internal {
namespace {

using internal::FromAbsl;
using internal::ToAbsl;

// One named field out of a protobuf `oneof`: nullopt when none is set, an
// error on the second (in document order) when several are.
struct OneOfField {
  std::string name;
  Node node;
};
absl::StatusOr<std::optional<OneOfField>> GetOneOf(
    Object& object, std::initializer_list<std::string_view> fields) {
  std::optional<OneOfField> chosen;
  for (std::string_view field : object.SetFields()) {
    if (std::find(fields.begin(), fields.end(), field) == fields.end()) continue;
    Node node = *object.Get(field);
    if (chosen) {
      return node.Error(absl::StrCat("cannot be combined with ", chosen->name));
    }
    chosen = OneOfField{std::string(field), std::move(node)};
  }
  for (std::string_view field : fields) object.Get(field);  // all understood
  return chosen;
}

std::string_view ClusterTypeName(ClusterType type) {
  switch (type) {
    case ClusterType::kStatic: return "a STATIC cluster";
    case ClusterType::kStrictDns: return "a STRICT_DNS cluster";
    case ClusterType::kDynamicForwardProxy: return "a dynamic forward proxy cluster";
  }
  return "a cluster";
}

// RFC 9110 token characters; a leading ':' names a pseudo-header.
bool IsHeaderName(std::string_view name) {
  if (!name.empty() && name.front() == ':') name.remove_prefix(1);
  if (name.empty()) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && std::string_view("!#$%&'*+-.^_`|~").find(c) ==
                                       std::string_view::npos) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::string> ReadHeaderName(Object& object, std::string_view field) {
  std::string name;
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadRequired(field, &name));
  if (!IsHeaderName(name)) {
    return object.FieldError(field, absl::StrCat("invalid header name ", Quote(name)));
  }
  return name;
}

// Envoy's RegexMatcher: `{regex}`, compiled here so a bad pattern is
// reported at its line.
absl::StatusOr<std::string> ParseRegexMatcher(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  std::string regex;
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadRequired("regex", &regex));
  // The deprecated engine selector; RE2 is the only engine either way.
  if (std::optional<Node> engine = object.Get("google_re2")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(Object google_re2, engine->AsObject());
    HOMING_CONFIG_RETURN_IF_ERROR(google_re2.Finish({"max_program_size"}));
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish());
  RE2 compiled(regex, RE2::Quiet);
  if (!compiled.ok()) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(Node regex_node, object.Require("regex"));
    return regex_node.Error(absl::StrCat("invalid regex: ", compiled.error()));
  }
  return regex;
}

absl::StatusOr<StringMatcherSpec> MatcherFrom(std::string_view field,
                                              const Node& node) {
  using Kind = StringMatcherSpec::Kind;
  if (field == "safe_regex" || field == "safe_regex_match") {
    HOMING_CONFIG_ASSIGN_OR_RETURN(std::string regex, ParseRegexMatcher(node));
    return StringMatcherSpec{.kind = Kind::kSafeRegex, .value = std::move(regex)};
  }
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::string value, node.AsString());
  Kind kind = Kind::kExact;
  if (absl::StartsWith(ToAbsl(field), "prefix")) kind = Kind::kPrefix;
  if (absl::StartsWith(ToAbsl(field), "suffix")) kind = Kind::kSuffix;
  if (absl::StartsWith(ToAbsl(field), "contains")) kind = Kind::kContains;
  if (kind != Kind::kExact && value.empty()) return node.Error("must not be empty");
  return StringMatcherSpec{.kind = kind, .value = std::move(value)};
}

absl::StatusOr<StringMatcherSpec> ParseStringMatcher(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  HOMING_CONFIG_ASSIGN_OR_RETURN(
      std::optional<OneOfField> kind,
      GetOneOf(object, {"exact", "prefix", "suffix", "contains", "safe_regex"}));
  bool ignore_case = false;
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("ignore_case", &ignore_case));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish({"custom"}));
  if (!kind) {
    return node.Error("one of exact, prefix, suffix, contains or safe_regex is required");
  }
  HOMING_CONFIG_ASSIGN_OR_RETURN(StringMatcherSpec matcher,
                                 MatcherFrom(kind->name, kind->node));
  matcher.ignore_case = ignore_case;
  return matcher;
}

absl::StatusOr<HeaderMatcherSpec> ParseHeaderMatcher(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  HeaderMatcherSpec spec;
  HOMING_CONFIG_ASSIGN_OR_RETURN(spec.name, ReadHeaderName(object, "name"));
  HOMING_CONFIG_ASSIGN_OR_RETURN(
      std::optional<OneOfField> kind,
      GetOneOf(object, {"string_match", "present_match", "exact_match",
                        "prefix_match", "suffix_match", "contains_match",
                        "safe_regex_match"}));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("invert_match", &spec.invert_match));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("treat_missing_header_as_empty",
                                            &spec.treat_missing_header_as_empty));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish({"range_match"}));
  if (!kind) return spec;  // no matcher: the header must be present
  if (kind->name == "present_match") {
    HOMING_CONFIG_ASSIGN_OR_RETURN(spec.present_match, kind->node.AsBool());
  } else if (kind->name == "string_match") {
    HOMING_CONFIG_ASSIGN_OR_RETURN(spec.string_match, ParseStringMatcher(kind->node));
  } else {
    HOMING_CONFIG_ASSIGN_OR_RETURN(spec.string_match,
                                   MatcherFrom(kind->name, kind->node));
  }
  return spec;
}

absl::StatusOr<QueryParameterMatcherSpec> ParseQueryParameterMatcher(
    const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  QueryParameterMatcherSpec spec;
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadRequired("name", &spec.name));
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::optional<OneOfField> kind,
                                 GetOneOf(object, {"string_match", "present_match"}));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish());
  if (kind && kind->name == "string_match") {
    HOMING_CONFIG_ASSIGN_OR_RETURN(spec.string_match, ParseStringMatcher(kind->node));
  } else if (kind) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(bool present, kind->node.AsBool());
    if (!present) {
      return kind->node.Error(
          "must be true (Envoy has no absence matcher for query parameters)");
    }
  }
  return spec;
}

absl::StatusOr<RouteMatchSpec> ParseRouteMatch(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  RouteMatchSpec spec;
  HOMING_CONFIG_ASSIGN_OR_RETURN(
      std::optional<OneOfField> path,
      GetOneOf(object, {"prefix", "path", "safe_regex", "path_separated_prefix"}));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("case_sensitive", &spec.case_sensitive));
  if (std::optional<Node> headers = object.Get("headers")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> items, headers->AsList());
    for (const Node& item : items) {
      HOMING_CONFIG_ASSIGN_OR_RETURN(HeaderMatcherSpec header, ParseHeaderMatcher(item));
      spec.headers.push_back(std::move(header));
    }
  }
  if (std::optional<Node> parameters = object.Get("query_parameters")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> items, parameters->AsList());
    for (const Node& item : items) {
      HOMING_CONFIG_ASSIGN_OR_RETURN(QueryParameterMatcherSpec parameter,
                                     ParseQueryParameterMatcher(item));
      spec.query_parameters.push_back(std::move(parameter));
    }
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish(
      {"runtime_fraction", "grpc", "tls_context", "dynamic_metadata",
       "connect_matcher", "path_match_policy", "filter_state", "cookies"}));
  if (!path) {
    return node.Error(
        "one of prefix, path, safe_regex or path_separated_prefix is required");
  }
  if (path->name == "safe_regex") {
    spec.path_specifier = PathMatchKind::kSafeRegex;
    HOMING_CONFIG_ASSIGN_OR_RETURN(spec.path, ParseRegexMatcher(path->node));
    return spec;
  }
  HOMING_CONFIG_ASSIGN_OR_RETURN(spec.path, path->node.AsString());
  if (path->name == "prefix") {
    spec.path_specifier = PathMatchKind::kPrefix;
  } else if (path->name == "path") {
    spec.path_specifier = PathMatchKind::kPath;
  } else {
    spec.path_specifier = PathMatchKind::kPathSeparatedPrefix;
    if (spec.path.empty() || spec.path.back() == '/' ||
        spec.path.find_first_of("?#") != std::string::npos) {
      return path->node.Error(
          "must be non-empty, contain no '?' or '#', and not end with '/'");
    }
  }
  return spec;
}

absl::StatusOr<RetryPolicySpec> ParseRetryPolicy(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  RetryPolicySpec spec;
  if (std::optional<Node> retry_on = object.Get("retry_on")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(std::string conditions, retry_on->AsString());
    for (absl::string_view condition : absl::StrSplit(conditions, ',')) {
      condition = absl::StripAsciiWhitespace(condition);
      if (condition.empty()) {
        return retry_on->Error("empty retry condition");
      }
      std::optional<RetryOn> parsed = ParseRetryOn(FromAbsl(condition));
      if (!parsed) {
        return retry_on->Error(absl::StrCat(
            "retry condition ", Quote(FromAbsl(condition)),
            " is not supported (supported: ", ToAbsl(kSupportedRetryOn), ")"));
      }
      spec.retry_on |= *parsed;
    }
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadUint("num_retries", &spec.num_retries));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("per_try_timeout", &spec.per_try_timeout));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish(
      {"retry_priority", "retry_host_predicate", "retry_options_predicates",
       "host_selection_retry_max_attempts", "retriable_status_codes",
       "retry_back_off", "rate_limited_retry_back_off", "retriable_headers",
       "retriable_request_headers", "per_try_idle_timeout"}));
  return spec;
}

absl::StatusOr<HashPolicySpec> ParseHashPolicy(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  HashPolicySpec spec;
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::optional<OneOfField> kind,
                                 GetOneOf(object, {"header", "query_parameter"}));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("terminal", &spec.terminal));
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.Finish({"cookie", "connection_properties", "filter_state"}));
  if (!kind) return node.Error("one of header or query_parameter is required");
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object source, kind->node.AsObject());
  if (kind->name == "header") {
    spec.kind = HashPolicySpec::Kind::kHeader;
    HOMING_CONFIG_ASSIGN_OR_RETURN(spec.name, ReadHeaderName(source, "header_name"));
    HOMING_CONFIG_RETURN_IF_ERROR(source.Finish({"regex_rewrite"}));
  } else {
    spec.kind = HashPolicySpec::Kind::kQueryParameter;
    HOMING_CONFIG_RETURN_IF_ERROR(source.ReadRequired("name", &spec.name));
    HOMING_CONFIG_RETURN_IF_ERROR(source.Finish());
  }
  return spec;
}

absl::StatusOr<KeySource> ParseKeySource(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::optional<OneOfField> kind,
                                 GetOneOf(object, {"query_parameter", "header"}));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish());
  if (!kind) return node.Error("one of query_parameter or header is required");
  KeySource key;
  HOMING_CONFIG_ASSIGN_OR_RETURN(key.name, kind->node.AsString());
  if (key.name.empty()) return kind->node.Error("must not be empty");
  if (kind->name == "header") {
    key.kind = KeySource::Kind::kHeader;
    if (!IsHeaderName(key.name)) {
      return kind->node.Error(absl::StrCat("invalid header name ", Quote(key.name)));
    }
  } else {
    key.kind = KeySource::Kind::kQueryParameter;
  }
  return key;
}

// An allow-list entry: "host:port" or "*.suffix:port".
absl::Status CheckHostportPattern(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::string pattern, node.AsString());
  std::string_view rest = pattern;
  bool wildcard = absl::StartsWith(pattern, "*.");
  if (wildcard) rest.remove_prefix(2);
  absl::StatusOr<HostPort> parsed = ParseHostPort(rest);
  if (!parsed.ok()) {
    return node.Error(absl::StrCat(parsed.status().message(),
                                   " (patterns are host:port or *.suffix:port)"));
  }
  if (wildcard && SocketAddress::FromIp(parsed->host, parsed->port).ok()) {
    return node.Error(absl::StrCat("invalid pattern ", Quote(pattern),
                                   ": '*.' must be followed by a DNS name"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const AffinityPolicy>> ParseAffinityPolicy(
    const Node& node, const LoadContext& context) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  if (object.Has("@type")) {
    HOMING_CONFIG_RETURN_IF_ERROR(object.CheckType(kAffinityPerRouteType));
  }
  auto policy = std::make_shared<AffinityPolicy>();
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadRequired("lookup_cluster", &policy->lookup_cluster));
  const ClusterSpec* lookup_cluster = context.FindCluster(policy->lookup_cluster);
  if (lookup_cluster == nullptr) {
    return object.FieldError("lookup_cluster", absl::StrCat("unknown cluster ",
                                                            Quote(policy->lookup_cluster)));
  }
  if (lookup_cluster->type == ClusterType::kDynamicForwardProxy) {
    return object.FieldError(
        "lookup_cluster",
        absl::StrCat(Quote(policy->lookup_cluster),
                     " is a dynamic forward proxy cluster; the lookup needs a "
                     "STATIC or STRICT_DNS cluster"));
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("lookup_path", &policy->lookup_path));
  if (!absl::StartsWith(policy->lookup_path, "/") ||
      policy->lookup_path.find_first_of("?#") != std::string::npos) {
    return object.FieldError("lookup_path",
                             "must start with '/' and contain no '?' or '#'");
  }
  if (std::optional<Node> key = object.Get("key")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(policy->key, ParseKeySource(*key));
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("hostport_field", &policy->hostport_field));
  if (policy->hostport_field.empty()) {
    return object.FieldError("hostport_field", "must not be empty");
  }
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.ReadAbove("lookup_timeout", &policy->lookup_timeout, Duration::zero()));
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.Read("max_age", &policy->max_age, Duration::zero()));
  policy->stale_age = policy->max_age;  // no stale serving unless asked for
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("stale_age", &policy->stale_age));
  if (policy->max_age == Duration::zero() && policy->stale_age != Duration::zero()) {
    return object.FieldError("stale_age",
                             "must be 0 when max_age is 0 (caching off)");
  }
  if (policy->stale_age < policy->max_age) {
    return object.FieldError(
        "stale_age", absl::StrCat("must not be less than max_age (",
                                  FormatDuration(policy->max_age), ")"));
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.ReadUint("max_entries", &policy->max_entries, 1));
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.ReadUint("max_key_length", &policy->max_key_length, 1));
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.ReadUint("max_pending_lookups", &policy->max_pending_lookups, 1));
  HOMING_CONFIG_RETURN_IF_ERROR(
      object.ReadUint("max_waiters_per_key", &policy->max_waiters_per_key, 1));
  HOMING_CONFIG_ASSIGN_OR_RETURN(Node allowed, object.Require("allowed_hostports"));
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> patterns, allowed.AsList());
  if (patterns.empty()) {
    return allowed.Error("must list at least one pattern (an empty list allows nothing)");
  }
  for (const Node& pattern : patterns) {
    HOMING_CONFIG_RETURN_IF_ERROR(CheckHostportPattern(pattern));
    policy->allowed_hostports.push_back(pattern.yaml().Scalar());
  }
  if (std::optional<Node> target = object.Get("default_target")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(std::string hostport, target->AsString());
    absl::StatusOr<HostPort> parsed = ParseHostPort(hostport);
    if (!parsed.ok()) {
      return target->Error(internal::FromAbsl(parsed.status().message()));
    }
    policy->default_target = std::move(hostport);
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("owner_header", &policy->owner_header));
  policy->owner_header = absl::AsciiStrToLower(policy->owner_header);
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish());
  return policy;
}

// `typed_per_filter_config`: only homing's affinity filter has one.
absl::StatusOr<std::shared_ptr<const AffinityPolicy>> ParsePerFilterConfig(
    const Node& node, const LoadContext& context, const HttpFilterFacts& filters) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  std::shared_ptr<const AffinityPolicy> affinity;
  for (const auto& [name, config] : object.Entries()) {
    if (name == kLuaFilterName) return config.Error(kLuaReplacedMessage);
    if (name != kAffinityFilterName) {
      return config.Error(absl::StrCat("per-route config for ", Quote(name),
                                       " is not supported by homing (only ",
                                       kAffinityFilterName, ")"));
    }
    if (!filters.has_affinity_filter) {
      return config.Error(absl::StrCat(kAffinityFilterName,
                                       " must be listed in http_filters for its "
                                       "per-route config to apply"));
    }
    HOMING_CONFIG_ASSIGN_OR_RETURN(affinity, ParseAffinityPolicy(config, context));
  }
  return affinity;
}

absl::StatusOr<RouteActionSpec> ParseRouteAction(
    const Node& node, const LoadContext& context, const HttpFilterFacts& filters,
    std::shared_ptr<const AffinityPolicy> affinity) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  RouteActionSpec spec;
  spec.affinity = std::move(affinity);
  std::optional<Node> cluster_node = object.Get("cluster");
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("timeout", &spec.timeout));
  if (std::optional<Node> retry = object.Get("retry_policy")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(spec.retry_policy, ParseRetryPolicy(*retry));
  }
  if (std::optional<Node> policies = object.Get("hash_policy")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> items, policies->AsList());
    for (const Node& item : items) {
      HOMING_CONFIG_ASSIGN_OR_RETURN(HashPolicySpec policy, ParseHashPolicy(item));
      spec.hash_policy.push_back(std::move(policy));
    }
  }
  if (std::optional<Node> upgrades = object.Get("upgrade_configs")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(spec.upgrade_configs,
                                   ParseUpgradeConfigs(*upgrades, {"connect_config"}));
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish(
      {"cluster_header", "weighted_clusters", "cluster_specifier_plugin",
       "inline_cluster_specifier_plugin", "cluster_not_found_response_code",
       "metadata_match", "prefix_rewrite", "regex_rewrite", "path_rewrite_policy",
       "host_rewrite_literal", "auto_host_rewrite", "host_rewrite_header",
       "host_rewrite_path_regex", "append_x_forwarded_host", "idle_timeout",
       "early_data_policy", "retry_policy_typed_config",
       "request_mirror_policies", "priority", "rate_limits",
       "include_vh_rate_limits", "cors", "max_grpc_timeout",
       "grpc_timeout_offset", "internal_redirect_policy",
       "internal_redirect_action", "max_internal_redirects", "hedge_policy",
       "max_stream_duration"}));
  if (!cluster_node) return object.FieldError("cluster", "missing required field");

  HOMING_CONFIG_ASSIGN_OR_RETURN(spec.cluster, cluster_node->AsString());
  const ClusterSpec* cluster = context.FindCluster(spec.cluster);
  if (cluster == nullptr) {
    return cluster_node->Error(absl::StrCat("unknown cluster ", Quote(spec.cluster)));
  }
  bool dfp = cluster->type == ClusterType::kDynamicForwardProxy;
  if (spec.affinity && !dfp) {
    return cluster_node->Error(absl::StrCat(
        "a route with ", kAffinityFilterName,
        " config must target a dynamic forward proxy cluster; ", Quote(spec.cluster),
        " is ", ToAbsl(ClusterTypeName(cluster->type))));
  }
  if (dfp && filters.dfp_cache == nullptr) {
    return cluster_node->Error(absl::StrCat(
        Quote(spec.cluster), " is a dynamic forward proxy cluster, which needs ",
        kDfpFilterName, " in http_filters"));
  }
  if (dfp && filters.dfp_cache->name != cluster->dns_cache_config->name) {
    return cluster_node->Error(absl::StrCat(
        "cluster ", Quote(spec.cluster), " uses DNS cache ",
        Quote(cluster->dns_cache_config->name), " but ", kDfpFilterName,
        " uses ", Quote(filters.dfp_cache->name), "; they must share one cache"));
  }
  return spec;
}

absl::StatusOr<RouteSpec> ParseRoute(const Node& node, const LoadContext& context,
                                     const HttpFilterFacts& filters) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  RouteSpec spec;
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("name", &spec.name));
  HOMING_CONFIG_ASSIGN_OR_RETURN(Node match, object.Require("match"));
  HOMING_CONFIG_ASSIGN_OR_RETURN(spec.match, ParseRouteMatch(match));
  std::optional<Node> action = object.Get("route");
  std::shared_ptr<const AffinityPolicy> affinity;
  if (std::optional<Node> per_filter = object.Get("typed_per_filter_config")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(affinity,
                                   ParsePerFilterConfig(*per_filter, context, filters));
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish(
      {"redirect", "direct_response", "filter_action", "non_forwarding_action",
       "metadata", "decorator", "tracing", "request_headers_to_add",
       "request_headers_to_remove", "response_headers_to_add",
       "response_headers_to_remove", "per_request_buffer_limit_bytes",
       "request_body_buffer_limit", "stat_prefix"}));
  if (!action) return object.FieldError("route", "missing required field");
  HOMING_CONFIG_ASSIGN_OR_RETURN(
      spec.action, ParseRouteAction(*action, context, filters, std::move(affinity)));
  return spec;
}

// A domain is "*", or has at most one '*', at its start or its end.
absl::Status CheckDomain(const Node& node, std::string_view domain) {
  if (domain.empty()) return node.Error("must not be empty");
  size_t star = domain.find('*');
  if (star == std::string_view::npos || domain == "*") return absl::OkStatus();
  if (domain.find('*', star + 1) != std::string_view::npos ||
      (star != 0 && star != domain.size() - 1)) {
    return node.Error(absl::StrCat(
        "invalid domain ", Quote(domain),
        ": a wildcard may only start or end a domain (\"*.example.com\", \"example.*\")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<UpgradeConfigSpec>> ParseUpgradeConfigs(
    const Node& node, std::initializer_list<std::string_view> unsupported_fields) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> items, node.AsList());
  std::vector<UpgradeConfigSpec> configs;
  for (const Node& item : items) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, item.AsObject());
    UpgradeConfigSpec config;
    HOMING_CONFIG_RETURN_IF_ERROR(object.ReadRequired("upgrade_type", &config.upgrade_type));
    HOMING_CONFIG_RETURN_IF_ERROR(object.Read("enabled", &config.enabled));
    HOMING_CONFIG_RETURN_IF_ERROR(object.Finish(unsupported_fields));
    if (absl::Status status = CheckUpgradeType(config.upgrade_type); !status.ok()) {
      return object.FieldError("upgrade_type", internal::FromAbsl(status.message()));
    }
    for (const UpgradeConfigSpec& earlier : configs) {
      if (absl::EqualsIgnoreCase(earlier.upgrade_type, config.upgrade_type)) {
        return object.FieldError(
            "upgrade_type",
            absl::StrCat("upgrade_type ", Quote(config.upgrade_type),
                         " is listed twice (types compare case-insensitively)"));
      }
    }
    configs.push_back(std::move(config));
  }
  return configs;
}

absl::StatusOr<RouteConfigSpec> ParseRouteConfig(const Node& node,
                                                 const LoadContext& context,
                                                 const HttpFilterFacts& filters) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  RouteConfigSpec spec;
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("name", &spec.name));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Read("ignore_port_in_host_matching",
                                            &spec.ignore_port_in_host_matching));
  absl::flat_hash_map<std::string, std::string> domain_owner;  // lowercased
  if (std::optional<Node> virtual_hosts = object.Get("virtual_hosts")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> items, virtual_hosts->AsList());
    for (const Node& item : items) {
      HOMING_CONFIG_ASSIGN_OR_RETURN(Object vhost_object, item.AsObject());
      VirtualHostSpec vhost;
      HOMING_CONFIG_RETURN_IF_ERROR(vhost_object.ReadRequired("name", &vhost.name));
      for (const VirtualHostSpec& earlier : spec.virtual_hosts) {
        if (earlier.name == vhost.name) {
          return vhost_object.FieldError(
              "name", absl::StrCat("duplicate virtual host name ", Quote(vhost.name)));
        }
      }
      HOMING_CONFIG_ASSIGN_OR_RETURN(Node domains_node, vhost_object.Require("domains"));
      HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> domains, domains_node.AsList());
      if (domains.empty()) return domains_node.Error("must list at least one domain");
      for (const Node& domain_node : domains) {
        HOMING_CONFIG_ASSIGN_OR_RETURN(std::string domain, domain_node.AsString());
        HOMING_CONFIG_RETURN_IF_ERROR(CheckDomain(domain_node, domain));
        auto [owner, inserted] =
            domain_owner.try_emplace(absl::AsciiStrToLower(domain), vhost.name);
        if (!inserted) {
          return domain_node.Error(absl::StrCat("domain ", Quote(domain),
                                                " is already used by virtual host ",
                                                Quote(owner->second)));
        }
        vhost.domains.push_back(std::move(domain));
      }
      if (std::optional<Node> routes = vhost_object.Get("routes")) {
        HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> route_nodes, routes->AsList());
        for (const Node& route_node : route_nodes) {
          HOMING_CONFIG_ASSIGN_OR_RETURN(RouteSpec route,
                                         ParseRoute(route_node, context, filters));
          vhost.routes.push_back(std::move(route));
        }
      }
      HOMING_CONFIG_RETURN_IF_ERROR(vhost_object.Finish(
          {"require_tls", "virtual_clusters", "rate_limits", "cors",
           "request_headers_to_add", "request_headers_to_remove",
           "response_headers_to_add", "response_headers_to_remove",
           "typed_per_filter_config", "include_request_attempt_count",
           "include_attempt_count_in_response", "retry_policy",
           "retry_policy_typed_config", "hedge_policy", "matcher",
           "request_mirror_policies", "metadata",
           "per_request_buffer_limit_bytes", "request_body_buffer_limit"}));
      spec.virtual_hosts.push_back(std::move(vhost));
    }
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish(
      {"vhds", "internal_only_headers", "response_headers_to_add",
       "response_headers_to_remove", "request_headers_to_add",
       "request_headers_to_remove", "most_specific_header_mutations_wins",
       "validate_clusters", "max_direct_response_body_size_bytes",
       "cluster_specifier_plugins", "request_mirror_policies",
       "typed_per_filter_config", "metadata", "vhost_header"}));

  // Whatever the route table would still refuse is a config error too.
  absl::StatusOr<std::shared_ptr<const RouteTable>> table = RouteTable::Compile(spec);
  if (!table.ok()) return node.Error(internal::FromAbsl(table.status().message()));
  return spec;
}

}  // namespace homing::config_internal
