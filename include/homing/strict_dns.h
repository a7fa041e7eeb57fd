// File: homing/strict_dns.h
//
// Keeps a STRICT_DNS cluster's host set fresh: every endpoint name of the
// cluster is re-resolved every `dns_refresh_rate` (or at the answer's TTL
// when `respect_dns_ttl`, never below one second), every returned address
// becomes a host (duplicates merged), and hosts that vanish are removed. A
// failed resolution keeps the previous addresses of that name. Envoy's
// semantics (reference/envoy-dfp-and-routing.md §5.2). An endpoint that is an
// IP literal is a fixed member and never queries DNS. Cluster::SetHosts()
// takes one hostname for the whole set, which is how the cluster finds the
// endpoint's weight; so weights apply only when all endpoints share a name.
//
// Stats under the cluster's scope ("cluster.<name>."): update_attempt,
// update_success, update_failure, update_no_rebuild (a good answer that
// changed nothing). The cluster itself keeps membership_total.
//
// Example:
//
//   auto updater = homing::StrictDnsUpdater::Create(dispatcher, *cluster,
//                                                   store.Scope(""));
//   (*updater)->Start([] { std::puts("resolver cluster has its first hosts"); });
//
// Thread safety: belongs to its dispatcher's thread, like the cluster.

#ifndef HOMING_STRICT_DNS_H_
#define HOMING_STRICT_DNS_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "homing/dispatcher.h"
#include "homing/dns_cache.h"
#include "homing/stats.h"
#include "homing/upstream.h"

namespace homing {

class StrictDnsUpdater {
 public:
  virtual ~StrictDnsUpdater() = default;

  // StrictDnsUpdater::Create()
  //
  // `cluster` must be a STRICT_DNS cluster and outlive the updater, as must
  // `dispatcher`. A c-ares resolver is created from the cluster's
  // `dns_resolver` (5s query timeout) unless `resolver` is given. Stats are
  // registered under "cluster.<name>." inside `stats` (pass the store's root
  // scope). InvalidArgument for another cluster type or a resolver that is
  // not an IP address (Cluster::Create() has validated the rest).
  static absl::StatusOr<std::unique_ptr<StrictDnsUpdater>> Create(
      Dispatcher& dispatcher, Cluster& cluster, StatsScope stats,
      std::unique_ptr<DnsResolver> resolver = nullptr);

  // StrictDnsUpdater::Start()
  //
  // Starts resolving. `on_initialized` runs once, after every endpoint name
  // has had its first answer (success or failure), never from inside
  // Start(). The set passed to Cluster::SetHosts() carries the endpoints'
  // name as hostname when they all share one, else an empty hostname.
  virtual void Start(std::function<void()> on_initialized = nullptr) = 0;

  // StrictDnsUpdater::initialized()
  virtual bool initialized() const = 0;
};

}  // namespace homing

#endif  // HOMING_STRICT_DNS_H_
