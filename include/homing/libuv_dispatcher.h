// File: homing/libuv_dispatcher.h
//
// `LibuvDispatcher` implements `homing::Dispatcher` over a libuv loop: fd
// watches are `uv_poll_t`, timers are `uv_timer_t`, and `Post()` goes through
// one `uv_async_t` and a mutex-protected queue. It either owns a loop of its
// own or borrows the embedder's, so a gateway that already runs libuv shares
// its loop with homing's components.
//
// Time: `Now()` reads `std::chrono::steady_clock` on every call (nanosecond
// resolution, callable from any thread). libuv's millisecond timers only wake
// the loop; a timer fires when `Now()` has reached its deadline, so a timer
// armed for `d` never fires before `Now()` has advanced by `d`.
//
// Example:
//
//   auto dispatcher = homing::LibuvDispatcher::Create();
//   if (!dispatcher.ok()) return dispatcher.status();
//   auto timer = (*dispatcher)->CreateTimer([&] { (*dispatcher)->Stop(); });
//   timer->Arm(std::chrono::seconds(1));
//   (*dispatcher)->Run();  // returns after one second
//
//   // Sharing the embedder's loop: create the dispatcher on the thread that
//   // runs the loop, and keep running it with uv_run() as before.
//   auto shared = homing::LibuvDispatcher::Create(uv_default_loop());
//
// Thread safety: see the threading rule in homing/dispatcher.h. In addition,
// `Stop()` may be called from any thread; `Run*()` and the destructor belong
// to the loop thread. The loop thread is the thread that created the
// dispatcher until a `Run*()` call runs it from another thread.

#ifndef HOMING_LIBUV_DISPATCHER_H_
#define HOMING_LIBUV_DISPATCHER_H_

#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "homing/dispatcher.h"

struct uv_loop_s;

namespace homing {

namespace internal {
class LibuvCore;
}  // namespace internal

// LibuvDispatcher
//
// Destruction closes every handle the dispatcher opened. With an owned loop
// it then runs the loop until those handles are closed and closes the loop;
// with a borrowed loop the handles finish closing the next time the embedder
// runs its loop, so run it once more (`uv_run(loop, UV_RUN_NOWAIT)`) before
// `uv_loop_close()`. Watches and timers that outlive the dispatcher go inert
// (see the lifetime rule in homing/dispatcher.h). Never destroy a dispatcher
// from inside one of its own callbacks.
class LibuvDispatcher final : public Dispatcher {
 public:
  // LibuvDispatcher::Create()
  //
  // Creates a dispatcher with a loop of its own. Fails only when libuv cannot
  // set the loop up (descriptor exhaustion).
  static absl::StatusOr<std::unique_ptr<LibuvDispatcher>> Create();

  // LibuvDispatcher::Create(loop)
  //
  // Creates a dispatcher on the embedder's `loop`, which must outlive it.
  // The embedder keeps driving the loop with `uv_run()`. Armed timers and
  // active watches keep that loop alive, as libuv handles do; the wakeup
  // handle behind `Post()` does not, so a task posted from another thread
  // to a loop with nothing else to do waits for the next `uv_run()`.
  static absl::StatusOr<std::unique_ptr<LibuvDispatcher>> Create(
      uv_loop_s* loop);

  LibuvDispatcher(const LibuvDispatcher&) = delete;
  LibuvDispatcher& operator=(const LibuvDispatcher&) = delete;
  ~LibuvDispatcher() override;

  // LibuvDispatcher::Run()
  //
  // Runs the loop on the calling thread (which becomes the loop thread) until
  // `Stop()` or until nothing is left to do: no armed timer, no active watch,
  // no posted task.
  void Run();

  // LibuvDispatcher::RunUntilStopped()
  //
  // Like `Run()`, but waits for posted tasks when idle and returns only after
  // `Stop()`. This is the mode of a loop on a thread of its own.
  void RunUntilStopped();

  // LibuvDispatcher::RunOnce()
  //
  // Runs one loop iteration, blocking until at least one event (IO, timer or
  // posted task) if there is anything to wait for. Returns `true` when work
  // remains.
  bool RunOnce();

  // LibuvDispatcher::RunNoWait()
  //
  // Runs one loop iteration without blocking: delivers what is ready now.
  // Returns `true` when work remains.
  bool RunNoWait();

  // LibuvDispatcher::RunUntil()
  //
  // Runs loop iterations until `done()` returns `true` (checked before the
  // first and after every iteration), `limit` has passed on `Now()`, or
  // `Stop()` is called; returns the last `done()`. The limit is a timer of
  // its own, so the loop never sleeps past it and needs no keep-alive timer.
  // For tests and synchronous tools that wait for an asynchronous result.
  bool RunUntil(absl::FunctionRef<bool()> done, Duration limit);

  // LibuvDispatcher::Stop()
  //
  // Makes the current `Run()`/`RunUntilStopped()` return once the tasks
  // posted before the call have run; if no run is in progress, the next one
  // returns after its first iteration. Thread-safe.
  void Stop();

  // LibuvDispatcher::loop()
  //
  // The libuv loop, for embedders that add handles of their own. Handles
  // added to an owned loop must be closed before the dispatcher is destroyed.
  uv_loop_s* loop() const;

  // Dispatcher. `WatchFd()` uses uv_poll_t, which switches the descriptor
  // to non-blocking mode.
  MonotonicTime Now() const override;
  std::unique_ptr<FdWatch> WatchFd(int fd, uint32_t events,
                                   FdCallback callback) override;
  std::unique_ptr<Timer> CreateTimer(TimerCallback callback) override;
  void Post(PostedTask task) override;
  bool IsLoopThread() const override;

 private:
  explicit LibuvDispatcher(std::unique_ptr<internal::LibuvCore> core);

  std::unique_ptr<internal::LibuvCore> core_;
};

}  // namespace homing

#endif  // HOMING_LIBUV_DISPATCHER_H_
