// STRICT_DNS refresh: one target per endpoint (name + port), each resolved on
// its own schedule; the cluster's membership is the deduplicated union of
// every target's latest good addresses.

#include "homing/strict_dns.h"

#include <algorithm>
#include <cassert>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dns/host_key.h"

namespace homing {
namespace {

// The floor of a TTL-driven refresh (respect_dns_ttl).
constexpr Duration kMinTtlRefresh = std::chrono::seconds(1);
// Clusters have no dns_query_timeout; Envoy's c-ares query_timeout_seconds.
constexpr Duration kQueryTimeout = std::chrono::seconds(5);

class StrictDnsUpdaterImpl final : public StrictDnsUpdater {
 public:
  StrictDnsUpdaterImpl(Dispatcher& dispatcher, Cluster& cluster,
                       const StatsScope& stats,
                       std::unique_ptr<DnsResolver> resolver)
      : dispatcher_(dispatcher),
        cluster_(cluster),
        resolver_(std::move(resolver)),
        update_attempt_(stats.Counter("update_attempt")),
        update_success_(stats.Counter("update_success")),
        update_failure_(stats.Counter("update_failure")),
        update_no_rebuild_(stats.Counter("update_no_rebuild")) {
    const ClusterSpec& spec = cluster.spec();
    for (const EndpointSpec& endpoint : spec.endpoints) {
      auto target = std::make_unique<Target>();
      target->name = endpoint.address;
      target->port = endpoint.port;
      if (auto literal = SocketAddress::FromIp(endpoint.address, endpoint.port);
          literal.ok()) {
        target->addresses.push_back(*literal);
      }
      targets_.push_back(std::move(target));
    }
    // One hostname for the whole set: the endpoints' name when they share one.
    const bool one_name = std::all_of(
        targets_.begin(), targets_.end(),
        [&](const auto& t) { return t->name == targets_.front()->name; });
    if (!targets_.empty() && one_name) hostname_ = targets_.front()->name;
  }

  ~StrictDnsUpdaterImpl() override { alive_.reset(); }

  void Start(std::function<void()> on_initialized) override {
    assert(dispatcher_.IsLoopThread());
    on_initialized_ = std::move(on_initialized);
    bool any_literal = false;
    bool any_name = false;
    for (auto& owned : targets_) {
      Target& target = *owned;
      if (target.addresses.empty()) {
        any_name = true;
        target.timer =
            dispatcher_.CreateTimer([this, &target] { Resolve(target); });
        Resolve(target);
      } else {
        // An IP literal needs no DNS; it counts as answered at once.
        target.answered = true;
        any_literal = true;
      }
    }
    if (any_literal || targets_.empty()) Rebuild();
    if (!any_name) {
      // Never call back from inside Start().
      dispatcher_.Post([this, alive = std::weak_ptr<bool>(alive_)] {
        if (!alive.expired()) MaybeInitialized();
      });
    }
  }

  bool initialized() const override { return initialized_; }

 private:
  struct Target {
    std::string name;
    uint16_t port = 0;
    std::vector<SocketAddress> addresses;  // latest good answer, with port
    bool answered = false;
    std::unique_ptr<Timer> timer;
    std::unique_ptr<Cancelable> query;
  };

  void Resolve(Target& target) {
    update_attempt_.Inc();
    target.query = resolver_->Resolve(
        target.name, cluster_.spec().dns_lookup_family,
        [this, &target](DnsAnswer answer) { OnAnswer(target, std::move(answer)); });
  }

  void OnAnswer(Target& target, DnsAnswer answer) {
    target.query.reset();
    target.answered = true;
    const ClusterSpec& spec = cluster_.spec();
    Duration next = spec.dns_refresh_rate;
    if (answer.status.ok()) {
      update_success_.Inc();
      target.addresses = internal::WithPortDeduplicated(answer.addresses, target.port);
      if (spec.respect_dns_ttl && answer.ttl > Duration::zero()) {
        next = std::max(answer.ttl, kMinTtlRefresh);
      }
      Rebuild();
    } else {
      // The name's previous addresses stay in the set.
      update_failure_.Inc();
    }
    target.timer->Arm(next);
    MaybeInitialized();
  }

  // Pushes the union of all targets' addresses to the cluster if it changed.
  void Rebuild() {
    std::vector<SocketAddress> all;
    for (const auto& target : targets_) {
      for (const SocketAddress& address : target->addresses) {
        if (std::find(all.begin(), all.end(), address) == all.end()) {
          all.push_back(address);
        }
      }
    }
    if (pushed_once_ && internal::SameAddressSet(all, current_)) {
      update_no_rebuild_.Inc();
      return;
    }
    pushed_once_ = true;
    current_ = all;
    cluster_.SetHosts(std::move(all), hostname_);
  }

  void MaybeInitialized() {
    if (initialized_) return;
    if (!std::all_of(targets_.begin(), targets_.end(),
                     [](const auto& t) { return t->answered; })) {
      return;
    }
    initialized_ = true;
    if (on_initialized_) {
      std::function<void()> callback = std::move(on_initialized_);
      on_initialized_ = nullptr;
      callback();
    }
  }

  Dispatcher& dispatcher_;
  Cluster& cluster_;
  std::unique_ptr<DnsResolver> resolver_;
  // Declared after resolver_: targets hold query handles into it.
  std::vector<std::unique_ptr<Target>> targets_;
  std::string hostname_;
  std::vector<SocketAddress> current_;
  bool pushed_once_ = false;
  bool initialized_ = false;
  std::function<void()> on_initialized_;
  Counter& update_attempt_;
  Counter& update_success_;
  Counter& update_failure_;
  Counter& update_no_rebuild_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace

absl::StatusOr<std::unique_ptr<StrictDnsUpdater>> StrictDnsUpdater::Create(
    Dispatcher& dispatcher, Cluster& cluster, StatsScope stats,
    std::unique_ptr<DnsResolver> resolver) {
  const ClusterSpec& spec = cluster.spec();
  if (spec.type != ClusterType::kStrictDns) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cluster \"", spec.name, "\": STRICT_DNS refresh needs a STRICT_DNS cluster"));
  }
  if (resolver == nullptr) {
    absl::StatusOr<std::unique_ptr<DnsResolver>> ares =
        DnsResolver::CreateAres(dispatcher, spec.dns_resolver, kQueryTimeout);
    if (!ares.ok()) {
      return absl::Status(ares.status().code(),
                          absl::StrCat("cluster \"", spec.name, "\": dns_resolver.",
                                       ares.status().message()));
    }
    resolver = *std::move(ares);
  }
  return std::make_unique<StrictDnsUpdaterImpl>(
      dispatcher, cluster, stats.Scope(absl::StrCat("cluster.", spec.name, ".")),
      std::move(resolver));
}

}  // namespace homing
