// File: homing/manual_dispatcher.h
//
// `ManualDispatcher` is a `homing::Dispatcher` for unit tests of state
// machines: nothing happens until the test says so. Its clock is simulated
// and moves only in `AdvanceBy()`/`AdvanceTo()`, which fire the timers due in
// the window in deadline order with `Now()` set to each deadline in turn.
// Posted tasks run in `RunPosted()`, and file descriptors are real: `PollFds()`
// polls the watched descriptors once (poll(2), by default without waiting)
// and delivers what is ready, so a component that owns sockets can still be
// stepped deterministically.
//
// A "round" mirrors one turn of a real loop: the timers due at `Now()`, then
// the tasks posted so far (including those the timers just posted). Timers
// armed with zero delay during a round, and tasks posted by tasks, wait for
// the next round, as they would in `LibuvDispatcher`.
//
// Example:
//
//   homing::ManualDispatcher dispatcher;
//   RetryingClient client(dispatcher);        // arms a 5 s retry timer
//   client.Start();
//   dispatcher.RunUntilIdle();                 // posted work, ready sockets
//   dispatcher.AdvanceBy(std::chrono::seconds(5));  // the retry fires here
//   CHECK(client.attempts() == 2);
//
// Thread safety: `Post()`, `Now()` and `IsLoopThread()` may be called from any
// thread; everything else belongs to the test's thread (the loop thread is
// the thread that created the dispatcher or last drove it).

#ifndef HOMING_MANUAL_DISPATCHER_H_
#define HOMING_MANUAL_DISPATCHER_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>

#include "homing/dispatcher.h"

namespace homing {

// ManualDispatcher
//
// Watches and timers that outlive the dispatcher go inert (see the lifetime
// rule in homing/dispatcher.h); unrun tasks are destroyed with it.
class ManualDispatcher final : public Dispatcher {
 public:
  // The default start time: a fixed point well past the clock's epoch, so
  // components may subtract from `Now()` freely.
  static constexpr MonotonicTime kDefaultStartTime =
      MonotonicTime(std::chrono::hours(24));

  explicit ManualDispatcher(MonotonicTime start = kDefaultStartTime);
  ManualDispatcher(const ManualDispatcher&) = delete;
  ManualDispatcher& operator=(const ManualDispatcher&) = delete;
  ~ManualDispatcher() override;

  // ManualDispatcher::AdvanceBy()
  //
  // Lets `delta` of simulated time pass: first runs what is due now, then, for
  // each deadline within the window in order, sets `Now()` to it and runs
  // rounds (due timers, posted tasks) until nothing is left at that instant;
  // timers armed by callbacks fire too if their deadline falls in the window,
  // and a repeating timer fires once per interval. Ends with `Now()` at the
  // end of the window. Watches are not polled. Returns the number of timer
  // firings and tasks run. A negative `delta` counts as zero.
  size_t AdvanceBy(Duration delta);

  // ManualDispatcher::AdvanceTo()
  //
  // `AdvanceBy(time - Now())`; time never moves backwards.
  size_t AdvanceTo(MonotonicTime time);

  // ManualDispatcher::RunPosted()
  //
  // Runs the tasks posted before the call, in order; tasks they post wait for
  // the next call. Returns how many ran.
  size_t RunPosted();

  // ManualDispatcher::PollFds()
  //
  // Polls every watch with a non-empty interest set once, waiting up to
  // `wait` of real time for readiness (simulated time does not move), and
  // calls the ready watches' callbacks. Hangup counts as readable; POLLERR and
  // POLLNVAL are reported as `kFdError` plus the interest set. Returns how
  // many callbacks ran.
  size_t PollFds(Duration wait = Duration::zero());

  // ManualDispatcher::RunUntilIdle()
  //
  // Runs rounds (timers due at `Now()`, posted tasks) and `PollFds()` until a
  // pass finds nothing to do; never moves the clock. Like a real loop, it
  // keeps going while callbacks keep re-posting, re-arming zero-delay timers,
  // or a watched descriptor stays ready, so pause write interest when there
  // is nothing to write. Returns the number of callbacks run.
  size_t RunUntilIdle();

  // ManualDispatcher::NextTimerDeadline()
  //
  // The earliest deadline among armed timers, or nullopt if none is armed.
  // Lets a test assert what a state machine scheduled without firing it.
  std::optional<MonotonicTime> NextTimerDeadline() const;

  // ManualDispatcher::armed_timer_count()
  //
  // How many timers are armed.
  size_t armed_timer_count() const;

  // Dispatcher
  MonotonicTime Now() const override;
  std::unique_ptr<FdWatch> WatchFd(int fd, uint32_t events,
                                   FdCallback callback) override;
  std::unique_ptr<Timer> CreateTimer(TimerCallback callback) override;
  void Post(PostedTask task) override;
  bool IsLoopThread() const override;

 private:
  class ManualFdWatch;
  struct State;

  // Runs rounds at the current instant until one finds nothing to do.
  size_t RunDue();
  // One round: the timers due at `Now()` when it starts, then RunPosted().
  size_t RunRound();
  void BindToCurrentThread();

  std::unique_ptr<State> state_;
};

}  // namespace homing

#endif  // HOMING_MANUAL_DISPATCHER_H_
