// File: capi/external_dispatcher.cc
//
// Armed timers sit in one ordered map keyed by (deadline, arming sequence),
// as in ManualDispatcher: firing order is deadline order, ties in arming
// order, and a ProcessTimers() call fires only timers armed before it began.
// Callbacks are held by shared_ptr and copied before each call, so a watch or
// timer may destroy itself from its own callback.

#include "external_dispatcher.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "io/deadline.h"

namespace homing::capi {
namespace {

using TimerKey = std::pair<MonotonicTime, uint64_t>;

// The host's events as the Dispatcher's bits (the values agree; this keeps
// the two sets of names apart).
int ToHostEvents(uint32_t events) {
  return ((events & kFdRead) ? HOMING_EV_READ : 0) |
         ((events & kFdWrite) ? HOMING_EV_WRITE : 0);
}

}  // namespace

struct ExternalDispatcher::State {
  State(homing_watch_cb w, homing_timer_cb t, void* u, int fd)
      : watch(w),
        timer(t),
        user_data(u),
        wake_fd(fd),
        loop_thread(std::this_thread::get_id()) {}

  // Reports a deadline change to the host, unless it already knows.
  void Reschedule() {
    std::optional<MonotonicTime> want;
    if (HasPosted()) {
      want = MonotonicTime::min();  // as soon as possible
    } else if (!armed.empty()) {
      want = armed.begin()->first.first;
    }
    if (want == reported) return;
    reported = want;
    timer(want ? MillisecondsUntil(*want) : -1, user_data);
  }

  int MillisecondsUntil(MonotonicTime deadline) const {
    if (deadline == MonotonicTime::min()) return 0;
    return static_cast<int>(std::min<uint64_t>(
        internal::CeilMilliseconds(deadline - MonotonicClock::now()), INT_MAX));
  }

  bool HasPosted() {
    std::lock_guard<std::mutex> lock(posted_mu);
    return !posted.empty();
  }

  // Runs the tasks posted so far; those they post wait for the next batch.
  void RunPostedBatch() {
    std::deque<PostedTask> batch;
    {
      std::lock_guard<std::mutex> lock(posted_mu);
      batch.swap(posted);
    }
    for (PostedTask& task : batch) task();
  }

  void DrainWakeFd() const {
    uint64_t count;
    while (read(wake_fd, &count, sizeof(count)) > 0) {
    }
  }

  const homing_watch_cb watch;
  const homing_timer_cb timer;
  void* const user_data;
  const int wake_fd;
  const std::thread::id loop_thread;

  int call_depth = 0;
  // The deadline the host's timer is set for (min(): "now"); nullopt when
  // its timer is not armed.
  std::optional<MonotonicTime> reported;

  std::mutex posted_mu;
  std::deque<PostedTask> posted;  // guarded by posted_mu

  uint64_t next_timer_seq = 0;
  std::map<TimerKey, ExternalTimer*> armed;
  absl::flat_hash_set<ExternalTimer*> timers;  // armed or not, for detaching
  absl::flat_hash_map<int, ExternalWatch*> watches;
};

class ExternalDispatcher::ExternalWatch final : public FdWatch {
 public:
  ExternalWatch(State* state, int fd, uint32_t events, FdCallback callback)
      : state_(state),
        fd_(fd),
        callback_(std::make_shared<FdCallback>(std::move(callback))) {
    state_->watches[fd_] = this;
    SetEvents(events);
  }

  ~ExternalWatch() override {
    if (state_ == nullptr) return;
    SetEvents(0);
    // A newer watch of a reused descriptor number keeps its entry.
    auto it = state_->watches.find(fd_);
    if (it != state_->watches.end() && it->second == this) {
      state_->watches.erase(it);
    }
  }

  void SetEvents(uint32_t events) override {
    if (state_ == nullptr) return;
    events &= kFdRead | kFdWrite;
    if (events == events_) return;
    events_ = events;
    state_->watch(fd_, ToHostEvents(events_), state_->user_data);
  }

  void Detach() { state_ = nullptr; }

  // ExternalWatch::Deliver()
  //
  // The ready subset of the interest set; with an error, the whole interest
  // set plus kFdError (see homing/dispatcher.h).
  void Deliver(uint32_t ready) {
    if (events_ == 0) return;
    ready = (ready & kFdError) ? (events_ | kFdError) : (ready & events_);
    if (ready == 0) return;
    const std::shared_ptr<FdCallback> callback = callback_;
    (*callback)(ready);
  }

 private:
  State* state_;
  const int fd_;
  uint32_t events_ = 0;
  const std::shared_ptr<FdCallback> callback_;
};

class ExternalDispatcher::ExternalTimer final : public Timer {
 public:
  ExternalTimer(State* state, TimerCallback callback)
      : state_(state),
        callback_(std::make_shared<TimerCallback>(std::move(callback))) {
    state_->timers.insert(this);
  }

