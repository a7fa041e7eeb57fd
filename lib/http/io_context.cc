#include "http/io_context.h"

#include <algorithm>
#include <chrono>

#include "http/tcp_connection.h"

namespace homing::internal {

IoContext::IoContext(Dispatcher& dispatcher)
    : dispatcher_(dispatcher),
      run_timer_(dispatcher.CreateTimer([this] { RunAll(); })) {}

IoContext::~IoContext() {
  run_timer_.reset();
  for (Deferred* deferred : queue_) {
    if (deferred != nullptr) deferred->deferred_scheduled_ = false;
  }
  queue_.clear();
  while (connections_ != nullptr) delete connections_;  // unregisters itself
}

uint64_t IoContext::NowMs() const {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          dispatcher_.Now().time_since_epoch())
          .count());
}

uint64_t IoContext::NowUs() const {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(
          dispatcher_.Now().time_since_epoch())
          .count());
}

void IoContext::Defer(Deferred* deferred) {
  if (deferred->deferred_scheduled_) return;
  deferred->deferred_scheduled_ = true;
  queue_.push_back(deferred);
  if (!run_timer_->armed()) run_timer_->Arm(Duration::zero());
}

void IoContext::CancelDeferred(Deferred* deferred) {
  if (!deferred->deferred_scheduled_) return;
  deferred->deferred_scheduled_ = false;
  std::replace(queue_.begin(), queue_.end(), deferred,
               static_cast<Deferred*>(nullptr));
  std::replace(running_.begin(), running_.end(), deferred,
               static_cast<Deferred*>(nullptr));
}

void IoContext::Register(TcpConnection* connection) {
  connection->registry_prev_ = nullptr;
  connection->registry_next_ = connections_;
  if (connections_ != nullptr) connections_->registry_prev_ = connection;
  connections_ = connection;
}

void IoContext::Unregister(TcpConnection* connection) {
  if (connection->registry_prev_ != nullptr) {
    connection->registry_prev_->registry_next_ = connection->registry_next_;
  } else if (connections_ == connection) {
    connections_ = connection->registry_next_;
  }
  if (connection->registry_next_ != nullptr) {
    connection->registry_next_->registry_prev_ = connection->registry_prev_;
  }
  connection->registry_prev_ = nullptr;
  connection->registry_next_ = nullptr;
}

void IoContext::RunAll() {
  // Work queued while running (a resumed parse that writes a response) runs
  // in the same pass.
  while (!queue_.empty()) {
    running_.swap(queue_);
    for (size_t i = 0; i < running_.size(); ++i) {
      Deferred* deferred = running_[i];
      if (deferred == nullptr) continue;
      running_[i] = nullptr;
      deferred->deferred_scheduled_ = false;
      deferred->RunDeferred();
    }
    running_.clear();
  }
  // Work deferred while running re-armed the timer; it is all done now.
  run_timer_->Disarm();
}

}  // namespace homing::internal
