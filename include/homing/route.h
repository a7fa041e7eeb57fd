// File: homing/route.h
//
// Virtual hosts and routes with Envoy v3 matching semantics. A
// `RouteConfigSpec` (plain data, what the config loader produces) is compiled
// once into an immutable `RouteTable`; `RouteTable::Match()` picks the virtual
// host by authority and then the first route whose match accepts the request.
// Matching allocates nothing.
//
// Virtual host selection (Envoy order): exact domain, then the longest
// `*.suffix` / `*-suffix` wildcard, then the longest `prefix*` / `prefix.*`
// wildcard, then `*`. A wildcard never matches the empty string. The port in
// the authority takes part in matching unless `ignore_port_in_host_matching`
// is set (then "host:port" matches a domain "host"). Domains are matched
// case-insensitively.
//
// Route match: exactly one path specifier (`prefix`, `path`, `safe_regex`,
// `path_separated_prefix`), plus all `headers` and all `query_parameters`
// matchers. `prefix` sees the whole `:path`, query included; `path`,
// `path_separated_prefix` and `safe_regex` see the path without its query
// string and fragment; `safe_regex` must match that whole path and ignores
// `case_sensitive`. The first matching route of the virtual host wins.
//
// Header matchers see a repeated header as its values joined with ',' (as
// Envoy does); ":method", ":authority" and ":path" name the request's own
// fields. Query-parameter matchers see the first value of the parameter,
// percent-decoded.
//
// Allocation: `Match()` allocates nothing, with two bounded exceptions: a
// value that must be assembled (a repeated header, a query value with
// escapes) longer than 1 KiB is assembled on the heap, and RE2 builds each
// regex's DFA lazily, so the first requests that drive a regex into new
// states allocate them (once; they are cached for the table's lifetime).
//
// Example:
//
//   homing::RouteConfigSpec spec;
//   spec.virtual_hosts.push_back({.name = "local", .domains = {"*"}});
//   spec.virtual_hosts[0].routes.push_back(
//       {.name = "join", .match = {.path_specifier = homing::PathMatchKind::kPrefix,
//                                  .path = "/join"},
//        .action = {.cluster = "dynamic_forward_proxy_cluster"}});
//   auto table = homing::RouteTable::Compile(spec);
//   const homing::Route* route = (*table)->Match(request);
//
// Thread safety: a compiled `RouteTable` is immutable; share it across threads
// (tables are handed out as `shared_ptr<const RouteTable>` and swapped whole on
// reload).

#ifndef HOMING_ROUTE_H_
#define HOMING_ROUTE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "homing/affinity_policy.h"
#include "homing/clock.h"
#include "homing/request.h"

