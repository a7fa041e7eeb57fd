#include "http/wire.h"

#include "homing/http_message.h"

namespace homing::internal {

void AppendDecimal(std::string* out, uint64_t value) {
  char digits[20];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (n > 0) out->push_back(digits[--n]);
}

void AppendStatusLine(std::string* out, int status) {
  if (status < 100 || status > 999) status = 500;
  out->append("HTTP/1.1 ", 9);
  out->push_back(static_cast<char>('0' + status / 100));
  out->push_back(static_cast<char>('0' + status / 10 % 10));
  out->push_back(static_cast<char>('0' + status % 10));
  out->push_back(' ');
  out->append(StatusReasonPhrase(status));
  out->append("\r\n", 2);
}

void AppendChunkHeader(std::string* out, uint64_t length) {
  static constexpr char kHex[] = "0123456789abcdef";
  char digits[16];
  int n = 0;
  do {
    digits[n++] = kHex[length & 0xF];
    length >>= 4;
  } while (length != 0);
  while (n > 0) out->push_back(digits[--n]);
  out->append("\r\n", 2);
}

std::optional<uint64_t> ParseContentLength(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
    value.remove_suffix(1);
  }
  if (value.empty() || value.size() > 19) return std::nullopt;
  uint64_t result = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    result = result * 10 + static_cast<uint64_t>(c - '0');
  }
  return result;
}

}  // namespace homing::internal
