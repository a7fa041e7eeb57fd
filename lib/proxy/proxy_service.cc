// ProxyService: N ProxyWorkers on LoopThreads; readiness, reload and drain
// across them, coordinated on the caller's ("main") dispatcher.

#include <atomic>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "homing/loop_thread.h"
#include "homing/proxy.h"

namespace homing {

class ProxyService::Impl : public std::enable_shared_from_this<Impl> {
 public:
  struct Worker {
    std::unique_ptr<LoopThread> thread;
    std::unique_ptr<ProxyWorker> proxy;  // created, used, destroyed on `thread`
    std::atomic<bool> initialized{false};
  };

  Impl(Dispatcher& main, StatsStore& stats, ProxyServiceOptions options,
       std::shared_ptr<const Bootstrap> config)
      : main_(main),
        stats_(stats),
        options_(options),
        config_(std::move(config)),
        live_(stats.Gauge("server.live")),
        concurrency_(stats.Gauge("server.concurrency")),
        reload_success_(stats.Counter("server.reload_success")),
        reload_failure_(stats.Counter("server.reload_failure")) {}

  ~Impl() {
    for (auto& worker : workers_) {
      if (worker->thread == nullptr) continue;
      worker->thread->RunSync([&] { worker->proxy.reset(); }).IgnoreError();
      worker->thread.reset();  // joins
    }
    live_.Set(0);
  }

  absl::Status StartWorkers() {
    concurrency_.Set(static_cast<int64_t>(options_.concurrency));
    for (size_t i = 0; i < options_.concurrency; ++i) {
      auto worker = std::make_unique<Worker>();
      absl::StatusOr<std::unique_ptr<LoopThread>> thread = LoopThread::Start();
      if (!thread.ok()) return thread.status();
      worker->thread = *std::move(thread);
      Worker& w = *worker;
      workers_.push_back(std::move(worker));
      absl::Status created;
      w.thread->RunSync([&] {
        ProxyWorkerOptions options;
        options.listen_addresses = addresses_;  // empty for the first worker
        options.access_log = options_.access_log;
        absl::StatusOr<std::unique_ptr<ProxyWorker>> proxy = ProxyWorker::Create(
            w.thread->dispatcher(), config_, stats_, std::move(options));
        if (proxy.ok()) {
          w.proxy = *std::move(proxy);
        } else {
          created = proxy.status();
        }
      }).IgnoreError();
      if (!created.ok()) return created;
      // Port 0: the first worker picked the ports, the others share them.
      if (i == 0) {
        w.thread->RunSync([&] { addresses_ = w.proxy->listen_addresses(); })
            .IgnoreError();
      }
    }
    for (size_t i = 0; i < workers_.size(); ++i) {
      Worker& w = *workers_[i];
      std::weak_ptr<Impl> weak = weak_from_this();
      Dispatcher* main = &main_;
      w.thread->RunSync([&] {
        w.proxy->Start([&w, weak, main] {
          w.initialized.store(true);
          main->Post([weak] {
            if (auto self = weak.lock()) self->OnWorkerInitialized();
          });
        });
      }).IgnoreError();
    }
    return absl::OkStatus();
  }

  ServerState state() const {
    if (draining_.load()) return ServerState::kDraining;
    for (const auto& worker : workers_) {
      if (!worker->initialized.load()) return ServerState::kPreInitializing;
    }
    return ServerState::kLive;
  }

  const std::vector<SocketAddress>& listen_addresses() const { return addresses_; }
  const std::shared_ptr<const Bootstrap>& config() const { return config_; }

  void Reload(absl::StatusOr<Bootstrap> next,
              std::function<void(absl::Status)> done) {
    if (reload_ != nullptr) {
      if (queued_ && queued_->done) {
        queued_->done(absl::AbortedError("superseded by a newer reload"));
      }
      queued_.emplace(QueuedReload{std::move(next), std::move(done)});
      return;
    }
    absl::Status status = next.status();
    if (status.ok()) status = CheckReloadable(*config_, *next);
    if (status.ok()) status = ValidateConfig(*next);
    if (!status.ok()) {
      Fail(status, std::move(done));
      return;
    }
    auto config = std::make_shared<const Bootstrap>(*std::move(next));
    reload_ = std::make_unique<ReloadInProgress>();
    reload_->config = config;
    reload_->done = std::move(done);
    const uint64_t generation = ++reload_generation_;
    for (size_t i = 0; i < workers_.size(); ++i) {
      Worker& w = *workers_[i];
      absl::Status reloaded;
      w.thread->RunSync([&] {
        reloaded = w.proxy->Reload(config, OnSwappedTask(generation));
      }).IgnoreError();
      if (!reloaded.ok()) {
        // Put the workers already reloaded back on the running configuration
        // (it built once, so it builds again).
        const uint64_t rollback = ++reload_generation_;
        for (size_t j = 0; j < i; ++j) {
          Worker& r = *workers_[j];
          r.thread->RunSync([&] {
            r.proxy->Reload(config_, OnSwappedTask(rollback)).IgnoreError();
          }).IgnoreError();
        }
        std::function<void(absl::Status)> reload_done = std::move(reload_->done);
        reload_.reset();
        Fail(reloaded, std::move(reload_done));
        RunQueuedReload();
        return;
      }
    }
  }

