// File: capi/loop.h
//
// Loops, engines and the objects that live on them.
//
// `homing_loop_t` is either an external loop (an `ExternalDispatcher` the
// host drives, usable only from the thread that created it) or the loop of an
// engine (a `LoopThread`, usable from any thread: calls are carried over with
// `LoopThread::RunSync()`). `OnLoop()` is the one way an entry point touches
// a loop's objects; it enforces the threading rule and catches exceptions
// where the work runs.
//
// `LoopObject` is the base of every handle whose component lives on a loop
// (DNS cache, affinity lookup, router). The loop keeps a registry of them so
// that freeing the loop first shuts them down; their components are destroyed
// on the loop thread, and later than that when a user callback is running
// (components must not be destroyed from inside their own callbacks).
//
// `PendingOp` is one asynchronous operation: the component's cancel handle,
// kept on the loop thread until the callback runs or the operation is
// cancelled, shared with the caller's `homing_pending_t`.

#ifndef HOMING_CAPI_LOOP_H_
#define HOMING_CAPI_LOOP_H_

#include <atomic>
#include <functional>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "homing/dispatcher.h"
#include "homing/dns_cache.h"
#include "homing/external_dispatcher.h"
#include "homing/homing.h"
#include "homing/loop_thread.h"
#include "internal.h"

namespace homing::capi {

class LoopObject;

}  // namespace homing::capi

struct homing_loop_t {
  // Exactly one of `external` and `engine` is set.
  std::unique_ptr<homing::ExternalDispatcher> external;
  homing_engine_t* engine = nullptr;
  homing::Dispatcher* dispatcher = nullptr;

  // The rest belongs to the loop thread.
  absl::flat_hash_set<homing::capi::LoopObject*> objects;
  int entry_depth = 0;          // external: nested C entry points running
  int callback_depth = 0;       // user callbacks running
  bool free_requested = false;  // external: homing_loop_free() from a callback
};

struct homing_engine_t {
  std::unique_ptr<homing::LoopThread> thread;
  homing_loop_t loop;
};

namespace homing::capi {

// DestroyExternalLoop()
//
// Shuts down the loop's objects and frees it (external loops, on their
// thread, outside any entry point).
void DestroyExternalLoop(homing_loop_t* loop);

// OnLoop()
//
// Runs `fn` (returning homing_status) where `loop` lives:
//  - external loop: on the calling thread, which must be the loop's
//    (HOMING_ERR_WRONG_THREAD otherwise), inside a CallScope;
//  - engine: directly on the engine thread, else carried there with
//    RunSync() (HOMING_ERR_FAILED_PRECONDITION once the engine stops).
template <typename Fn>
homing_status OnLoop(homing_loop_t* loop, char** errmsg, Fn&& fn) {
  if (loop->engine == nullptr) {
    if (!loop->external->IsLoopThread()) {
      return SaveError(errmsg, HOMING_ERR_WRONG_THREAD,
                       "an external loop and its objects belong to the "
                       "thread that created the loop");
    }
    homing_status status;
    {
      ExternalDispatcher::CallScope scope(*loop->external);
      ++loop->entry_depth;
      status = Guard(errmsg, fn);
      --loop->entry_depth;
    }
    if (loop->entry_depth == 0 && loop->free_requested) {
      DestroyExternalLoop(loop);
    }
    return status;
  }
  if (loop->dispatcher->IsLoopThread()) return Guard(errmsg, fn);
  homing_status status = HOMING_OK;
  absl::Status carried =
      loop->engine->thread->RunSync([&] { status = Guard(errmsg, fn); });
  if (!carried.ok()) {
    return SaveError(errmsg, HOMING_ERR_FAILED_PRECONDITION,
                     "the engine is stopped");
  }
  return status;
}

// CallbackScope
//
// Brackets a user callback: while one runs, objects freed from it have their
// components destroyed later, by a posted task.
class CallbackScope {
 public:
  explicit CallbackScope(homing_loop_t* loop) : loop_(loop) {
    ++loop_->callback_depth;
  }
  ~CallbackScope() { --loop_->callback_depth; }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;

