#include "http/tcp_connection.h"

#include <sys/ioctl.h>

#include <algorithm>

namespace homing::internal {
namespace {

uv_handle_t* AsHandle(void* handle) { return static_cast<uv_handle_t*>(handle); }
uv_stream_t* AsStream(uv_tcp_t* tcp) { return reinterpret_cast<uv_stream_t*>(tcp); }

}  // namespace

TcpConnection::TcpConnection(IoContext& context, const Options& options)
    : context_(&context),
      options_(options),
      read_buffer_(new char[options.read_buffer_bytes]) {}

TcpConnection::~TcpConnection() = default;

bool TcpConnection::Init(int* error) {
  if (const int rc = uv_tcp_init(context_->loop(), &tcp_); rc != 0) {
    *error = rc;
    return false;
  }
  uv_timer_init(context_->loop(), &timer_);
  tcp_.data = this;
  timer_.data = this;
  open_handles_ = 2;
  context_->Register(this);
  return true;
}

TcpConnection* TcpConnection::Accept(IoContext& context, uv_stream_t* listener,
                                     const Options& options, int* error) {
  auto* connection = new TcpConnection(context, options);
  if (!connection->Init(error)) {
    delete connection;
    return nullptr;
  }
  if (const int rc = uv_accept(listener, AsStream(&connection->tcp_)); rc != 0) {
    *error = rc;
    connection->Close();
    return nullptr;
  }
  uv_tcp_nodelay(&connection->tcp_, 1);
  connection->FetchAddresses();
  return connection;
}

TcpConnection* TcpConnection::Connect(IoContext& context,
                                      const SocketAddress& address,
                                      const Options& options,
                                      Callbacks* callbacks, int* error) {
  auto* connection = new TcpConnection(context, options);
  if (!connection->Init(error)) {
    delete connection;
    return nullptr;
  }
  connection->peer_ = address;
  connection->callbacks_ = callbacks;
  connection->connect_request_.data = connection;
  const int rc = uv_tcp_connect(&connection->connect_request_,
                                &connection->tcp_, address.sockaddr_ptr(),
                                &TcpConnection::OnConnectCb);
  if (rc != 0) {
    *error = rc;
    connection->Close();
    return nullptr;
  }
  return connection;
}

void TcpConnection::FetchAddresses() {
  sockaddr_storage storage{};
  int length = sizeof(storage);
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&storage),
                         &length) == 0) {
    if (auto address =
            SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage))) {
      peer_ = *address;
    }
  }
  length = sizeof(storage);
  if (uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&storage),
                         &length) == 0) {
    if (auto address =
            SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage))) {
      local_ = *address;
    }
  }
}

void TcpConnection::ReadStart() {
  if (reading_ || closed_) return;
  if (uv_read_start(AsStream(&tcp_), &TcpConnection::OnAlloc,
                    &TcpConnection::OnReadCb) == 0) {
    reading_ = true;
  }
}

void TcpConnection::ReadStop() {
  if (!reading_) return;
  reading_ = false;
  uv_read_stop(AsStream(&tcp_));
}

void TcpConnection::CommitWrite() {
  if (closed_) {
    pending_.clear();
    return;
  }
  context_->Defer(this);
  if (!above_high_watermark_ && queued_bytes() > options_.high_watermark) {
    above_high_watermark_ = true;
    if (callbacks_ != nullptr) callbacks_->OnWriteBufferHigh();
  }
}

