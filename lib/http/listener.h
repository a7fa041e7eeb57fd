// File: lib/http/listener.h
//
// A listening TCP socket made by hand so that SO_REUSEPORT can be set before
// bind() (libuv 1.44 has no flag for it), then handed to libuv with
// uv_tcp_open(). With SO_REUSEPORT several loops, each with its own listener
// on the same address, share the accepted connections (the kernel balances
// them).
//
// Thread safety: loop thread only.

#ifndef HOMING_LIB_HTTP_LISTENER_H_
#define HOMING_LIB_HTTP_LISTENER_H_

#include <uv.h>

#include "absl/status/statusor.h"
#include "homing/address.h"

namespace homing::internal {

// OpenListener()
//
// Creates a handle on `loop` bound to `address` (SO_REUSEADDR, plus
// SO_REUSEPORT when `reuse_port`) and listening with `backlog`; libuv calls
// `on_connection` for each pending connection, with `data` in the handle's
// `data`. `*bound` is the bound address (the chosen port when `address` had
// port 0). Release the handle with CloseListener().
absl::StatusOr<uv_tcp_t*> OpenListener(uv_loop_t* loop,
                                       const SocketAddress& address,
                                       bool reuse_port, int backlog,
                                       uv_connection_cb on_connection,
                                       void* data, SocketAddress* bound);

// CloseListener()
//
// Closes the socket; the handle is freed once libuv is done with it.
void CloseListener(uv_tcp_t* handle);

}  // namespace homing::internal

#endif  // HOMING_LIB_HTTP_LISTENER_H_
