#include "http/io_context.h"

#include <algorithm>

#include "http/tcp_connection.h"

namespace homing::internal {

// The handles outlive the IoContext until libuv has closed them.
struct IoContext::Handles {
  uv_prepare_t prepare;
  uv_check_t check;
  int open = 2;
  bool referenced = false;
};

IoContext::IoContext(uv_loop_t* loop) : loop_(loop), handles_(new Handles) {
  uv_prepare_init(loop, &handles_->prepare);
  uv_check_init(loop, &handles_->check);
  handles_->prepare.data = this;
  handles_->check.data = this;
  uv_prepare_start(&handles_->prepare, &IoContext::OnPrepare);
  uv_check_start(&handles_->check, &IoContext::OnCheck);
  // Only queued work keeps the loop alive (see Defer()).
  uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->prepare));
  uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->check));
}

IoContext::~IoContext() {
  while (connections_ != nullptr) connections_->Close();
  for (Deferred* deferred : queue_) {
    if (deferred != nullptr) deferred->deferred_scheduled_ = false;
  }
  auto on_close = [](uv_handle_t* handle) {
    auto* handles = static_cast<Handles*>(handle->data);
    if (--handles->open == 0) delete handles;
  };
  handles_->prepare.data = handles_;
  handles_->check.data = handles_;
  uv_close(reinterpret_cast<uv_handle_t*>(&handles_->prepare), on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&handles_->check), on_close);
}

void IoContext::Defer(Deferred* deferred) {
  if (deferred->deferred_scheduled_) return;
  deferred->deferred_scheduled_ = true;
  queue_.push_back(deferred);
  if (!handles_->referenced) {
    handles_->referenced = true;
    uv_ref(reinterpret_cast<uv_handle_t*>(&handles_->prepare));
  }
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

void IoContext::OnPrepare(uv_prepare_t* handle) {
  static_cast<IoContext*>(handle->data)->RunAll();
}

void IoContext::OnCheck(uv_check_t* handle) {
  static_cast<IoContext*>(handle->data)->RunAll();
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
  if (handles_->referenced) {
    handles_->referenced = false;
    uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->prepare));
  }
}

}  // namespace homing::internal
