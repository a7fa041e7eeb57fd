// File: lib/proxy/access_log_buffer.h
//
// A worker's access log lines, collected during a loop iteration and handed
// to the shared AccessLog in one write at its end (a uv_check handle), or
// earlier when they pass kFlushBytes. One write per iteration instead of one
// per line: under load a loop iteration serves many requests.

#ifndef HOMING_LIB_PROXY_ACCESS_LOG_BUFFER_H_
#define HOMING_LIB_PROXY_ACCESS_LOG_BUFFER_H_

#include <uv.h>

#include <string>

#include "homing/proxy.h"

namespace homing::proxy_internal {

class AccessLogBuffer {
 public:
  static constexpr size_t kFlushBytes = 64 * 1024;

  // `sink` may be null (no access log: Add() does nothing).
  AccessLogBuffer(uv_loop_t* loop, AccessLog* sink);
  // Flushes; the check handle finishes closing the next time the loop runs.
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
  uv_check_t* check_ = nullptr;  // freed by its close callback
  std::string buffer_;
};

}  // namespace homing::proxy_internal

#endif  // HOMING_LIB_PROXY_ACCESS_LOG_BUFFER_H_
