#include "proxy/engine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "proxy/pool_lookup_transport.h"

namespace homing::proxy_internal {
namespace {

using internal::EqualsIgnoreCase;
using internal::ToAbsl;

// Does owner key "host:port" (as the resolver spelled it) name `info`?
bool OwnerMatches(std::string_view hostport, const DnsHostInfo& info) {
  const size_t colon = hostport.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = hostport.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return EqualsIgnoreCase(host, info.host) &&
         hostport.substr(colon + 1) == absl::StrCat(info.port);
}

}  // namespace

absl::StatusOr<std::shared_ptr<Engine>> Engine::Create(
    LibuvDispatcher& dispatcher, std::shared_ptr<const Bootstrap> config,
    StatsStore& stats) {
  std::shared_ptr<Engine> engine(new Engine());
  engine->config_ = std::move(config);
  const Bootstrap& bootstrap = *engine->config_;

  absl::StatusOr<std::unique_ptr<ClusterManager>> clusters =
      ClusterManager::Create(dispatcher, bootstrap, stats);
  if (!clusters.ok()) return clusters.status();
  engine->clusters_ = *std::move(clusters);

  for (const ClusterSpec& spec : bootstrap.clusters) {
    auto upstream = std::make_unique<ClusterUpstream>();
    upstream->cluster = engine->clusters_->FindCluster(spec.name);
    ConnectionPoolOptions options;
    options.connect_timeout = spec.connect_timeout;
    options.max_connections = spec.max_connections;
    options.max_pending_requests = spec.max_pending_requests;
    const StatsScope scope = stats.Scope(absl::StrCat("cluster.", spec.name, "."));
    const StatsScope pool_scope = scope.Scope("pool.");
    upstream->pools = UpstreamPools::Create(dispatcher.loop(), options, &pool_scope);
    upstream->rq_overflow = &scope.Counter("upstream_rq_overflow");
    if (spec.dns_cache_config) {
      upstream->dns_cache =
          engine->clusters_->FindDnsCache(spec.dns_cache_config->name);
    }
    engine->upstreams_.emplace(upstream->cluster, std::move(upstream));
  }

  // An owner whose name now resolves elsewhere: stop reusing connections to
  // its old address (DnsCache has one callback slot per cache).
  for (const DnsCache* cache : engine->clusters_->dns_caches()) {
    DnsCache* mutable_cache =
        engine->clusters_->FindDnsCache(cache->config().name);
    Engine* raw = engine.get();
    mutable_cache->SetAddressChangeCallback(
        [raw, mutable_cache](const DnsHostInfoSharedPtr& info) {
          if (info != nullptr) raw->OnAddressChange(*mutable_cache, *info);
        });
  }

  engine->lookup_pools_ = UpstreamPools::Create(dispatcher.loop(), {});
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

ClusterUpstream& Engine::upstream(const Cluster* cluster) {
  return *upstreams_.find(cluster)->second;
}

HostSharedPtr Engine::OwnerHost(ClusterUpstream& upstream,
                                std::string_view hostport,
                                const SocketAddress& address) {
  auto it = upstream.owners.find(ToAbsl(hostport));
  if (it != upstream.owners.end() && it->second->address() == address) {
    return it->second;
  }
  auto host = std::make_shared<Host>(address, std::string(hostport));
  if (it != upstream.owners.end()) {
    it->second = host;
    return host;
  }
  const size_t bound =
      2 * size_t{upstream.dns_cache != nullptr
                     ? upstream.dns_cache->config().max_hosts
                     : 1024};
  if (upstream.owners.size() >= bound) {
    absl::erase_if(upstream.owners, [&](const auto& entry) {
      return entry.second->stats().rq_active.load(std::memory_order_relaxed) ==
                 0 &&
             (upstream.dns_cache == nullptr ||
              upstream.dns_cache->Find(entry.first) == nullptr);
    });
  }
  upstream.owners.emplace(std::string(hostport), host);
  return host;
}

void Engine::OnAddressChange(const DnsCache& cache, const DnsHostInfo& info) {
  for (auto& [cluster, upstream] : upstreams_) {
    if (upstream->dns_cache != &cache) continue;
    for (const auto& [hostport, host] : upstream->owners) {
      if (!OwnerMatches(hostport, info)) continue;
      const bool kept = std::find(info.addresses.begin(), info.addresses.end(),
                                  host->address()) != info.addresses.end();
      if (!kept) upstream->pools->Drain(host->address());
    }
  }
}

std::vector<ClusterStatus> Engine::Clusters() const {
  std::vector<ClusterStatus> out;
  for (const Cluster* cluster : clusters_->clusters()) {
    ClusterStatus status = DescribeCluster(*cluster);
    const ClusterUpstream& upstream = *upstreams_.find(cluster)->second;
    for (const auto& [hostport, host] : upstream.owners) {
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
