// File: lib/common/string_util.h
//
// Debian's Abseil is built with ABSL_OPTION_USE_STD_STRING_VIEW=0, so
// `absl::string_view` is a distinct type from `std::string_view`. The public
// API speaks `std::string_view`; this is the one place that converts at the
// Abseil boundary.

#ifndef HOMING_LIB_COMMON_STRING_UTIL_H_
#define HOMING_LIB_COMMON_STRING_UTIL_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace homing::internal {

inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

inline std::string_view FromAbsl(absl::string_view s) {
  return std::string_view(s.data(), s.size());
}

inline constexpr char AsciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Case-insensitive ASCII comparison, allocation-free.
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

}  // namespace homing::internal

#endif  // HOMING_LIB_COMMON_STRING_UTIL_H_
