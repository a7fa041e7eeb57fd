// File: capi/router.cc
//
// homing_router_* and homing_decision_*: a ClusterManager and a Router over
// one listener of a config, on a loop; decisions as self-contained values.

#include "homing/router.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "handles.h"
#include "internal.h"
#include "loop.h"

struct homing_decision_t {
  uint64_t router_id = 0;  // which router may take it back
  homing::RoutingDecision rep;
  // Terminated copies of what the decision only views or computes.
  std::string upstream;
  std::string error;
  std::string authority;
  std::string route_name;
  std::string cluster;
};

namespace homing::capi {
namespace {

// Everything of a router that lives on the loop: the router goes before the
// clusters it routes to, and both before the store they count in.
struct RouterComponent {
  std::shared_ptr<StatsStore> stats;
  std::shared_ptr<const Bootstrap> config;
  std::unique_ptr<ClusterManager> clusters;
  std::unique_ptr<Router> router;
  std::function<void()> on_ready;  // homing_router_on_ready()'s, until ready
};

// Readiness, readable from any thread; `closed` wakes waiters when the
// router shuts down.
struct ReadyState {
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> ready{false};
  bool closed = false;  // guarded by mu

  void Set(bool is_ready, bool is_closed) {
    std::lock_guard<std::mutex> lock(mu);
    if (is_ready) ready.store(true, std::memory_order_release);
    if (is_closed) closed = true;
    cv.notify_all();
  }
};

homing_decision_t MakeDecision(uint64_t router_id, RoutingDecision decision) {
  homing_decision_t made;
  made.router_id = router_id;
  if (decision.forward()) made.upstream = decision.upstream.ToString();
  made.error = std::string(decision.error);
  made.authority = std::string(decision.authority);
  if (decision.route != nullptr) {
    made.route_name = decision.route->name();
    made.cluster = decision.route->action().cluster;
  }
  made.rep = std::move(decision);
  return made;
}

std::atomic<uint64_t> next_router_id{1};

}  // namespace
}  // namespace homing::capi

struct homing_router_t final : homing::capi::LoopObject {
  using LoopObject::LoopObject;

  std::shared_ptr<void> ReleaseComponent() override {
    ready->Set(false, true);
    return std::move(component);
  }

  homing::Router& router() const { return *component->router; }

  const uint64_t id = homing::capi::next_router_id.fetch_add(1);
  const std::shared_ptr<homing::capi::ReadyState> ready =
      std::make_shared<homing::capi::ReadyState>();
  std::shared_ptr<homing::capi::RouterComponent> component;  // loop thread
};

namespace homing::capi {
namespace {

using Deliver = std::function<void(homing_decision_t decision)>;

// StartRoute()
//
// Routes `request` on the loop thread. `deliver` gets the decision once:
// before this returns (then the result is nullptr), or later unless the
// returned operation is cancelled. Must be the last use of `router` by the
// caller: `deliver` may free it.
std::shared_ptr<PendingOp> StartRoute(homing_router_t* router,
                                      homing_loop_t* loop,
                                      const homing_request_t& request,
                                      const Deliver& deliver) {
  std::shared_ptr<PendingOp> op = router->pendings().Start(loop);
  const uint64_t id = router->id;
  Router::Result result = router->router().Route(
      request.View(), [weak = std::weak_ptr<PendingOp>(op), id,
                       deliver](RoutingDecision decision) {
        std::shared_ptr<PendingOp> self = weak.lock();
        if (self == nullptr || self->done) return;
        self->Finish();
        GuardVoid("homing_router_route callback",
                  [&] { deliver(MakeDecision(id, std::move(decision))); });
      });
  if (result.decision) {
    op->Finish();
    deliver(MakeDecision(id, *std::move(result.decision)));
    return nullptr;
  }
  op->op = std::move(result.handle);
  return op;
}

// The checks of calls that block the caller until the engine thread answers.
homing_status CheckBlockingCall(homing_loop_t* loop, const char* what,
                                char** errmsg) {
  if (loop == nullptr) return LoopGone(errmsg);
  if (loop->engine == nullptr) {
    return SaveError(errmsg, HOMING_ERR_FAILED_PRECONDITION,
                     absl::StrCat(what,
                                  " needs a router on an engine (on an "
                                  "external loop the host must keep driving "
                                  "the loop: use homing_router_route())"));
  }
  if (loop->dispatcher->IsLoopThread()) {
    return SaveError(errmsg, HOMING_ERR_WRONG_THREAD,
                     absl::StrCat(what,
                                  " would wait for the engine thread "
                                  "it is called on"));
  }
  return HOMING_OK;
}

// Waits on `cv` for `done()`, at most `timeout_ms` (negative: no limit).
template <typename Pred>
bool WaitFor(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
             int timeout_ms, Pred done) {
  if (timeout_ms < 0) {
    cv.wait(lock, done);
    return true;
  }
  return cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), done);
}

