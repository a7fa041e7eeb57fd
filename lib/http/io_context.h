// File: lib/http/io_context.h
//
// The per-owner (one per HttpServer, one per UpstreamPools) helper that gives
// connections what a bare Dispatcher lacks:
//  - deferred work: `Defer()` runs an object's `RunDeferred()` after the
//    callback that deferred it has returned and before the loop next waits
//    for IO (one zero-delay dispatcher timer per batch; see homing/dispatcher.h
//    for why such a timer never blocks). Connections use it to coalesce every
//    write of a callback batch into one system call, to resume parsing
//    outside a handler's call stack, and to delete themselves safely.
//  - one time source for the connections' timeouts and histograms: the
//    dispatcher's `Now()`, so virtual time in tests moves them too.
//  - a registry of live TCP connections, so that destroying the owner closes
//    every socket, lingering ones included.
//
// Thread safety: loop thread only.

#ifndef HOMING_LIB_HTTP_IO_CONTEXT_H_
#define HOMING_LIB_HTTP_IO_CONTEXT_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "homing/dispatcher.h"

namespace homing::internal {

class TcpConnection;

// Deferred
//
// Something that runs once after the callback it was deferred in. Deferring
// an already scheduled object does nothing.
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
  explicit IoContext(Dispatcher& dispatcher);
  // Closes and deletes every registered connection (without callbacks).
  ~IoContext();

  IoContext(const IoContext&) = delete;
  IoContext& operator=(const IoContext&) = delete;

  Dispatcher& dispatcher() const { return dispatcher_; }

  // The dispatcher's clock in milliseconds (timeouts) and microseconds
  // (histograms); only differences mean anything.
  uint64_t NowMs() const;
  uint64_t NowUs() const;

  void Defer(Deferred* deferred);
  // Removes a scheduled object; call before destroying one.
  void CancelDeferred(Deferred* deferred);

  // Connections not yet deleted (TcpConnection registers itself).
  void Register(TcpConnection* connection);
  void Unregister(TcpConnection* connection);

 private:
  void RunAll();

  Dispatcher& dispatcher_;
  std::unique_ptr<Timer> run_timer_;  // armed while queue_ is not empty
  std::vector<Deferred*> queue_;
  std::vector<Deferred*> running_;
  TcpConnection* connections_ = nullptr;  // intrusive list head
};

}  // namespace homing::internal

#endif  // HOMING_LIB_HTTP_IO_CONTEXT_H_
