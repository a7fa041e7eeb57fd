// File: lib/io/manual_dispatcher.cc
//
// Armed timers sit in one ordered map keyed by (deadline, arming sequence),
// so firing order is deadline order with ties broken by arming order, and a
// round can tell the timers that were due when it started (lower sequence)
// from those its callbacks armed. Callbacks are held by shared_ptr and copied
// before each call, so a watch or timer may destroy itself in its callback.

#include "homing/manual_dispatcher.h"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "common/log.h"
#include "io/deadline.h"

namespace homing {

using TimerKey = std::pair<MonotonicTime, uint64_t>;

struct ManualDispatcher::State {
  explicit State(MonotonicTime start)
      : now(start.time_since_epoch().count()),
        loop_thread(std::this_thread::get_id()) {}

  MonotonicTime Now() const {
    return MonotonicTime(Duration(now.load(std::memory_order_relaxed)));
  }
  void SetNow(MonotonicTime time) {
    now.store(time.time_since_epoch().count(), std::memory_order_relaxed);
  }

  std::atomic<Duration::rep> now;
  std::atomic<std::thread::id> loop_thread;

  std::mutex posted_mu;
  std::deque<PostedTask> posted;  // guarded by posted_mu

  uint64_t next_timer_seq = 0;
  std::map<TimerKey, ManualTimer*> armed;
  absl::flat_hash_set<ManualTimer*> timers;  // armed or not, for detaching

  uint64_t next_watch_id = 0;
  std::map<uint64_t, ManualFdWatch*> watches;  // creation order
};

class ManualDispatcher::ManualTimer final : public Timer {
 public:
  ManualTimer(State* state, TimerCallback callback)
      : state_(state),
        callback_(std::make_shared<TimerCallback>(std::move(callback))) {
    state_->timers.insert(this);
  }

  ~ManualTimer() override {
    if (state_ == nullptr) return;
    Disarm();
    state_->timers.erase(this);
  }

  void Arm(Duration delay) override { Schedule(delay, Duration::zero()); }

  void ArmRepeating(Duration interval) override {
    interval = std::max(interval, Duration(1));
    Schedule(interval, interval);
  }

  void Disarm() override {
    if (!key_) return;
    state_->armed.erase(*key_);
    key_.reset();
  }

  bool armed() const override { return key_.has_value(); }

  // ManualTimer::Detach()
  //
  // The dispatcher is going away; from now on the timer does nothing.
  void Detach() {
    key_.reset();
    state_ = nullptr;
  }

  // ManualTimer::Fire()
  //
  // Called by the dispatcher after taking the timer off the armed map.
  void Fire(MonotonicTime deadline) {
    key_.reset();
    if (interval_ > Duration::zero()) {
      const MonotonicTime now = state_->Now();
      MonotonicTime next = internal::SaturatingAdd(deadline, interval_);
      if (next <= now) next = internal::SaturatingAdd(now, interval_);
      Insert(next);
    }
    const std::shared_ptr<TimerCallback> callback = callback_;
    (*callback)();
  }

 private:
  void Schedule(Duration delay, Duration interval) {
    if (state_ == nullptr) return;
    Disarm();
    interval_ = interval;
    Insert(internal::SaturatingAdd(state_->Now(), delay));
  }

  void Insert(MonotonicTime deadline) {
    key_ = TimerKey(deadline, state_->next_timer_seq++);
    state_->armed.emplace(*key_, this);
  }

  State* state_;
  const std::shared_ptr<TimerCallback> callback_;
  Duration interval_ = Duration::zero();  // zero for one-shot firings
  std::optional<TimerKey> key_;           // set while armed
};

class ManualDispatcher::ManualFdWatch final : public FdWatch {
 public:
  ManualFdWatch(State* state, int fd, uint32_t events, FdCallback callback)
      : state_(state),
        id_(state->next_watch_id++),
        fd_(fd),
        events_(events & (kFdRead | kFdWrite)),
        callback_(std::make_shared<FdCallback>(std::move(callback))) {
    state_->watches.emplace(id_, this);
  }

  ~ManualFdWatch() override {
    if (state_ != nullptr) state_->watches.erase(id_);
  }

  void SetEvents(uint32_t events) override {
    events_ = events & (kFdRead | kFdWrite);
  }

  void Detach() { state_ = nullptr; }

  int fd() const { return fd_; }
  uint32_t events() const { return events_; }

  // ManualFdWatch::Deliver()
  //
  // Calls the callback for poll(2)'s `revents`; returns whether it ran.
  bool Deliver(short revents) {
    uint32_t ready;
    if (events_ == 0) return false;  // paused by an earlier callback
    if (revents & (POLLERR | POLLNVAL)) {
      ready = events_ | kFdError;
    } else {
      ready = 0;
      if (revents & (POLLIN | POLLHUP)) ready |= kFdRead;
      if (revents & POLLOUT) ready |= kFdWrite;
      ready &= events_;
      if (ready == 0) return false;
    }
    const std::shared_ptr<FdCallback> callback = callback_;
    (*callback)(ready);
    return true;
  }

