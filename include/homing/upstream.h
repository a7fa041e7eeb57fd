// File: homing/upstream.h
//
// Clusters, their hosts, load balancers and passive health.
//
// A `Cluster` owns an immutable host snapshot and a `LoadBalancer` built over
// it. Membership changes (`Cluster::SetHosts()`, e.g. from STRICT_DNS
// refresh) keep the `Host` objects of addresses that stay, so their stats and
// health survive, and consistent-hash balancers keep every key whose host is
// unaffected where it was. Passive health (outlier detection) ejects a host
// after consecutive local-origin failures (connect failure, reset, timeout) or
// consecutive 5xx answers, for base_ejection_time × 2^(ejections-1) capped at
// max_ejection_time; it returns by itself afterwards.
//
// Load balancers (every one skips unhealthy hosts, and picks among all hosts
// when none is healthy: Envoy's panic mode):
//  - kRoundRobin:   round robin; with unequal weights an earliest-deadline-
//                   first schedule (Envoy's), so picks follow the weights.
//  - kLeastRequest: power of two choices (choice_count random hosts, the one
//                   with the fewest active requests per unit of weight).
//  - kRandom:       uniform over healthy hosts (weights ignored).
//  - kRingHash:     ketama-style ring: each host contributes
//                   weight × ring_hash_minimum_ring_size points at
//                   XXH64("<hash_key>_<i>"); a request goes to the first point
//                   at or after its hash (found through a radix index over
//                   the points), walking on past unhealthy hosts. Unlike Envoy, which divides the minimum
//                   ring size among the hosts, a host's points do not depend on
//                   the other hosts, so adding or removing a host moves only
//                   the keys that land on or leave that host (the points per
//                   weight unit shrink only when the ring would exceed
//                   ring_hash_maximum_ring_size).
//  - kMaglev:       `MaglevTable` (maglev_table_size, default 65537) over host
//                   hash keys and weights; unhealthy hosts are skipped by
//                   probing the following slots, so their keys spread over the
//                   others in proportion and no other key moves.
// Hash-based balancers with no request hash fall back to round robin, as
// nginx's `hash` and HAProxy's `balance url_param` do.
//
// Example:
//
//   homing::ClusterSpec spec{.name = "resolver",
//                            .type = homing::ClusterType::kStatic,
//                            .lb_policy = homing::LbPolicy::kRingHash,
//                            .endpoints = {{"127.0.1.10", 8081}, {"127.0.1.11", 8081}}};
//   auto cluster = homing::Cluster::Create(spec, time_source, stats.Scope("cluster.resolver."));
//   homing::HostSharedPtr host = (*cluster)->ChooseHost({.hash = homing::KeyHash("123")});
//   ... forward ...
//   (*cluster)->ReportOutcome(*host, homing::RequestOutcome::kSuccess);
//
// Thread safety: a Cluster and its LoadBalancer belong to one thread (their
// dispatcher's). Host stats and health are atomics and may be read from any
// thread.

#ifndef HOMING_UPSTREAM_H_
#define HOMING_UPSTREAM_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "homing/address.h"
#include "homing/clock.h"
#include "homing/dns_config.h"
#include "homing/placement.h"
#include "homing/request.h"
#include "homing/route.h"
#include "homing/stats.h"

