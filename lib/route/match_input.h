// File: lib/route/match_input.h
//
// The request values route matchers look at, extracted without allocating:
// a header as Envoy sees it (several occurrences joined with ','), and the
// first value of a query parameter, percent-decoded. Values that have to be
// assembled (a repeated header, a value with escapes) are built in an
// `AssembledValue` the caller keeps on its stack.
//
// Example:
//
//   AssembledValue scratch;
//   std::optional<std::string_view> value =
//       FindQueryValue(request.Query(), "client_id", scratch);
//
// Thread safety: pure functions; an `AssembledValue` belongs to one call.

#ifndef HOMING_LIB_ROUTE_MATCH_INPUT_H_
#define HOMING_LIB_ROUTE_MATCH_INPUT_H_

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "homing/request.h"

namespace homing::route_internal {

// AssembledValue
//
// A string built piece by piece at match time. Up to `kInlineCapacity` bytes
// live inside the object; only a longer value spills to the heap, so
// realistic requests are matched without allocating.
class AssembledValue {
 public:
  static constexpr size_t kInlineCapacity = 1024;

  AssembledValue() = default;
  AssembledValue(const AssembledValue&) = delete;
  AssembledValue& operator=(const AssembledValue&) = delete;

  void Append(std::string_view piece);
  void Append(char c) { Append(std::string_view(&c, 1)); }

  // AssembledValue::view()
  //
  // Valid until the next Append() or the object's end.
  std::string_view view() const {
    return spilled_ ? std::string_view(spill_)
                    : std::string_view(inline_.data(), size_);
  }

 private:
  std::array<char, kInlineCapacity> inline_;  // deliberately uninitialised
  size_t size_ = 0;
  bool spilled_ = false;
  std::string spill_;
};

// FindHeaderValue()
//
// The value of header `name` (case-insensitive): the only occurrence as is,
// several occurrences joined with ',' in `scratch` (Envoy's
// getAllOfHeaderAsString), nullopt when absent. The pseudo-headers
// ":method", ":authority" and ":path" read the request's own fields (absent
// when empty).
std::optional<std::string_view> FindHeaderValue(const RequestView& request,
                                                std::string_view name,
                                                AssembledValue& scratch);

// FindQueryValue()
//
// The first value of query parameter `name` in `query`, percent-decoded as
// `homing::PercentDecode()` does (into `scratch` when it has escapes); empty
// for a bare `name`; nullopt when absent.
std::optional<std::string_view> FindQueryValue(std::string_view query,
                                               std::string_view name,
                                               AssembledValue& scratch);

}  // namespace homing::route_internal

#endif  // HOMING_LIB_ROUTE_MATCH_INPUT_H_
