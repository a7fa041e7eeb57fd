#include "upstream/spec_validation.h"

#include "absl/strings/str_cat.h"
#include "common/string_util.h"

namespace homing::internal {
namespace {

bool IsPrime(uint64_t n) {
  if (n < 2) return false;
  for (uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

bool IsIpLiteral(std::string_view address) {
  return SocketAddress::FromIp(address, 1).ok();
}

absl::Status Invalid(auto&&... parts) {
  return absl::InvalidArgumentError(absl::StrCat(parts...));
}

absl::Status ValidateEndpoints(const ClusterSpec& spec) {
  for (size_t i = 0; i < spec.endpoints.size(); ++i) {
    const EndpointSpec& endpoint = spec.endpoints[i];
    const std::string field = absl::StrCat("endpoints[", i, "]");
    if (spec.type == ClusterType::kStatic && !IsIpLiteral(endpoint.address)) {
      return Invalid(field, ".address \"", endpoint.address,
                     "\" is not an IP address (STATIC clusters take IP "
                     "literals; use STRICT_DNS for names)");
    }
    if (spec.type == ClusterType::kStrictDns && !IsIpLiteral(endpoint.address) &&
        !IsValidDnsName(endpoint.address)) {
      return Invalid(field, ".address \"", endpoint.address,
                     "\" is not a DNS name or IP address");
    }
    if (endpoint.port == 0) {
      return Invalid(field, ".port must be 1-65535, got 0");
    }
    if (endpoint.weight == 0) {
      return Invalid(field, ".weight must be at least 1");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateOutlierDetection(const OutlierDetectionSpec& spec) {
  if (spec.base_ejection_time <= Duration::zero()) {
    return Invalid("outlier_detection.base_ejection_time must be positive");
  }
  if (spec.max_ejection_time < spec.base_ejection_time) {
    return Invalid(
        "outlier_detection.max_ejection_time must be at least "
        "base_ejection_time");
  }
  if (spec.max_ejection_percent > 100) {
    return Invalid("outlier_detection.max_ejection_percent must be 0-100, got ",
                   spec.max_ejection_percent);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateLbParams(LbPolicy policy, const ClusterSpec& spec) {
  switch (policy) {
    case LbPolicy::kRoundRobin:
    case LbPolicy::kRandom:
      return absl::OkStatus();
    case LbPolicy::kLeastRequest:
      if (spec.least_request_choice_count < 2) {
        return Invalid("least_request_choice_count must be at least 2, got ",
                       spec.least_request_choice_count);
      }
      return absl::OkStatus();
    case LbPolicy::kRingHash:
      if (spec.ring_hash_minimum_ring_size == 0) {
        return Invalid("ring_hash_minimum_ring_size must be at least 1");
      }
      if (spec.ring_hash_maximum_ring_size > kMaxRingSize) {
        return Invalid("ring_hash_maximum_ring_size must be at most ",
                       kMaxRingSize, ", got ", spec.ring_hash_maximum_ring_size);
      }
      if (spec.ring_hash_minimum_ring_size > spec.ring_hash_maximum_ring_size) {
        return Invalid(
            "ring_hash_minimum_ring_size must not exceed "
            "ring_hash_maximum_ring_size");
      }
      return absl::OkStatus();
    case LbPolicy::kMaglev:
      if (spec.maglev_table_size > kMaxMaglevTableSize) {
        return Invalid("maglev_table_size must be at most ", kMaxMaglevTableSize,
                       ", got ", spec.maglev_table_size);
      }
      if (!IsPrime(spec.maglev_table_size)) {
        return Invalid("maglev_table_size ", spec.maglev_table_size,
                       " is not prime");
      }
      return absl::OkStatus();
    case LbPolicy::kClusterProvided:
      break;
  }
  return Invalid("lb_policy ", ToAbsl(LbPolicyName(policy)),
                 " has no load balancer (the cluster provides the host)");
}

absl::Status ValidateClusterSpec(const ClusterSpec& spec) {
  if (spec.name.empty()) return Invalid("name must not be empty");
  const bool dfp = spec.type == ClusterType::kDynamicForwardProxy;
  if (dfp && spec.lb_policy != LbPolicy::kClusterProvided) {
    return Invalid("type DYNAMIC_FORWARD_PROXY requires lb_policy "
                   "CLUSTER_PROVIDED, got ",
                   ToAbsl(LbPolicyName(spec.lb_policy)));
  }
  if (!dfp && spec.lb_policy == LbPolicy::kClusterProvided) {
    return Invalid("lb_policy CLUSTER_PROVIDED requires type "
                   "DYNAMIC_FORWARD_PROXY");
  }
  if (dfp && !spec.endpoints.empty()) {
    return Invalid("endpoints must be empty for DYNAMIC_FORWARD_PROXY "
                   "clusters (the request names the host)");
  }
  if (dfp && !spec.dns_cache_config.has_value()) {
    return Invalid("dns_cache_config is required for DYNAMIC_FORWARD_PROXY "
                   "clusters");
  }
  if (spec.connect_timeout <= Duration::zero()) {
    return Invalid("connect_timeout must be positive");
  }
  if (spec.type == ClusterType::kStrictDns &&
      spec.dns_refresh_rate <= Duration::zero()) {
    return Invalid("dns_refresh_rate must be positive");
  }
  absl::Status status = ValidateEndpoints(spec);
  if (!status.ok()) return status;
  if (spec.outlier_detection.has_value()) {
    status = ValidateOutlierDetection(*spec.outlier_detection);
    if (!status.ok()) return status;
  }
  if (!dfp) return ValidateLbParams(spec.lb_policy, spec);
  return absl::OkStatus();
}

}  // namespace homing::internal
