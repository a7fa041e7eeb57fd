#include "io/timer_queue.h"

#include <algorithm>

#include "io/deadline.h"

namespace homing::internal {

class TimerQueue::QueuedTimer final : public Timer {
 public:
  QueuedTimer(TimerQueue* queue, TimerCallback callback)
      : queue_(queue),
        callback_(std::make_shared<TimerCallback>(std::move(callback))) {
    queue_->timers_.insert(this);
  }

  ~QueuedTimer() override {
    if (queue_ == nullptr) return;
    Disarm();
    queue_->timers_.erase(this);
  }

  void Arm(Duration delay) override { Schedule(delay, Duration::zero()); }

  void ArmRepeating(Duration interval) override {
    interval = std::max(interval, Duration(1));
    Schedule(interval, interval);
  }

  void Disarm() override {
    if (!key_) return;
    queue_->armed_.erase(*key_);
    key_.reset();
    queue_->Changed();
  }

  bool armed() const override { return key_.has_value(); }

  // The queue is going away; from now on the timer does nothing.
  void Detach() {
    key_.reset();
    queue_ = nullptr;
  }

  // QueuedTimer::Fire()
  //
  // Called by the queue after taking the timer off the armed map.
  void Fire(MonotonicTime deadline) {
    key_.reset();
    if (interval_ > Duration::zero()) {
      const MonotonicTime now = queue_->now_();
      MonotonicTime next = SaturatingAdd(deadline, interval_);
      if (next <= now) next = SaturatingAdd(now, interval_);
      Insert(next);
    }
    const std::shared_ptr<TimerCallback> callback = callback_;
    (*callback)();
  }

 private:
  void Schedule(Duration delay, Duration interval) {
    if (queue_ == nullptr) return;
    if (key_) queue_->armed_.erase(*key_);
    interval_ = interval;
    Insert(SaturatingAdd(queue_->now_(), delay));
    queue_->Changed();
  }

  void Insert(MonotonicTime deadline) {
    key_ = Key(deadline, queue_->next_seq_++);
    queue_->armed_.emplace(*key_, this);
  }

  TimerQueue* queue_;
  const std::shared_ptr<TimerCallback> callback_;
  Duration interval_ = Duration::zero();  // zero for one-shot firings
  std::optional<Key> key_;                // set while armed
};

TimerQueue::TimerQueue(std::function<MonotonicTime()> now,
                       std::function<void()> on_change)
    : now_(std::move(now)), on_change_(std::move(on_change)) {}

TimerQueue::~TimerQueue() {
  for (QueuedTimer* timer : timers_) timer->Detach();
}

std::unique_ptr<Timer> TimerQueue::CreateTimer(TimerCallback callback) {
  return std::make_unique<QueuedTimer>(this, std::move(callback));
}

size_t TimerQueue::FireDue() {
  const MonotonicTime now = now_();
  const uint64_t round_end = next_seq_;
  size_t fired = 0;
  while (!armed_.empty()) {
    const auto first = armed_.begin();
    const auto [deadline, seq] = first->first;
    // Timers armed during this call sort after every older due one: a new
    // deadline is never before `now`, and ties go by arming order.
    if (deadline > now || seq >= round_end) break;
    QueuedTimer* timer = first->second;
    armed_.erase(first);
    timer->Fire(deadline);
    ++fired;
  }
  return fired;
}

std::optional<MonotonicTime> TimerQueue::NextDeadline() const {
  if (armed_.empty()) return std::nullopt;
  return armed_.begin()->first.first;
}

}  // namespace homing::internal
