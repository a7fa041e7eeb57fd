#include "homing/router.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/string_util.h"

namespace homing {
namespace {

using internal::ToAbsl;

// What a route leads to, resolved once at Create() so Route() does no name
// lookups.
struct RouteTarget {
  Cluster* cluster = nullptr;
  DnsCache* dns_cache = nullptr;            // affinity routes
  std::unique_ptr<AffinityLookup> lookup;   // affinity routes
};

// A request waiting for its affinity answer or its owner's DNS entry.
struct PendingRoute {
  RoutingDecision decision;
  Router::Callback callback;
  std::unique_ptr<Cancelable> waiting;  // the lookup's or the DNS cache's
};
using PendingRoutes = absl::flat_hash_map<uint64_t, std::unique_ptr<PendingRoute>>;

// Given to callers of an asynchronous Route(); destroying it forgets the
// pending request (and so cancels what it waits on). Inert once the router
// is gone.
class PendingHandle final : public Cancelable {
 public:
  PendingHandle(std::weak_ptr<PendingRoutes> pending, uint64_t id)
      : pending_(std::move(pending)), id_(id) {}
  ~PendingHandle() override {
    if (auto pending = pending_.lock()) pending->erase(id_);
  }

 private:
  std::weak_ptr<PendingRoutes> pending_;
  uint64_t id_;
};

// Either a final decision or something to wait on.
struct Step {
  std::optional<RoutingDecision> done;
  std::unique_ptr<Cancelable> waiting;
};

// Does `on` cover an attempt that got response `status`, or none (0) for
// `outcome`? Envoy's conditions: 5xx covers every 5xx and every failure to
// get a response; gateway-error 502/503/504 and those failures; reset and
// connect-failure what they say; retriable-4xx a 409.
bool RetryCovers(RetryOn on, int status, RequestOutcome outcome) {
  if (status != 0) {
    return (Includes(on, RetryOn::k5xx) && status >= 500) ||
           (Includes(on, RetryOn::kGatewayError) &&
            (status == 502 || status == 503 || status == 504)) ||
           (Includes(on, RetryOn::kRetriable4xx) && status == 409);
  }
  switch (outcome) {
    case RequestOutcome::kConnectFailure:
      return Includes(on, RetryOn::k5xx | RetryOn::kGatewayError |
                              RetryOn::kConnectFailure | RetryOn::kReset);
    case RequestOutcome::kReset:
      return Includes(on, RetryOn::k5xx | RetryOn::kGatewayError | RetryOn::kReset);
    case RequestOutcome::kTimeout:
      return Includes(on, RetryOn::k5xx | RetryOn::kGatewayError);
    case RequestOutcome::kSuccess:
    case RequestOutcome::kServerError:
      break;
  }
  return false;
}

std::string_view KeySourceName(const KeySource& key) {
  return key.kind == KeySource::Kind::kQueryParameter ? "query parameter"
                                                      : "header";
}

}  // namespace

struct Router::Impl {
  Dispatcher* dispatcher = nullptr;
  ClusterManager* clusters = nullptr;
  std::shared_ptr<const RouteTable> table;
  std::vector<RouteTarget> targets;  // by Route::index()
  std::shared_ptr<PendingRoutes> pending = std::make_shared<PendingRoutes>();
  uint64_t next_id = 0;
  StatsScope stats;
  Counter* no_route = nullptr;
  Counter* local_reply = nullptr;
  Counter* owner_misdirected = nullptr;
  Counter* owner_unreachable = nullptr;

  explicit Impl(StatsScope scope) : stats(std::move(scope)) {}

  RoutingDecision LocalReply(RoutingDecision decision, int status,
                             std::string_view error, std::string detail) {
    local_reply->Inc();
    decision.status = status;
    decision.error = error;
    decision.detail = std::move(detail);
    return decision;
  }

  Result Route(const RequestView& request, Callback callback) {
    RoutingDecision decision;
    const homing::Route* route = table->Match(request);
    if (route == nullptr) {
      no_route->Inc();
      return {LocalReply(std::move(decision), 404, "no_route",
                         absl::StrCat("no route matches ", ToAbsl(request.method),
                                      " ", ToAbsl(request.PathWithoutQuery()),
                                      " for host \"", ToAbsl(request.authority),
                                      "\"")),
              nullptr};
    }
    decision.route = route;
    RouteTarget& target = targets[route->index()];
    decision.cluster = target.cluster;
    if (route->action().retry_policy) {
      decision.retries_left = route->action().retry_policy->num_retries;
    }
    Result result =
        target.lookup == nullptr
            ? Result{ChooseClusterHost(std::move(decision), request), nullptr}
            : RouteByAffinity(std::move(decision), target, request,
                              std::move(callback));
    result.route = route;
    return result;
  }