 private:
  homing_loop_t* loop_;
};

class PendingSet;

// PendingOp
//
// `done` is set (on the loop thread) when the callback starts or the
// operation is cancelled; from then on `op` is empty and nothing of the
// operation touches the loop again.
struct PendingOp {
  explicit PendingOp(homing_loop_t* l) : loop(l) {}

  // PendingOp::Finish()
  //
  // Marks the operation over (its callback is about to run, or it ended
  // without one) and releases its cancel handle. Loop thread only;
  // idempotent. The caller holds a reference (leaving the owner's set may
  // drop the last other one).
  void Finish();

  // PendingOp::Cancel()
  //
  // Finish() for an operation whose callback will never run: destroying the
  // handle cancels it, and `on_cancel` (if any) learns of it.
  void Cancel();

  homing_loop_t* const loop;
  std::atomic<bool> done{false};
  std::atomic<bool> cancelled{false};  // set before `done` by Cancel()
  std::unique_ptr<Cancelable> op;   // loop thread only
  PendingSet* owner = nullptr;      // loop thread only
  std::function<void()> on_cancel;  // loop thread only
};

// PendingSet
//
// The operations of one object still waiting for their callback; the object
// cancels them all when it shuts down.
class PendingSet {
 public:
  ~PendingSet() { CancelAll(); }

  // PendingSet::Start()
  //
  // A new operation owned by this set until it finishes.
  std::shared_ptr<PendingOp> Start(homing_loop_t* loop);

  // PendingSet::Remove()
  //
  // Forgets `op`; the caller holds a reference, as this may drop the set's.
  void Remove(PendingOp* op);

  // PendingSet::CancelAll()
  //
  // Cancels every operation.
  void CancelAll();

 private:
  absl::flat_hash_map<PendingOp*, std::shared_ptr<PendingOp>> ops_;
};

// LoopObject
//
// A handle whose component lives on a loop. Created and registered on the
// loop thread (Register()); `Shutdown()` on the loop thread cancels its
// operations, unregisters it and destroys the component.
class LoopObject {
 public:
  explicit LoopObject(homing_loop_t* loop) : loop_(loop) {}
  virtual ~LoopObject() = default;
  LoopObject(const LoopObject&) = delete;
  LoopObject& operator=(const LoopObject&) = delete;

  // LoopObject::loop()
  //
  // nullptr once shut down (the loop was freed): every call then fails with
  // HOMING_ERR_FAILED_PRECONDITION.
  homing_loop_t* loop() const { return loop_.load(std::memory_order_acquire); }

  void Register() { loop()->objects.insert(this); }
  void Shutdown();

  PendingSet& pendings() { return pendings_; }

 protected:
  // LoopObject::ReleaseComponent()
  //
  // Hands over everything that lives on the loop, type-erased, for
  // destruction on the loop thread.
  virtual std::shared_ptr<void> ReleaseComponent() = 0;

 private:
  std::atomic<homing_loop_t*> loop_;
  PendingSet pendings_;
};

// LoopGone()
//
// The failure of every call on a shut-down object.
inline homing_status LoopGone(char** errmsg) {
  return SaveError(errmsg, HOMING_ERR_FAILED_PRECONDITION,
                   "the loop of this object was freed");
}

// FreeLoopObject()
//
// The body of the `_free()` of a LoopObject handle: shuts it down on its loop
// and deletes it. A free from a thread that may not touch the loop leaves the
// object to the loop's own shutdown (and logs it).
void FreeLoopObject(LoopObject* object, const char* where);

}  // namespace homing::capi

struct homing_pending_t {
  std::shared_ptr<homing::capi::PendingOp> rep;
};

#endif  // HOMING_CAPI_LOOP_H_