namespace homing {

enum class ClusterType { kStatic, kStrictDns, kDynamicForwardProxy };
enum class LbPolicy {
  kRoundRobin,
  kLeastRequest,
  kRandom,
  kRingHash,
  kMaglev,
  kClusterProvided,  // dynamic forward proxy: the request names its host
};

// ParseLbPolicy() / LbPolicyName()
//
// Envoy's names: "ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH",
// "MAGLEV", "CLUSTER_PROVIDED".
absl::StatusOr<LbPolicy> ParseLbPolicy(std::string_view name);
std::string_view LbPolicyName(LbPolicy policy);

// EndpointSpec
//
// One `load_assignment` endpoint: an IP literal (STATIC) or a DNS name
// (STRICT_DNS) with a port.
struct EndpointSpec {
  std::string address;
  uint16_t port = 0;
  uint32_t weight = 1;
  bool operator==(const EndpointSpec&) const = default;
};

// OutlierDetectionSpec
//
// Envoy's `OutlierDetection` subset, with Envoy's defaults. A threshold of 0
// turns that detector off. An ejection lasts base_ejection_time ×
// 2^(ejections-1), capped at max_ejection_time; every base_ejection_time a
// returned host serves without being ejected again forgives one ejection.
// At most max_ejection_percent of the hosts are ejected at once, but one host
// may always be.
struct OutlierDetectionSpec {
  uint32_t consecutive_5xx = 5;
  uint32_t consecutive_local_origin_failure = 5;  // connect failure, reset, timeout
  Duration base_ejection_time = std::chrono::seconds(30);
  Duration max_ejection_time = std::chrono::seconds(300);
  uint32_t max_ejection_percent = 10;
  bool operator==(const OutlierDetectionSpec&) const = default;
};

// ClusterSpec
//
// Envoy's `config.cluster.v3.Cluster` subset homing supports. Every member
// has an initializer, so designated initializers may leave any out.
struct ClusterSpec {
  std::string name{};
  ClusterType type = ClusterType::kStatic;
  LbPolicy lb_policy = LbPolicy::kRoundRobin;
  Duration connect_timeout = std::chrono::seconds(5);
  std::vector<EndpointSpec> endpoints{};
  // STRICT_DNS
  DnsLookupFamily dns_lookup_family = DnsLookupFamily::kAuto;
  Duration dns_refresh_rate = std::chrono::seconds(5);
  bool respect_dns_ttl = false;
  DnsResolverConfig dns_resolver{};
  // DYNAMIC_FORWARD_PROXY
  std::optional<DnsCacheConfig> dns_cache_config{};
  // Load balancer parameters
  uint32_t least_request_choice_count = 2;        // >= 2
  uint64_t ring_hash_minimum_ring_size = 1024;    // points per unit of weight
  uint64_t ring_hash_maximum_ring_size = 8 * 1024 * 1024;  // <= 8M
  uint64_t maglev_table_size = 65537;  // prime, <= 5000011
  // Circuit breakers (Envoy's defaults) and connection pooling
  uint32_t max_connections = 1024;
  uint32_t max_pending_requests = 1024;
  uint32_t max_requests = 1024;
  std::optional<OutlierDetectionSpec> outlier_detection{};
  bool operator==(const ClusterSpec&) const = default;
};

// HostStats
//
// Per-host counters; atomics so an admin thread may read them.
// `Cluster::ReportOutcome()` maintains the totals; `rq_active` belongs to the
// caller, which raises it when it sends a request to the host and lowers it
// when the exchange ends (LEAST_REQUEST reads it).
struct HostStats {
  std::atomic<int64_t> rq_active{0};
  std::atomic<uint64_t> rq_total{0};         // every outcome but kConnectFailure
  std::atomic<uint64_t> rq_error{0};         // 5xx, reset, timeout
  std::atomic<uint64_t> cx_connect_fail{0};
};

namespace internal {
class OutlierDetector;
}  // namespace internal

// Host
//
// One upstream address. Identity for consistent hashing is `hash_key()`,
// "ip:port", so a host keeps its place across membership changes.
class Host {
 public:
  Host(SocketAddress address, std::string hostname, uint32_t weight = 1);

  const SocketAddress& address() const { return address_; }
  const std::string& address_string() const { return address_string_; }
  const std::string& hostname() const { return hostname_; }  // may be empty
  const std::string& hash_key() const { return address_string_; }
  uint32_t weight() const { return weight_; }

  // Host::healthy()
  //
  // `false` while ejected by outlier detection (only a Cluster's outlier
  // detector ejects hosts).
  bool healthy() const { return !ejected_.load(std::memory_order_relaxed); }

  HostStats& stats() const { return stats_; }

 private:
  friend class internal::OutlierDetector;
  SocketAddress address_;
  std::string address_string_;
  std::string hostname_;
  uint32_t weight_;
  std::atomic<bool> ejected_{false};
  mutable HostStats stats_;
};

using HostSharedPtr = std::shared_ptr<Host>;
using HostVector = std::vector<HostSharedPtr>;

// LbContext
//
// Per-pick inputs: the request hash (from the route's hash policies) and a
// host to avoid (the one a retry just failed on).
struct LbContext {
  std::optional<uint64_t> hash{};
  const Host* avoid = nullptr;
};

// LoadBalancer
//
// Built over one host snapshot; rebuilt by the cluster when it changes.
class LoadBalancer {
 public:
  virtual ~LoadBalancer() = default;

  // LoadBalancer::ChooseHost()
  //
  // Returns a healthy host, or nullptr when there is none. When every host
  // is unhealthy the balancer picks among all hosts (Envoy's panic mode), so
  // nullptr means the set is empty. `context.avoid` is skipped when another
  // pickable host exists. Allocates nothing.
  virtual HostSharedPtr ChooseHost(const LbContext& context) = 0;

