// File: homing/strict_dns.h
//
// Keeps a STRICT_DNS cluster's host set fresh: every endpoint name of the
// cluster is re-resolved every `dns_refresh_rate` (or at the answer's TTL
// when `respect_dns_ttl`, never below one second), every returned address
// becomes a host (duplicates merged), and hosts that vanish are removed. A
// failed resolution keeps the previous addresses of that name. Envoy's
// semantics (reference/envoy-dfp-and-routing.md §5.2).
//
// Stats under the cluster's scope ("cluster.<name>."): update_attempt,
// update_success, update_failure, update_no_rebuild; gauge membership_total.
//
// Example:
//
//   auto updater = homing::StrictDnsUpdater::Create(dispatcher, *cluster, stats);
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
  // `cluster` must be a STRICT_DNS cluster and outlive the updater. A c-ares
  // resolver is created from the cluster's `dns_resolver` unless `resolver`
  // is given.
  static absl::StatusOr<std::unique_ptr<StrictDnsUpdater>> Create(
      Dispatcher& dispatcher, Cluster& cluster, StatsScope stats,
      std::unique_ptr<DnsResolver> resolver = nullptr);

  // StrictDnsUpdater::Start()
  //
  // Starts resolving. `on_initialized` runs once, after every endpoint name
  // has had its first answer (success or failure).
  virtual void Start(std::function<void()> on_initialized = nullptr) = 0;

  // StrictDnsUpdater::initialized()
  virtual bool initialized() const = 0;
};

}  // namespace homing

#endif  // HOMING_STRICT_DNS_H_
