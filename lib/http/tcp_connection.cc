#include "http/tcp_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/ascii.h"

namespace homing::internal {
namespace {

// How many reads one readiness callback makes at most while every read fills
// the buffer; the rest waits for the next callback, so one fast peer cannot
// starve the others.
constexpr int kMaxReadsPerCallback = 32;

void SetNoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// send() that never raises SIGPIPE; returns bytes sent or -errno.
ssize_t SendSome(int fd, const char* data, size_t length) {
  for (;;) {
    const ssize_t sent = send(fd, data, length, MSG_NOSIGNAL);
    if (sent >= 0) return sent;
    if (errno == EINTR) continue;
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
}

}  // namespace

std::string SocketErrorText(int error) {
  std::string text = std::strerror(error);
  if (!text.empty()) text[0] = absl::ascii_tolower(text[0]);
  return text;
}

TcpConnection::TcpConnection(IoContext& context, int fd, const Options& options)
    : context_(&context),
      options_(options),
      fd_(fd),
      read_buffer_(new char[options.read_buffer_bytes]) {
  watch_ = context.dispatcher().WatchFd(
      fd_, 0, [this](uint32_t ready) { OnReady(ready); });
  timer_ = context.dispatcher().CreateTimer([this] { OnTimerFired(); });
  context_->Register(this);
}

TcpConnection::~TcpConnection() {
  if (!closed_) ReleaseSocket();
  context_->CancelDeferred(this);
  context_->Unregister(this);
}

TcpConnection* TcpConnection::Accept(IoContext& context, int fd,
                                     const Options& options) {
  SetNoDelay(fd);
  auto* connection = new TcpConnection(context, fd, options);
  connection->FetchAddresses();
  return connection;
}

TcpConnection* TcpConnection::Connect(IoContext& context,
                                      const SocketAddress& address,
                                      const Options& options,
                                      Callbacks* callbacks, int* error) {
  const int fd =
      socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = errno;
    return nullptr;
  }
  SetNoDelay(fd);
  if (connect(fd, address.sockaddr_ptr(), address.sockaddr_len()) != 0 &&
      errno != EINPROGRESS) {
    *error = errno;
    close(fd);
    return nullptr;
  }
  // Even a connect that completed at once reports through writability, so
  // the outcome always arrives as a callback, never from inside Connect().
  auto* connection = new TcpConnection(context, fd, options);
  connection->peer_ = address;
  connection->callbacks_ = callbacks;
  connection->connecting_ = true;
  connection->UpdateInterest();
  return connection;
}

void TcpConnection::FetchAddresses() {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&storage), &length) == 0) {
    if (auto address =
            SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage))) {
      peer_ = *address;
    }
  }
  length = sizeof(storage);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&storage), &length) == 0) {
    if (auto address =
            SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage))) {
      local_ = *address;
    }
  }
}

void TcpConnection::UpdateInterest() {
  if (closed_) return;
  uint32_t events = 0;
  if (connecting_) {
    events = kFdWrite;
  } else {
    if (reading_) events |= kFdRead;
    if (write_in_flight_) events |= kFdWrite;
  }
  if (events == watched_events_) return;
  watched_events_ = events;
  watch_->SetEvents(events);
}

void TcpConnection::OnReady(uint32_t ready) {
  if (closed_) return;
  if (connecting_) {
    FinishConnect();
    return;
  }
  if ((ready & kFdWrite) != 0 && write_in_flight_) {
    OnWritable();
    if (closed_) return;
  }
  if ((ready & kFdRead) != 0 && reading_) OnReadable();
}

void TcpConnection::FinishConnect() {
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
    error = errno;
  }
  connecting_ = false;
  UpdateInterest();
  if (callbacks_ == nullptr) return;
  if (error != 0) {
    callbacks_->OnError(error);
    return;
  }
  FetchAddresses();
  callbacks_->OnConnected();
  // Bytes (or a shutdown) queued while connecting go out now.
  if (!closed_) Flush();
}

void TcpConnection::ReadStart() {
  if (reading_ || closed_) return;
  reading_ = true;
  UpdateInterest();
}

void TcpConnection::ReadStop() {
  if (!reading_) return;
  reading_ = false;
  UpdateInterest();
}

