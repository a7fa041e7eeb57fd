// File: lib/io/loop_thread.cc

#include "homing/loop_thread.h"

#include <cassert>
#include <condition_variable>
#include <mutex>
#include <utility>

namespace homing {
namespace {

// A one-shot signal between threads. (std::condition_variable rather than
// absl::Notification, whose synchronization ThreadSanitizer cannot see in
// Debian's uninstrumented Abseil.)
class Completion {
 public:
  void Signal() {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<LoopThread>> LoopThread::Start() {
  auto dispatcher = LibuvDispatcher::Create();
  if (!dispatcher.ok()) return dispatcher.status();
  std::unique_ptr<LoopThread> loop_thread(
      new LoopThread(*std::move(dispatcher)));
  LibuvDispatcher* loop = loop_thread->dispatcher_.get();
  // The first task runs once the new thread has become the loop thread.
  Completion running;
  loop->Post([&running] { running.Signal(); });
  loop_thread->thread_ = std::thread([loop] { loop->RunUntilStopped(); });
  running.Wait();
  return loop_thread;
}

LoopThread::LoopThread(std::unique_ptr<LibuvDispatcher> dispatcher)
    : dispatcher_(std::move(dispatcher)) {}

LoopThread::~LoopThread() {
  Stop();
  Join();
}

absl::Status LoopThread::RunSync(absl::FunctionRef<void()> fn) {
  if (dispatcher_->IsLoopThread()) {
    fn();
    return absl::OkStatus();
  }
  Completion done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return absl::FailedPreconditionError(
          "LoopThread::RunSync: the loop thread is stopped");
    }
    // Posted before any Stop() can follow, so it runs before the loop ends.
    dispatcher_->Post([fn, &done] {
      fn();
      done.Signal();
    });
  }
  done.Wait();
  return absl::OkStatus();
}

void LoopThread::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  stopping_ = true;
  dispatcher_->Stop();
}

void LoopThread::Join() {
  assert(!dispatcher_->IsLoopThread() && "LoopThread joined from itself");
  if (thread_.joinable()) thread_.join();
}

}  // namespace homing
