// File: lib/io/libuv_dispatcher.cc
//
// Handle lifetime is the delicate part. libuv frees nothing itself: a handle
// must be closed with uv_close() and its memory released only in the close
// callback, which runs at the end of a later loop iteration. So every handle
// lives in a heap "box" together with the user's callback and a back pointer
// to its C++ owner. Destroying the owner clears the back pointer and closes
// the box; the box, and the callback that may still be executing, survive
// until libuv is done with them. A callback therefore never runs after its
// owner is gone, and an owner may destroy itself from inside its callback.

#include "homing/libuv_dispatcher.h"

#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <iterator>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "io/deadline.h"

namespace homing {
namespace internal {
namespace {

template <typename UvHandle>
uv_handle_t* AsHandle(UvHandle* handle) {
  return reinterpret_cast<uv_handle_t*>(handle);
}

// Close callback for handles whose `data` points at the box that owns them.
template <typename Box>
void DeleteBox(uv_handle_t* handle) {
  delete static_cast<Box*>(handle->data);
}

// Close callback for bare handles allocated with `new`.
template <typename UvHandle>
void DeleteHandle(uv_handle_t* handle) {
  delete reinterpret_cast<UvHandle*>(handle);
}

}  // namespace

class LibuvTimer;

// LoopHandle
//
// A watch or timer handed out by the dispatcher. The core keeps a set of
// them so that its destructor can close the handles of stragglers that
// outlive the dispatcher; `Detach()` closes the handle and leaves the object
// inert.
class LoopHandle {
 public:
  virtual ~LoopHandle() = default;
  virtual void Detach() = 0;
};

// LibuvCore
//
// The dispatcher's state, shared with its watches and timers: the loop, the
// wakeup handle behind Post() and Stop(), and the queue of zero-delay timers.
class LibuvCore {
 public:
  // Zero-delay timers wait here, tagged with a sequence number so that one
  // pass of the idle callback fires only those queued before it started.
  using ZeroDelayQueue = std::list<std::pair<uint64_t, LibuvTimer*>>;

  static absl::StatusOr<std::unique_ptr<LibuvCore>> Create(uv_loop_t* borrowed);

  LibuvCore(const LibuvCore&) = delete;
  LibuvCore& operator=(const LibuvCore&) = delete;
  ~LibuvCore();

  uv_loop_t* loop() const { return loop_; }

  bool IsLoopThread() const {
    return loop_thread_.load(std::memory_order_relaxed) ==
           std::this_thread::get_id();
  }

  void Post(PostedTask task) {
    {
      std::lock_guard<std::mutex> lock(posted_mu_);
      posted_.push_back(std::move(task));
    }
    uv_async_send(wakeup_);
  }

  void Stop() {
    stop_requested_.store(true);
    uv_async_send(wakeup_);
  }

  void Run();
  void RunUntilStopped();
  bool RunStep(uv_run_mode mode);
  bool RunUntil(absl::FunctionRef<bool()> done, Duration limit);

  void Register(LoopHandle* handle) { handles_.insert(handle); }
  void Unregister(LoopHandle* handle) { handles_.erase(handle); }

  // Two uv_poll_t on one descriptor break each other silently (libuv drops
  // the first one's epoll registration), so the core tracks watched fds.
  // Returns false if `fd` is already watched.
  bool AddWatchedFd(int fd) { return watched_fds_.insert(fd).second; }
  void RemoveWatchedFd(int fd) { watched_fds_.erase(fd); }

  ZeroDelayQueue::iterator QueueZeroDelay(LibuvTimer* timer);
  void CancelZeroDelay(ZeroDelayQueue::iterator entry);

 private:
  LibuvCore(uv_loop_t* loop, std::unique_ptr<uv_loop_t> owned_loop)
      : loop_(loop),
        owned_loop_(std::move(owned_loop)),
        loop_thread_(std::this_thread::get_id()) {}

  static void OnWakeup(uv_async_t* handle);
  static void OnIdle(uv_idle_t* handle);

  // Marks the calling thread as the loop thread for a Run*() call.
  void BeginRun();
  bool HasPostedTasks() {
    std::lock_guard<std::mutex> lock(posted_mu_);
    return !posted_.empty();
  }
  // The wakeup handle keeps the loop alive only while tasks are queued (or
  // in RunUntilStopped()). uv_ref()/uv_unref() are not thread-safe, so this
  // runs on the loop thread only; Post() from elsewhere relies on the loop
  // being alive for some other reason, or on Run()'s re-check.
  void UpdateWakeupRef();

