// File: homing/dispatcher.h
//
// The event-loop seam. homing's asynchronous components (the DNS cache, the
// affinity lookup, STRICT_DNS refresh) never own a thread or a loop: they ask a
// `Dispatcher` to watch file descriptors, arm timers and run posted tasks. A
// gateway that already has an event loop implements this interface over it;
// everyone else uses `LibuvDispatcher` (homing/libuv_dispatcher.h), optionally
// on a thread of its own (`LoopThread`, homing/loop_thread.h). Unit tests use
// `ManualDispatcher` (homing/manual_dispatcher.h), whose clock only moves when
// the test says so.
//
// Threading rule: every component instance belongs to exactly one dispatcher
// and is created, used and destroyed only on that dispatcher's loop thread;
// so are the `FdWatch` and `Timer` objects a dispatcher hands out, and all
// callbacks run there. Two calls may be made from any thread:
// `Dispatcher::Post()`, which is how other threads hand work to a component,
// and `Dispatcher::Now()`. `IsLoopThread()` may be called from any thread too;
// components use it to assert the rule.
//
// Lifetime rule: destroy watches and timers before their dispatcher. The
// implementations in homing tolerate stragglers (a watch or timer that
// outlives its dispatcher goes inert: its callback never runs again and its
// methods do nothing), but a host's own implementation need not.
//
// Example:
//
//   auto timer = dispatcher.CreateTimer([] { std::puts("tick"); });
//   timer->Arm(std::chrono::milliseconds(250));
//   auto watch = dispatcher.WatchFd(fd, homing::kFdRead, [&](uint32_t ready) {
//     if (ready & homing::kFdRead) DrainSocket(fd);
//   });
//   dispatcher.Post([] { std::puts("runs on the loop thread"); });

#ifndef HOMING_DISPATCHER_H_
#define HOMING_DISPATCHER_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "homing/clock.h"

namespace homing {

// Interest and readiness bits for `Dispatcher::WatchFd()`.
//
// `kFdError` is never part of an interest set; it is added to the ready set
// when the descriptor is in an error state or cannot be watched at all (for
// example a regular file, or a closed descriptor). The ready set then also
// holds every event the watch is interested in, so an owner that simply reads
// or writes learns the error from the system call (c-ares's
// `ares_process_fd()` does exactly that; curl takes it as `CURL_CSELECT_ERR`).
inline constexpr uint32_t kFdRead = 1u << 0;
inline constexpr uint32_t kFdWrite = 1u << 1;
inline constexpr uint32_t kFdError = 1u << 2;

// FdWatch
//
// A registration of interest in one file descriptor. Readiness is
// level-triggered: the callback keeps coming while the descriptor stays ready,
// so pause write interest once there is nothing left to write. Destroying the
// watch stops it; the callback is never called after destruction, even if the
// descriptor was ready in the same loop iteration, and destroying the watch
// from inside its own callback is safe.
class FdWatch {
 public:
  virtual ~FdWatch() = default;

  // FdWatch::SetEvents()
  //
  // Replaces the interest set (`kFdRead`, `kFdWrite`, both, or 0 to pause).
  // Cheap; call it whenever a component's interest changes rather than
  // recreating the watch.
  virtual void SetEvents(uint32_t events) = 0;
};

// Timer
//
// A one-shot or repeating timer on the dispatcher's `Now()` clock: a firing
// due at deadline D happens when `Now() >= D`, never earlier. Destroying the
// timer disarms it, and is safe from inside its own callback.
class Timer {
 public:
  virtual ~Timer() = default;

  // Timer::Arm()
  //
  // Fires the callback once, `delay` from now. Re-arming an armed timer
  // replaces its deadline (and ends any repetition). A zero or negative delay
  // fires on a later turn of the loop, never from inside `Arm()`; a timer that
  // keeps re-arming itself with zero delay still lets IO run between firings.
  virtual void Arm(Duration delay) = 0;

  // Timer::ArmRepeating()
  //
  // Fires the callback every `interval` until disarmed or re-armed, the first
  // time `interval` from now. Deadlines advance by exactly `interval`, so
  // firings do not drift; if the loop falls behind by more than an interval,
  // the missed firings are dropped rather than delivered in a burst. A
  // non-positive interval is treated as one nanosecond.
  virtual void ArmRepeating(Duration interval) = 0;

  // Timer::Disarm()
  //
  // Cancels a pending firing. Safe to call on a disarmed timer and from the
  // timer's own callback.
  virtual void Disarm() = 0;

  // Timer::armed()
  //
  // Returns `true` while a firing is pending. Inside the callback of a
  // one-shot firing it is `false` (unless the callback re-armed); inside a
  // repeating timer's callback it stays `true`.
  virtual bool armed() const = 0;
};

using FdCallback = std::function<void(uint32_t ready_events)>;
using TimerCallback = std::function<void()>;
using PostedTask = std::function<void()>;

// Dispatcher
//
// The loop a component runs on. `Now()` (from `TimeSource`) is the loop's
// monotonic time; timers fire by it.
class Dispatcher : public TimeSource {
 public:
  // Dispatcher::WatchFd()
  //
  // Calls `callback` on the loop thread with the ready subset of the current
  // interest set (plus `kFdError`, see above) whenever `fd` is readable or
  // writable. `events` may be 0 to create the watch paused. The descriptor
  // stays owned by the caller and must outlive the returned watch; watch each
  // descriptor at most once per dispatcher (change the interest set with
  // `SetEvents()` instead of adding a second watch).
  virtual std::unique_ptr<FdWatch> WatchFd(int fd, uint32_t events,
                                           FdCallback callback) = 0;

  // Dispatcher::CreateTimer()
  //
  // Returns a disarmed timer that calls `callback` on the loop thread.
  virtual std::unique_ptr<Timer> CreateTimer(TimerCallback callback) = 0;

  // Dispatcher::Post()
  //
  // Runs `task` on the loop thread soon, in posting order. Thread-safe: with
  // `Now()` and `IsLoopThread()`, the only Dispatcher calls that may be made
  // from any thread. A task posted from a task runs in a later batch, after
  // the loop has looked at IO again. Tasks posted to a dispatcher that is
  // destroyed before running them are destroyed unrun.
  virtual void Post(PostedTask task) = 0;

  // Dispatcher::IsLoopThread()
  //
  // Returns `true` when called on the thread that runs this dispatcher.
  // Components assert it on entry points that must not be called elsewhere.
  virtual bool IsLoopThread() const = 0;
};

}  // namespace homing

#endif  // HOMING_DISPATCHER_H_
