// ProxyWorker: a configuration's listeners on one loop, and engine swaps.

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "homing/http_server.h"
#include "homing/proxy.h"
#include "proxy/proxy_handler.h"
#include "proxy/worker_core.h"

namespace homing {

using proxy_internal::Engine;
using proxy_internal::ProxyHandler;
using proxy_internal::WorkerCore;

namespace {

HttpServerOptions ServerOptions(const ListenerSpec& listener,
                                const SocketAddress& address) {
  const HttpConnectionManagerSpec& hcm = listener.http_connection_manager;
  HttpServerOptions options;
  options.listen_address = address;
  options.reuse_port = true;
  options.max_request_headers_bytes = size_t{hcm.max_request_headers_kb} * 1024;
  // The body limit is set per request from the engine's config (so a reload
  // changes it), after the handler saw the request (so it is logged).
  options.max_request_body_bytes = 0;
  options.request_headers_timeout = hcm.request_headers_timeout;
  options.stream_idle_timeout = hcm.stream_idle_timeout;
  options.idle_timeout = hcm.idle_timeout;
  return options;
}

}  // namespace

class ProxyWorker::Impl {
 public:
  Impl(Dispatcher& dispatcher, StatsStore& stats, AccessLog* access_log)
      : stats_(stats), core_(dispatcher, access_log) {}

  ~Impl() {
    // Servers first: their streams end (and let go of engines) while the
    // engines are intact.
    servers_.clear();
    next_engine_.reset();
    core_.engine.reset();
  }

  absl::Status Init(std::shared_ptr<const Bootstrap> config,
                    std::vector<SocketAddress> addresses) {
    absl::StatusOr<std::shared_ptr<Engine>> engine =
        Engine::Create(core_.dispatcher, config, stats_);
    if (!engine.ok()) return engine.status();
    core_.engine = *std::move(engine);
    config_ = std::move(config);
    for (size_t i = 0; i < config_->listeners.size(); ++i) {
      const ListenerSpec& listener = config_->listeners[i];
      SocketAddress address;
      if (i < addresses.size()) {
        address = addresses[i];
      } else {
        absl::StatusOr<SocketAddress> configured =
            SocketAddress::FromIp(listener.address.address, listener.address.port);
        if (!configured.ok()) return configured.status();
        address = *configured;
      }
      const StatsScope scope = stats_.Scope(
          absl::StrCat("http.", listener.http_connection_manager.stat_prefix, "."));
      absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(
          core_.dispatcher, ServerOptions(listener, address),
          [this, i] { return std::make_unique<ProxyHandler>(core_, i); }, &scope);
      if (!server.ok()) {
        return absl::Status(server.status().code(),
                            absl::StrCat("listener \"", listener.name, "\" on ",
                                         address.ToString(), ": ",
                                         server.status().message()));
      }
      servers_.push_back(*std::move(server));
    }
    return absl::OkStatus();
  }

  void Start(std::function<void()> on_initialized) {
    core_.engine->Start(std::move(on_initialized));
  }

  bool initialized() const { return core_.engine->initialized(); }

  absl::Status Reload(std::shared_ptr<const Bootstrap> config,
                      std::function<void()> on_swapped) {
    absl::StatusOr<std::shared_ptr<Engine>> engine =
        Engine::Create(core_.dispatcher, config, stats_);
    if (!engine.ok()) return engine.status();
    // A warming engine from an earlier reload is replaced (never from inside
    // its own callback: this runs in a task of its own).
    core_.Retire(std::move(next_engine_));
    next_engine_ = *std::move(engine);
    Engine* warming = next_engine_.get();
    next_engine_->Start([this, warming, on_swapped = std::move(on_swapped)] {
      if (next_engine_.get() != warming) return;
      core_.Retire(std::move(core_.engine));
      core_.engine = std::move(next_engine_);
      config_ = core_.engine->config_ptr();
      if (on_swapped) on_swapped();
    });
    return absl::OkStatus();
  }

  void Drain(std::function<void()> on_drained) {
    if (servers_.empty()) {
      if (on_drained) on_drained();
      return;
    }
    // Every server reports once; the last one completes the drain.
    auto left = std::make_shared<size_t>(servers_.size());
    for (auto& server : servers_) {
      server->Drain([left, on_drained] {
        if (--*left == 0 && on_drained) on_drained();
      });
    }
  }

  std::vector<SocketAddress> listen_addresses() const {
    std::vector<SocketAddress> out;
    for (const auto& server : servers_) out.push_back(server->local_address());
    return out;
  }

  std::vector<ClusterStatus> Clusters() const { return core_.engine->Clusters(); }
  const std::shared_ptr<const Bootstrap>& config() const { return config_; }

 private:
  StatsStore& stats_;
  WorkerCore core_;
  std::shared_ptr<const Bootstrap> config_;
  std::shared_ptr<Engine> next_engine_;  // warming up after a reload
  std::vector<std::unique_ptr<HttpServer>> servers_;  // one per listener
};

absl::StatusOr<std::unique_ptr<ProxyWorker>> ProxyWorker::Create(
    Dispatcher& dispatcher, std::shared_ptr<const Bootstrap> config,
    StatsStore& stats, ProxyWorkerOptions options) {
  auto impl = std::make_unique<Impl>(dispatcher, stats, options.access_log);
  if (absl::Status status =
          impl->Init(std::move(config), std::move(options.listen_addresses));
      !status.ok()) {
    return status;
  }
  return std::unique_ptr<ProxyWorker>(new ProxyWorker(std::move(impl)));
}

ProxyWorker::ProxyWorker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProxyWorker::~ProxyWorker() = default;

void ProxyWorker::Start(std::function<void()> on_initialized) {
  impl_->Start(std::move(on_initialized));
}

bool ProxyWorker::initialized() const { return impl_->initialized(); }

absl::Status ProxyWorker::Reload(std::shared_ptr<const Bootstrap> config,
                                 std::function<void()> on_swapped) {
  return impl_->Reload(std::move(config), std::move(on_swapped));
}

void ProxyWorker::Drain(std::function<void()> on_drained) {
  impl_->Drain(std::move(on_drained));
}

std::vector<SocketAddress> ProxyWorker::listen_addresses() const {
  return impl_->listen_addresses();
}

std::vector<ClusterStatus> ProxyWorker::Clusters() const {
  return impl_->Clusters();
}

const std::shared_ptr<const Bootstrap>& ProxyWorker::config() const {
  return impl_->config();
}

}  // namespace homing