  ~ExternalTimer() override {
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
    if (state_->call_depth == 0) state_->Reschedule();
  }

  bool armed() const override { return key_.has_value(); }

  void Detach() {
    key_.reset();
    state_ = nullptr;
  }

  // ExternalTimer::Fire()
  //
  // Called after the dispatcher took the timer off the armed map. A
  // repeating timer re-arms first, dropping firings the loop fell behind on.
  void Fire(MonotonicTime deadline) {
    key_.reset();
    if (interval_ > Duration::zero()) {
      const MonotonicTime now = MonotonicClock::now();
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
    if (key_) state_->armed.erase(*key_);
    interval_ = interval;
    Insert(internal::SaturatingAdd(MonotonicClock::now(), delay));
    if (state_->call_depth == 0) state_->Reschedule();
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

absl::StatusOr<std::unique_ptr<ExternalDispatcher>> ExternalDispatcher::Create(
    homing_watch_cb watch, homing_timer_cb timer, void* user_data) {
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  auto state = std::make_unique<State>(watch, timer, user_data, wake_fd);
  watch(wake_fd, HOMING_EV_READ, user_data);
  return std::unique_ptr<ExternalDispatcher>(
      new ExternalDispatcher(std::move(state)));
}

ExternalDispatcher::ExternalDispatcher(std::unique_ptr<State> state)
    : state_(std::move(state)) {}

ExternalDispatcher::~ExternalDispatcher() {
  // Destroying a task may destroy watches and timers (which still find a
  // working dispatcher) or post more tasks.
  for (;;) {
    std::deque<PostedTask> unrun;
    {
      std::lock_guard<std::mutex> lock(state_->posted_mu);
      unrun.swap(state_->posted);
    }
    if (unrun.empty()) break;
  }
  for (ExternalTimer* timer : state_->timers) timer->Detach();
  for (auto& [fd, watch] : state_->watches) watch->Detach();
  if (state_->reported) state_->timer(-1, state_->user_data);
  state_->watch(state_->wake_fd, 0, state_->user_data);
  close(state_->wake_fd);
}

void ExternalDispatcher::ProcessFd(int fd, uint32_t ready) {
  if (fd == state_->wake_fd) {
    state_->DrainWakeFd();
  } else if (auto it = state_->watches.find(fd); it != state_->watches.end()) {
    it->second->Deliver(ready);
  }
  state_->RunPostedBatch();
}

void ExternalDispatcher::ProcessTimers() {
  // The host's one-shot timer has fired: whatever is armed next must be
  // reported again.
  state_->reported.reset();
  const MonotonicTime now = MonotonicClock::now();
  const uint64_t armed_before = state_->next_timer_seq;
  std::vector<TimerKey> due;
  for (const auto& [key, timer] : state_->armed) {
    if (key.first > now) break;
    if (key.second < armed_before) due.push_back(key);
  }
  for (const TimerKey& key : due) {
    // An earlier callback may have disarmed or destroyed this timer.
    auto it = state_->armed.find(key);
    if (it == state_->armed.end()) continue;
    ExternalTimer* timer = it->second;
    state_->armed.erase(it);
    timer->Fire(key.first);
  }
  state_->RunPostedBatch();
}

int ExternalDispatcher::TimeoutMs() const {
  if (state_->HasPosted()) return 0;
  if (state_->armed.empty()) return -1;
  return state_->MillisecondsUntil(state_->armed.begin()->first.first);
}

ExternalDispatcher::CallScope::CallScope(ExternalDispatcher& dispatcher)
    : dispatcher_(dispatcher) {
  ++dispatcher_.state_->call_depth;
}

ExternalDispatcher::CallScope::~CallScope() {
  if (--dispatcher_.state_->call_depth == 0) dispatcher_.state_->Reschedule();
}

MonotonicTime ExternalDispatcher::Now() const { return MonotonicClock::now(); }

std::unique_ptr<FdWatch> ExternalDispatcher::WatchFd(int fd, uint32_t events,
                                                     FdCallback callback) {
  return std::make_unique<ExternalWatch>(state_.get(), fd, events,
                                         std::move(callback));
}

std::unique_ptr<Timer> ExternalDispatcher::CreateTimer(TimerCallback callback) {
  return std::make_unique<ExternalTimer>(state_.get(), std::move(callback));
}

void ExternalDispatcher::Post(PostedTask task) {
  {
    std::lock_guard<std::mutex> lock(state_->posted_mu);
    state_->posted.push_back(std::move(task));
  }
  if (!IsLoopThread()) {
    const uint64_t one = 1;
    if (write(state_->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
      HOMING_LOG(kError, "homing loop: cannot wake the host's loop: ",
                 std::strerror(errno));
    }
  } else if (state_->call_depth == 0) {
    state_->Reschedule();
  }
}

bool ExternalDispatcher::IsLoopThread() const {
  return std::this_thread::get_id() == state_->loop_thread;
}

}  // namespace homing::capi
