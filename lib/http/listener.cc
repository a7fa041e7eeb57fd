#include "http/listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace homing::internal {
namespace {

// Connections accepted per readiness callback at most, so a burst of
// connections does not keep the loop from serving the ones it has.
constexpr int kMaxAcceptsPerCallback = 64;

// How long accepting pauses when the process or system is out of
// descriptors (or memory); the pending connections wait in the backlog.
constexpr std::chrono::milliseconds kResourcePause(100);

absl::Status SystemError(const SocketAddress& address, const char* what,
                         int error) {
  return absl::UnavailableError(absl::StrCat("cannot listen on ",
                                             address.ToString(), ": ", what,
                                             ": ", std::strerror(error)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Listener>> Listener::Open(
    Dispatcher& dispatcher, const SocketAddress& address, bool reuse_port,
    int backlog, AcceptCallback on_accept) {
  if (!address.valid()) {
    return absl::InvalidArgumentError("listen address is not set");
  }
  const int fd =
      socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return SystemError(address, "socket", errno);
  auto fail = [&](const char* what) {
    const int error = errno;
    close(fd);
    return SystemError(address, what, error);
  };
  const int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
    return fail("SO_REUSEADDR");
  }
  if (reuse_port &&
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    return fail("SO_REUSEPORT");
  }
  if (bind(fd, address.sockaddr_ptr(), address.sockaddr_len()) != 0) {
    return fail("bind");
  }
  if (listen(fd, backlog) != 0) return fail("listen");
  SocketAddress local = address;
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) == 0) {
    if (auto actual =
            SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage))) {
      local = *actual;
    }
  }
  return std::unique_ptr<Listener>(
      new Listener(dispatcher, fd, local, std::move(on_accept)));
}

Listener::Listener(Dispatcher& dispatcher, int fd, SocketAddress local,
                   AcceptCallback on_accept)
    : fd_(fd), local_(local), on_accept_(std::move(on_accept)) {
  watch_ = dispatcher.WatchFd(fd_, kFdRead,
                              [this](uint32_t) { AcceptPending(); });
  resume_timer_ =
      dispatcher.CreateTimer([this] { watch_->SetEvents(kFdRead); });
}

Listener::~Listener() {
  if (destroyed_ != nullptr) *destroyed_ = true;
  resume_timer_.reset();
  watch_.reset();
  close(fd_);
}

void Listener::AcceptPending() {
  bool destroyed = false;
  destroyed_ = &destroyed;
  for (int i = 0; i < kMaxAcceptsPerCallback; ++i) {
    const int fd = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      // ECONNABORTED: that client gave up already; the next may be there.
      if (error == EINTR || error == ECONNABORTED) continue;
      if (error == EAGAIN || error == EWOULDBLOCK) break;
      HOMING_LOG(kWarn, "http server: accept failed: ", std::strerror(error));
      if (error == EMFILE || error == ENFILE || error == ENOBUFS ||
          error == ENOMEM) {
        watch_->SetEvents(0);
        resume_timer_->Arm(kResourcePause);
      }
      break;
    }
    on_accept_(fd);
    if (destroyed) return;
  }
  destroyed_ = nullptr;
}

}  // namespace homing::internal
