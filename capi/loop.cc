// File: capi/loop.cc
//
// homing_loop_*, homing_engine_* and homing_pending_*, and the life cycle of
// the objects that live on a loop.

#include "loop.h"

#include <utility>
#include <vector>

#include <algorithm>
#include <chrono>
#include <climits>

#include "absl/strings/str_cat.h"

namespace homing::capi {
namespace {

// The Dispatcher's event bits as the C ABI's (the values agree; this keeps
// the two sets of names apart).
int ToHostEvents(uint32_t events) {
  return ((events & kFdRead) ? HOMING_EV_READ : 0) |
         ((events & kFdWrite) ? HOMING_EV_WRITE : 0);
}

// A homing_timer_cb timeout: whole milliseconds rounded up, -1 for none.
int ToTimeoutMs(std::optional<Duration> timeout) {
  if (!timeout) return -1;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(*timeout).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, INT_MAX));
}

// The host's watch callback, of either kind (exactly one is set).
struct HostWatchCallback {
  homing_watch_cb watch = nullptr;
  homing_watch2_cb watch2 = nullptr;  // with a per-descriptor slot
};

// The C host's callbacks as an ExternalDispatcher's host.
ExternalDispatcher::Host CHost(HostWatchCallback watch, homing_timer_cb timer,
                               void* user_data) {
  ExternalDispatcher::Host host;
  if (watch.watch != nullptr) {
    host.watch = [watch = watch.watch, user_data](int fd, uint32_t events, void**) {
      watch(fd, ToHostEvents(events), user_data);
    };
  } else {
    host.watch = [watch = watch.watch2, user_data](int fd, uint32_t events,
                                                   void** fd_data) {
      watch(fd, ToHostEvents(events), fd_data, user_data);
    };
  }
  host.set_timer = [timer, user_data](std::optional<Duration> timeout) {
    timer(ToTimeoutMs(timeout), user_data);
  };
  return host;
}

// Shuts down every object still on `loop` (loop thread).
void ShutdownObjects(homing_loop_t* loop) {
  while (!loop->objects.empty()) (*loop->objects.begin())->Shutdown();
}

// The checks every process call shares.
homing_status CheckProcessCall(homing_loop_t* loop) {
  if (loop == nullptr || loop->engine != nullptr) {
    return HOMING_ERR_INVALID_ARGUMENT;
  }
  if (!loop->external->IsLoopThread()) return HOMING_ERR_WRONG_THREAD;
  if (loop->entry_depth > 0) return HOMING_ERR_REENTRANT;
  return HOMING_OK;
}

// Either kind of external loop (`where` names the entry point).
homing_status NewExternalLoop(const char* where, HostWatchCallback watch,
                              homing_timer_cb timer_cb, void* user_data,
                              homing_loop_t** out, char** errmsg) {
  const bool has_watch = watch.watch != nullptr || watch.watch2 != nullptr;
  if (!has_watch || timer_cb == nullptr || out == nullptr) {
    return InvalidArgument(
        errmsg, absl::StrCat(where, ": watch_cb, timer_cb and out are required"));
  }
  return Guard(errmsg, [&]() -> absl::Status {
    auto dispatcher =
        ExternalDispatcher::Create(CHost(watch, timer_cb, user_data));
    if (!dispatcher.ok()) return dispatcher.status();
    auto loop = std::make_unique<homing_loop_t>();
    loop->dispatcher = dispatcher->get();
    loop->external = *std::move(dispatcher);
    *out = loop.release();
    return absl::OkStatus();
  });
}

}  // namespace

void DestroyExternalLoop(homing_loop_t* loop) {
  {
    ExternalDispatcher::CallScope scope(*loop->external);
    ShutdownObjects(loop);
  }
  loop->external.reset();
  delete loop;
}

void PendingOp::Finish() {
  done.store(true, std::memory_order_release);
  std::unique_ptr<Cancelable> handle = std::move(op);
  if (owner != nullptr) std::exchange(owner, nullptr)->Remove(this);
}

