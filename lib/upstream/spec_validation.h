// File: lib/upstream/spec_validation.h
//
// The checks `Cluster::Create()` and `LoadBalancer::Create()` run on a
// `ClusterSpec`. Messages name the offending field as the config spells it
// ("endpoints[1].port", "maglev_table_size") and leave the cluster name to
// the caller.

#ifndef HOMING_LIB_UPSTREAM_SPEC_VALIDATION_H_
#define HOMING_LIB_UPSTREAM_SPEC_VALIDATION_H_

#include "absl/status/status.h"
#include "homing/upstream.h"

namespace homing::internal {

// Envoy's bounds (cluster.proto, maglev.proto).
inline constexpr uint64_t kMaxMaglevTableSize = 5000011;
inline constexpr uint64_t kMaxRingSize = 8 * 1024 * 1024;

// ValidateLbParams()
//
// Checks the parameters `policy` reads: choice_count for LEAST_REQUEST,
// ring sizes for RING_HASH, the table size for MAGLEV. kClusterProvided is
// not a balancer and fails here.
absl::Status ValidateLbParams(LbPolicy policy, const ClusterSpec& spec);

// ValidateClusterSpec()
//
// Everything `Cluster::Create()` promises to check, including
// ValidateLbParams() for balancer-backed clusters.
absl::Status ValidateClusterSpec(const ClusterSpec& spec);

}  // namespace homing::internal

#endif  // HOMING_LIB_UPSTREAM_SPEC_VALIDATION_H_