  uv_loop_t* const loop_;
  std::unique_ptr<uv_loop_t> owned_loop_;  // null when the loop is borrowed
  uv_async_t* wakeup_ = nullptr;
  uv_idle_t* zero_delay_idle_ = nullptr;
  std::atomic<std::thread::id> loop_thread_;
  std::atomic<bool> stop_requested_{false};
  bool stopped_ = false;     // the current run was ended by Stop()
  bool keep_alive_ = false;  // inside RunUntilStopped()
  bool running_ = false;

  std::mutex posted_mu_;
  std::vector<PostedTask> posted_;  // guarded by posted_mu_
  std::vector<PostedTask> batch_;   // loop thread only: the batch being run

  ZeroDelayQueue zero_delay_;
  // Entries that fired or were cancelled, reused by QueueZeroDelay(): the
  // http layer arms a zero-delay timer per batch of work, and a request on a
  // keep-alive connection must not allocate for it.
  ZeroDelayQueue spare_zero_delay_;
  uint64_t next_zero_delay_seq_ = 0;
  absl::flat_hash_set<LoopHandle*> handles_;
  absl::flat_hash_set<int> watched_fds_;
};

// LibuvTimer
//
// A uv_timer_t wakes the loop; the deadline itself is kept on steady_clock
// and checked when the uv timer fires, so millisecond rounding and libuv's
// cached loop time can only make a firing late, never early. Repetition is
// done here rather than with libuv's `repeat` so deadlines do not drift.
class LibuvTimer final : public Timer, public LoopHandle {
 public:
  LibuvTimer(LibuvCore* core, TimerCallback callback)
      : core_(core), box_(new Box{{}, std::move(callback), this}) {
    uv_timer_init(core_->loop(), &box_->handle);  // cannot fail
    box_->handle.data = box_;
    core_->Register(this);
  }

  ~LibuvTimer() override { Close(); }

  void Arm(Duration delay) override { Schedule(delay, Duration::zero()); }

  void ArmRepeating(Duration interval) override {
    interval = std::max(interval, Duration(1));
    Schedule(interval, interval);
  }

  void Disarm() override {
    armed_ = false;
    if (box_ == nullptr) return;
    uv_timer_stop(&box_->handle);
    if (queued_) {
      core_->CancelZeroDelay(*queued_);
      queued_.reset();
    }
  }

  bool armed() const override { return armed_; }

  void Detach() override { Close(); }

  // LibuvTimer::FireFromZeroDelayQueue()
  //
  // Called by the core after taking the timer off the zero-delay queue.
  void FireFromZeroDelayQueue() {
    queued_.reset();
    Fire();
  }

 private:
  struct Box {
    uv_timer_t handle;
    TimerCallback callback;
    LibuvTimer* owner;  // null once the owner is gone
  };

  static void OnUvTimer(uv_timer_t* handle) {
    Box* box = static_cast<Box*>(handle->data);
    if (box->owner != nullptr) box->owner->Fire();
  }

  void Schedule(Duration delay, Duration interval) {
    if (box_ == nullptr) return;
    Disarm();
    deadline_ = SaturatingAdd(MonotonicClock::now(), delay);
    interval_ = interval;
    armed_ = true;
    if (delay <= Duration::zero()) {
      queued_ = core_->QueueZeroDelay(this);
    } else {
      StartUvTimer(delay);
    }
  }

  void StartUvTimer(Duration remaining) {
    uv_timer_start(&box_->handle, &LibuvTimer::OnUvTimer,
                   CeilMilliseconds(remaining), 0);
  }

  void Fire() {
    if (!armed_) return;
    const MonotonicTime now = MonotonicClock::now();
    if (now < deadline_) {  // woken early by libuv's coarser clock
      StartUvTimer(deadline_ - now);
      return;
    }
    if (interval_ > Duration::zero()) {
      deadline_ = SaturatingAdd(deadline_, interval_);
      if (deadline_ <= now) deadline_ = SaturatingAdd(now, interval_);
      StartUvTimer(deadline_ - now);
    } else {
      armed_ = false;
    }
    // The callback may destroy `this`; the box lives until its close callback.
    Box* box = box_;
    box->callback();
  }

  void Close() {
    if (box_ == nullptr) return;
    Disarm();
    box_->owner = nullptr;
    uv_close(AsHandle(&box_->handle), &DeleteBox<Box>);
    box_ = nullptr;
    core_->Unregister(this);
    core_ = nullptr;
  }

