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
  HostSharedPtr host;             // the balancer's pick (non-affinity routes)

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
  // How a forwarded request ended. Feeds the passive health of the
  // balancer's host (other routes); for an affinity route, a connect failure
  // is `OwnerUnreachable()`.
  void ReportOutcome(const RoutingDecision& decision, RequestOutcome outcome);

  // Router::Misdirected()
  //
  // The target answered 421 Misdirected Request: forget the key's answer so
  // the next Route() asks the resolver again (counts
  // `affinity.owner_misdirected`). A decision for the default target is left
  // alone (as by `OwnerUnreachable()`): the key's failure backoff goes on.
  void Misdirected(const RoutingDecision& decision);

  // Router::OwnerUnreachable()
  //
  // No connection could be made to the key's owner. The instance may have
  // left the membership without a chance to answer 421, so the key's answer
  // is forgotten as well: the next request asks the resolver, which names
  // the new owner if there is one (counts `affinity.owner_unreachable`).
  void OwnerUnreachable(const RoutingDecision& decision);

  const RouteTable& route_table() const;

 private:
  struct Impl;
  explicit Router(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace homing

#endif  // HOMING_ROUTER_H_
