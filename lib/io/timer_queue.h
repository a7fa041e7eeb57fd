// File: lib/io/timer_queue.h
//
// TimerQueue: the timers of a dispatcher that orders them itself instead of
// handing them to libuv: ManualDispatcher (a simulated clock) and the C
// ABI's ExternalDispatcher (a loop the host drives). Armed timers sit in one
// ordered map keyed by (deadline, arming sequence), so firing order is
// deadline order with ties broken by arming order, and FireDue() can tell
// the timers that were due when it began from those its callbacks armed.
// Callbacks are copied before each call, so a timer may destroy itself in
// its callback. A repeating timer re-arms before its callback runs, dropping
// firings the loop fell behind on.
//
// Thread safety: the owning dispatcher's thread only.

#ifndef HOMING_LIB_IO_TIMER_QUEUE_H_
#define HOMING_LIB_IO_TIMER_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "homing/dispatcher.h"

namespace homing::internal {

class TimerQueue {
 public:
  // `now` is the owner's clock. `on_change`, when given, runs after a timer
  // is armed or disarmed by its user (not after FireDue()'s re-arming of a
  // repeating timer).
  explicit TimerQueue(std::function<MonotonicTime()> now,
                      std::function<void()> on_change = nullptr);
  // Timers still alive afterwards do nothing.
  ~TimerQueue();

  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  std::unique_ptr<Timer> CreateTimer(TimerCallback callback);

  // TimerQueue::FireDue()
  //
  // Fires, in order, the timers due at `now()` that were armed before the
  // call began; returns how many fired.
  size_t FireDue();

  std::optional<MonotonicTime> NextDeadline() const;
  size_t armed_count() const { return armed_.size(); }

 private:
  class QueuedTimer;
  using Key = std::pair<MonotonicTime, uint64_t>;

  void Changed() {
    if (on_change_) on_change_();
  }

  const std::function<MonotonicTime()> now_;
  const std::function<void()> on_change_;
  uint64_t next_seq_ = 0;
  std::map<Key, QueuedTimer*> armed_;
  absl::flat_hash_set<QueuedTimer*> timers_;  // armed or not, for detaching
};

}  // namespace homing::internal

#endif  // HOMING_LIB_IO_TIMER_QUEUE_H_
