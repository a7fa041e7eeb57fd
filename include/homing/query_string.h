// File: homing/query_string.h
//
// Query-string parsing as routing needs it: find the first value of a
// parameter, percent-decode it (`%41` → 'A', '+' → ' '), and compare a raw
// value with a decoded string without allocating. A malformed escape (`%4`,
// `%zz`) is kept literally, as browsers and Envoy do.
//
// Example:
//
//   std::string_view raw;
//   if (homing::FindQueryParameter("a=1&client_id=x%20y&a=2", "client_id", &raw)) {
//     std::string key = homing::PercentDecode(raw);  // "x y"
//   }
//
// Thread safety: pure functions.

#ifndef HOMING_QUERY_STRING_H_
#define HOMING_QUERY_STRING_H_

#include <string>
#include <string_view>

namespace homing {

// FindQueryParameter()
//
// Looks for the first `name=value` (or bare `name`) pair in `query` (the text
// after '?', without '#'), comparing names after percent-decoding. Sets
// `*raw_value` to the still-encoded value (empty for a bare name) and returns
// `true` when found.
bool FindQueryParameter(std::string_view query, std::string_view name,
                        std::string_view* raw_value);

// PercentDecodeEach()
//
// Calls `emit(char)` with each decoded character of `raw` in order, stopping
// early when it returns `false`; returns `false` when stopped. This is the one
// statement of the decoding rules: the functions below are built on it, and
// it lets a caller decode into a buffer of its own without allocating.
template <typename Emit>
bool PercentDecodeEach(std::string_view raw, Emit&& emit);

// PercentDecode()
//
// Decodes `%XX` escapes and '+' (as a space). Malformed escapes stay as is.
std::string PercentDecode(std::string_view raw);

// PercentDecodedEquals()
//
// Returns `PercentDecode(raw) == decoded` without allocating.
bool PercentDecodedEquals(std::string_view raw, std::string_view decoded);

// PercentEncode()
//
// Encodes every byte outside RFC 3986's unreserved set (ALPHA DIGIT - . _ ~)
// as %XX, for putting an arbitrary key into a query string.
std::string PercentEncode(std::string_view value);

namespace query_string_internal {
constexpr int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace query_string_internal

template <typename Emit>
bool PercentDecodeEach(std::string_view raw, Emit&& emit) {
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%' && i + 2 < raw.size()) {
      int high = query_string_internal::HexValue(raw[i + 1]);
      int low = query_string_internal::HexValue(raw[i + 2]);
      if (high >= 0 && low >= 0) {
        c = static_cast<char>(high * 16 + low);
        i += 2;
      }
    }
    if (!emit(c)) return false;
  }
  return true;
}

}  // namespace homing

#endif  // HOMING_QUERY_STRING_H_