  // The decision forwards: count it in flight, unless its cluster is full.
  RoutingDecision Admit(RoutingDecision decision) {
    decision.in_flight = clusters->Admit(*decision.cluster, decision.host);
    if (decision.in_flight.active()) return decision;
    const uint32_t max_requests = decision.cluster->spec().max_requests;
    std::string detail = absl::StrCat("cluster \"", decision.cluster->name(),
                                      "\" has max_requests (", max_requests,
                                      ") requests in flight");
    return LocalReply(std::move(decision), 503, "upstream_overflow",
                      std::move(detail));
  }

  RoutingDecision ChooseClusterHost(RoutingDecision decision,
                                    const RequestView& request) {
    decision.hash =
        ComputeRequestHash(decision.route->action().hash_policy, request);
    decision.host = decision.cluster->ChooseHost({.hash = decision.hash});
    if (decision.host == nullptr) {
      return LocalReply(std::move(decision), 503, "no_healthy_upstream",
                        absl::StrCat("cluster \"", decision.cluster->name(),
                                     "\" has no hosts"));
    }
    decision.upstream = decision.host->address();
    return Admit(std::move(decision));
  }

  Result RouteByAffinity(RoutingDecision decision, RouteTarget& target,
                         const RequestView& request, Callback callback) {
    const AffinityPolicy& policy = target.lookup->policy();
    switch (ExtractAffinityKey(policy, request, &decision.key)) {
      case KeyStatus::kOk:
        break;
      case KeyStatus::kMissing:
        return {LocalReply(std::move(decision), 400, "missing_key",
                           absl::StrCat(ToAbsl(KeySourceName(policy.key)), " \"",
                                        policy.key.name, "\" is required")),
                nullptr};
      case KeyStatus::kEmpty:
        return {LocalReply(std::move(decision), 400, "empty_key",
                           absl::StrCat(ToAbsl(KeySourceName(policy.key)), " \"",
                                        policy.key.name, "\" is empty")),
                nullptr};
      case KeyStatus::kTooLong:
        return {LocalReply(std::move(decision), 400, "invalid_key",
                           absl::StrCat(ToAbsl(KeySourceName(policy.key)), " \"",
                                        policy.key.name, "\" is longer than ",
                                        policy.max_key_length, " bytes")),
                nullptr};
    }
    uint64_t id = next_id++;
    AffinityLookup::Result lookup = target.lookup->Lookup(
        decision.key,
        [this, id](const LookupOutcome& outcome) { OnLookup(id, outcome); });
    if (!lookup.outcome) {
      return Park(id, std::move(decision), std::move(callback),
                  std::move(lookup.handle));
    }
    Step step = AfterLookup(decision, target, *lookup.outcome, id);
    if (step.done) return {std::move(step.done), nullptr};
    return Park(id, std::move(decision), std::move(callback),
                std::move(step.waiting));
  }

  Result Park(uint64_t id, RoutingDecision decision, Callback callback,
              std::unique_ptr<Cancelable> waiting) {
    auto route = std::make_unique<PendingRoute>();
    route->decision = std::move(decision);
    route->callback = std::move(callback);
    route->waiting = std::move(waiting);
    pending->emplace(id, std::move(route));
    return {std::nullopt, std::make_unique<PendingHandle>(pending, id)};
  }

  // The lookup ended: reply on failure, else load the owner's DNS entry.
  // `decision` is left intact when the step has to wait.
  Step AfterLookup(RoutingDecision& decision, const RouteTarget& target,
                   const LookupOutcome& outcome, uint64_t id) {
    decision.lookup_source = outcome.source;
    if (!outcome.ok()) {
      auto [status, error] = LookupFailureReply(outcome.failure);
      return {LocalReply(std::move(decision), status, error,
                         std::string(outcome.error.message())),
              nullptr};
    }
    decision.target = outcome.target;
    decision.authority = decision.target->hostport;
    DnsCache::LoadResult load = target.dns_cache->Load(
        decision.target->hostport, decision.target->parsed.port,
        [this, id](const DnsHostInfoSharedPtr& info) { OnDns(id, info); });
    switch (load.status) {
      case DnsCache::LoadStatus::kInCache:
        return {WithDnsAnswer(std::move(decision), load.host_info), nullptr};
      case DnsCache::LoadStatus::kLoading:
        return {std::nullopt, std::move(load.handle)};
      case DnsCache::LoadStatus::kOverflow:
        break;
    }
    std::string detail = absl::StrCat("DNS cache \"",
                                      target.dns_cache->config().name,
                                      "\" is full; cannot resolve \"",
                                      decision.target->parsed.host, "\"");
    return {LocalReply(std::move(decision), 503, "dns_overflow", std::move(detail)),
            nullptr};
  }

