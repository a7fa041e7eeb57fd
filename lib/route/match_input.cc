#include "route/match_input.h"

#include <algorithm>
#include <cstring>

#include "common/string_util.h"
#include "homing/query_string.h"

namespace homing::route_internal {
namespace {

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The decoding rules of homing::PercentDecode() ('+' is a space, a malformed
// escape stays literal), writing into `out` instead of a new string; the
// tests hold the two to the same results.
void AppendPercentDecoded(std::string_view raw, AssembledValue& out) {
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%' && i + 2 < raw.size()) {
      int high = HexDigitValue(raw[i + 1]);
      int low = HexDigitValue(raw[i + 2]);
      if (high >= 0 && low >= 0) {
        c = static_cast<char>(high * 16 + low);
        i += 2;
      }
    }
    out.Append(c);
  }
}

std::optional<std::string_view> PseudoHeader(const RequestView& request,
                                             std::string_view name) {
  std::string_view value;
  if (internal::EqualsIgnoreCase(name, ":method")) {
    value = request.method;
  } else if (internal::EqualsIgnoreCase(name, ":authority")) {
    value = request.authority;
  } else if (internal::EqualsIgnoreCase(name, ":path")) {
    value = request.path;
  }
  if (value.empty()) return std::nullopt;
  return value;
}

}  // namespace

void AssembledValue::Append(std::string_view piece) {
  if (!spilled_ && size_ + piece.size() <= kInlineCapacity) {
    std::memcpy(inline_.data() + size_, piece.data(), piece.size());
    size_ += piece.size();
    return;
  }
  if (!spilled_) {
    spill_.assign(inline_.data(), size_);
    spilled_ = true;
  }
  spill_.append(piece);
}

std::optional<std::string_view> FindHeaderValue(const RequestView& request,
                                                std::string_view name,
                                                AssembledValue& scratch) {
  if (!name.empty() && name.front() == ':') return PseudoHeader(request, name);
  const auto& headers = request.headers;
  auto is_named = [name](const RequestHeader& header) {
    return internal::EqualsIgnoreCase(header.name, name);
  };
  auto first = std::find_if(headers.begin(), headers.end(), is_named);
  if (first == headers.end()) return std::nullopt;
  auto next = std::find_if(first + 1, headers.end(), is_named);
  if (next == headers.end()) return first->value;
  scratch.Append(first->value);
  for (; next != headers.end();
       next = std::find_if(next + 1, headers.end(), is_named)) {
    scratch.Append(',');
    scratch.Append(next->value);
  }
  return scratch.view();
}

std::optional<std::string_view> FindQueryValue(std::string_view query,
                                               std::string_view name,
                                               AssembledValue& scratch) {
  std::string_view raw;
  if (!FindQueryParameter(query, name, &raw)) return std::nullopt;
  if (raw.find_first_of("%+") == std::string_view::npos) return raw;
  AppendPercentDecoded(raw, scratch);
  return scratch.view();
}

}  // namespace homing::route_internal
