// File: lib/http/listener.h
//
// A listening TCP socket on a Dispatcher: bound with SO_REUSEADDR (and
// SO_REUSEPORT on request, so several loops, each with its own listener on
// the same address, share the accepted connections, balanced by the kernel),
// watched for readability, and accepting non-blocking connections that it
// hands to its owner. When the process runs out of descriptors it pauses
// accepting for a moment instead of spinning on the still-pending
// connection.
//
// Thread safety: loop thread only.

#ifndef HOMING_LIB_HTTP_LISTENER_H_
#define HOMING_LIB_HTTP_LISTENER_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "homing/address.h"
#include "homing/dispatcher.h"

namespace homing::internal {

class Listener {
 public:
  // Receives each accepted descriptor (non-blocking, close-on-exec) and owns
  // it from then on. May destroy the listener.
  using AcceptCallback = std::function<void(int fd)>;

  // Listener::Open()
  //
  // Binds `address` and listens with `backlog`. Errors a user can cause (the
  // address is in use, not local, ...) come back as UnavailableError naming
  // the address.
  static absl::StatusOr<std::unique_ptr<Listener>> Open(
      Dispatcher& dispatcher, const SocketAddress& address, bool reuse_port,
      int backlog, AcceptCallback on_accept);

  // Closes the socket.
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // The bound address (with the chosen port when the address had port 0).
  const SocketAddress& local_address() const { return local_; }

 private:
  Listener(Dispatcher& dispatcher, int fd, SocketAddress local,
           AcceptCallback on_accept);
  void AcceptPending();

  int fd_;
  SocketAddress local_;
  AcceptCallback on_accept_;
  std::unique_ptr<FdWatch> watch_;
  std::unique_ptr<Timer> resume_timer_;  // ends a pause after EMFILE
  // Set by the destructor when it runs inside AcceptPending().
  bool* destroyed_ = nullptr;
};

}  // namespace homing::internal

#endif  // HOMING_LIB_HTTP_LISTENER_H_