  void Drain(Duration timeout, std::function<void()> done) {
    draining_.store(true);
    live_.Set(0);
    drain_done_ = std::move(done);
    drained_ = 0;
    std::weak_ptr<Impl> weak = weak_from_this();
    drain_timer_ = main_.CreateTimer([weak] {
      if (auto self = weak.lock()) {
        HOMING_LOG(kWarn, "drain timeout: closing the connections still open");
        self->FinishDrain();
      }
    });
    drain_timer_->Arm(timeout);
    Dispatcher* main = &main_;
    for (auto& worker : workers_) {
      Worker& w = *worker;
      w.thread->RunSync([&] {
        w.proxy->Drain([weak, main] {
          main->Post([weak] {
            if (auto self = weak.lock()) self->OnWorkerDrained();
          });
        });
      }).IgnoreError();
    }
  }

  std::vector<ClusterStatus> Clusters() const {
    std::vector<ClusterStatus> merged;
    for (const auto& worker : workers_) {
      std::vector<ClusterStatus> one;
      worker->thread->RunSync([&] { one = worker->proxy->Clusters(); })
          .IgnoreError();
      MergeClusterStatus(&merged, std::move(one));
    }
    return merged;
  }

 private:
  struct ReloadInProgress {
    std::shared_ptr<const Bootstrap> config;
    std::function<void(absl::Status)> done;
    size_t swapped = 0;
  };
  struct QueuedReload {
    absl::StatusOr<Bootstrap> next;
    std::function<void(absl::Status)> done;
  };

  // A worker's swap, reported back to the main dispatcher.
  std::function<void()> OnSwappedTask(uint64_t generation) {
    std::weak_ptr<Impl> weak = weak_from_this();
    Dispatcher* main = &main_;
    return [weak, main, generation] {
      main->Post([weak, generation] {
        if (auto self = weak.lock()) self->OnWorkerSwapped(generation);
      });
    };
  }

  void OnWorkerInitialized() {
    if (state() != ServerState::kLive) return;
    live_.Set(1);
    HOMING_LOG(kInfo, "all ", workers_.size(),
               " workers have initialized their clusters: LIVE");
  }

  void OnWorkerSwapped(uint64_t generation) {
    if (reload_ == nullptr || generation != reload_generation_) return;
    if (++reload_->swapped < workers_.size()) return;
    config_ = reload_->config;
    reload_success_.Inc();
    HOMING_LOG(kInfo, "configuration reloaded on ", workers_.size(),
               " workers");
    std::function<void(absl::Status)> done = std::move(reload_->done);
    reload_.reset();
    if (done) done(absl::OkStatus());
    RunQueuedReload();
  }

  void RunQueuedReload() {
    if (!queued_) return;
    QueuedReload queued = *std::move(queued_);
    queued_.reset();
    Reload(std::move(queued.next), std::move(queued.done));
  }

  void Fail(const absl::Status& status,
            std::function<void(absl::Status)> done) {
    reload_failure_.Inc();
    HOMING_LOG(kError, "reload failed, keeping the running configuration: ",
               status.message());
    if (done) done(status);
  }

  void OnWorkerDrained() {
    if (++drained_ == workers_.size()) FinishDrain();
  }

  void FinishDrain() {
    if (!drain_done_) return;
    drain_timer_->Disarm();
    std::function<void()> done = std::move(drain_done_);
    drain_done_ = nullptr;
    done();
  }

  Dispatcher& main_;
  StatsStore& stats_;
  const ProxyServiceOptions options_;
  std::shared_ptr<const Bootstrap> config_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<SocketAddress> addresses_;
  std::atomic<bool> draining_{false};
  Gauge& live_;
  Gauge& concurrency_;
  Counter& reload_success_;
  Counter& reload_failure_;
  // Main thread only.
  std::unique_ptr<ReloadInProgress> reload_;
  uint64_t reload_generation_ = 0;
  std::optional<QueuedReload> queued_;
  std::unique_ptr<Timer> drain_timer_;
  std::function<void()> drain_done_;
  size_t drained_ = 0;
};

absl::StatusOr<std::unique_ptr<ProxyService>> ProxyService::Start(
    Dispatcher& main, std::shared_ptr<const Bootstrap> config,
    StatsStore& stats, ProxyServiceOptions options) {
  if (options.concurrency == 0) {
    return absl::InvalidArgumentError("concurrency must be at least 1");
  }
  auto impl = std::make_shared<Impl>(main, stats, options, std::move(config));
  if (absl::Status status = impl->StartWorkers(); !status.ok()) return status;
  return std::unique_ptr<ProxyService>(new ProxyService(std::move(impl)));
}

ProxyService::ProxyService(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProxyService::~ProxyService() = default;

ServerState ProxyService::state() const { return impl_->state(); }

const std::vector<SocketAddress>& ProxyService::listen_addresses() const {
  return impl_->listen_addresses();
}

const std::shared_ptr<const Bootstrap>& ProxyService::config() const {
  return impl_->config();
}

void ProxyService::Reload(absl::StatusOr<Bootstrap> next,
                          std::function<void(absl::Status)> done) {
  impl_->Reload(std::move(next), std::move(done));
}

void ProxyService::Drain(Duration timeout, std::function<void()> done) {
  impl_->Drain(timeout, std::move(done));
}

std::vector<ClusterStatus> ProxyService::Clusters() const {
  return impl_->Clusters();
}

}  // namespace homing
