// File: lib/proxy/worker_core.h
//
// WorkerCore: what a worker's request handlers share: the current engine,
// the access log buffer, and a way to drop an engine outside of its own
// callbacks.
//
// Thread safety: belongs to the worker's loop thread.

#ifndef HOMING_LIB_PROXY_WORKER_CORE_H_
#define HOMING_LIB_PROXY_WORKER_CORE_H_

#include <memory>
#include <utility>

#include "homing/dispatcher.h"
#include "proxy/access_log_buffer.h"
#include "proxy/engine.h"

namespace homing::proxy_internal {

struct WorkerCore {
  WorkerCore(Dispatcher& loop_dispatcher, AccessLog* sink)
      : dispatcher(loop_dispatcher), access_log(loop_dispatcher, sink) {}

  // WorkerCore::Retire()
  //
  // Drops a reference to an engine in a task of its own, so that the last
  // reference never goes while one of the engine's callbacks is running.
  void Retire(std::shared_ptr<Engine> old) {
    if (old == nullptr) return;
    dispatcher.Post([old = std::move(old)]() mutable { old.reset(); });
  }

  Dispatcher& dispatcher;
  std::shared_ptr<Engine> engine;  // serves new requests
  AccessLogBuffer access_log;
};

}  // namespace homing::proxy_internal

#endif  // HOMING_LIB_PROXY_WORKER_CORE_H_
