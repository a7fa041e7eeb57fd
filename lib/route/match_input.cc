#include "route/match_input.h"

#include <algorithm>
#include <cstring>

#include "common/string_util.h"
#include "homing/query_string.h"

namespace homing::route_internal {
namespace {

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
  PercentDecodeEach(raw, [&scratch](char c) {
    scratch.Append(c);
    return true;
  });
  return scratch.view();
}

}  // namespace homing::route_internal
