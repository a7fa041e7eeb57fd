#include "homing/upstream.h"

#include "absl/strings/str_cat.h"
#include "common/string_util.h"

namespace homing {

absl::StatusOr<LbPolicy> ParseLbPolicy(std::string_view name) {
  for (LbPolicy policy :
       {LbPolicy::kRoundRobin, LbPolicy::kLeastRequest, LbPolicy::kRandom,
        LbPolicy::kRingHash, LbPolicy::kMaglev, LbPolicy::kClusterProvided}) {
    if (name == LbPolicyName(policy)) return policy;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown lb_policy \"", internal::ToAbsl(name),
      "\" (expected ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV or "
      "CLUSTER_PROVIDED)"));
}

std::string_view LbPolicyName(LbPolicy policy) {
  switch (policy) {
    case LbPolicy::kRoundRobin:
      return "ROUND_ROBIN";
    case LbPolicy::kLeastRequest:
      return "LEAST_REQUEST";
    case LbPolicy::kRandom:
      return "RANDOM";
    case LbPolicy::kRingHash:
      return "RING_HASH";
    case LbPolicy::kMaglev:
      return "MAGLEV";
    case LbPolicy::kClusterProvided:
      return "CLUSTER_PROVIDED";
  }
  return "UNKNOWN";
}

}  // namespace homing