  RoutingDecision WithDnsAnswer(RoutingDecision decision,
                                const DnsHostInfoSharedPtr& info) {
    decision.dns = info;
    if (info == nullptr || !info->has_address()) {
      std::string detail = absl::StrCat(
          "DNS resolution of \"", decision.target->parsed.host, "\" failed",
          info ? absl::StrCat(": ", info->last_status.message()) : "");
      return LocalReply(std::move(decision), 503, "dns_resolution_failed",
                        std::move(detail));
    }
    decision.upstream = info->address();
    decision.host = clusters->OwnerHost(*decision.cluster, decision.authority,
                                        decision.upstream);
    return Admit(std::move(decision));
  }

  static std::pair<int, std::string_view> LookupFailureReply(
      LookupOutcome::Failure failure) {
    switch (failure) {
      case LookupOutcome::Failure::kResolverTimeout:
        return {503, "resolver_timeout"};
      case LookupOutcome::Failure::kBadAnswer:
        return {502, "bad_resolver_answer"};
      case LookupOutcome::Failure::kHostportRejected:
        return {502, "hostport_rejected"};
      case LookupOutcome::Failure::kOverflow:
        return {503, "lookup_overflow"};
      case LookupOutcome::Failure::kNone:
      case LookupOutcome::Failure::kResolverUnavailable:
        break;
    }
    return {503, "resolver_unavailable"};
  }

  void OnLookup(uint64_t id, const LookupOutcome& outcome) {
    auto it = pending->find(id);
    if (it == pending->end()) return;
    PendingRoute& route = *it->second;
    Step step = AfterLookup(route.decision,
                            targets[route.decision.route->index()], outcome, id);
    if (step.done) {
      Finish(id, std::move(*step.done));
    } else {
      route.waiting = std::move(step.waiting);
    }
  }

  void OnDns(uint64_t id, const DnsHostInfoSharedPtr& info) {
    auto it = pending->find(id);
    if (it == pending->end()) return;
    Finish(id, WithDnsAnswer(std::move(it->second->decision), info));
  }

  // Invalidates the key of an affinity decision; false for other routes and
  // for the default target, which no resolver named: forgetting would end
  // the key's failure backoff and send the next request to a failing
  // resolver at once.
  bool ForgetOwner(const RoutingDecision& decision,
                   std::string_view new_owner = {}) {
    if (decision.route == nullptr) return false;
    if (decision.lookup_source == LookupOutcome::Source::kDefaultTarget) return false;
    RouteTarget& target = targets[decision.route->index()];
    if (target.lookup == nullptr) return false;
    if (new_owner.empty() || !target.lookup->Redirect(decision.key, new_owner)) {
      target.lookup->Invalidate(decision.key);
    }
    return true;
  }

  // A forwarded decision whose outcome is still to come: outcomes count
  // once, whichever copy of the decision reports them.
  static bool InFlight(const RoutingDecision& decision) {
    return decision.forward() && decision.in_flight.active();
  }

  // Feeds the health of `host`, the decision's attempt's; a connect
  // failure to an affinity route's owner also forgets the key's answer.
  void ReportAttempt(const RoutingDecision& decision, const Host& host,
                     RequestOutcome outcome) {
    decision.cluster->ReportOutcome(host, outcome);
    if (outcome == RequestOutcome::kConnectFailure && ForgetOwner(decision)) {
      owner_unreachable->Inc();
    }
  }

