// File: lib/http/header_collector.h
//
// Collects a message head from llhttp's span callbacks. llhttp hands out the
// request target, header names and values in pieces (one header can straddle
// two reads), pointing into a read buffer that the next read overwrites, so
// the pieces are copied into one buffer owned by the collector, which keeps
// its capacity from message to message. `Finish()` then builds the
// `HttpHeader` views, with surrounding whitespace trimmed from values.
//
// Limits: the target plus every "name: value\r\n" may take at most
// `max_bytes`, and there may be at most `max_count` headers.
//
// Thread safety: none; one collector per connection.

#ifndef HOMING_LIB_HTTP_HEADER_COLLECTOR_H_
#define HOMING_LIB_HTTP_HEADER_COLLECTOR_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "homing/http_message.h"

namespace homing::internal {

class HeaderCollector {
 public:
  HeaderCollector(size_t max_bytes, uint32_t max_count);

  // Forgets the previous head (keeping the buffers' capacity).
  void Reset();

  // Each returns false when a limit is exceeded; the head is then unusable.
  bool AddTarget(const char* data, size_t length);
  bool AddName(const char* data, size_t length);
  bool AddValue(const char* data, size_t length);

  // Builds the views; call once the head is complete.
  void Finish();

  std::string_view target() const { return target_; }
  std::span<const HttpHeader> headers() const { return views_; }

  // The first value of `name` (case-insensitive) or an empty view; valid
  // after Finish().
  std::string_view Find(std::string_view name) const;

  // How many headers are named `name` (case-insensitive); after Finish().
  size_t Count(std::string_view name) const;

  // Drops every header named `name` from headers(); after Finish().
  void Remove(std::string_view name);

 private:
  struct Entry {
    uint32_t name_offset = 0;
    uint32_t name_length = 0;
    uint32_t value_offset = 0;
    uint32_t value_length = 0;
  };
  enum class Last { kNone, kTarget, kName, kValue };

  bool Append(const char* data, size_t length);

  const size_t max_bytes_;
  const uint32_t max_count_;
  std::string buffer_;
  std::vector<Entry> entries_;
  std::vector<HttpHeader> views_;
  uint32_t target_offset_ = 0;
  uint32_t target_length_ = 0;
  std::string_view target_;
  size_t counted_bytes_ = 0;
  Last last_ = Last::kNone;
};

}  // namespace homing::internal

#endif  // HOMING_LIB_HTTP_HEADER_COLLECTOR_H_
