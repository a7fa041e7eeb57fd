#include "homing/upstream.h"

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "upstream/outlier_detector.h"
#include "upstream/pickable_hosts.h"
#include "upstream/spec_validation.h"

namespace homing {
namespace {

// The stats Cluster keeps, with Envoy's cluster stat names.
struct ClusterStats {
  explicit ClusterStats(const StatsScope& scope)
      : membership_total(scope.Gauge("membership_total")),
        membership_healthy(scope.Gauge("membership_healthy")),
        upstream_rq_total(scope.Counter("upstream_rq_total")),
        upstream_rq_5xx(scope.Counter("upstream_rq_5xx")),
        upstream_rq_timeout(scope.Counter("upstream_rq_timeout")),
        upstream_cx_connect_fail(scope.Counter("upstream_cx_connect_fail")),
        lb_healthy_panic(scope.Counter("lb_healthy_panic")) {}

  Gauge& membership_total;
  Gauge& membership_healthy;
  Counter& upstream_rq_total;
  Counter& upstream_rq_5xx;
  Counter& upstream_rq_timeout;
  Counter& upstream_cx_connect_fail;
  Counter& lb_healthy_panic;
};

uint64_t RandomSeed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace

struct Cluster::Impl {
  Impl(const ClusterSpec& cluster_spec, const TimeSource& time_source,
       const StatsScope& scope)
      : spec(cluster_spec), time(time_source), stats(scope), seeds(RandomSeed()) {
    if (spec.outlier_detection.has_value()) {
      detector.emplace(*spec.outlier_detection, time, scope);
    }
  }

  // Makes `next` the membership and rebuilds the balancer over it.
  void Install(HostVector next) {
    hosts = std::move(next);
    if (detector.has_value()) detector->SetHosts(hosts);
    absl::StatusOr<std::unique_ptr<LoadBalancer>> created =
        LoadBalancer::Create(spec.lb_policy, spec, hosts, seeds.Next());
    if (!created.ok()) {
      // Create() validated the same spec; reaching this is a homing bug.
      std::fprintf(stderr, "homing: cluster %s: %s\n", spec.name.c_str(),
                   created.status().ToString().c_str());
      std::abort();
    }
    lb = *std::move(created);
    stats.membership_total.Set(static_cast<int64_t>(hosts.size()));
    stats.membership_healthy.Set(static_cast<int64_t>(hosts.size() - ejected()));
  }

  void OnHealthChanged() {
    lb->OnHealthChanged();
    stats.membership_healthy.Set(static_cast<int64_t>(hosts.size() - ejected()));
  }

  size_t ejected() const {
    return detector.has_value() ? detector->ejected_count() : 0;
  }

  ClusterSpec spec;
  const TimeSource& time;
  ClusterStats stats;
  internal::FastRandom seeds;  // one seed per balancer built
  HostVector hosts;
  std::unique_ptr<LoadBalancer> lb;  // null for DYNAMIC_FORWARD_PROXY
  std::optional<internal::OutlierDetector> detector;
};

Cluster::Cluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Cluster::~Cluster() = default;

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::Create(
    const ClusterSpec& spec, const TimeSource& time, StatsScope stats) {
  absl::Status status = internal::ValidateClusterSpec(spec);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cluster \"", spec.name, "\": ", status.message()));
  }
  auto impl = std::make_unique<Impl>(spec, time, stats);
  if (spec.type != ClusterType::kDynamicForwardProxy) {
    HostVector hosts;
    absl::flat_hash_set<std::string> seen;
    for (const EndpointSpec& endpoint : spec.endpoints) {
      absl::StatusOr<SocketAddress> address =
          SocketAddress::FromIp(endpoint.address, endpoint.port);
      // STRICT_DNS endpoints are names: their hosts come from SetHosts().
      if (!address.ok() || spec.type != ClusterType::kStatic) continue;
      if (!seen.insert(address->ToString()).second) continue;
      hosts.push_back(std::make_shared<Host>(*address, "", endpoint.weight));
    }
    impl->Install(std::move(hosts));
  }
  return std::unique_ptr<Cluster>(new Cluster(std::move(impl)));
}

const std::string& Cluster::name() const { return impl_->spec.name; }
const ClusterSpec& Cluster::spec() const { return impl_->spec; }
const HostVector& Cluster::hosts() const { return impl_->hosts; }

HostSharedPtr Cluster::ChooseHost(const LbContext& context) {
  Impl& impl = *impl_;
  if (impl.lb == nullptr) return nullptr;
  if (impl.ejected() > 0) {
    if (impl.detector->ReturnExpired()) impl.OnHealthChanged();
    if (impl.ejected() == impl.hosts.size()) impl.stats.lb_healthy_panic.Inc();
  }
  return impl.lb->ChooseHost(context);
}

void Cluster::SetHosts(std::vector<SocketAddress> addresses,
                       std::string_view hostname) {
  Impl& impl = *impl_;
  if (impl.lb == nullptr) return;
  uint32_t weight = 1;
  for (const EndpointSpec& endpoint : impl.spec.endpoints) {
    if (endpoint.address == hostname) {
      weight = endpoint.weight;
      break;
    }
  }
  absl::flat_hash_map<std::string, HostSharedPtr> current;
  for (const HostSharedPtr& host : impl.hosts) {
    current.emplace(host->address_string(), host);
  }
  HostVector next;
  absl::flat_hash_set<std::string> seen;
  for (const SocketAddress& address : addresses) {
    std::string key = address.ToString();
    if (!seen.insert(key).second) continue;
    auto it = current.find(key);
    next.push_back(it != current.end()
                       ? it->second
                       : std::make_shared<Host>(address, std::string(hostname),
                                                weight));
  }
  impl.Install(std::move(next));
}

void Cluster::ReportOutcome(const Host& host, RequestOutcome outcome) {
  Impl& impl = *impl_;
  HostStats& host_stats = host.stats();
  switch (outcome) {
    case RequestOutcome::kConnectFailure:
      host_stats.cx_connect_fail.fetch_add(1, std::memory_order_relaxed);
      impl.stats.upstream_cx_connect_fail.Inc();
      break;
    case RequestOutcome::kSuccess:
    case RequestOutcome::kServerError:
    case RequestOutcome::kReset:
    case RequestOutcome::kTimeout:
      host_stats.rq_total.fetch_add(1, std::memory_order_relaxed);
      impl.stats.upstream_rq_total.Inc();
      if (outcome != RequestOutcome::kSuccess) {
        host_stats.rq_error.fetch_add(1, std::memory_order_relaxed);
      }
      if (outcome == RequestOutcome::kServerError) impl.stats.upstream_rq_5xx.Inc();
      if (outcome == RequestOutcome::kTimeout) impl.stats.upstream_rq_timeout.Inc();
      break;
  }
  if (impl.detector.has_value() && impl.detector->ReportOutcome(host, outcome)) {
    impl.OnHealthChanged();
  }
}

}  // namespace homing