  LibuvCore* core_;
  Box* box_;
  MonotonicTime deadline_;
  Duration interval_ = Duration::zero();  // zero for one-shot firings
  bool armed_ = false;
  std::optional<LibuvCore::ZeroDelayQueue::iterator> queued_;
};

// LibuvFdWatch
//
// One uv_poll_t. libuv stops a poll handle that reports an error (POLLERR);
// the watch reports `kFdError` and resumes watching, which keeps readiness
// level-triggered like poll(2). A descriptor libuv refuses to watch at all
// (a regular file, a closed descriptor) is reported through an internal
// zero-delay timer: once, and again after each SetEvents() with interest.
class LibuvFdWatch final : public FdWatch, public LoopHandle {
 public:
  LibuvFdWatch(LibuvCore* core, int fd, uint32_t events, FdCallback callback)
      : core_(core), fd_(fd), events_(events & (kFdRead | kFdWrite)) {
    if (!core_->AddWatchedFd(fd)) {
      HOMING_LOG(kError, "fd ", fd, " is watched twice on one dispatcher;",
                 " the first watch stops receiving events");
    }
    core_->Register(this);
    auto box = std::make_unique<Box>(Box{{}, std::move(callback), this});
    const int rc = uv_poll_init(core_->loop(), &box->handle, fd);
    if (rc != 0) {
      HOMING_LOG(kWarn, "cannot watch fd ", fd, ": ", uv_strerror(rc),
                 "; reporting it as failed");
      error_report_ = std::make_unique<LibuvTimer>(
          core_, [this, report = std::move(box->callback)] {
            report(events_ | kFdError);
          });
      Apply();
      return;
    }
    box_ = box.release();
    box_->handle.data = box_;
    Apply();
  }

  ~LibuvFdWatch() override { Close(); }

  void SetEvents(uint32_t events) override {
    events &= kFdRead | kFdWrite;
    // Re-registering costs an epoll_ctl(); skip it when nothing changes. (A
    // handle libuv stopped after an error is inactive, so it restarts.)
    if (box_ != nullptr && events == events_ &&
        (events == 0 || uv_is_active(AsHandle(&box_->handle)))) {
      return;
    }
    events_ = events;
    Apply();
  }

  void Detach() override { Close(); }

 private:
  struct Box {
    uv_poll_t handle;
    FdCallback callback;
    LibuvFdWatch* owner;  // null once the owner is gone
  };

  static void OnUvPoll(uv_poll_t* handle, int status, int uv_events) {
    Box* box = static_cast<Box*>(handle->data);
    LibuvFdWatch* watch = box->owner;
    if (watch == nullptr || watch->events_ == 0) return;
    uint32_t ready;
    if (status < 0) {
      ready = watch->events_ | kFdError;
    } else {
      ready = 0;
      if (uv_events & (UV_READABLE | UV_DISCONNECT)) ready |= kFdRead;
      if (uv_events & UV_WRITABLE) ready |= kFdWrite;
      ready &= watch->events_;
      if (ready == 0) return;
    }
    box->callback(ready);  // may destroy the watch; the box outlives it
    if (status < 0 && box->owner != nullptr &&
        !uv_is_active(AsHandle(handle))) {
      box->owner->Apply();
    }
  }

  // Makes libuv's registration match `events_`.
  void Apply() {
    if (box_ == nullptr) {
      if (error_report_ == nullptr) return;
      if (events_ != 0) {
        error_report_->Arm(Duration::zero());
      } else {
        error_report_->Disarm();
      }
      return;
    }
    if (events_ == 0) {
      uv_poll_stop(&box_->handle);
      return;
    }
    int uv_events = 0;
    if (events_ & kFdRead) uv_events |= UV_READABLE;
    if (events_ & kFdWrite) uv_events |= UV_WRITABLE;
    const int rc =
        uv_poll_start(&box_->handle, uv_events, &LibuvFdWatch::OnUvPoll);
    if (rc != 0) {
      HOMING_LOG(kError, "uv_poll_start: ", uv_strerror(rc),
                 " (is the descriptor watched twice?)");
    }
  }

  void Close() {
    if (core_ == nullptr) return;
    error_report_.reset();
    if (box_ != nullptr) {
      box_->owner = nullptr;
      uv_close(AsHandle(&box_->handle), &DeleteBox<Box>);
      box_ = nullptr;
    }
    core_->RemoveWatchedFd(fd_);
    core_->Unregister(this);
    core_ = nullptr;
  }