namespace homing {

// StringMatcherSpec
//
// Envoy's `type.matcher.v3.StringMatcher`.
struct StringMatcherSpec {
  enum class Kind { kExact, kPrefix, kSuffix, kContains, kSafeRegex };
  Kind kind = Kind::kExact;
  std::string value;         // the string, or the RE2 pattern
  bool ignore_case = false;  // ignored for kSafeRegex
  bool operator==(const StringMatcherSpec&) const = default;
};

// HeaderMatcherSpec
//
// Envoy's `config.route.v3.HeaderMatcher`: either `string_match` or
// `present_match`, optionally inverted.
struct HeaderMatcherSpec {
  std::string name;
  std::optional<StringMatcherSpec> string_match;  // unset: present_match
  bool present_match = true;  // when string_match is unset
  bool invert_match = false;
  bool treat_missing_header_as_empty = false;
  bool operator==(const HeaderMatcherSpec&) const = default;
};

// QueryParameterMatcherSpec
//
// Envoy's `config.route.v3.QueryParameterMatcher`. Only the first value of a
// repeated parameter is considered; values are percent-decoded first.
struct QueryParameterMatcherSpec {
  std::string name;
  std::optional<StringMatcherSpec> string_match;  // unset: present_match
  bool operator==(const QueryParameterMatcherSpec&) const = default;
};

enum class PathMatchKind { kPrefix, kPath, kSafeRegex, kPathSeparatedPrefix };

struct RouteMatchSpec {
  PathMatchKind path_specifier = PathMatchKind::kPrefix;
  std::string path;  // the prefix, exact path, regex or separated prefix
  bool case_sensitive = true;
  std::vector<HeaderMatcherSpec> headers;
  std::vector<QueryParameterMatcherSpec> query_parameters;
  bool operator==(const RouteMatchSpec&) const = default;
};

// RetryOn
//
// Envoy's `retry_on` conditions that homing supports, as bits: the config's
// comma list is compiled once, when it loads, so a finished attempt tests
// bits instead of comparing strings.
enum class RetryOn : uint32_t {
  kNone = 0,
  k5xx = 1u << 0,             // "5xx": any 5xx, and every failure to get one
  kGatewayError = 1u << 1,    // "gateway-error": 502, 503, 504 and failures
  kConnectFailure = 1u << 2,  // "connect-failure"
  kReset = 1u << 3,           // "reset": a connect failure or a reset
  kRetriable4xx = 1u << 4,    // "retriable-4xx": 409
};

constexpr RetryOn operator|(RetryOn a, RetryOn b) {
  return static_cast<RetryOn>(static_cast<uint32_t>(a) | static_cast<uint32_t>(b));
}
constexpr RetryOn& operator|=(RetryOn& a, RetryOn b) { return a = a | b; }

// Includes()
//
// Whether `set` has any of the conditions in `conditions`.
constexpr bool Includes(RetryOn set, RetryOn conditions) {
  return (static_cast<uint32_t>(set) & static_cast<uint32_t>(conditions)) != 0;
}

// ParseRetryOn() / RetryOnName()
//
// One condition by its Envoy name ("5xx", ...); nullopt for a name homing
// does not support. `RetryOnNames()` writes a set back as Envoy's comma list,
// in the order of the enum; `kSupportedRetryOn` lists every name.
std::optional<RetryOn> ParseRetryOn(std::string_view name);
std::string RetryOnNames(RetryOn set);
inline constexpr std::string_view kSupportedRetryOn =
    "5xx, gateway-error, connect-failure, reset, retriable-4xx";

// RetryPolicySpec
//
// Envoy's `config.route.v3.RetryPolicy` subset: `retry_on` conditions,
// `num_retries` and `per_try_timeout` (zero: the route timeout).
struct RetryPolicySpec {
  RetryOn retry_on = RetryOn::kNone;
  uint32_t num_retries = 1;
  Duration per_try_timeout{0};
  bool operator==(const RetryPolicySpec&) const = default;
};

// HashPolicySpec
//
// Envoy's `RouteAction.HashPolicy` for `header` and `query_parameter`: the
// request hash consistent-hashing load balancers use. Policies are evaluated
// in order and combined; `terminal` stops at the first that yields a hash.
struct HashPolicySpec {
  enum class Kind { kHeader, kQueryParameter };
  Kind kind = Kind::kQueryParameter;
  std::string name;
  bool terminal = false;
  bool operator==(const HashPolicySpec&) const = default;
};

// UpgradeConfigSpec
//
// Envoy's `HttpConnectionManager.UpgradeConfig` and
// `RouteAction.UpgradeConfig`: whether a request asking to switch to
// `upgrade_type` ("websocket", or any other protocol token such as
// "CONNECT-UDP") may be forwarded as an upgrade. Types compare
// case-insensitively with the request's whole `Upgrade` header value.
struct UpgradeConfigSpec {
  std::string upgrade_type;
  bool enabled = true;
  bool operator==(const UpgradeConfigSpec&) const = default;
};

// RouteActionSpec
//
// What happens to a matched request: the cluster, its timeouts and retries,
// hash policies, upgrades, and the per-route config of homing's affinity
// filter (when set, the request goes to the owner the affinity lookup names
// instead of a host of `cluster`'s load balancer).
struct RouteActionSpec {
  std::string cluster;
  Duration timeout = std::chrono::seconds(15);  // Envoy's default; 0 = none
  std::optional<RetryPolicySpec> retry_policy;
  std::vector<HashPolicySpec> hash_policy;
  // Overrides the connection manager's upgrade_configs, type by type.
  std::vector<UpgradeConfigSpec> upgrade_configs;
  std::shared_ptr<const AffinityPolicy> affinity;
  bool operator==(const RouteActionSpec&) const;
};

// CheckUpgradeType()
//
// An upgrade type must be a protocol token (RFC 9110 `token`, optionally
// "/version"). InvalidArgument otherwise, and for "h2c" (homing speaks
// HTTP/1.1 to both sides, so it never switches to cleartext HTTP/2) and
// "CONNECT" (not an upgrade in HTTP/1.1; the server answers CONNECT 405).
absl::Status CheckUpgradeType(std::string_view upgrade_type);

// CheckUpgradeConfigs()
//
// Every type passes CheckUpgradeType() and none is listed twice (compared
// case-insensitively), as Envoy requires of both lists.
absl::Status CheckUpgradeConfigs(const std::vector<UpgradeConfigSpec>& configs);

// UpgradeEnabled()
//
// Envoy's decision for a request asking to upgrade to `upgrade` (the
// `Upgrade` header's value) on a route: the route's entry for that type
// decides when there is one (`enabled: false` refuses even what the
// connection manager enables; `enabled: true` allows even what it does not
// list), else the connection manager's entry, else the upgrade is refused.
// Types match case-insensitively. No allocation.
bool UpgradeEnabled(std::string_view upgrade,
                    const std::vector<UpgradeConfigSpec>& connection_manager,
                    const RouteActionSpec& route);

struct RouteSpec {
  std::string name;  // optional; defaults to "<vhost>/<index>" when compiled
  RouteMatchSpec match;
  RouteActionSpec action;
  bool operator==(const RouteSpec&) const = default;
};

struct VirtualHostSpec {
  std::string name;
  std::vector<std::string> domains;
  std::vector<RouteSpec> routes;
  bool operator==(const VirtualHostSpec&) const = default;
};

struct RouteConfigSpec {
  std::string name;
  std::vector<VirtualHostSpec> virtual_hosts;
  bool ignore_port_in_host_matching = false;
  bool operator==(const RouteConfigSpec&) const = default;
};

class RouteTable;

// Route
//
// One compiled route. Lives as long as its table.
class Route {
 public:
  // Route::name()
  //
  // The configured name, or "<virtual host name>/<index in that host>".
  const std::string& name() const { return spec_.name; }
  const RouteMatchSpec& match() const { return spec_.match; }
  const RouteActionSpec& action() const { return spec_.action; }
  const std::string& virtual_host_name() const { return *virtual_host_name_; }
  // Index of this route in its table's flat route order (stable per table);
  // handy as a dense key for per-route state.
  size_t index() const { return index_; }

