// File: homing/dispatcher.h
//
// The event-loop seam. homing's asynchronous components (the DNS cache, the
// affinity lookup, STRICT_DNS refresh) never own a thread or a loop: they ask a
// `Dispatcher` to watch file descriptors, arm timers and run posted tasks. A
// gateway that already has an event loop implements this interface over it;
// everyone else uses `LibuvDispatcher` (homing/libuv_dispatcher.h). Unit tests
// use `ManualDispatcher` (homing/manual_dispatcher.h), whose clock only moves
// when the test says so.
//
// Threading rule: every component instance belongs to exactly one dispatcher
// and is used only on that dispatcher's loop thread. `Dispatcher::Post()` is
// the one call that may be made from any thread; it is how other threads hand
// work to a component.
//
// Example:
//
//   auto timer = dispatcher.CreateTimer([] { std::puts("tick"); });
//   timer->Arm(std::chrono::milliseconds(250));
//   auto watch = dispatcher.WatchFd(fd, homing::kFdRead, [&](uint32_t ready) {
//     if (ready & homing::kFdRead) DrainSocket(fd);
//   });

#ifndef HOMING_DISPATCHER_H_
#define HOMING_DISPATCHER_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "homing/clock.h"

namespace homing {

// Interest and readiness bits for `Dispatcher::WatchFd()`.
inline constexpr uint32_t kFdRead = 1u << 0;
inline constexpr uint32_t kFdWrite = 1u << 1;

// FdWatch
//
// A registration of interest in one file descriptor. Destroying it stops the
// watch; the callback is never called after destruction, even if the
// descriptor was ready in the same loop iteration.
class FdWatch {
 public:
  virtual ~FdWatch() = default;

  // FdWatch::SetEvents()
  //
  // Replaces the interest set (`kFdRead`, `kFdWrite`, both, or 0 to pause).
  virtual void SetEvents(uint32_t events) = 0;
};

// Timer
//
// A one-shot or repeating timer. Destroying it disarms it.
class Timer {
 public:
  virtual ~Timer() = default;

  // Timer::Arm()
  //
  // Fires the callback once, `delay` from now. Re-arming an armed timer
  // replaces its deadline. A zero delay fires on the next loop iteration,
  // never from inside `Arm()`.
  virtual void Arm(Duration delay) = 0;

  // Timer::ArmRepeating()
  //
  // Fires the callback every `interval` until disarmed.
  virtual void ArmRepeating(Duration interval) = 0;

  // Timer::Disarm()
  //
  // Cancels a pending firing. Safe to call on a disarmed timer and from the
  // timer's own callback.
  virtual void Disarm() = 0;

  // Timer::armed()
  //
  // Returns `true` while a firing is pending.
  virtual bool armed() const = 0;
};

using FdCallback = std::function<void(uint32_t ready_events)>;
using TimerCallback = std::function<void()>;
using PostedTask = std::function<void()>;

// Dispatcher
//
// The loop a component runs on. `Now()` (from `TimeSource`) is the loop's
// monotonic time.
class Dispatcher : public TimeSource {
 public:
  // Dispatcher::WatchFd()
  //
  // Calls `callback` with the ready subset of `events` whenever `fd` becomes
  // readable or writable. The descriptor stays owned by the caller and must
  // outlive the returned watch.
  virtual std::unique_ptr<FdWatch> WatchFd(int fd, uint32_t events,
                                           FdCallback callback) = 0;

  // Dispatcher::CreateTimer()
  //
  // Returns a disarmed timer that calls `callback` on the loop thread.
  virtual std::unique_ptr<Timer> CreateTimer(TimerCallback callback) = 0;

  // Dispatcher::Post()
  //
  // Runs `task` on the loop thread soon, in posting order. Thread-safe: the
  // only Dispatcher call that may be made from any thread. Tasks posted to a
  // dispatcher that is destroyed before running them are destroyed unrun.
  virtual void Post(PostedTask task) = 0;

  // Dispatcher::IsLoopThread()
  //
  // Returns `true` when called on the thread that runs this dispatcher.
  virtual bool IsLoopThread() const = 0;
};

}  // namespace homing

#endif  // HOMING_DISPATCHER_H_
