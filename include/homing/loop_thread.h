// File: homing/loop_thread.h
//
// `LoopThread` runs a `LibuvDispatcher` on a thread of its own: the mode for
// hosts that have no event loop to share (the C ABI's "run homing's loop on a
// thread of its own") and for the proxy's worker threads. Components still
// follow the threading rule of homing/dispatcher.h: create, use and destroy
// them on the loop thread, by posting to `dispatcher()` or with `RunSync()`.
//
// Example:
//
//   auto worker = homing::LoopThread::Start();
//   if (!worker.ok()) return worker.status();
//   std::unique_ptr<DnsCache> cache;
//   absl::Status s = (*worker)->RunSync([&] {
//     cache = MakeDnsCache((*worker)->dispatcher(), config);
//   });
//   ...
//   (*worker)->RunSync([&] { cache.reset(); }).IgnoreError();
//   worker->reset();  // stops the loop and joins the thread
//
// Thread safety: every method may be called from any thread except `Join()`
// and the destructor, which must not run on the loop thread itself.

#ifndef HOMING_LOOP_THREAD_H_
#define HOMING_LOOP_THREAD_H_

#include <memory>
#include <mutex>
#include <thread>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "homing/libuv_dispatcher.h"

namespace homing {

// LoopThread
class LoopThread {
 public:
  // LoopThread::Start()
  //
  // Creates a dispatcher with a loop of its own and starts a thread running
  // it (`LibuvDispatcher::RunUntilStopped()`). When it returns, the new
  // thread is the dispatcher's loop thread.
  static absl::StatusOr<std::unique_ptr<LoopThread>> Start();

  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  // Stops the loop, joins the thread and destroys the dispatcher (tasks
  // posted after Stop() are destroyed unrun).
  ~LoopThread();

  // LoopThread::dispatcher()
  //
  // The dispatcher the thread runs. Hand it to components from the loop
  // thread; from other threads only `Post()`, `Now()` and `IsLoopThread()`.
  LibuvDispatcher& dispatcher() { return *dispatcher_; }

  // LoopThread::RunSync()
  //
  // Runs `fn` on the loop thread and waits for it to return. Called on the
  // loop thread itself, it runs `fn` directly. Fails with
  // `FailedPreconditionError` once `Stop()` has been called.
  absl::Status RunSync(absl::FunctionRef<void()> fn);

  // LoopThread::Stop()
  //
  // Asks the loop to return once the tasks posted so far (and every pending
  // `RunSync()`) have run. Does not wait; see `Join()`. Idempotent.
  void Stop();

  // LoopThread::Join()
  //
  // Waits for the thread to finish. Call `Stop()` first, or it waits forever.
  void Join();

 private:
  explicit LoopThread(std::unique_ptr<LibuvDispatcher> dispatcher);

  const std::unique_ptr<LibuvDispatcher> dispatcher_;
  std::mutex mu_;          // orders RunSync()'s Post() before Stop()
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace homing

#endif  // HOMING_LOOP_THREAD_H_
