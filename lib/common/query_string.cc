#include "homing/query_string.h"

namespace homing {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Walks `raw` decoding one character at a time; calls `emit(char)` until it
// returns false. Returns false when stopped early.
template <typename Emit>
bool ForEachDecoded(std::string_view raw, Emit emit) {
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%' && i + 2 < raw.size()) {
      int high = HexValue(raw[i + 1]);
      int low = HexValue(raw[i + 2]);
      if (high >= 0 && low >= 0) {
        c = static_cast<char>(high * 16 + low);
        i += 2;
      }
    }
    if (!emit(c)) return false;
  }
  return true;
}

}  // namespace

std::string PercentDecode(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  ForEachDecoded(raw, [&out](char c) {
    out.push_back(c);
    return true;
  });
  return out;
}

bool PercentDecodedEquals(std::string_view raw, std::string_view decoded) {
  size_t position = 0;
  bool all_matched = ForEachDecoded(raw, [&](char c) {
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
