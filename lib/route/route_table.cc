#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "homing/route.h"
#include "route/route_candidate_index.h"
#include "route/route_matcher.h"
#include "route/virtual_host_selector.h"

namespace homing {
namespace {

using internal::FromAbsl;
using internal::ToAbsl;
using route_internal::DescribeField;
using route_internal::RouteCandidateIndex;
using route_internal::RouteMatcher;
using route_internal::VirtualHostSelector;

struct CompiledRoute {
  RouteMatcher matcher;
  const Route* route;
};

struct CompiledVirtualHost {
  std::vector<CompiledRoute> routes;
  RouteCandidateIndex index;  // over `routes`
};

absl::Status Invalid(std::string_view where, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(where), ": ", ToAbsl(why)));
}

absl::Status ValidateAction(const RouteActionSpec& action) {
  if (action.cluster.empty()) {
    return absl::InvalidArgumentError("cluster must not be empty");
  }
  for (size_t i = 0; i < action.hash_policy.size(); ++i) {
    if (action.hash_policy[i].name.empty()) {
      return Invalid(DescribeField("hash_policy", i, ""),
                     "name must not be empty");
    }
  }
  if (absl::Status status = CheckUpgradeConfigs(action.upgrade_configs);
      !status.ok()) {
    return Invalid("upgrade_configs", FromAbsl(status.message()));
  }
  return absl::OkStatus();
}

}  // namespace

bool RouteActionSpec::operator==(const RouteActionSpec& other) const {
  bool same_affinity =
      affinity == other.affinity ||
      (affinity && other.affinity && *affinity == *other.affinity);
  return same_affinity && cluster == other.cluster &&
         timeout == other.timeout && retry_policy == other.retry_policy &&
         hash_policy == other.hash_policy &&
         upgrade_configs == other.upgrade_configs;
}

struct RouteTable::Impl {
  explicit Impl(bool ignore_port) : selector(ignore_port) {}

  std::deque<std::string> virtual_host_names;  // stable for Route pointers
  std::vector<std::unique_ptr<const Route>> routes;  // flat order
  std::vector<CompiledVirtualHost> virtual_hosts;
  VirtualHostSelector selector;
};

RouteTable::RouteTable(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RouteTable::~RouteTable() = default;

absl::StatusOr<std::shared_ptr<const RouteTable>> RouteTable::Compile(
    const RouteConfigSpec& spec) {
  auto impl = std::make_unique<Impl>(spec.ignore_port_in_host_matching);
  for (size_t h = 0; h < spec.virtual_hosts.size(); ++h) {
    const VirtualHostSpec& host = spec.virtual_hosts[h];
    std::string host_where = DescribeField("virtual_hosts", h, host.name);
    if (host.name.empty()) return Invalid(host_where, "name must not be empty");
    if (host.domains.empty()) {
      return Invalid(host_where, "domains must not be empty");
    }
    for (const std::string& domain : host.domains) {
      std::optional<uint32_t> owner =
          impl->selector.Add(domain, static_cast<uint32_t>(h));
      if (!owner) continue;
      if (*owner == h) {
        return Invalid(host_where,
                       absl::StrCat("domain \"", domain, "\" is listed twice"));
      }
      return Invalid(
          host_where,
          absl::StrCat(
              "domain \"", domain, "\" is already used by ",
              DescribeField("virtual_hosts", *owner,
                            spec.virtual_hosts[*owner].name),
              domain == "*" ? " (only one virtual host may use \"*\")" : ""));
    }

    const std::string* host_name =
        &impl->virtual_host_names.emplace_back(host.name);
    std::vector<CompiledRoute> routes;
    for (size_t r = 0; r < host.routes.size(); ++r) {
      const RouteSpec& route = host.routes[r];
      std::string route_where =
          absl::StrCat(host_where, " ", DescribeField("routes", r, route.name));
      if (absl::Status status = ValidateAction(route.action); !status.ok()) {
        return Invalid(route_where, FromAbsl(status.message()));
      }
      absl::StatusOr<RouteMatcher> matcher = RouteMatcher::Compile(route.match);
      if (!matcher.ok()) {
        return Invalid(route_where, FromAbsl(matcher.status().message()));
      }
      RouteSpec named = route;
      if (named.name.empty()) named.name = absl::StrCat(host.name, "/", r);
      std::unique_ptr<const Route> compiled(
          new Route(std::move(named), host_name, impl->routes.size()));
      routes.push_back({*std::move(matcher), compiled.get()});
      impl->routes.push_back(std::move(compiled));
    }
    std::vector<std::string_view> required_prefixes;
    for (const CompiledRoute& route : routes) {
      required_prefixes.push_back(route.matcher.required_path_prefix());
    }
    RouteCandidateIndex index(required_prefixes);
    impl->virtual_hosts.push_back({std::move(routes), std::move(index)});
  }
  return std::shared_ptr<const RouteTable>(new RouteTable(std::move(impl)));
}

const Route* RouteTable::Match(const RequestView& request) const {
  std::optional<uint32_t> host = impl_->selector.Select(request.authority);
  if (!host) return nullptr;
  const CompiledVirtualHost& virtual_host = impl_->virtual_hosts[*host];
  for (uint32_t candidate : virtual_host.index.Candidates(request.path)) {
    const CompiledRoute& route = virtual_host.routes[candidate];
    if (route.matcher.Matches(request)) return route.route;
  }
  return nullptr;
}

size_t RouteTable::route_count() const { return impl_->routes.size(); }

const Route& RouteTable::route(size_t index) const {
  return *impl_->routes[index];
}

}  // namespace homing