  void Finish(uint64_t id, RoutingDecision decision) {
    auto it = pending->find(id);
    std::unique_ptr<PendingRoute> route = std::move(it->second);
    pending->erase(it);
    route->callback(std::move(decision));
  }
};

Router::Router(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Router::~Router() = default;

absl::StatusOr<std::unique_ptr<Router>> Router::Create(
    Dispatcher& dispatcher, ClusterManager& clusters,
    const HttpConnectionManagerSpec& hcm, StatsStore& stats,
    const TransportFactory& transports) {
  if (!transports) {
    return absl::InvalidArgumentError("Router::Create: no transport factory");
  }
  absl::StatusOr<std::shared_ptr<const RouteTable>> table =
      RouteTable::Compile(hcm.route_config);
  if (!table.ok()) return table.status();

  StatsScope scope = stats.Scope(absl::StrCat("http.", hcm.stat_prefix, "."));
  auto impl = std::make_unique<Impl>(scope);
  impl->dispatcher = &dispatcher;
  impl->clusters = &clusters;
  impl->table = *std::move(table);
  impl->no_route = &scope.Counter("no_route");
  impl->local_reply = &scope.Counter("rq_local_reply");
  impl->owner_misdirected = &scope.Counter("affinity.owner_misdirected");
  impl->owner_unreachable = &scope.Counter("affinity.owner_unreachable");

  impl->targets.resize(impl->table->route_count());
  for (size_t i = 0; i < impl->table->route_count(); ++i) {
    const homing::Route& route = impl->table->route(i);
    RouteTarget& target = impl->targets[i];
    target.cluster = clusters.FindCluster(route.action().cluster);
    if (target.cluster == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("route \"", route.name(), "\": unknown cluster \"",
                       route.action().cluster, "\""));
    }
    const bool dynamic =
        target.cluster->spec().type == ClusterType::kDynamicForwardProxy;
    const std::shared_ptr<const AffinityPolicy>& policy = route.action().affinity;
    if (dynamic != (policy != nullptr)) {
      // Dialing a client-supplied Host would make homing an open proxy: a
      // dynamic forward proxy cluster is only reached through the affinity
      // lookup, whose answers pass the allow-list.
      return absl::InvalidArgumentError(absl::StrCat(
          "route \"", route.name(), "\": ",
          dynamic ? "a dynamic forward proxy cluster needs the affinity filter"
                  : "the affinity filter needs a dynamic forward proxy cluster"));
    }
    if (policy == nullptr) continue;
    target.dns_cache =
        clusters.FindDnsCache(target.cluster->spec().dns_cache_config->name);
    Cluster* lookup_cluster = clusters.FindCluster(policy->lookup_cluster);
    if (target.dns_cache == nullptr || lookup_cluster == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "route \"", route.name(), "\": unknown lookup cluster or DNS cache"));
    }
    absl::StatusOr<std::unique_ptr<LookupTransport>> transport = transports();
    if (!transport.ok()) return transport.status();
    absl::StatusOr<std::unique_ptr<AffinityLookup>> lookup =
        AffinityLookup::Create(dispatcher, *policy, *lookup_cluster,
                               scope.Scope("affinity."), *std::move(transport));
    if (!lookup.ok()) {
      return absl::Status(lookup.status().code(),
                          absl::StrCat("route \"", route.name(), "\": ",
                                       lookup.status().message()));
    }
    target.lookup = *std::move(lookup);
  }
  return std::unique_ptr<Router>(new Router(std::move(impl)));
}

Router::Result Router::Route(const RequestView& request, Callback callback) {
  return impl_->Route(request, std::move(callback));
}

void Router::ReportOutcome(const RoutingDecision& decision,
                           RequestOutcome outcome) {
  if (!decision.forward()) return;
  // The host the request is on now, whichever copy reports (a retry
  // through another copy moved it); only the call that ends the count
  // reports.
  const HostSharedPtr host = decision.in_flight.host();
  if (!decision.in_flight.End()) return;
  impl_->ReportAttempt(decision, *host, outcome);
}

bool Router::RetryAttempt(RoutingDecision& decision, int status,
                          RequestOutcome outcome) {
  if (!impl_->InFlight(decision) || decision.retries_left == 0) return false;
  const std::optional<RetryPolicySpec>& policy =
      decision.route->action().retry_policy;
  if (!policy || !RetryCovers(policy->retry_on, status, outcome)) return false;
  HostSharedPtr next =
      decision.target != nullptr
          ? decision.host
          : decision.cluster->ChooseHost(
                {.hash = decision.hash, .avoid = decision.host.get()});
  if (next == nullptr) return false;
  --decision.retries_left;
  impl_->ReportAttempt(decision, *decision.in_flight.host(), outcome);
  decision.host = std::move(next);
  decision.upstream = decision.host->address();
  decision.in_flight.MoveTo(decision.host);
  return true;
}

void Router::Misdirected(const RoutingDecision& decision,
                         std::string_view new_owner) {
  if (!decision.forward()) return;
  // The instance answered (a success, if nobody reported yet); it just no
  // longer owns the key.
  const HostSharedPtr host = decision.in_flight.host();
  if (decision.in_flight.End()) {
    impl_->ReportAttempt(decision, *host, RequestOutcome::kSuccess);
  }
  if (impl_->ForgetOwner(decision, new_owner)) impl_->owner_misdirected->Inc();
}

const RouteTable& Router::route_table() const { return *impl_->table; }

}  // namespace homing
