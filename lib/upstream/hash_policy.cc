// ComputeRequestHash(): Envoy's RouteAction.HashPolicy for headers and query
// parameters (source/common/router/config_impl.cc, HashPolicyImpl).

#include "homing/upstream.h"

#define XXH_STATIC_LINKING_ONLY  // XXH64_state_t on the stack: no allocation
#include <xxhash.h>

#include <optional>

#include "homing/placement.h"
#include "homing/query_string.h"

namespace homing {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// KeyHash(PercentDecode(raw)), streaming the decoded bytes through a small
// buffer instead of building the decoded string.
uint64_t DecodedKeyHash(std::string_view raw) {
  if (raw.find_first_of("%+") == std::string_view::npos) return KeyHash(raw);
  XXH64_state_t state;
  XXH64_reset(&state, 0);
  char buffer[64];
  size_t used = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%' && i + 2 < raw.size() && HexValue(raw[i + 1]) >= 0 &&
               HexValue(raw[i + 2]) >= 0) {
      c = static_cast<char>(HexValue(raw[i + 1]) * 16 + HexValue(raw[i + 2]));
      i += 2;
    }
    buffer[used++] = c;
    if (used == sizeof(buffer)) {
      XXH64_update(&state, buffer, used);
      used = 0;
    }
  }
  XXH64_update(&state, buffer, used);
  return XXH64_digest(&state);
}

std::optional<uint64_t> EvaluatePolicy(const HashPolicySpec& policy,
                                       const RequestView& request) {
  switch (policy.kind) {
    case HashPolicySpec::Kind::kHeader: {
      std::optional<std::string_view> value = request.FindHeader(policy.name);
      if (!value.has_value()) return std::nullopt;
      return KeyHash(*value);
    }
    case HashPolicySpec::Kind::kQueryParameter: {
      std::string_view raw;
      if (!FindQueryParameter(request.Query(), policy.name, &raw)) {
        return std::nullopt;
      }
      return DecodedKeyHash(raw);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<uint64_t> ComputeRequestHash(
    std::span<const HashPolicySpec> policies, const RequestView& request) {
  std::optional<uint64_t> hash;
  for (const HashPolicySpec& policy : policies) {
    std::optional<uint64_t> value = EvaluatePolicy(policy, request);
    if (value.has_value()) {
      // Rotating keeps two identical policies from cancelling out.
      const uint64_t previous = hash.has_value() ? (*hash << 1) | (*hash >> 63) : 0;
      hash = previous ^ *value;
    }
    if (policy.terminal && hash.has_value()) break;
  }
  return hash;
}

}  // namespace homing
