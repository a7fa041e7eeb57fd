#include "http/header_collector.h"

#include <vector>

#include "common/string_util.h"

namespace homing::internal {
namespace {

// ": " and "\r\n" around each header on the wire.
constexpr size_t kHeaderOverhead = 4;

std::string_view TrimWhitespace(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace

HeaderCollector::HeaderCollector(size_t max_bytes, uint32_t max_count)
    : max_bytes_(max_bytes), max_count_(max_count) {
  buffer_.reserve(1024);
  entries_.reserve(16);
  views_.reserve(16);
}

void HeaderCollector::Reset() {
  buffer_.clear();
  entries_.clear();
  views_.clear();
  target_offset_ = 0;
  target_length_ = 0;
  target_ = {};
  counted_bytes_ = 0;
  last_ = Last::kNone;
}

bool HeaderCollector::Append(const char* data, size_t length) {
  counted_bytes_ += length;
  if (counted_bytes_ > max_bytes_) return false;
  buffer_.append(data, length);
  return true;
}

bool HeaderCollector::AddTarget(const char* data, size_t length) {
  if (last_ != Last::kTarget) {
    target_offset_ = static_cast<uint32_t>(buffer_.size());
    last_ = Last::kTarget;
  }
  if (!Append(data, length)) return false;
  target_length_ += static_cast<uint32_t>(length);
  return true;
}

bool HeaderCollector::AddName(const char* data, size_t length) {
  if (last_ != Last::kName) {
    if (entries_.size() >= max_count_) return false;
    counted_bytes_ += kHeaderOverhead;
    Entry entry;
    entry.name_offset = static_cast<uint32_t>(buffer_.size());
    entries_.push_back(entry);
    last_ = Last::kName;
  }
  if (!Append(data, length)) return false;
  entries_.back().name_length += static_cast<uint32_t>(length);
  return true;
}

bool HeaderCollector::AddValue(const char* data, size_t length) {
  if (entries_.empty()) return true;  // llhttp never does this
  Entry& entry = entries_.back();
  if (last_ != Last::kValue) {
    entry.value_offset = static_cast<uint32_t>(buffer_.size());
    last_ = Last::kValue;
  }
  if (!Append(data, length)) return false;
  entry.value_length += static_cast<uint32_t>(length);
  return true;
}

void HeaderCollector::Finish() {
  const char* base = buffer_.data();
  target_ = std::string_view(base + target_offset_, target_length_);
  views_.clear();
  for (const Entry& entry : entries_) {
    views_.push_back(HttpHeader{
        std::string_view(base + entry.name_offset, entry.name_length),
        TrimWhitespace(
            std::string_view(base + entry.value_offset, entry.value_length))});
  }
}

std::string_view HeaderCollector::Find(std::string_view name) const {
  for (const HttpHeader& header : views_) {
    if (EqualsIgnoreCase(header.name, name)) return header.value;
  }
  return {};
}

size_t HeaderCollector::Count(std::string_view name) const {
  size_t count = 0;
  for (const HttpHeader& header : views_) {
    if (EqualsIgnoreCase(header.name, name)) ++count;
  }
  return count;
}

void HeaderCollector::Remove(std::string_view name) {
  std::erase_if(views_, [name](const HttpHeader& header) {
    return EqualsIgnoreCase(header.name, name);
  });
}

}  // namespace homing::internal
