// File: lib/proxy/access_log_buffer.h
//
// A worker's access log lines, collected during a batch of dispatcher
// callbacks and handed to the shared AccessLog in one write after it (a
// zero-delay timer, which runs before the loop waits again), or earlier when
// they pass kFlushBytes. One write per batch instead of one per line: under
// load one turn of the loop serves many requests.

#ifndef HOMING_LIB_PROXY_ACCESS_LOG_BUFFER_H_
#define HOMING_LIB_PROXY_ACCESS_LOG_BUFFER_H_

#include <memory>
#include <string>

#include "homing/dispatcher.h"
#include "homing/proxy.h"

namespace homing::proxy_internal {

class AccessLogBuffer {
 public:
  static constexpr size_t kFlushBytes = 64 * 1024;

  // `sink` may be null (no access log: Add() does nothing).
  AccessLogBuffer(Dispatcher& dispatcher, AccessLog* sink);
  // Flushes.
  ~AccessLogBuffer();
  AccessLogBuffer(const AccessLogBuffer&) = delete;
  AccessLogBuffer& operator=(const AccessLogBuffer&) = delete;

  bool enabled() const { return sink_ != nullptr; }

  // AccessLogBuffer::Add()
  //
  // Formats the line into the reused buffer.
  void Add(const AccessLogRecord& record);

  void Flush();

 private:
  AccessLog* sink_;
  std::unique_ptr<Timer> flush_timer_;  // armed while buffer_ has lines
  std::string buffer_;
};

}  // namespace homing::proxy_internal

#endif  // HOMING_LIB_PROXY_ACCESS_LOG_BUFFER_H_
