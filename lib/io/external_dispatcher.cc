// File: lib/io/external_dispatcher.cc
//
// Timers live in a TimerQueue on the monotonic clock, as in
// ManualDispatcher: firing order is deadline order, ties in arming order,
// and a ProcessTimers() call fires only timers armed before it began. Watch
// callbacks are held by shared_ptr and copied before each call, so a watch
// may destroy itself from its own callback.

#include "homing/external_dispatcher.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "io/deadline.h"
#include "io/timer_queue.h"

namespace homing {

struct ExternalDispatcher::State {
  State(Host h, int fd)
      : host(std::move(h)), wake_fd(fd), loop_thread(std::this_thread::get_id()) {}

  // Reports a deadline change to the host, unless it already knows.
  void Reschedule() {
    std::optional<MonotonicTime> want;
    if (HasPosted()) {
      want = MonotonicTime::min();  // as soon as possible
    } else {
      want = timers.NextDeadline();
    }
    if (want == reported) return;
    reported = want;
    host.set_timer(want ? std::optional<Duration>(Until(*want)) : std::nullopt);
  }

  static Duration Until(MonotonicTime deadline) {
    if (deadline == MonotonicTime::min()) return Duration::zero();
    return std::max(Duration::zero(), deadline - MonotonicClock::now());
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

  // Tells the host its interest in `fd` changed (0: stopped), with the
  // descriptor's slot. The host may not call homing from the callback, so
  // `slots` does not change during it.
  void Watch(int fd, uint32_t events) {
    host.watch(fd, events, &slots[fd]);
    if (events == 0) slots.erase(fd);
  }

  void DrainWakeFd() const {
    uint64_t count;
    while (read(wake_fd, &count, sizeof(count)) > 0) {
    }
  }

  const Host host;
  const int wake_fd;
  const std::thread::id loop_thread;

  int call_depth = 0;
  // The deadline the host's timer is set for (min(): "now"); nullopt when
  // its timer is not armed.
  std::optional<MonotonicTime> reported;

  std::mutex posted_mu;
  std::deque<PostedTask> posted;  // guarded by posted_mu

  // Deadline changes outside a CallScope are reported at once.
  internal::TimerQueue timers{[] { return MonotonicClock::now(); },
                              [this] {
                                if (call_depth == 0) Reschedule();
                              }};
  absl::flat_hash_map<int, ExternalWatch*> watches;
  absl::flat_hash_map<int, void*> slots;  // Host::watch's, per watched fd
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
    state_->Watch(fd_, events_);
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

absl::StatusOr<std::unique_ptr<ExternalDispatcher>> ExternalDispatcher::Create(
    Host host) {
  if (!host.watch || !host.set_timer) {
    return absl::InvalidArgumentError(
        "ExternalDispatcher: the host's watch and set_timer are required");
  }
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  auto state = std::make_unique<State>(std::move(host), wake_fd);
  state->Watch(wake_fd, kFdRead);
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
  for (auto& [fd, watch] : state_->watches) watch->Detach();
  if (state_->reported) state_->host.set_timer(std::nullopt);
  state_->Watch(state_->wake_fd, 0);
  close(state_->wake_fd);
}

void ExternalDispatcher::ProcessFd(int fd, uint32_t ready) {
  // Whatever the work armed or posted is reported when it is done.
  CallScope scope(*this);
  if (fd == state_->wake_fd) {
    state_->DrainWakeFd();
  } else if (auto it = state_->watches.find(fd); it != state_->watches.end()) {
    it->second->Deliver(ready);
  }
  state_->RunPostedBatch();
}

void ExternalDispatcher::ProcessTimers() {
  CallScope scope(*this);
  // The host's one-shot timer has fired: whatever is armed next must be
  // reported again (when the scope closes).
  state_->reported.reset();
  state_->timers.FireDue();
  state_->RunPostedBatch();
}

std::optional<Duration> ExternalDispatcher::NextTimeout() const {
  if (state_->HasPosted()) return Duration::zero();
  const std::optional<MonotonicTime> next = state_->timers.NextDeadline();
  if (!next) return std::nullopt;
  return State::Until(*next);
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
  return state_->timers.CreateTimer(std::move(callback));
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

}  // namespace homing