void PendingOp::Cancel() {
  if (done.load(std::memory_order_acquire)) return;
  cancelled.store(true, std::memory_order_release);
  Finish();
  if (on_cancel) std::exchange(on_cancel, nullptr)();
}

std::shared_ptr<PendingOp> PendingSet::Start(homing_loop_t* loop) {
  auto op = std::make_shared<PendingOp>(loop);
  op->owner = this;
  ops_.emplace(op.get(), op);
  return op;
}

void PendingSet::Remove(PendingOp* op) { ops_.erase(op); }

void PendingSet::CancelAll() {
  absl::flat_hash_map<PendingOp*, std::shared_ptr<PendingOp>> ops;
  ops.swap(ops_);
  for (auto& [raw, op] : ops) {
    op->owner = nullptr;
    op->Cancel();
  }
}

void LoopObject::Shutdown() {
  homing_loop_t* loop = this->loop();
  pendings_.CancelAll();
  loop->objects.erase(this);
  loop_.store(nullptr, std::memory_order_release);
  std::shared_ptr<void> component = ReleaseComponent();
  // A component may be on the stack below a running user callback.
  if (loop->callback_depth > 0 && component != nullptr) {
    loop->dispatcher->Post([component] {});
  }
}

void FreeLoopObject(LoopObject* object, const char* where) {
  homing_loop_t* loop = object->loop();
  if (loop == nullptr) {
    delete object;
    return;
  }
  homing_status status = OnLoop(loop, nullptr, [&] {
    object->Shutdown();
    return HOMING_OK;
  });
  if (status != HOMING_OK) {
    // The loop's own shutdown will release the component.
    LogFailure(where, status);
    return;
  }
  delete object;
}

}  // namespace homing::capi

using homing::capi::CheckProcessCall;
using homing::ExternalDispatcher;
using homing::capi::Guard;
using homing::capi::NewExternalLoop;
using homing::capi::OnLoop;

extern "C" {

homing_status homing_loop_new_external(homing_watch_cb watch_cb,
                                       homing_timer_cb timer_cb,
                                       void* user_data, homing_loop_t** out,
                                       char** errmsg) {
  homing::capi::ClearOutput(out);
  return NewExternalLoop("homing_loop_new_external", {.watch = watch_cb},
                         timer_cb, user_data, out, errmsg);
}

homing_status homing_loop_new_external2(homing_watch2_cb watch_cb,
                                        homing_timer_cb timer_cb,
                                        void* user_data, homing_loop_t** out,
                                        char** errmsg) {
  homing::capi::ClearOutput(out);
  return NewExternalLoop("homing_loop_new_external2", {.watch2 = watch_cb},
                         timer_cb, user_data, out, errmsg);
}

void homing_loop_free(homing_loop_t* loop) {
  if (loop == nullptr || loop->engine != nullptr) return;
  if (!loop->external->IsLoopThread()) {
    homing::capi::LogFailure("homing_loop_free", HOMING_ERR_WRONG_THREAD);
    return;
  }
  if (loop->entry_depth > 0) {
    loop->free_requested = true;  // done when the outermost call returns
    return;
  }
  homing::capi::GuardVoid("homing_loop_free",
                          [&] { homing::capi::DestroyExternalLoop(loop); });
}

homing_status homing_loop_process_fd(homing_loop_t* loop, int fd, int events) {
  if (homing_status status = CheckProcessCall(loop); status != HOMING_OK) {
    return status;
  }
  if (fd < 0) return HOMING_ERR_INVALID_ARGUMENT;
  uint32_t ready = 0;
  if (events & HOMING_EV_READ) ready |= homing::kFdRead;
  if (events & HOMING_EV_WRITE) ready |= homing::kFdWrite;
  if (events & HOMING_EV_ERROR) ready |= homing::kFdError;
  return OnLoop(loop, nullptr, [&] {
    loop->external->ProcessFd(fd, ready);
    return HOMING_OK;
  });
}

homing_status homing_loop_process_timers(homing_loop_t* loop) {
  if (homing_status status = CheckProcessCall(loop); status != HOMING_OK) {
    return status;
  }
  return OnLoop(loop, nullptr, [&] {
    loop->external->ProcessTimers();
    return HOMING_OK;
  });
}

int homing_loop_timeout_ms(const homing_loop_t* loop) {
  if (loop == nullptr || loop->engine != nullptr ||
      !loop->external->IsLoopThread()) {
    return -1;
  }
  return homing::capi::ToTimeoutMs(loop->external->NextTimeout());
}

homing_status homing_engine_start(homing_engine_t** out, char** errmsg) {
  homing::capi::ClearOutput(out);
  if (out == nullptr) {
    return homing::capi::InvalidArgument(
        errmsg, "homing_engine_start: out is required");
  }
  return Guard(errmsg, [&]() -> absl::Status {
    auto thread = homing::LoopThread::Start();
    if (!thread.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "cannot start the engine's loop: ", thread.status().message()));
    }
    auto engine = std::make_unique<homing_engine_t>();
    engine->thread = *std::move(thread);
    engine->loop.engine = engine.get();
    engine->loop.dispatcher = &engine->thread->dispatcher();
    *out = engine.release();
    return absl::OkStatus();
  });
}

