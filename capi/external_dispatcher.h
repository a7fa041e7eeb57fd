// File: capi/external_dispatcher.h
//
// `ExternalDispatcher` is the `homing::Dispatcher` of a loop the host drives,
// the c-ares / curl-multi way: it reports descriptor interest through a watch
// callback and its next deadline through a timer callback, and does its work
// when the host calls `ProcessFd()` / `ProcessTimers()`.
//
// Reports. Interest changes are reported at once (the descriptor may be
// closed right after a "stop watching"). Deadline changes are reported at the
// end of the outermost `CallScope` (every C entry point on the loop opens
// one), so a burst of timer re-arms costs the host one callback.
//
// Posted tasks run at the end of the process calls, one batch per call (tasks
// posted by a task wait for the next call, as on any loop). A task posted on
// the loop thread asks for an immediate wake-up through the timer callback;
// one posted from another thread writes to an eventfd the host watches like
// any other descriptor.
//
// Thread safety: the dispatcher belongs to the thread that created it;
// `Post()`, `Now()` and `IsLoopThread()` may be called from any thread.

#ifndef HOMING_CAPI_EXTERNAL_DISPATCHER_H_
#define HOMING_CAPI_EXTERNAL_DISPATCHER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "homing/dispatcher.h"
#include "homing/homing.h"

namespace homing::capi {

// The host's watch callback, of either kind (exactly one is set).
struct HostWatchCallback {
  homing_watch_cb watch = nullptr;
  homing_watch2_cb watch2 = nullptr;  // with a per-descriptor slot
};

class ExternalDispatcher final : public Dispatcher {
 public:
  // ExternalDispatcher::Create()
  //
  // Reports the wake-up eventfd to `watch` before returning. Unavailable
  // when the eventfd cannot be created.
  static absl::StatusOr<std::unique_ptr<ExternalDispatcher>> Create(
      HostWatchCallback watch, homing_timer_cb timer, void* user_data);

  ExternalDispatcher(const ExternalDispatcher&) = delete;
  ExternalDispatcher& operator=(const ExternalDispatcher&) = delete;

  // Destroys unrun tasks first (they may still use the dispatcher), then
  // makes straggling watches and timers inert and stops watching the eventfd.
  ~ExternalDispatcher() override;

  // ExternalDispatcher::ProcessFd()
  //
  // Delivers `ready` (kFdRead/kFdWrite/kFdError bits) to the watch of `fd`,
  // then runs a batch of posted tasks. Unknown descriptors are ignored.
  void ProcessFd(int fd, uint32_t ready);

  // ExternalDispatcher::ProcessTimers()
  //
  // Fires the timers due now (not those armed while firing), then runs a
  // batch of posted tasks.
  void ProcessTimers();

  // ExternalDispatcher::TimeoutMs()
  //
  // Milliseconds until ProcessTimers() has work, rounded up; 0 while tasks
  // wait; -1 when nothing is scheduled.
  int TimeoutMs() const;

  // CallScope
  //
  // Brackets one C entry point; the deadline report waits for the outermost
  // scope to close.
  class CallScope {
   public:
    explicit CallScope(ExternalDispatcher& dispatcher);
    ~CallScope();
    CallScope(const CallScope&) = delete;
    CallScope& operator=(const CallScope&) = delete;

   private:
    ExternalDispatcher& dispatcher_;
  };

  // Dispatcher
  MonotonicTime Now() const override;
  std::unique_ptr<FdWatch> WatchFd(int fd, uint32_t events,
                                   FdCallback callback) override;
  std::unique_ptr<Timer> CreateTimer(TimerCallback callback) override;
  void Post(PostedTask task) override;
  bool IsLoopThread() const override;

 private:
  struct State;
  class ExternalWatch;

  explicit ExternalDispatcher(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
};

}  // namespace homing::capi

#endif  // HOMING_CAPI_EXTERNAL_DISPATCHER_H_