  LibuvCore* core_;  // null once closed
  const int fd_;
  Box* box_ = nullptr;
  uint32_t events_;
  std::unique_ptr<LibuvTimer> error_report_;  // only if libuv refused the fd
};

absl::StatusOr<std::unique_ptr<LibuvCore>> LibuvCore::Create(
    uv_loop_t* borrowed) {
  std::unique_ptr<uv_loop_t> owned;
  uv_loop_t* loop = borrowed;
  if (loop == nullptr) {
    owned = std::make_unique<uv_loop_t>();
    if (const int rc = uv_loop_init(owned.get()); rc != 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("uv_loop_init: ", uv_strerror(rc)));
    }
    loop = owned.get();
  }
  std::unique_ptr<LibuvCore> core(new LibuvCore(loop, std::move(owned)));
  auto wakeup = std::make_unique<uv_async_t>();
  if (const int rc = uv_async_init(loop, wakeup.get(), &LibuvCore::OnWakeup);
      rc != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("uv_async_init: ", uv_strerror(rc)));
  }
  core->wakeup_ = wakeup.release();
  core->wakeup_->data = core.get();
  uv_unref(AsHandle(core->wakeup_));
  core->zero_delay_idle_ = new uv_idle_t;
  uv_idle_init(loop, core->zero_delay_idle_);  // cannot fail
  core->zero_delay_idle_->data = core.get();
  return core;
}

LibuvCore::~LibuvCore() {
  assert(!running_ && "a LibuvDispatcher destroyed from its own callback");
  // Unrun tasks go first: destroying them may destroy watches and timers,
  // which still find a working dispatcher.
  for (;;) {
    std::vector<PostedTask> unrun;
    {
      std::lock_guard<std::mutex> lock(posted_mu_);
      unrun.swap(posted_);
    }
    if (unrun.empty()) break;
  }
  while (!handles_.empty()) {
    LoopHandle* straggler = *handles_.begin();
    handles_.erase(handles_.begin());
    straggler->Detach();
  }
  if (wakeup_ != nullptr)
    uv_close(AsHandle(wakeup_), &DeleteHandle<uv_async_t>);
  if (zero_delay_idle_ != nullptr) {
    uv_close(AsHandle(zero_delay_idle_), &DeleteHandle<uv_idle_t>);
  }
  if (owned_loop_ != nullptr) {
    uv_run(loop_, UV_RUN_NOWAIT);  // runs the close callbacks
    if (const int rc = uv_loop_close(loop_); rc != 0) {
      HOMING_LOG(kError, "LibuvDispatcher: loop still has open handles (",
                 uv_strerror(rc), "); leaking it");
      // libuv still references the loop's memory.
      [[maybe_unused]] uv_loop_t* leaked = owned_loop_.release();
    }
  }
}

void LibuvCore::BeginRun() {
  assert(!running_ && "LibuvDispatcher::Run*() is not reentrant");
  loop_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  running_ = true;
  stopped_ = false;
}

void LibuvCore::Run() {
  BeginRun();
  // uv_run() returns when only unreferenced handles are left; a task posted
  // from another thread just then still deserves a run.
  do {
    UpdateWakeupRef();
    uv_run(loop_, UV_RUN_DEFAULT);
  } while (!stopped_ && HasPostedTasks());
  running_ = false;
}

void LibuvCore::RunUntilStopped() {
  BeginRun();
  keep_alive_ = true;
  uv_ref(AsHandle(wakeup_));
  while (!stopped_) uv_run(loop_, UV_RUN_DEFAULT);
  keep_alive_ = false;
  UpdateWakeupRef();
  running_ = false;
}

bool LibuvCore::RunStep(uv_run_mode mode) {
  BeginRun();
  UpdateWakeupRef();
  const bool alive = uv_run(loop_, mode) != 0;
  running_ = false;
  return alive || HasPostedTasks();
}

bool LibuvCore::RunUntil(absl::FunctionRef<bool()> done, Duration limit) {
  bool expired = false;
  LibuvTimer limit_timer(this, [&expired] { expired = true; });
  limit_timer.Arm(limit);
  while (!done()) {
    if (expired) return false;
    RunStep(UV_RUN_ONCE);
    if (stopped_) return done();
  }
  return true;
}

void LibuvCore::UpdateWakeupRef() {
  if (keep_alive_ || HasPostedTasks()) {
    uv_ref(AsHandle(wakeup_));
  } else {
    uv_unref(AsHandle(wakeup_));
  }
}

void LibuvCore::OnWakeup(uv_async_t* handle) {
  LibuvCore* core = static_cast<LibuvCore*>(handle->data);
  // Read the stop request before taking the batch: every task posted before
  // Stop() is then in this batch or an earlier one.
  const bool stop = core->stop_requested_.exchange(false);
  {
    std::lock_guard<std::mutex> lock(core->posted_mu_);
    core->batch_.swap(core->posted_);
  }
  // Tasks posted by these tasks land in `posted_` and wake the loop again:
  // they run in a later batch, after IO has been polled.
  for (PostedTask& task : core->batch_) task();
  core->batch_.clear();
  if (stop) {
    core->stopped_ = true;
    uv_stop(core->loop_);
  }
  core->UpdateWakeupRef();
}

