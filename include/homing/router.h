// File: homing/router.h
//
// The routing brain, without HTTP: given a request, decide where it goes.
//
//   route match ──┬─ affinity route ─ key ─ affinity lookup ─ DNS cache ─┐
//                 └─ other route ─ cluster load balancer ─────────────────┴─ target
//
// `ClusterManager` owns what a configuration's clusters need at run time on
// one dispatcher: a `Cluster` per cluster, a `StrictDnsUpdater` per
// STRICT_DNS cluster, and one `DnsCache` per cache name (the DFP filter and
// the DFP clusters that name a cache share it, as in Envoy). `Router` owns a
// listener's compiled route table and one `AffinityLookup` per affinity
// route, and turns each request into a `RoutingDecision`: an upstream address
// to forward to (with the `:authority` to send), or a local reply.
//
// Local replies (status, error code):
//   404 no_route               no virtual host or route matches
//   400 missing_key            the affinity key is absent
//   400 empty_key              the affinity key is present but empty
//   400 invalid_key            the affinity key is longer than max_key_length
//   503 resolver_unavailable   resolver unreachable / 5xx / no resolver host
//   503 resolver_timeout       no resolver answer within lookup_timeout
//   502 bad_resolver_answer    not 200, not JSON, no hostport field
//   502 hostport_rejected      a hostport outside allowed_hostports
//   503 lookup_overflow        too many keys or waiters in flight
//   503 dns_resolution_failed  the owner's name does not resolve
//   503 dns_overflow           the DNS cache is full (max_hosts / pending)
//   503 no_healthy_upstream    the route's cluster has no host
//   503 upstream_overflow      the cluster has max_requests in flight
//
// A cached request (affinity answer and DNS entry both cached) is decided
// synchronously and without allocating (keys up to 15 bytes; longer keys
// cost one string).
//
// Example:
//
//   auto clusters = homing::ClusterManager::Create(dispatcher, bootstrap, stats);
//   (*clusters)->Start();
//   auto router = homing::Router::Create(
//       dispatcher, **clusters, bootstrap.listeners[0].http_connection_manager,
//       stats, [&] { return homing::LookupTransport::CreateCurl(dispatcher); });
//   homing::Router::Result result = (*router)->Route(request,
//       [](homing::RoutingDecision decision) { Forward(decision); });
//   if (result.decision) Forward(*result.decision);  // decided synchronously
//
// Thread safety: a ClusterManager and its Routers belong to one dispatcher's
// thread. To use several threads, give each its own (each keeps its own
// caches); they may share one StatsStore.

#ifndef HOMING_ROUTER_H_
#define HOMING_ROUTER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "homing/address.h"
#include "homing/affinity_lookup.h"
#include "homing/config_spec.h"
#include "homing/dispatcher.h"
#include "homing/dns_cache.h"
#include "homing/request.h"
#include "homing/route.h"
#include "homing/stats.h"
#include "homing/strict_dns.h"
#include "homing/upstream.h"

namespace homing {

class RequestInFlight;
namespace internal {
struct ClusterLoad;
struct InFlightSlot;
RequestInFlight Admit(const std::shared_ptr<ClusterLoad>& load, HostSharedPtr host);
}  // namespace internal

// RequestInFlight
//
// One request counted in flight in its cluster (max_requests) and on its
// host (rq_active, which LEAST_REQUEST reads and which keeps an owner host
// from being forgotten), from ClusterManager::Admit() until End() or until
// its last copy is gone. Copies share the one count; a retry moves it to
// the next host. Admitting and copying allocate nothing once warm (slots are
// recycled per cluster).
//
// Thread safety: copying and destroying are safe from any thread (a
// decision handed to another thread may end there, with its last copy);
// End(), MoveTo() and host() belong to the router's thread.
class RequestInFlight {
 public:
  RequestInFlight() = default;  // counts nothing
  RequestInFlight(const RequestInFlight& other);
  RequestInFlight(RequestInFlight&& other) noexcept;
  RequestInFlight& operator=(RequestInFlight other) noexcept;
  ~RequestInFlight();

  // RequestInFlight::active()
  //
  // Admitted and not ended.
  bool active() const;

  // RequestInFlight::End()
  //
  // Ends the count for every copy. True for the call that ended it, false
  // once ended (or for one that counts nothing).
  bool End() const;

  // RequestInFlight::host()
  //
  // The host the request is counted on now (after retries, for every
  // copy); null once ended.
  HostSharedPtr host() const;

