#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/callback_list.h"
#include "common/string_util.h"
#include "homing/router.h"
#include "router/cluster_load.h"
#include "router/owner_hosts.h"

namespace homing {

using internal::ToAbsl;

struct ClusterManager::Impl {
  Dispatcher* dispatcher = nullptr;
  std::vector<std::unique_ptr<Cluster>> clusters;  // configuration order
  absl::flat_hash_map<std::string, Cluster*> clusters_by_name;
  std::vector<std::unique_ptr<StrictDnsUpdater>> updaters;
  std::vector<std::unique_ptr<DnsCache>> caches;
  absl::flat_hash_map<std::string, DnsCache*> caches_by_name;
  absl::flat_hash_map<const Cluster*, std::shared_ptr<internal::ClusterLoad>> loads;
  internal::OwnerHosts::DrainCallbacks owner_drain;
  // Declared after what they use: subscribed to the DNS caches.
  absl::flat_hash_map<const Cluster*, std::unique_ptr<internal::OwnerHosts>> owners;
  size_t updaters_initialized = 0;
  bool started = false;
  std::function<void()> on_initialized;

  void UpdaterInitialized() {
    ++updaters_initialized;
    if (updaters_initialized == updaters.size() && on_initialized) {
      std::exchange(on_initialized, nullptr)();
    }
  }
};

ClusterManager::ClusterManager(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
ClusterManager::~ClusterManager() = default;

absl::StatusOr<std::unique_ptr<ClusterManager>> ClusterManager::Create(
    Dispatcher& dispatcher, const Bootstrap& bootstrap, StatsStore& stats) {
  auto impl = std::make_unique<Impl>();
  impl->dispatcher = &dispatcher;
  for (const ClusterSpec& spec : bootstrap.clusters) {
    absl::StatusOr<std::unique_ptr<Cluster>> cluster = Cluster::Create(
        spec, dispatcher, stats.Scope(absl::StrCat("cluster.", spec.name, ".")));
    if (!cluster.ok()) {
      return absl::Status(cluster.status().code(),
                          absl::StrCat("cluster \"", spec.name, "\": ",
                                       cluster.status().message()));
    }
    Cluster* raw = cluster->get();
    impl->clusters_by_name[spec.name] = raw;
    auto load = std::make_shared<internal::ClusterLoad>();
    load->max = spec.max_requests;
    load->overflow = &stats.Counter(
        absl::StrCat("cluster.", spec.name, ".upstream_rq_overflow"));
    impl->loads.emplace(raw, std::move(load));
    impl->clusters.push_back(*std::move(cluster));

    if (spec.type == ClusterType::kStrictDns) {
      absl::StatusOr<std::unique_ptr<StrictDnsUpdater>> updater =
          StrictDnsUpdater::Create(dispatcher, *raw, stats.Scope(""));
      if (!updater.ok()) {
        return absl::Status(updater.status().code(),
                            absl::StrCat("cluster \"", spec.name, "\": ",
                                         updater.status().message()));
      }
      impl->updaters.push_back(*std::move(updater));
    }
    // DNS caches are shared by name: the loader already checked that every
    // user of a name configures it identically.
    if (spec.dns_cache_config &&
        !impl->caches_by_name.contains(spec.dns_cache_config->name)) {
      const DnsCacheConfig& config = *spec.dns_cache_config;
      absl::StatusOr<std::unique_ptr<DnsCache>> cache =
          DnsCache::Create(dispatcher, config, stats.Scope(""));
      if (!cache.ok()) {
        return absl::Status(cache.status().code(),
                            absl::StrCat("DNS cache \"", config.name, "\": ",
                                         cache.status().message()));
      }
      impl->caches_by_name[config.name] = cache->get();
      impl->caches.push_back(*std::move(cache));
    }
    if (spec.type == ClusterType::kDynamicForwardProxy) {
      impl->owners.emplace(
          raw, std::make_unique<internal::OwnerHosts>(
                   *raw, *impl->caches_by_name.at(spec.dns_cache_config->name),
                   impl->owner_drain));
    }
  }
  return std::unique_ptr<ClusterManager>(new ClusterManager(std::move(impl)));
}

void ClusterManager::Start(std::function<void()> on_initialized) {
  if (impl_->started) return;
  impl_->started = true;
  impl_->on_initialized = std::move(on_initialized);
  if (impl_->updaters.empty()) {
    if (impl_->on_initialized) std::exchange(impl_->on_initialized, nullptr)();
    return;
  }
  for (auto& updater : impl_->updaters) {
    updater->Start([impl = impl_.get()] { impl->UpdaterInitialized(); });
  }
}

bool ClusterManager::initialized() const {
  return impl_->started &&
         impl_->updaters_initialized == impl_->updaters.size();
}

HostSharedPtr ClusterManager::OwnerHost(const Cluster& cluster,
                                        std::string_view hostport,
                                        const SocketAddress& address) {
  auto it = impl_->owners.find(&cluster);
  if (it == impl_->owners.end()) return nullptr;
  return it->second->Get(hostport, address);
}

std::vector<HostSharedPtr> ClusterManager::OwnerHosts(const Cluster& cluster) const {
  auto it = impl_->owners.find(&cluster);
  if (it == impl_->owners.end()) return {};
  return it->second->hosts();
}

std::unique_ptr<Cancelable> ClusterManager::AddOwnerDrainCallback(
    std::function<void(const Cluster& cluster, const Host& host)> callback) {
  return impl_->owner_drain.Add(std::move(callback));
}

RequestInFlight ClusterManager::Admit(const Cluster& cluster, HostSharedPtr host) {
  return internal::Admit(impl_->loads.at(&cluster), std::move(host));
}

Cluster* ClusterManager::FindCluster(std::string_view name) const {
  auto it = impl_->clusters_by_name.find(ToAbsl(name));
  return it == impl_->clusters_by_name.end() ? nullptr : it->second;
}

DnsCache* ClusterManager::FindDnsCache(std::string_view name) const {
  auto it = impl_->caches_by_name.find(ToAbsl(name));
  return it == impl_->caches_by_name.end() ? nullptr : it->second;
}

std::vector<const Cluster*> ClusterManager::clusters() const {
  std::vector<const Cluster*> out;
  for (const auto& cluster : impl_->clusters) out.push_back(cluster.get());
  return out;
}

std::vector<const DnsCache*> ClusterManager::dns_caches() const {
  std::vector<const DnsCache*> out;
  for (const auto& cache : impl_->caches) out.push_back(cache.get());
  return out;
}

}  // namespace homing
