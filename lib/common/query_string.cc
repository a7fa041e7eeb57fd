#include "homing/query_string.h"

namespace homing {

std::string PercentDecode(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  PercentDecodeEach(raw, [&out](char c) {
    out.push_back(c);
    return true;
  });
  return out;
}

bool PercentDecodedEquals(std::string_view raw, std::string_view decoded) {
  size_t position = 0;
  bool all_matched = PercentDecodeEach(raw, [&](char c) {
    if (position >= decoded.size() || decoded[position] != c) return false;
    ++position;
    return true;
  });
  return all_matched && position == decoded.size();
}

bool FindQueryParameter(std::string_view query, std::string_view name,
                        std::string_view* raw_value) {
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view pair = query.substr(start, end - start);
    size_t equals = pair.find('=');
    std::string_view key = pair.substr(0, equals);
    if (!pair.empty() && PercentDecodedEquals(key, name)) {
      *raw_value = equals == std::string_view::npos ? std::string_view()
                                                    : pair.substr(equals + 1);
      return true;
    }
    start = end + 1;
  }
  return false;
}

std::string PercentEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size() * 3);
  for (unsigned char c : value) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                      c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

}  // namespace homing
