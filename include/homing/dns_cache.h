// File: homing/dns_cache.h
//
// The DNS cache of Envoy's dynamic forward proxy, on c-ares, driven by a
// `Dispatcher`. Entries are keyed "host:port"; an IP literal never queries
// DNS. A load completes synchronously from cache (`kInCache`), or returns
// `kLoading` with a handle and calls back once (destroying the handle cancels
// the callback), or `kOverflow` when `max_hosts` or `max_pending_requests`
// would be exceeded. Many loads of one host share one query.
//
// Each host refreshes at max(dns_min_refresh_rate, TTL) after a good answer
// (dns_refresh_rate when the answer carries no TTL), and with jittered
// exponential backoff between dns_failure_refresh_rate's base and max after a
// failure (a fixed dns_refresh_rate when that is unset). A failed refresh
// keeps the last good address. A host whose first resolution failed is
// `kInCache` with no address (and `last_status` saying why) until its next
// refresh, so callers fail fast instead of queueing (Envoy PR #21810).
//
// host_ttl: a host nobody loaded for host_ttl is evicted, but, as in Envoy,
// only when its refresh timer fires. To keep the clock off the hit path a
// load is noted as "used", and the next refresh records that time as the
// last use; so a host goes at the first refresh more than host_ttl after the
// refresh that followed its last load: never sooner than host_ttl after that
// load, at most about two refresh intervals later.
//
// Stats (Envoy's names) under "dns_cache.<name>.": dns_query_attempt,
// dns_query_success, dns_query_failure, dns_query_timeout (also counted in
// dns_query_failure), host_added, host_removed, host_address_changed (also
// when a host gets its first address, as in Envoy), host_overflow,
// dns_rq_pending_overflow, cache_load (one per Load); gauge num_hosts.
//
// Hot path: `Load()` of a resolved host neither allocates nor locks; pass a
// callback small enough for std::function's inline storage (a lambda
// capturing one or two pointers) to keep it that way.
//
// Example:
//
//   auto cache = homing::DnsCache::Create(dispatcher, config, store.Scope(""));
//   auto result = (*cache)->Load("server-1.server-headless:8081", 8081,
//       [](const homing::DnsHostInfoSharedPtr& info) { Dial(info); });
//   if (result.status == homing::DnsCache::LoadStatus::kInCache) Dial(result.host_info);
//
// Thread safety: a DnsCache belongs to its dispatcher's thread. DnsHostInfo
// snapshots are immutable and may be read anywhere.

#ifndef HOMING_DNS_CACHE_H_
#define HOMING_DNS_CACHE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "homing/address.h"
#include "homing/cancelable.h"
#include "homing/clock.h"
#include "homing/dispatcher.h"
#include "homing/dns_config.h"
#include "homing/stats.h"

namespace homing {

// DnsAnswer
//
// What one resolution produced. `addresses` carry port 0.
struct DnsAnswer {
  absl::Status status;  // NotFound (NXDOMAIN / no data), DeadlineExceeded,
                        // Unavailable (server unreachable), ...
  std::vector<SocketAddress> addresses;
  Duration ttl{0};  // smallest record TTL; 0 when unknown
};

// DnsSrvRecord / DnsSrvAnswer
//
// The SRV records of a service name (RFC 2782): `target` without the
// trailing dot.
struct DnsSrvRecord {
  std::string target;
  uint16_t port = 0;
  uint16_t priority = 0;
  uint16_t weight = 0;
};
struct DnsSrvAnswer {
  absl::Status status;  // as DnsAnswer's
  std::vector<DnsSrvRecord> records;
};

// DnsResolver
//
// One name → addresses, asynchronously; also SRV records and reverse
// (PTR) names, which service discovery uses. `CreateAres()` is the real
// one; tests may script their own.
class DnsResolver {
 public:
  using Callback = std::function<void(DnsAnswer answer)>;
  using SrvCallback = std::function<void(DnsSrvAnswer answer)>;
  // The name an address's PTR record gives, without the trailing dot.
  using NameCallback = std::function<void(absl::StatusOr<std::string> name)>;
  virtual ~DnsResolver() = default;

  // DnsResolver::Resolve()
  //
  // Starts a query and calls `callback` once on the dispatcher's thread,
  // never from inside Resolve(). Destroying the returned handle before then
  // cancels the callback; destroying it from inside the callback is allowed.
  // A failed answer's status carries the resolver's error text.
  virtual std::unique_ptr<Cancelable> Resolve(std::string_view name,
                                              DnsLookupFamily family,
                                              Callback callback) = 0;

  // DnsResolver::ResolveSrv() / ReverseLookup()
  //
  // As Resolve(), for the SRV records of `name` and the PTR name of
  // `address`. A resolver that cannot (the default) answers Unimplemented at
  // once, without a handle.
  virtual absl::StatusOr<std::unique_ptr<Cancelable>> ResolveSrv(
      std::string_view name, SrvCallback callback);
  virtual absl::StatusOr<std::unique_ptr<Cancelable>> ReverseLookup(
      const SocketAddress& address, NameCallback callback);

