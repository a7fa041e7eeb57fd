// File: lib/http/wire.h
//
// HTTP/1.1 serialization helpers shared by the server and client codecs:
// status lines, header lines, chunk framing, numbers. Everything appends to a
// caller's buffer; nothing allocates beyond that buffer's growth.
//
// Thread safety: pure functions.

#ifndef HOMING_LIB_HTTP_WIRE_H_
#define HOMING_LIB_HTTP_WIRE_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "homing/clock.h"

namespace homing::internal {

void AppendDecimal(std::string* out, uint64_t value);

// "HTTP/1.1 421 Misdirected Request\r\n"
void AppendStatusLine(std::string* out, int status);

// "name: value\r\n"
inline void AppendHeader(std::string* out, std::string_view name,
                         std::string_view value) {
  out->append(name);
  out->append(": ", 2);
  out->append(value);
  out->append("\r\n", 2);
}

// A chunk of `length` bytes: "<hex>\r\n" (the data and "\r\n" follow).
void AppendChunkHeader(std::string* out, uint64_t length);

// `true` when a header name or value given by code (not parsed by llhttp)
// would break the message framing: CR, LF or NUL.
inline bool HasUnsafeHeaderBytes(std::string_view text) {
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

// A Content-Length value: digits only, no overflow; nullopt otherwise.
std::optional<uint64_t> ParseContentLength(std::string_view value);

// Milliseconds for a connection timer: 0 stays 0 (disabled), anything shorter
// than a millisecond becomes 1.
inline uint64_t TimerMilliseconds(Duration duration) {
  if (duration <= Duration::zero()) return 0;
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
  return ms <= 0 ? 1 : static_cast<uint64_t>(ms);
}

}  // namespace homing::internal

#endif  // HOMING_LIB_HTTP_WIRE_H_