homing_loop_t* homing_engine_loop(homing_engine_t* engine) {
  return engine == nullptr ? nullptr : &engine->loop;
}

homing_status homing_engine_stop(homing_engine_t* engine) {
  if (engine == nullptr) return HOMING_OK;
  if (engine->loop.dispatcher->IsLoopThread()) return HOMING_ERR_WRONG_THREAD;
  return Guard(nullptr, [&] {
    // RunSync cannot fail here: only this function stops the thread.
    engine->thread
        ->RunSync([&] {
          homing::capi::GuardVoid("homing_engine_stop", [&] {
            homing::capi::ShutdownObjects(&engine->loop);
          });
        })
        .IgnoreError();
    engine->thread.reset();  // stops the loop and joins the thread
    delete engine;
    return HOMING_OK;
  });
}

homing_status homing_pending_cancel(homing_pending_t* pending) {
  if (pending == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  if (pending->rep->done.load(std::memory_order_acquire)) return HOMING_OK;
  std::shared_ptr<homing::capi::PendingOp> op = pending->rep;
  return OnLoop(op->loop, nullptr, [&] {
    op->Cancel();
    return HOMING_OK;
  });
}

homing_status homing_pending_on_cancel(homing_pending_t* pending,
                                       homing_cancel_cb cb, void* user_data) {
  if (pending == nullptr || cb == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  std::shared_ptr<homing::capi::PendingOp> op = pending->rep;
  auto on_cancel = [cb, user_data] { cb(HOMING_ERR_CANCELLED, user_data); };
  // An operation that has ended (its loop may be gone): say so if it was
  // cancelled, else its callback has run.
  if (op->done.load(std::memory_order_acquire)) {
    if (op->cancelled.load(std::memory_order_acquire)) on_cancel();
    return HOMING_OK;
  }
  return OnLoop(op->loop, nullptr, [&] {
    if (!op->done.load(std::memory_order_acquire)) {
      op->on_cancel = on_cancel;
    } else if (op->cancelled.load(std::memory_order_acquire)) {
      on_cancel();
    }
    return HOMING_OK;
  });
}

int homing_pending_done(const homing_pending_t* pending) {
  return pending != nullptr &&
         pending->rep->done.load(std::memory_order_acquire);
}

void homing_pending_free(homing_pending_t* pending) {
  if (pending == nullptr) return;
  if (homing_status status = homing_pending_cancel(pending);
      status != HOMING_OK) {
    // The callback may still come; nothing else can be done from here.
    homing::capi::LogFailure("homing_pending_free", status);
  }
  delete pending;
}

}  // extern "C"