  // DnsResolver::CreateAres()
  //
  // A c-ares channel driven by `dispatcher` (sock-state callback,
  // ares_process_fd, ares_timeout). Servers come from `config.resolvers`
  // ("ip:port"), else resolv.conf. `query_timeout` bounds each resolution
  // exactly (DeadlineExceeded); zero leaves timeouts to c-ares (4 tries of
  // 5s). Fails with InvalidArgument for a resolver that is not an IP address.
  static absl::StatusOr<std::unique_ptr<DnsResolver>> CreateAres(
      Dispatcher& dispatcher, const DnsResolverConfig& config,
      Duration query_timeout);
};

// DnsHostInfo
//
// An immutable snapshot of one cache entry, replaced (not mutated) when a
// refresh changes it.
struct DnsHostInfo {
  std::string host;  // as loaded, without port
  uint16_t port = 0;
  // Resolved addresses with `port` applied, in family preference order;
  // empty when no resolution has succeeded yet.
  std::vector<SocketAddress> addresses;
  absl::Status last_status;  // of the most recent resolution
  Duration ttl{0};
  MonotonicTime resolved_at;

  bool has_address() const { return !addresses.empty(); }
  const SocketAddress& address() const { return addresses.front(); }
};
using DnsHostInfoSharedPtr = std::shared_ptr<const DnsHostInfo>;

// ValidateDnsCacheConfig()
//
// Checks Envoy's constraints (InvalidArgument naming the field): a name,
// dns_refresh_rate >= 1ms, dns_min_refresh_rate >= 1s, host_ttl > 0,
// max_hosts > 0, dns_query_timeout >= 0, dns_failure_refresh_rate base > 1ms
// and max >= base, preresolve_hostnames as "host:port" and no more of them
// than max_hosts, resolvers as IP addresses.
absl::Status ValidateDnsCacheConfig(const DnsCacheConfig& config);

// DnsCache
class DnsCache {
 public:
  enum class LoadStatus { kInCache, kLoading, kOverflow };

  // Completion of a `kLoading` load: the entry after its first resolution
  // (check `has_address()`; `last_status` says why not).
  using LoadCallback = std::function<void(const DnsHostInfoSharedPtr& info)>;
  // Called on every address change of any host (for draining pools).
  using UpdateCallback = std::function<void(const DnsHostInfoSharedPtr& info)>;

  struct LoadResult {
    LoadStatus status = LoadStatus::kOverflow;
    std::unique_ptr<Cancelable> handle;  // kLoading only
    DnsHostInfoSharedPtr host_info;      // kInCache only
  };

  virtual ~DnsCache() = default;

  // DnsCache::Create()
  //
  // Validates `config` (see ValidateDnsCacheConfig()), creates a c-ares
  // resolver unless `resolver` is given, and starts resolving
  // `preresolve_hostnames`. Stats are registered under
  // "dns_cache.<name>." inside `stats` (pass the store's root scope to get
  // Envoy's names). `dispatcher` must outlive the cache.
  static absl::StatusOr<std::unique_ptr<DnsCache>> Create(
      Dispatcher& dispatcher, const DnsCacheConfig& config, StatsScope stats,
      std::unique_ptr<DnsResolver> resolver = nullptr);

  // DnsCache::Load()
  //
  // `host` may carry a port ("name:8081", "[::1]:80"); otherwise
  // `default_port` applies. Marks the entry used (for host_ttl). Results:
  //  - kInCache: the entry has had its first answer (`host_info` may have no
  //    address: a cached failure). An IP literal is always kInCache and never
  //    queries DNS. A host that is not a valid "host[:port]" is kInCache with
  //    no address and an InvalidArgument `last_status`; it is not stored.
  //  - kLoading: `callback` runs once with the first answer, later, never
  //    from inside Load(); destroying `handle` first cancels it.
  //  - kOverflow: the host is new and the cache holds max_hosts entries
  //    (host_overflow), or max_pending_requests loads are already waiting
  //    (dns_rq_pending_overflow). Unlike Envoy, a cache hit never counts
  //    against max_pending_requests.
  virtual LoadResult Load(std::string_view host, uint16_t default_port,
                          LoadCallback callback) = 0;

  // DnsCache::Find()
  //
  // The entry for "host:port" (as Load() keys it) if present, without
  // loading or touching it. Before its first answer an entry has no address
  // and an Unavailable `last_status`.
  virtual DnsHostInfoSharedPtr Find(std::string_view host_port) const = 0;

  // DnsCache::Hosts()
  //
  // Every entry, for the admin listener.
  virtual std::vector<DnsHostInfoSharedPtr> Hosts() const = 0;

  // DnsCache::AddUpdateCallback()
  //
  // Subscribes `callback` to address changes (Envoy's addUpdateCallbacks):
  // it runs whenever a host's address set changes, including when the host
  // gets its first address; never for a failed refresh (the old addresses
  // stay) nor when the server merely reorders the same addresses. Any number
  // of subscribers, called in subscription order. Destroying the returned
  // handle unsubscribes (also from inside a callback: a subscriber removed
  // that way is not called for the change in progress); a handle that
  // outlives the cache is inert.
  [[nodiscard]] virtual std::unique_ptr<Cancelable> AddUpdateCallback(
      UpdateCallback callback) = 0;
  virtual const DnsCacheConfig& config() const = 0;
};

}  // namespace homing

#endif  // HOMING_DNS_CACHE_H_
