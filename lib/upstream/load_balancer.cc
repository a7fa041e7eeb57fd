#include "homing/upstream.h"

#include "absl/strings/str_cat.h"
#include "upstream/maglev_lb.h"
#include "upstream/random_lb.h"
#include "upstream/ring_hash_lb.h"
#include "upstream/round_robin_lb.h"
#include "upstream/spec_validation.h"

namespace homing {

absl::StatusOr<std::unique_ptr<LoadBalancer>> LoadBalancer::Create(
    LbPolicy policy, const ClusterSpec& params, HostVector hosts,
    uint64_t seed) {
  absl::Status status = internal::ValidateLbParams(policy, params);
  if (!status.ok()) return status;
  for (const HostSharedPtr& host : hosts) {
    if (host->weight() == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "host ", host->address_string(), " has weight 0 (weights must be at least 1)"));
    }
  }
  std::unique_ptr<LoadBalancer> lb;
  switch (policy) {
    case LbPolicy::kRoundRobin:
      lb = std::make_unique<internal::RoundRobinLoadBalancer>(std::move(hosts));
      break;
    case LbPolicy::kLeastRequest:
      lb = std::make_unique<internal::LeastRequestLoadBalancer>(
          std::move(hosts), params.least_request_choice_count, seed);
      break;
    case LbPolicy::kRandom:
      lb = std::make_unique<internal::RandomLoadBalancer>(std::move(hosts), seed);
      break;
    case LbPolicy::kRingHash:
      lb = std::make_unique<internal::RingHashLoadBalancer>(
          std::move(hosts), params.ring_hash_minimum_ring_size,
          params.ring_hash_maximum_ring_size);
      break;
    case LbPolicy::kMaglev:
      lb = std::make_unique<internal::MaglevLoadBalancer>(
          std::move(hosts), params.maglev_table_size);
      break;
    case LbPolicy::kClusterProvided:
      break;  // rejected by ValidateLbParams()
  }
  return lb;
}

}  // namespace homing
