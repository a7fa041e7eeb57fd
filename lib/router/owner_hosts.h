// File: lib/router/owner_hosts.h
//
// OwnerHosts: the logical hosts of one dynamic forward proxy cluster, one
// per owner hostport (the affinity answer's text). An owner's host carries
// its passive-health counters and rq_active, shows in /clusters, and is what
// the cluster's outlier detection and stats see for it.
//
// Subscribed to the cluster's DNS cache: when an owner's name resolves
// elsewhere, its old host's address is announced to the drain subscribers
// (stop reusing connections to it); the next Get() makes a new host.
//
// Thread safety: belongs to its dispatcher's thread.

#ifndef HOMING_LIB_ROUTER_OWNER_HOSTS_H_
#define HOMING_LIB_ROUTER_OWNER_HOSTS_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/callback_list.h"
#include "homing/address.h"
#include "homing/dns_cache.h"
#include "homing/upstream.h"

namespace homing::internal {

class OwnerHosts {
 public:
  using DrainCallbacks = CallbackList<const Cluster&, const Host&>;

  // `drain` is told of every owner host of `cluster` whose address left its
  // owner.
  OwnerHosts(const Cluster& cluster, DnsCache& cache, DrainCallbacks& drain);
  OwnerHosts(const OwnerHosts&) = delete;
  OwnerHosts& operator=(const OwnerHosts&) = delete;

  // OwnerHosts::Get()
  //
  // The host of owner `hostport` at `address`: the same object while the
  // owner keeps its address (no allocation), a new one when it moved. Beyond
  // twice the DNS cache's max_hosts owners, those the cache no longer holds
  // and with nothing in flight are forgotten.
  HostSharedPtr Get(std::string_view hostport, const SocketAddress& address);

  // OwnerHosts::hosts()
  //
  // Every owner host, for /clusters (unordered).
  std::vector<HostSharedPtr> hosts() const;

 private:
  void OnAddressChange(const DnsHostInfo& info);

  const Cluster& cluster_;
  DnsCache& cache_;
  DrainCallbacks& drain_;
  absl::flat_hash_map<std::string, HostSharedPtr> owners_;
  std::unique_ptr<Cancelable> subscription_;  // last: unsubscribes first
};

}  // namespace homing::internal

#endif  // HOMING_LIB_ROUTER_OWNER_HOSTS_H_
