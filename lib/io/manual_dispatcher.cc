// File: lib/io/manual_dispatcher.cc
//
// Timers live in a TimerQueue on the simulated clock; watches are polled
// with poll(2). Callbacks are held by shared_ptr and copied before each
// call, so a watch may destroy itself in its callback.

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

#include "common/log.h"
#include "io/deadline.h"
#include "io/timer_queue.h"

namespace homing {

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

  internal::TimerQueue timers{[this] { return Now(); }};

  uint64_t next_watch_id = 0;
  std::map<uint64_t, ManualFdWatch*> watches;  // creation order
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
  return state_->timers.NextDeadline();
}

size_t ManualDispatcher::armed_timer_count() const {
  return state_->timers.armed_count();
}

MonotonicTime ManualDispatcher::Now() const { return state_->Now(); }

std::unique_ptr<FdWatch> ManualDispatcher::WatchFd(int fd, uint32_t events,
                                                   FdCallback callback) {
  return std::make_unique<ManualFdWatch>(state_.get(), fd, events,
                                         std::move(callback));
}

std::unique_ptr<Timer> ManualDispatcher::CreateTimer(TimerCallback callback) {
  return state_->timers.CreateTimer(std::move(callback));
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
  const size_t fired = state_->timers.FireDue();
  return fired + RunPosted();
}

void ManualDispatcher::BindToCurrentThread() {
  state_->loop_thread.store(std::this_thread::get_id(),
                            std::memory_order_relaxed);
}

}  // namespace homing