  // LoadBalancer::OnHealthChanged()
  //
  // Call after any host's health changed (the Cluster does); balancers that
  // keep a list of healthy hosts refresh it, without allocating.
  virtual void OnHealthChanged() = 0;

  // LoadBalancer::Create()
  //
  // `seed` feeds RANDOM and LEAST_REQUEST. Fails (InvalidArgument) for
  // kClusterProvided, which is not a balancer, for a host of weight 0, and
  // for invalid parameters (the same checks, and messages, as
  // `Cluster::Create()`).
  static absl::StatusOr<std::unique_ptr<LoadBalancer>> Create(
      LbPolicy policy, const ClusterSpec& params, HostVector hosts,
      uint64_t seed);
};

// ComputeRequestHash()
//
// Evaluates hash policies against a request (Envoy semantics: each policy
// that finds its header or query parameter contributes XXH64 of its value,
// combined as hash = rotl(hash, 1) ^ value_hash; `terminal` stops at the
// first that does). A header contributes its first value; a query parameter
// its first value, percent-decoded (Envoy hashes the raw text), so a single
// policy on `client_id=x` yields exactly `KeyHash("x")`, the hash placement
// uses. An empty value still counts. Returns nullopt when no policy found a
// value. Allocates nothing.
std::optional<uint64_t> ComputeRequestHash(
    std::span<const HashPolicySpec> policies, const RequestView& request);

// RequestOutcome
//
// How one attempt on a host ended. kConnectFailure, kReset and kTimeout are
// local-origin failures (consecutive_local_origin_failure); kServerError
// counts toward consecutive_5xx; kSuccess resets both counts.
enum class RequestOutcome {
  kSuccess,         // any non-5xx answer
  kServerError,     // a 5xx answer from the host
  kConnectFailure,  // connect refused / timed out
  kReset,           // connection reset or closed mid-request
  kTimeout,         // no answer within the route timeout
};

// Cluster
class Cluster {
 public:
  ~Cluster();

  // Cluster::Create()
  //
  // STATIC clusters get their hosts from `spec.endpoints` (IP literals);
  // STRICT_DNS clusters start empty until `SetHosts()`; DYNAMIC_FORWARD_PROXY
  // clusters have no host set (the router dials the DNS cache's answer).
  // Fails (InvalidArgument, "cluster \"<name>\": <field> ...") on an invalid
  // spec: endpoint addresses (IP literals for STATIC, DNS names or IP literals
  // for STRICT_DNS, none for DYNAMIC_FORWARD_PROXY), ports 1-65535, weights
  // >= 1, CLUSTER_PROVIDED with anything but DYNAMIC_FORWARD_PROXY or the
  // reverse, a missing dns_cache_config, a non-prime maglev_table_size,
  // ring sizes, choice_count < 2, non-positive durations, outlier detection
  // times and percentages.
  //
  // Stats under `stats` (Envoy's names): counters upstream_rq_total,
  // upstream_rq_5xx, upstream_rq_timeout, upstream_cx_connect_fail,
  // lb_healthy_panic, outlier_detection.ejections_enforced_total,
  // outlier_detection.ejections_overflow; gauges membership_total,
  // membership_healthy, outlier_detection.ejections_active.
  static absl::StatusOr<std::unique_ptr<Cluster>> Create(
      const ClusterSpec& spec, const TimeSource& time, StatsScope stats);

  const std::string& name() const;
  const ClusterSpec& spec() const;

  // Cluster::ChooseHost()
  //
  // Returns a host from the load balancer (nullptr when the cluster is
  // empty or DYNAMIC_FORWARD_PROXY). Returns hosts whose ejection has expired
  // to service first. Allocates nothing; reads the time only while a host is
  // ejected.
  HostSharedPtr ChooseHost(const LbContext& context);

  // Cluster::SetHosts()
  //
  // Replaces the whole membership (duplicate addresses count once). Hosts
  // whose address stays keep their object (stats, ejection state); new ones
  // take `hostname` and the weight of the endpoint named `hostname` (1 if
  // none); the balancer is rebuilt. Ignored for DYNAMIC_FORWARD_PROXY.
  void SetHosts(std::vector<SocketAddress> addresses, std::string_view hostname);

  // Cluster::hosts()
  //
  // The current membership snapshot.
  const HostVector& hosts() const;

  // Cluster::ReportOutcome()
  //
  // Feeds passive health (when `outlier_detection` is configured), the
  // host's stats and the cluster's. A host no longer in the cluster only
  // counts in the stats.
  void ReportOutcome(const Host& host, RequestOutcome outcome);

 private:
  struct Impl;
  explicit Cluster(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace homing

#endif  // HOMING_UPSTREAM_H_