  // RequestInFlight::MoveTo()
  //
  // The request goes on on `host` (a retry's). Nothing once ended.
  void MoveTo(HostSharedPtr host) const;

 private:
  friend RequestInFlight internal::Admit(
      const std::shared_ptr<internal::ClusterLoad>& load, HostSharedPtr host);
  explicit RequestInFlight(internal::InFlightSlot* slot) : slot_(slot) {}
  internal::InFlightSlot* slot_ = nullptr;
};

// ClusterManager
class ClusterManager {
 public:
  ~ClusterManager();

  // ClusterManager::Create()
  //
  // Builds every cluster and DNS cache of `bootstrap` (which must come from
  // the config loader, so its references are valid). Cluster stats go under
  // "cluster.<name>.", DNS cache stats under "dns_cache.<name>.". Nothing is
  // resolved until Start().
  static absl::StatusOr<std::unique_ptr<ClusterManager>> Create(
      Dispatcher& dispatcher, const Bootstrap& bootstrap, StatsStore& stats);

  // ClusterManager::Start()
  //
  // Starts STRICT_DNS resolution. `on_initialized` runs once every STRICT_DNS
  // cluster has had its first answer (immediately when there are none).
  void Start(std::function<void()> on_initialized = nullptr);

  // ClusterManager::initialized()
  //
  // `true` once every STRICT_DNS cluster has had its first answer: the
  // admin listener's /ready.
  bool initialized() const;

  // ClusterManager::OwnerHost()
  //
  // The logical host of owner `hostport` (the affinity answer's text) at
  // `address` in DYNAMIC_FORWARD_PROXY cluster `cluster`: it carries the
  // owner's passive-health counters and rq_active, feeds the cluster's stats
  // through Cluster::ReportOutcome() and shows in /clusters. The same object
  // while the owner keeps its address (no allocation), a new one when it
  // moved. Beyond twice the DNS cache's max_hosts owners, those the cache no
  // longer holds and with nothing in flight are forgotten. nullptr for
  // other clusters. The router calls it for every affinity decision.
  HostSharedPtr OwnerHost(const Cluster& cluster, std::string_view hostport,
                          const SocketAddress& address);

  // ClusterManager::OwnerHosts()
  //
  // The owner hosts of a DYNAMIC_FORWARD_PROXY cluster (empty for others),
  // in no particular order.
  std::vector<HostSharedPtr> OwnerHosts(const Cluster& cluster) const;

  // ClusterManager::AddOwnerDrainCallback()
  //
  // Subscribes `callback` to owners leaving an address: when an owner's name
  // now resolves elsewhere, it gets the DYNAMIC_FORWARD_PROXY cluster and
  // the owner's old host, whose address that cluster should no longer reuse
  // (drain keep-alive connections to it). Destroying the handle
  // unsubscribes.
  [[nodiscard]] std::unique_ptr<Cancelable> AddOwnerDrainCallback(
      std::function<void(const Cluster& cluster, const Host& host)> callback);

  // ClusterManager::Admit()
  //
  // Counts one request in flight to `cluster` (against its max_requests) and
  // on `host` (its rq_active), until the returned RequestInFlight ends. An
  // inactive one, counting `cluster.<name>.upstream_rq_overflow`, when the
  // cluster already has max_requests in flight. The router admits every
  // decision it forwards.
  RequestInFlight Admit(const Cluster& cluster, HostSharedPtr host);

  // ClusterManager::FindCluster() / FindDnsCache()
  //
  // nullptr when there is no such name.
  Cluster* FindCluster(std::string_view name) const;
  DnsCache* FindDnsCache(std::string_view name) const;

  // ClusterManager::clusters() / dns_caches()
  //
  // In configuration order, for the admin listener.
  std::vector<const Cluster*> clusters() const;
  std::vector<const DnsCache*> dns_caches() const;

 private:
  struct Impl;
  explicit ClusterManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// RoutingDecision
//
// Where one request goes. `forward()` tells which half is meaningful.
struct RoutingDecision {
  const Route* route = nullptr;  // null only for no_route

  // Forwarding (status == 0).
  SocketAddress upstream;         // the address to connect to
  std::string_view authority;     // Host to send; empty: the client's own
  Cluster* cluster = nullptr;     // the route's cluster
  // The host the attempt goes to: the balancer's pick, or for an affinity
  // route the owner's logical host (ClusterManager::OwnerHost()).
  HostSharedPtr host;
  std::optional<uint64_t> hash;   // the route's hash policy's, for retries
  uint32_t retries_left = 0;      // of the route's retry_policy
  // Counts the request in flight until Router::ReportOutcome(), or until
  // the last copy of the decision is gone (a request abandoned without an
  // outcome, e.g. the client left).
  RequestInFlight in_flight;