void TcpConnection::Flush() {
  if (closed_ || write_in_flight_) return;
  if (pending_.empty()) {
    if (shutdown_wanted_) StartShutdown();
    return;
  }
  uv_buf_t buffer = uv_buf_init(pending_.data(),
                                static_cast<unsigned int>(pending_.size()));
  int written = uv_try_write(AsStream(&tcp_), &buffer, 1);
  if (written == UV_EAGAIN || written == UV_ENOSYS) {
    written = 0;
  } else if (written < 0) {
    Fail(written);
    return;
  }
  if (options_.tx_bytes != nullptr && written > 0) {
    options_.tx_bytes->Inc(static_cast<uint64_t>(written));
  }
  if (static_cast<size_t>(written) == pending_.size()) {
    pending_.clear();
    AfterWrite();
    return;
  }
  inflight_.swap(pending_);
  pending_.clear();
  inflight_offset_ = static_cast<size_t>(written);
  buffer = uv_buf_init(inflight_.data() + inflight_offset_,
                       static_cast<unsigned int>(inflight_.size() -
                                                 inflight_offset_));
  write_request_.data = this;
  if (const int rc = uv_write(&write_request_, AsStream(&tcp_), &buffer, 1,
                              &TcpConnection::OnWriteCb);
      rc != 0) {
    Fail(rc);
    return;
  }
  write_in_flight_ = true;
}

void TcpConnection::OnWriteCb(uv_write_t* request, int status) {
  auto* self = static_cast<TcpConnection*>(request->data);
  self->write_in_flight_ = false;
  if (self->closed_) return;
  if (status < 0) {
    self->Fail(status);
    return;
  }
  if (self->options_.tx_bytes != nullptr) {
    self->options_.tx_bytes->Inc(self->inflight_.size() -
                                 self->inflight_offset_);
  }
  self->inflight_.clear();
  self->inflight_offset_ = 0;
  if (self->lingering_) self->ArmTimer(self->flush_timeout_ms_);
  if (!self->pending_.empty()) {
    self->Flush();
    return;
  }
  self->AfterWrite();
}

// Called whenever a write completed and nothing is in flight.
void TcpConnection::AfterWrite() {
  if (above_high_watermark_ && queued_bytes() < options_.low_watermark) {
    above_high_watermark_ = false;
    if (callbacks_ != nullptr) callbacks_->OnWriteBufferLow();
    if (closed_) return;
  }
  if (queued_bytes() == 0 && shutdown_wanted_) StartShutdown();
}

void TcpConnection::ShutdownWrite() {
  if (closed_ || shutdown_wanted_) return;
  shutdown_wanted_ = true;
  if (queued_bytes() == 0 && !write_in_flight_) StartShutdown();
}

void TcpConnection::StartShutdown() {
  if (shutdown_started_ || closed_) return;
  if (lingering_ && peer_done_ && !HasUnreadInput()) {
    // Everything is written, the peer will send nothing more and nothing it
    // sent is unread: closing now delivers the queued bytes and then a FIN,
    // as the shutdown would, and no reset can overtake them (a reset comes
    // from input unread or arriving after the close). Saves the shutdown,
    // the loop iteration it waits for, and reading the peer's FIN: with
    // keep-alive off, a third of the syscalls of each connection.
    Close();
    return;
  }
  shutdown_started_ = true;
  shutdown_request_.data = this;
  if (const int rc = uv_shutdown(&shutdown_request_, AsStream(&tcp_),
                                 &TcpConnection::OnShutdownCb);
      rc != 0) {
    if (lingering_) Close();
  }
}

void TcpConnection::OnShutdownCb(uv_shutdown_t* request, int status) {
  auto* self = static_cast<TcpConnection*>(request->data);
  if (self->closed_) return;
  if (self->lingering_) {
    if (status < 0) {
      self->Close();
      return;
    }
    self->ArmTimer(self->linger_ms_);
    self->ReadStart();
  }
}

bool TcpConnection::HasUnreadInput() const {
  uv_os_fd_t fd = -1;
  int unread = 0;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) != 0 ||
      ioctl(fd, FIONREAD, &unread) != 0) {
    return true;  // unknown: linger to be safe
  }
  return unread > 0;
}