 private:
  friend class RouteTable;
  Route(RouteSpec spec, const std::string* vhost, size_t index)
      : spec_(std::move(spec)), virtual_host_name_(vhost), index_(index) {}
  RouteSpec spec_;
  const std::string* virtual_host_name_;
  size_t index_;
};

// RouteTable
class RouteTable {
 public:
  ~RouteTable();
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // RouteTable::Compile()
  //
  // Validates and compiles `spec`. Errors (InvalidArgument) name the virtual
  // host and route, e.g. `virtual_hosts[0] "local" routes[2]: safe_regex
  // "(": missing )`. Rejected: a virtual host without a name or without
  // domains, a domain used twice (across or within hosts, compared
  // case-insensitively; a second `*` is such a duplicate), an empty cluster,
  // a `path_separated_prefix` that is empty, contains '?' or '#' or ends
  // with '/', a bad regex (path, header or query parameter), an empty
  // header, query parameter or hash policy name, and an empty prefix,
  // suffix or contains string matcher (Envoy's `min_len: 1`), and route
  // upgrade_configs that fail CheckUpgradeConfigs().
  static absl::StatusOr<std::shared_ptr<const RouteTable>> Compile(
      const RouteConfigSpec& spec);

  // RouteTable::Match()
  //
  // Returns the first matching route of the selected virtual host, or
  // nullptr when no virtual host or no route matches (a 404). Only routes
  // whose path prefix agrees with the request's path are tested (a per-host
  // byte index built at compile time, order preserved), so a prefix-heavy
  // host of 1,000 routes costs about what one of 10 does.
  const Route* Match(const RequestView& request) const;

  // RouteTable::route_count() / RouteTable::route()
  //
  // Every route, in virtual host order then route order; `route(i).index()`
  // is `i`.
  size_t route_count() const;
  const Route& route(size_t index) const;

 private:
  struct Impl;
  explicit RouteTable(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace homing

#endif  // HOMING_ROUTE_H_
