// RetryOn: Envoy's retry condition names, both ways.

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "homing/route.h"

namespace homing {
namespace {

// In the enum's order, which RetryOnNames() keeps.
constexpr std::array<std::pair<RetryOn, std::string_view>, 5> kRetryOnNames = {{
    {RetryOn::k5xx, "5xx"},
    {RetryOn::kGatewayError, "gateway-error"},
    {RetryOn::kConnectFailure, "connect-failure"},
    {RetryOn::kReset, "reset"},
    {RetryOn::kRetriable4xx, "retriable-4xx"},
}};

}  // namespace

std::optional<RetryOn> ParseRetryOn(std::string_view name) {
  for (const auto& [condition, condition_name] : kRetryOnNames) {
    if (name == condition_name) return condition;
  }
  return std::nullopt;
}

std::string RetryOnNames(RetryOn set) {
  std::string names;
  for (const auto& [condition, condition_name] : kRetryOnNames) {
    if (!Includes(set, condition)) continue;
    if (!names.empty()) names += ',';
    names += condition_name;
  }
  return names;
}

}  // namespace homing