void TcpConnection::CloseAfterFlush(uint64_t flush_timeout_ms,
                                    uint64_t linger_ms, bool peer_done) {
  if (closed_) return;
  callbacks_ = nullptr;
  lingering_ = true;
  peer_done_ = peer_done;
  flush_timeout_ms_ = flush_timeout_ms;
  linger_ms_ = linger_ms;
  // Unread input is discarded from now on; reading also notices the peer's
  // close while the queue drains.
  ReadStart();
  ArmTimer(flush_timeout_ms_);
  shutdown_wanted_ = true;
  context_->CancelDeferred(this);
  Flush();
}

void TcpConnection::Fail(int uv_error) {
  if (callbacks_ != nullptr) {
    callbacks_->OnError(uv_error);
  } else {
    Close();
  }
}

void TcpConnection::ArmTimer(uint64_t milliseconds) {
  if (closed_) return;
  uv_timer_start(&timer_, &TcpConnection::OnTimerCb, milliseconds, 0);
}

void TcpConnection::DisarmTimer() {
  if (closed_) return;
  uv_timer_stop(&timer_);
}

void TcpConnection::OnTimerCb(uv_timer_t* timer) {
  auto* self = static_cast<TcpConnection*>(timer->data);
  if (self->lingering_) {
    self->Close();
  } else if (self->callbacks_ != nullptr) {
    self->callbacks_->OnTimer();
  }
}

void TcpConnection::OnAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* self = static_cast<TcpConnection*>(handle->data);
  *buf = uv_buf_init(self->read_buffer_.get(),
                     static_cast<unsigned int>(self->options_.read_buffer_bytes));
}

void TcpConnection::OnReadCb(uv_stream_t* stream, ssize_t nread,
                             const uv_buf_t* buf) {
  auto* self = static_cast<TcpConnection*>(stream->data);
  if (nread == 0 || self->closed_) return;
  if (nread > 0) {
    if (self->options_.rx_bytes != nullptr) {
      self->options_.rx_bytes->Inc(static_cast<uint64_t>(nread));
    }
    if (self->callbacks_ != nullptr) {
      self->callbacks_->OnRead(buf->base, static_cast<size_t>(nread));
    }
    return;
  }
  self->ReadStop();
  if (self->callbacks_ == nullptr) {
    if (!self->lingering_) return;
    // A peer that half-closed still reads: while our bytes drain (bounded
    // by the flush timeout) its FIN only means no shutdown wait is needed.
    // Past our shutdown, or on a reset, it has seen all it will see.
    const bool draining = nread == UV_EOF && !self->shutdown_started_ &&
                          (self->write_in_flight_ || self->queued_bytes() > 0);
    if (draining) {
      self->peer_done_ = true;
    } else {
      self->Close();
    }
    return;
  }
  if (nread == UV_EOF) {
    self->callbacks_->OnReadEof();
  } else {
    self->callbacks_->OnError(static_cast<int>(nread));
  }
}

void TcpConnection::OnConnectCb(uv_connect_t* request, int status) {
  auto* self = static_cast<TcpConnection*>(request->data);
  if (self->closed_ || self->callbacks_ == nullptr) return;
  if (status < 0) {
    self->callbacks_->OnError(status);
    return;
  }
  uv_tcp_nodelay(&self->tcp_, 1);
  self->FetchAddresses();
  self->callbacks_->OnConnected();
}

void TcpConnection::Close() {
  if (closed_) return;
  closed_ = true;
  callbacks_ = nullptr;
  context_->CancelDeferred(this);
  context_->Unregister(this);
  ReadStop();
  uv_close(AsHandle(&tcp_), &TcpConnection::OnCloseCb);
  uv_close(AsHandle(&timer_), &TcpConnection::OnCloseCb);
}

void TcpConnection::OnCloseCb(uv_handle_t* handle) {
  auto* self = static_cast<TcpConnection*>(handle->data);
  if (--self->open_handles_ == 0) delete self;
}

}  // namespace homing::internal
