#include "homing/request.h"

#include "common/string_util.h"

namespace homing {

std::optional<std::string_view> RequestView::FindHeader(
    std::string_view name) const {
  for (const RequestHeader& header : headers) {
    if (internal::EqualsIgnoreCase(header.name, name)) return header.value;
  }
  return std::nullopt;
}

}  // namespace homing