 private:
  State* state_;
  const uint64_t id_;
  const int fd_;
  uint32_t events_;
  const std::shared_ptr<FdCallback> callback_;
};

ManualDispatcher::ManualDispatcher(MonotonicTime start)
    : state_(std::make_unique<State>(start)) {}

ManualDispatcher::~ManualDispatcher() {
  // Unrun tasks go first: destroying them may destroy watches and timers,
  // which still find a working dispatcher.
  for (;;) {
    std::deque<PostedTask> unrun;
    {
      std::lock_guard<std::mutex> lock(state_->posted_mu);
      unrun.swap(state_->posted);
    }
    if (unrun.empty()) break;
  }
  for (ManualTimer* timer : state_->timers) timer->Detach();
  for (auto& [id, watch] : state_->watches) watch->Detach();
}

size_t ManualDispatcher::AdvanceBy(Duration delta) {
  return AdvanceTo(internal::SaturatingAdd(Now(), delta));
}

size_t ManualDispatcher::AdvanceTo(MonotonicTime time) {
  BindToCurrentThread();
  size_t ran = RunDue();
  for (;;) {
    const std::optional<MonotonicTime> next = NextTimerDeadline();
    if (!next || *next > time) break;
    // RunDue() left no timer due, so `*next` is in the future.
    state_->SetNow(*next);
    ran += RunDue();
  }
  if (time > Now()) state_->SetNow(time);
  return ran;
}

size_t ManualDispatcher::RunPosted() {
  BindToCurrentThread();
  std::deque<PostedTask> batch;
  {
    std::lock_guard<std::mutex> lock(state_->posted_mu);
    batch.swap(state_->posted);
  }
  for (PostedTask& task : batch) task();
  return batch.size();
}

size_t ManualDispatcher::PollFds(Duration wait) {
  BindToCurrentThread();
  std::vector<pollfd> fds;
  std::vector<uint64_t> ids;
  for (const auto& [id, watch] : state_->watches) {
    if (watch->events() == 0) continue;
    short interest = 0;
    if (watch->events() & kFdRead) interest |= POLLIN;
    if (watch->events() & kFdWrite) interest |= POLLOUT;
    fds.push_back(pollfd{watch->fd(), interest, 0});
    ids.push_back(id);
  }
  if (fds.empty()) return 0;
  const int timeout_ms = static_cast<int>(
      std::min<uint64_t>(internal::CeilMilliseconds(wait), INT_MAX));
  int rc;
  do {
    rc = poll(fds.data(), fds.size(), timeout_ms);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    HOMING_LOG(kError, "ManualDispatcher: poll: ", std::strerror(errno));
    return 0;
  }
  size_t ran = 0;
  for (size_t i = 0; i < fds.size() && rc > 0; ++i) {
    if (fds[i].revents == 0) continue;
    // An earlier callback may have destroyed this watch.
    const auto it = state_->watches.find(ids[i]);
    if (it != state_->watches.end() && it->second->Deliver(fds[i].revents)) {
      ++ran;
    }
  }
  return ran;
}

size_t ManualDispatcher::RunUntilIdle() {
  BindToCurrentThread();
  size_t ran = 0;
  for (;;) {
    ran += RunDue();
    const size_t polled = PollFds();
    if (polled == 0) break;
    ran += polled;
  }
  return ran;
}

std::optional<MonotonicTime> ManualDispatcher::NextTimerDeadline() const {
  if (state_->armed.empty()) return std::nullopt;
  return state_->armed.begin()->first.first;
}

size_t ManualDispatcher::armed_timer_count() const {
  return state_->armed.size();
}

MonotonicTime ManualDispatcher::Now() const { return state_->Now(); }

std::unique_ptr<FdWatch> ManualDispatcher::WatchFd(int fd, uint32_t events,
                                                   FdCallback callback) {
  return std::make_unique<ManualFdWatch>(state_.get(), fd, events,
                                         std::move(callback));
}

std::unique_ptr<Timer> ManualDispatcher::CreateTimer(TimerCallback callback) {
  return std::make_unique<ManualTimer>(state_.get(), std::move(callback));
}

void ManualDispatcher::Post(PostedTask task) {
  std::lock_guard<std::mutex> lock(state_->posted_mu);
  state_->posted.push_back(std::move(task));
}

bool ManualDispatcher::IsLoopThread() const {
  return state_->loop_thread.load(std::memory_order_relaxed) ==
         std::this_thread::get_id();
}

size_t ManualDispatcher::RunDue() {
  size_t ran = 0;
  for (;;) {
    const size_t round = RunRound();
    if (round == 0) return ran;
    ran += round;
  }
}

size_t ManualDispatcher::RunRound() {
  size_t ran = 0;
  const uint64_t round_end = state_->next_timer_seq;
  while (!state_->armed.empty()) {
    const auto first = state_->armed.begin();
    const auto [deadline, seq] = first->first;
    // Entries armed during this round sort after every older due entry.
    if (deadline > Now() || seq >= round_end) break;
    ManualTimer* timer = first->second;
    state_->armed.erase(first);
    timer->Fire(deadline);
    ++ran;
  }
  return ran + RunPosted();
}

void ManualDispatcher::BindToCurrentThread() {
  state_->loop_thread.store(std::this_thread::get_id(),
                            std::memory_order_relaxed);
}

}  // namespace homing