LibuvCore::ZeroDelayQueue::iterator LibuvCore::QueueZeroDelay(
    LibuvTimer* timer) {
  if (spare_zero_delay_.empty()) {
    zero_delay_.emplace_back(next_zero_delay_seq_++, timer);
  } else {
    zero_delay_.splice(zero_delay_.end(), spare_zero_delay_,
                       spare_zero_delay_.begin());
    zero_delay_.back() = {next_zero_delay_seq_++, timer};
  }
  if (!uv_is_active(AsHandle(zero_delay_idle_))) {
    uv_idle_start(zero_delay_idle_, &LibuvCore::OnIdle);
  }
  return std::prev(zero_delay_.end());
}

void LibuvCore::CancelZeroDelay(ZeroDelayQueue::iterator entry) {
  spare_zero_delay_.splice(spare_zero_delay_.begin(), zero_delay_, entry);
  if (zero_delay_.empty()) uv_idle_stop(zero_delay_idle_);
}

void LibuvCore::OnIdle(uv_idle_t* handle) {
  LibuvCore* core = static_cast<LibuvCore*>(handle->data);
  // Timers re-armed with zero delay by these callbacks wait for the next
  // iteration; the active idle handle makes that iteration poll IO without
  // blocking.
  const uint64_t end = core->next_zero_delay_seq_;
  while (!core->zero_delay_.empty() && core->zero_delay_.front().first < end) {
    LibuvTimer* timer = core->zero_delay_.front().second;
    core->spare_zero_delay_.splice(core->spare_zero_delay_.begin(),
                                   core->zero_delay_,
                                   core->zero_delay_.begin());
    timer->FireFromZeroDelayQueue();
  }
  if (core->zero_delay_.empty()) uv_idle_stop(core->zero_delay_idle_);
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<LibuvDispatcher>> LibuvDispatcher::Create() {
  auto core = internal::LibuvCore::Create(nullptr);
  if (!core.ok()) return core.status();
  return std::unique_ptr<LibuvDispatcher>(
      new LibuvDispatcher(*std::move(core)));
}

absl::StatusOr<std::unique_ptr<LibuvDispatcher>> LibuvDispatcher::Create(
    uv_loop_s* loop) {
  if (loop == nullptr) {
    return absl::InvalidArgumentError("LibuvDispatcher: loop is null");
  }
  auto core = internal::LibuvCore::Create(loop);
  if (!core.ok()) return core.status();
  return std::unique_ptr<LibuvDispatcher>(
      new LibuvDispatcher(*std::move(core)));
}

LibuvDispatcher::LibuvDispatcher(std::unique_ptr<internal::LibuvCore> core)
    : core_(std::move(core)) {}

LibuvDispatcher::~LibuvDispatcher() = default;

void LibuvDispatcher::Run() { core_->Run(); }

void LibuvDispatcher::RunUntilStopped() { core_->RunUntilStopped(); }

bool LibuvDispatcher::RunOnce() { return core_->RunStep(UV_RUN_ONCE); }

bool LibuvDispatcher::RunNoWait() { return core_->RunStep(UV_RUN_NOWAIT); }

bool LibuvDispatcher::RunUntil(absl::FunctionRef<bool()> done, Duration limit) {
  return core_->RunUntil(done, limit);
}

void LibuvDispatcher::Stop() { core_->Stop(); }

uv_loop_s* LibuvDispatcher::loop() const { return core_->loop(); }

MonotonicTime LibuvDispatcher::Now() const { return MonotonicClock::now(); }

std::unique_ptr<FdWatch> LibuvDispatcher::WatchFd(int fd, uint32_t events,
                                                  FdCallback callback) {
  assert(IsLoopThread());
  return std::make_unique<internal::LibuvFdWatch>(core_.get(), fd, events,
                                                  std::move(callback));
}

std::unique_ptr<Timer> LibuvDispatcher::CreateTimer(TimerCallback callback) {
  assert(IsLoopThread());
  return std::make_unique<internal::LibuvTimer>(core_.get(),
                                                std::move(callback));
}

void LibuvDispatcher::Post(PostedTask task) { core_->Post(std::move(task)); }

bool LibuvDispatcher::IsLoopThread() const { return core_->IsLoopThread(); }

}  // namespace homing
