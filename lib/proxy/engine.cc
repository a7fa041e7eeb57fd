#include "proxy/engine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proxy/pool_lookup_transport.h"

namespace homing::proxy_internal {

absl::StatusOr<std::shared_ptr<Engine>> Engine::Create(
    Dispatcher& dispatcher, std::shared_ptr<const Bootstrap> config,
    StatsStore& stats) {
  std::shared_ptr<Engine> engine(new Engine());
  engine->config_ = std::move(config);
  const Bootstrap& bootstrap = *engine->config_;

  absl::StatusOr<std::unique_ptr<ClusterManager>> clusters =
      ClusterManager::Create(dispatcher, bootstrap, stats);
  if (!clusters.ok()) return clusters.status();
  engine->clusters_ = *std::move(clusters);

  for (const ClusterSpec& spec : bootstrap.clusters) {
    ConnectionPoolOptions options;
    options.connect_timeout = spec.connect_timeout;
    options.max_connections = spec.max_connections;
    options.max_pending_requests = spec.max_pending_requests;
    const StatsScope pool_scope =
        stats.Scope(absl::StrCat("cluster.", spec.name, ".pool."));
    engine->pools_.emplace(
        engine->clusters_->FindCluster(spec.name),
        UpstreamPools::Create(dispatcher, options, &pool_scope));
  }
  // An owner whose name now resolves elsewhere: stop reusing connections to
  // its old address.
  engine->owner_drain_ = engine->clusters_->AddOwnerDrainCallback(
      [raw = engine.get()](const Cluster& cluster, const Host& host) {
        raw->pools(&cluster).Drain(host.address());
      });

  engine->lookup_pools_ = UpstreamPools::Create(dispatcher, {});
  const Router::TransportFactory transports =
      [&dispatcher, pools = engine->lookup_pools_.get()]()
      -> absl::StatusOr<std::unique_ptr<LookupTransport>> {
    return std::make_unique<PoolLookupTransport>(dispatcher, *pools);
  };
  for (const ListenerSpec& listener : bootstrap.listeners) {
    absl::StatusOr<std::unique_ptr<Router>> router =
        Router::Create(dispatcher, *engine->clusters_,
                       listener.http_connection_manager, stats, transports);
    if (!router.ok()) {
      return absl::Status(
          router.status().code(),
          absl::StrCat("listener \"", listener.name, "\": ",
                       router.status().message()));
    }
    engine->routers_.push_back(*std::move(router));
    // Envoy's name, though it counts refused upgrades of any type.
    engine->upgrades_refused_.push_back(
        &stats.Counter(absl::StrCat("http.", listener.http_connection_manager.stat_prefix,
                                    ".downstream_rq_ws_on_non_ws_route")));
  }
  return engine;
}

Engine::~Engine() = default;

void Engine::Start(std::function<void()> on_initialized) {
  clusters_->Start(std::move(on_initialized));
}

UpstreamPools& Engine::pools(const Cluster* cluster) {
  return *pools_.find(cluster)->second;
}

std::vector<ClusterStatus> Engine::Clusters() const {
  std::vector<ClusterStatus> out;
  for (const Cluster* cluster : clusters_->clusters()) {
    ClusterStatus status = DescribeCluster(*cluster);
    for (const HostSharedPtr& host : clusters_->OwnerHosts(*cluster)) {
      status.hosts.push_back(DescribeHost(*host));
    }
    std::sort(status.hosts.begin(), status.hosts.end(),
              [](const HostStatus& a, const HostStatus& b) {
                return a.hostname != b.hostname ? a.hostname < b.hostname
                                                : a.address.ToString() <
                                                      b.address.ToString();
              });
    out.push_back(std::move(status));
  }
  return out;
}

}  // namespace homing::proxy_internal