// Runs `fn` on `router`'s loop for one of its decisions, after the checks
// every call that takes a decision back shares (`what` names the call).
template <typename Fn>
homing_status OnDecisionLoop(homing_router_t* router,
                             const homing_decision_t* decision,
                             const char* what, char** errmsg, Fn fn) {
  if (router == nullptr || decision == nullptr) {
    return InvalidArgument(
        errmsg, absl::StrCat(what, ": router and decision are required"));
  }
  if (decision->router_id != router->id) {
    return InvalidArgument(errmsg, "the decision comes from another router");
  }
  homing_loop_t* loop = router->loop();
  if (loop == nullptr) return LoopGone(errmsg);
  return OnLoop(loop, errmsg, [&] {
    // The loop may have shut the router down since the check above.
    if (router->component == nullptr) return LoopGone(errmsg);
    return fn();
  });
}

}  // namespace
}  // namespace homing::capi

using homing::capi::Guard;
using homing::capi::InvalidArgument;
using homing::capi::LoopGone;
using homing::capi::OnDecisionLoop;
using homing::capi::OnLoop;
using homing::capi::SaveError;

extern "C" {

homing_status homing_router_new(homing_loop_t* loop,
                                const homing_config_t* config,
                                size_t listener_index, homing_stats_t* stats,
                                homing_router_t** out, char** errmsg) {
  homing::capi::ClearOutput(out);
  if (loop == nullptr || config == nullptr || out == nullptr) {
    return InvalidArgument(
        errmsg, "homing_router_new: loop, config and out are required");
  }
  if (listener_index >= config->rep->listeners.size()) {
    return InvalidArgument(
        errmsg, absl::StrCat("listener index ", listener_index,
                             " is out of range (the config has ",
                             config->rep->listeners.size(), " listeners)"));
  }
  return OnLoop(loop, errmsg, [&]() -> absl::Status {
    auto component = std::make_shared<homing::capi::RouterComponent>();
    component->stats = homing::capi::StoreOf(stats);
    component->config = config->rep;
    auto clusters = homing::ClusterManager::Create(
        *loop->dispatcher, *component->config, *component->stats);
    if (!clusters.ok()) return clusters.status();
    component->clusters = *std::move(clusters);
    homing::Dispatcher& dispatcher = *loop->dispatcher;
    auto router = homing::Router::Create(
        dispatcher, *component->clusters,
        component->config->listeners[listener_index].http_connection_manager,
        *component->stats,
        [&dispatcher] { return homing::LookupTransport::CreateCurl(dispatcher); });
    if (!router.ok()) return router.status();
    component->router = *std::move(router);
    auto handle = std::make_unique<homing_router_t>(loop);
    handle->component = component;
    handle->Register();
    // The clusters own this callback, and the component owns them.
    component->clusters->Start([ready = handle->ready, component = component.get()] {
      ready->Set(true, false);
      if (component->on_ready) std::exchange(component->on_ready, nullptr)();
    });
    *out = handle.release();
    return absl::OkStatus();
  });
}

void homing_router_free(homing_router_t* router) {
  if (router != nullptr)
    homing::capi::FreeLoopObject(router, "homing_router_free");
}

int homing_router_ready(const homing_router_t* router) {
  return router != nullptr &&
         router->ready->ready.load(std::memory_order_acquire);
}

homing_status homing_router_on_ready(homing_router_t* router, homing_ready_cb cb,
                                     void* user_data, char** errmsg) {
  if (router == nullptr || cb == nullptr) {
    return InvalidArgument(errmsg, "homing_router_on_ready: router and cb are required");
  }
  homing_loop_t* loop = router->loop();
  if (loop == nullptr) return LoopGone(errmsg);
  return OnLoop(loop, errmsg, [&] {
    auto notify = [loop, router, cb, user_data] {
      homing::capi::CallbackScope scope(loop);
      cb(router, user_data);
    };
    if (router->ready->ready.load(std::memory_order_acquire)) {
      notify();
    } else {
      router->component->on_ready = std::move(notify);
    }
    return HOMING_OK;
  });
}

homing_status homing_router_wait_ready(homing_router_t* router, int timeout_ms,
                                       char** errmsg) {
  if (router == nullptr) {
    return InvalidArgument(errmsg,
                           "homing_router_wait_ready: router is required");
  }
  if (homing_status status = homing::capi::CheckBlockingCall(
          router->loop(), "homing_router_wait_ready", errmsg);
      status != HOMING_OK) {
    return status;
  }
  homing::capi::ReadyState& ready = *router->ready;
  std::unique_lock<std::mutex> lock(ready.mu);
  homing::capi::WaitFor(ready.cv, lock, timeout_ms,
                        [&] { return ready.ready.load() || ready.closed; });
  if (ready.ready.load()) return HOMING_OK;
  if (ready.closed) return LoopGone(errmsg);
  return SaveError(errmsg, HOMING_ERR_TIMEOUT,
                   absl::StrCat("the router's STRICT_DNS clusters had no "
                                "first answer within ",
                                timeout_ms, " ms"));
}

homing_status homing_router_route(homing_router_t* router,
                                  const homing_request_t* request,
                                  homing_decision_cb cb, void* user_data,
                                  homing_pending_t** pending, char** errmsg) {
  if (router == nullptr || request == nullptr || cb == nullptr) {
    return InvalidArgument(
        errmsg, "homing_router_route: router, request and cb are required");
  }
  homing_loop_t* loop = router->loop();
  if (loop == nullptr) return LoopGone(errmsg);
  return OnLoop(loop, errmsg, [&] {
    auto handle = std::make_unique<homing_pending_t>();
    homing::capi::Deliver deliver = [loop, cb,
                                     user_data](homing_decision_t decision) {
      homing::capi::CallbackScope scope(loop);
      cb(&decision, user_data);
    };
    std::shared_ptr<homing::capi::PendingOp> op =
        homing::capi::StartRoute(router, loop, *request, deliver);
    if (pending != nullptr) {
      if (op != nullptr) {
        handle->rep = std::move(op);
        *pending = handle.release();
      } else {
        *pending = nullptr;
      }
    }
    return HOMING_OK;
  });
}

homing_status homing_router_route_sync(homing_router_t* router,
                                       const homing_request_t* request,
                                       int timeout_ms, homing_decision_t** out,
                                       char** errmsg) {
  homing::capi::ClearOutput(out);
  if (router == nullptr || request == nullptr || out == nullptr) {
    return InvalidArgument(
        errmsg,
        "homing_router_route_sync: router, request and out are required");
  }
  homing_loop_t* loop = router->loop();
  if (homing_status status = homing::capi::CheckBlockingCall(
          loop, "homing_router_route_sync", errmsg);
      status != HOMING_OK) {
    return status;
  }
  // Shared with the engine thread, which may deliver after a timeout.
  struct SyncWait {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<homing_decision_t> decision;
    bool cancelled = false;  // the router shut down, or we gave up
  };
  auto wait = std::make_shared<SyncWait>();
  std::shared_ptr<homing::capi::PendingOp> op;
  homing_status status = OnLoop(loop, errmsg, [&] {
    op = homing::capi::StartRoute(router, loop, *request,
                                  [wait](homing_decision_t decision) {
                                    std::lock_guard<std::mutex> lock(wait->mu);
                                    wait->decision = std::move(decision);
                                    wait->cv.notify_all();
                                  });
    if (op != nullptr) {
      op->on_cancel = [wait] {
        std::lock_guard<std::mutex> lock(wait->mu);
        wait->cancelled = true;
        wait->cv.notify_all();
      };
    }
    return HOMING_OK;
  });
  if (status != HOMING_OK) return status;
  bool timed_out;
  {
    std::unique_lock<std::mutex> lock(wait->mu);
    timed_out = !homing::capi::WaitFor(wait->cv, lock, timeout_ms, [&] {
      return wait->decision.has_value() || wait->cancelled;
    });
  }
  if (timed_out) {
    // Cancel; a decision that raced in before that still counts.
    OnLoop(loop, nullptr, [&] {
      op->Cancel();
      return HOMING_OK;
    });
  }
  std::lock_guard<std::mutex> lock(wait->mu);
  if (wait->decision) {
    return Guard(errmsg, [&] {
      *out = new homing_decision_t(*std::move(wait->decision));
      return HOMING_OK;
    });
  }
  if (!timed_out) {
    return SaveError(errmsg, HOMING_ERR_CANCELLED,
                     "the router was shut down before deciding");
  }
  return SaveError(errmsg, HOMING_ERR_TIMEOUT,
                   absl::StrCat("no decision within ", timeout_ms, " ms"));
}

homing_status homing_router_report(homing_router_t* router,
                                   const homing_decision_t* decision,
                                   int outcome, char** errmsg) {
  absl::StatusOr<homing::RequestOutcome> parsed =
      homing::capi::ToRequestOutcome(outcome);
  if (!parsed.ok()) return SaveError(errmsg, parsed.status());
  return OnDecisionLoop(router, decision, "homing_router_report", errmsg, [&] {
    router->router().ReportOutcome(decision->rep, *parsed);
    return HOMING_OK;
  });
}

homing_status homing_router_retry(homing_router_t* router,
                                  homing_decision_t* decision, int status,
                                  int outcome, int* retry, char** errmsg) {
  if (retry == nullptr) {
    return InvalidArgument(errmsg, "homing_router_retry: retry is required");
  }
  *retry = 0;
  absl::StatusOr<homing::RequestOutcome> parsed =
      homing::capi::ToRequestOutcome(outcome);
  if (!parsed.ok()) return SaveError(errmsg, parsed.status());
  return OnDecisionLoop(router, decision, "homing_router_retry", errmsg, [&] {
    if (router->router().RetryAttempt(decision->rep, status, *parsed)) {
      decision->upstream = decision->rep.upstream.ToString();
      *retry = 1;
    }
    return HOMING_OK;
  });
}

homing_status homing_router_misdirected(homing_router_t* router,
                                        const homing_decision_t* decision,
                                        char** errmsg) {
  return homing_router_misdirected_to(router, decision, nullptr, 0, errmsg);
}

homing_status homing_router_misdirected_to(homing_router_t* router,
                                           const homing_decision_t* decision,
                                           const char* owner, size_t owner_len,
                                           char** errmsg) {
  std::string_view new_owner;
  if (!homing::capi::Text(owner, owner_len, &new_owner)) {
    return InvalidArgument(errmsg, "owner is NULL but owner_len is not 0");
  }
  return OnDecisionLoop(router, decision, "homing_router_misdirected", errmsg, [&] {
    router->router().Misdirected(decision->rep, new_owner);
    return HOMING_OK;
  });
}

homing_decision_t* homing_decision_copy(const homing_decision_t* decision) {
  if (decision == nullptr) return nullptr;
  try {
    return new homing_decision_t(*decision);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void homing_decision_free(homing_decision_t* decision) { delete decision; }

int homing_decision_forward(const homing_decision_t* decision) {
  return decision != nullptr && decision->rep.forward();
}

int homing_decision_status(const homing_decision_t* decision) {
  return decision == nullptr ? 0 : decision->rep.status;
}

const char* homing_decision_error(const homing_decision_t* decision) {
  return decision == nullptr ? nullptr : decision->error.c_str();
}

const char* homing_decision_detail(const homing_decision_t* decision) {
  return decision == nullptr ? nullptr : decision->rep.detail.c_str();
}

const char* homing_decision_upstream(const homing_decision_t* decision) {
  return decision == nullptr ? nullptr : decision->upstream.c_str();
}

const struct sockaddr* homing_decision_upstream_sockaddr(
    const homing_decision_t* decision, size_t* len) {
  const bool forward = decision != nullptr && decision->rep.forward();
  if (len != nullptr) *len = forward ? decision->rep.upstream.sockaddr_len() : 0;
  return forward ? decision->rep.upstream.sockaddr_ptr() : nullptr;
}

const char* homing_decision_authority(const homing_decision_t* decision) {
  return decision == nullptr ? nullptr : decision->authority.c_str();
}

const char* homing_decision_key(const homing_decision_t* decision,
                                size_t* len) {
  if (decision == nullptr) return nullptr;
  if (len != nullptr) *len = decision->rep.key.size();
  return decision->rep.key.c_str();
}

int homing_decision_lookup_source(const homing_decision_t* decision) {
  if (decision == nullptr || decision->rep.target == nullptr) {
    return HOMING_SOURCE_NONE;
  }
  return homing::capi::ToHomingSource(decision->rep.lookup_source);
}

const char* homing_decision_route_name(const homing_decision_t* decision) {
  return decision == nullptr ? nullptr : decision->route_name.c_str();
}

const char* homing_decision_cluster(const homing_decision_t* decision) {
  return decision == nullptr ? nullptr : decision->cluster.c_str();
}

}  // extern "C"