  // Affinity routes.
  std::string key;                        // the extracted key
  AffinityTargetSharedPtr target;         // the owner (authority points here)
  LookupOutcome::Source lookup_source = LookupOutcome::Source::kCache;
  DnsHostInfoSharedPtr dns;               // the owner's DNS entry

  // Local reply (status != 0).
  int status = 0;
  std::string_view error;  // the code from the table above
  std::string detail;      // a human-readable reason

  bool forward() const { return status == 0; }
};

// Router
class Router {
 public:
  using Callback = std::function<void(RoutingDecision decision)>;

  struct Result {
    std::optional<RoutingDecision> decision;  // decided synchronously
    std::unique_ptr<Cancelable> handle;       // or: the callback follows
    const homing::Route* route = nullptr;     // the matched route, either way
  };

  // Makes the resolver transport of each affinity lookup; an error fails
  // Router::Create().
  using TransportFactory =
      std::function<absl::StatusOr<std::unique_ptr<LookupTransport>>()>;

  ~Router();

  // Router::Create()
  //
  // Compiles `hcm`'s route table and creates an AffinityLookup per affinity
  // route (stats under "http.<stat_prefix>.affinity."), each on a transport
  // from `transports` (`LookupTransport::CreateCurl` for libcurl's;
  // homing-proxy passes one over its own HTTP client; an empty factory is
  // InvalidArgument). `clusters` must outlive the router.
  static absl::StatusOr<std::unique_ptr<Router>> Create(
      Dispatcher& dispatcher, ClusterManager& clusters,
      const HttpConnectionManagerSpec& hcm, StatsStore& stats,
      const TransportFactory& transports);

  // Router::Route()
  //
  // Decides where `request` goes. The request's views need to stay valid
  // only during the call. The callback runs once, on the dispatcher thread,
  // never from inside Route(), and only when `handle` is returned;
  // destroying the handle cancels it.
  Result Route(const RequestView& request, Callback callback);

  // Router::ReportOutcome()
  //
  // How a forwarded request ended: with Misdirected(), the one feedback
  // path. Feeds the passive health (outlier detection, host and cluster
  // stats) of the decision's host, the balancer's pick or the owner's. For
  // an affinity route a connect failure also forgets the key's answer: the
  // owner may have left the membership without a chance to answer 421, so
  // the next request asks the resolver, which names the new owner if there
  // is one (counts `affinity.owner_unreachable`; not for the default
  // target, whose failure backoff goes on). Ends the request's in-flight
  // count. An outcome counts once: later reports of the decision, through
  // any copy, are ignored. Nothing to do for local replies.
  void ReportOutcome(const RoutingDecision& decision, RequestOutcome outcome);

  // Router::RetryAttempt()
  //
  // The attempt on `decision.host` got response `status`, or none (0; then
  // `outcome` says why: kConnectFailure, kReset, kTimeout). When the route's
  // retry_policy covers that (Envoy's retry_on: 5xx, gateway-error, reset,
  // connect-failure, retriable-4xx) and retries are left, reports the
  // attempt's outcome as ReportOutcome() would, moves `decision` to the next
  // host (another of the cluster's, avoiding this one; an affinity route's
  // owner again) and returns true: send the request again to
  // `decision.upstream`. Otherwise changes nothing and returns false.
  // Whether the request can be sent again (its body kept) is the caller's.
  bool RetryAttempt(RoutingDecision& decision, int status,
                    RequestOutcome outcome);

  // Router::Misdirected()
  //
  // The target answered 421 Misdirected Request (counts
  // `affinity.owner_misdirected`). When the answer names the key's new owner
  // (`new_owner`, from the route's `owner_header`) and it passes the
  // allow-list, it becomes the key's answer: the next Route() goes there
  // without asking the resolver (AffinityLookup::Redirect()). Otherwise the
  // key's answer is forgotten so the next Route() asks the resolver. A
  // decision for the default target keeps its answer, and the key's failure
  // backoff goes on. Takes the place of ReportOutcome() (the host answered:
  // a success, and the in-flight count ends) unless the outcome was already
  // reported.
  void Misdirected(const RoutingDecision& decision,
                   std::string_view new_owner = {});

  const RouteTable& route_table() const;

 private:
  struct Impl;
  explicit Router(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace homing

#endif  // HOMING_ROUTER_H_
