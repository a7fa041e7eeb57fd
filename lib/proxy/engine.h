// File: lib/proxy/engine.h
//
// Engine: what one worker needs to route and forward requests under one
// configuration: the ClusterManager, a Router per listener (whose affinity
// lookups ask the resolver over the engine's own lookup pools), and each
// cluster's connection pools, drained of an owner's old address when the
// cluster manager says the owner moved. Routing, owner hosts, in-flight
// counts and health feedback are the router's, as for any embedder.
//
// A reload builds a new Engine; requests hold a shared_ptr to the engine
// they started on, so the old one lives until its last request ends. Never
// release the last reference from inside one of the engine's own callbacks
// (a pool's or the router's): hand it to the worker to drop (see
// ProxyWorker's retired engines).
//
// Thread safety: belongs to its dispatcher's thread.

#ifndef HOMING_LIB_PROXY_ENGINE_H_
#define HOMING_LIB_PROXY_ENGINE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "homing/admin.h"
#include "homing/config.h"
#include "homing/http_upstream.h"
#include "homing/dispatcher.h"
#include "homing/router.h"
#include "homing/stats.h"

namespace homing::proxy_internal {

class Engine {
 public:
  // Engine::Create()
  //
  // Builds everything for `config` on `dispatcher`'s thread; nothing is
  // resolved until Start().
  static absl::StatusOr<std::shared_ptr<Engine>> Create(
      Dispatcher& dispatcher, std::shared_ptr<const Bootstrap> config,
      StatsStore& stats);

  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Engine::Start()
  //
  // Starts the clusters; `on_initialized` runs once every STRICT_DNS cluster
  // has had its first answer.
  void Start(std::function<void()> on_initialized);
  bool initialized() const { return clusters_->initialized(); }

  const Bootstrap& config() const { return *config_; }
  const std::shared_ptr<const Bootstrap>& config_ptr() const { return config_; }
  Router& router(size_t listener) { return *routers_[listener]; }
  // Engine::upgrade_refused()
  //
  // http.<stat_prefix>.downstream_rq_ws_on_non_ws_route of a listener: the
  // upgrade requests its routes' upgrade_configs refused.
  Counter& upgrade_refused(size_t listener) { return *upgrades_refused_[listener]; }

  // Engine::pools()
  //
  // The connection pools of `cluster` (one of this engine's). No
  // allocation.
  UpstreamPools& pools(const Cluster* cluster);

  // Engine::Clusters()
  //
  // /clusters for this engine.
  std::vector<ClusterStatus> Clusters() const;

 private:
  Engine() = default;

  std::shared_ptr<const Bootstrap> config_;
  // Destroyed in reverse order: routers (their lookups use the clusters
  // and the lookup pools), then pools, then the clusters.
  std::unique_ptr<ClusterManager> clusters_;
  absl::flat_hash_map<const Cluster*, std::unique_ptr<UpstreamPools>> pools_;
  std::unique_ptr<Cancelable> owner_drain_;
  // Keep-alive connections to resolver hosts, for the affinity lookups
  // (PoolLookupTransport); their stats are not the clusters' pool stats,
  // which count proxied requests.
  std::unique_ptr<UpstreamPools> lookup_pools_;
  std::vector<std::unique_ptr<Router>> routers_;
  std::vector<Counter*> upgrades_refused_;  // per listener
};

}  // namespace homing::proxy_internal

#endif  // HOMING_LIB_PROXY_ENGINE_H_
