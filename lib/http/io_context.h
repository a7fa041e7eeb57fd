// File: lib/http/io_context.h
//
// The per-owner (one per HttpServer, one per UpstreamPools) helper that gives
// connections two things libuv lacks:
//  - deferred work: `Defer()` runs an object's `RunDeferred()` at the end of
//    the current loop iteration (libuv check phase) or, for work queued from
//    timers, before the loop next blocks (prepare phase). Connections use it
//    to coalesce every write of an iteration into one system call, to resume
//    parsing outside a handler's call stack, and to delete themselves
//    safely.
//  - a registry of live TCP connections, so that destroying the owner closes
//    every socket, lingering ones included.
//
// Thread safety: loop thread only.

#ifndef HOMING_LIB_HTTP_IO_CONTEXT_H_
#define HOMING_LIB_HTTP_IO_CONTEXT_H_

#include <uv.h>

#include <vector>

namespace homing::internal {

class TcpConnection;

// Deferred
//
// Something that runs once at the end of the loop iteration it was deferred
// in. Deferring an already scheduled object does nothing.
class Deferred {
 public:
  virtual void RunDeferred() = 0;

 protected:
  ~Deferred() = default;

 private:
  friend class IoContext;
  bool deferred_scheduled_ = false;
};

class IoContext {
 public:
  explicit IoContext(uv_loop_t* loop);
  // Closes every registered connection (without callbacks).
  ~IoContext();

  IoContext(const IoContext&) = delete;
  IoContext& operator=(const IoContext&) = delete;

  uv_loop_t* loop() const { return loop_; }

  void Defer(Deferred* deferred);
  // Removes a scheduled object; call before destroying one.
  void CancelDeferred(Deferred* deferred);

  // Live connections (TcpConnection registers itself).
  void Register(TcpConnection* connection);
  void Unregister(TcpConnection* connection);

 private:
  struct Handles;
  static void OnPrepare(uv_prepare_t* handle);
  static void OnCheck(uv_check_t* handle);
  void RunAll();

  uv_loop_t* loop_;
  Handles* handles_;
  std::vector<Deferred*> queue_;
  std::vector<Deferred*> running_;
  TcpConnection* connections_ = nullptr;  // intrusive list head
};

}  // namespace homing::internal

#endif  // HOMING_LIB_HTTP_IO_CONTEXT_H_