void TcpConnection::OnReadable() {
  for (int reads = 0; reads < kMaxReadsPerCallback; ++reads) {
    const ssize_t nread =
        recv(fd_, read_buffer_.get(), options_.read_buffer_bytes, 0);
    if (nread > 0) {
      if (options_.rx_bytes != nullptr) {
        options_.rx_bytes->Inc(static_cast<uint64_t>(nread));
      }
      if (callbacks_ != nullptr) {
        callbacks_->OnRead(read_buffer_.get(), static_cast<size_t>(nread));
      }
      // The owner may have stopped reading or closed; a short read means
      // the kernel buffer is empty.
      if (closed_ || !reading_ ||
          static_cast<size_t>(nread) < options_.read_buffer_bytes) {
        return;
      }
      continue;
    }
    if (nread < 0 && errno == EINTR) continue;
    if (nread < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    const bool eof = nread == 0;
    const int error = eof ? 0 : errno;
    ReadStop();
    if (callbacks_ == nullptr) {
      if (!lingering_) return;
      // A peer that half-closed still reads: while our bytes drain (bounded
      // by the flush timeout) its FIN only means no shutdown wait is needed.
      // Past our shutdown, or on a reset, it has seen all it will see.
      const bool draining = eof && !shutdown_started_ &&
                            (write_in_flight_ || queued_bytes() > 0);
      if (draining) {
        peer_done_ = true;
      } else {
        Close();
      }
      return;
    }
    if (eof) {
      callbacks_->OnReadEof();
    } else {
      callbacks_->OnError(error);
    }
    return;
  }
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

void TcpConnection::RunDeferred() {
  if (closed_) {
    delete this;
    return;
  }
  Flush();
}

void TcpConnection::Flush() {
  if (closed_ || connecting_ || write_in_flight_) return;
  if (pending_.empty()) {
    if (shutdown_wanted_) StartShutdown();
    return;
  }
  ssize_t written = SendSome(fd_, pending_.data(), pending_.size());
  if (written == -EAGAIN) {
    written = 0;
  } else if (written < 0) {
    Fail(static_cast<int>(-written));
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
  write_in_flight_ = true;
  UpdateInterest();
}

void TcpConnection::OnWritable() {
  const ssize_t written = SendSome(fd_, inflight_.data() + inflight_offset_,
                                   inflight_.size() - inflight_offset_);
  if (written == -EAGAIN) return;
  if (written < 0) {
    Fail(static_cast<int>(-written));
    return;
  }
  if (options_.tx_bytes != nullptr) {
    options_.tx_bytes->Inc(static_cast<uint64_t>(written));
  }
  // Progress restarts a lingering connection's flush timeout.
  if (lingering_ && written > 0) ArmTimer(flush_timeout_ms_);
  inflight_offset_ += static_cast<size_t>(written);
  if (inflight_offset_ < inflight_.size()) return;
  inflight_.clear();
  inflight_offset_ = 0;
  write_in_flight_ = false;
  UpdateInterest();
  if (!pending_.empty()) {
    Flush();
    return;
  }
  AfterWrite();
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
  if (queued_bytes() == 0 && !write_in_flight_ && !connecting_) {
    StartShutdown();
  }
}

void TcpConnection::StartShutdown() {
  if (shutdown_started_ || closed_) return;
  if (lingering_ && peer_done_ && !HasUnreadInput()) {
    // Everything is written, the peer will send nothing more and nothing it
    // sent is unread: closing now delivers the queued bytes and then a FIN,
    // as the shutdown would, and no reset can overtake them (a reset comes
    // from input unread or arriving after the close). Saves the shutdown
    // and reading the peer's FIN: with keep-alive off, a third of the
    // syscalls of each connection.
    Close();
    return;
  }
  shutdown_started_ = true;
  const bool shut = shutdown(fd_, SHUT_WR) == 0;
  if (!lingering_) return;
  if (!shut) {
    Close();
    return;
  }
  ArmTimer(linger_ms_);
  ReadStart();
}

bool TcpConnection::HasUnreadInput() const {
  int unread = 0;
  if (ioctl(fd_, FIONREAD, &unread) != 0) {
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
  if (shutdown_started_) {
    // The owner half-closed already: only the linger is left.
    ArmTimer(linger_ms_);
    return;
  }
  ArmTimer(flush_timeout_ms_);
  shutdown_wanted_ = true;
  context_->CancelDeferred(this);
  Flush();
}

void TcpConnection::Fail(int error) {
  if (callbacks_ != nullptr) {
    callbacks_->OnError(error);
  } else {
    Close();
  }
}

void TcpConnection::ArmTimer(uint64_t milliseconds) {
  if (closed_) return;
  timer_->Arm(std::chrono::milliseconds(milliseconds));
}

void TcpConnection::DisarmTimer() {
  if (closed_) return;
  timer_->Disarm();
}

void TcpConnection::OnTimerFired() {
  if (lingering_) {
    Close();
  } else if (callbacks_ != nullptr) {
    callbacks_->OnTimer();
  }
}

void TcpConnection::Close() {
  if (closed_) return;
  ReleaseSocket();
  // Deleted once no callback of ours can be on the stack.
  context_->CancelDeferred(this);
  context_->Defer(this);
}

void TcpConnection::ReleaseSocket() {
  closed_ = true;
  callbacks_ = nullptr;
  reading_ = false;
  write_in_flight_ = false;
  pending_.clear();
  inflight_.clear();
  inflight_offset_ = 0;
  watch_.reset();
  timer_.reset();
  close(fd_);
  fd_ = -1;
}

}  // namespace homing::internal
