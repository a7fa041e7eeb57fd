#include "http/listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace homing::internal {
namespace {

absl::Status SystemError(const SocketAddress& address, const char* what,
                         int error) {
  return absl::UnavailableError(absl::StrCat("cannot listen on ",
                                             address.ToString(), ": ", what,
                                             ": ", std::strerror(error)));
}

void DeleteHandle(uv_handle_t* handle) {
  delete reinterpret_cast<uv_tcp_t*>(handle);
}

}  // namespace

absl::StatusOr<uv_tcp_t*> OpenListener(uv_loop_t* loop,
                                       const SocketAddress& address,
                                       bool reuse_port, int backlog,
                                       uv_connection_cb on_connection,
                                       void* data, SocketAddress* bound) {
  if (!address.valid()) {
    return absl::InvalidArgumentError("listen address is not set");
  }
  // Everything that can fail for a user-visible reason happens on the raw
  // descriptor, before libuv owns it.
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

  auto* handle = new uv_tcp_t;
  if (const int rc = uv_tcp_init(loop, handle); rc != 0) {
    delete handle;
    close(fd);
    return SystemError(address, "uv_tcp_init", -rc);
  }
  handle->data = data;
  int rc = uv_tcp_open(handle, fd);
  if (rc != 0) {
    close(fd);
  } else {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(handle), backlog,
                   on_connection);
  }
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(handle), &DeleteHandle);
    return SystemError(address, "uv_listen", -rc);
  }
  sockaddr_storage storage{};
  int length = sizeof(storage);
  uv_tcp_getsockname(handle, reinterpret_cast<sockaddr*>(&storage), &length);
  if (auto actual =
          SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage))) {
    *bound = *actual;
  } else {
    *bound = address;
  }
  return handle;
}

void CloseListener(uv_tcp_t* handle) {
  uv_close(reinterpret_cast<uv_handle_t*>(handle), &DeleteHandle);
}

}  // namespace homing::internal
