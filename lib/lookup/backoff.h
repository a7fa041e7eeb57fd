// File: lookup/backoff.h
//
// FailureBackoff: gRPC's connection-backoff schedule, which RLS also uses for
// failed lookups: the n-th consecutive failure waits
// initial × multiplier^(n-1), randomized by ±jitter, capped at max.
//
// Example:
//
//   FailureBackoff backoff;                      // 1s ×1.6, jitter 0.2, 120s
//   Duration wait = backoff.Delay(attempts);     // attempts >= 1
//
// Thread safety: one instance per thread (it owns a random generator).

#ifndef HOMING_LIB_LOOKUP_BACKOFF_H_
#define HOMING_LIB_LOOKUP_BACKOFF_H_

#include <chrono>
#include <cstdint>

#include "absl/random/random.h"
#include "homing/clock.h"

namespace homing::lookup_internal {

class FailureBackoff {
 public:
  struct Params {
    Duration initial = std::chrono::seconds(1);
    double multiplier = 1.6;
    double jitter = 0.2;
    Duration max = std::chrono::seconds(120);
  };

  FailureBackoff() = default;
  explicit FailureBackoff(Params params) : params_(params) {}

  // FailureBackoff::Delay()
  //
  // The wait after the `failures`-th consecutive failure (1 for the first).
  // Jitter applies before the cap, so the cap is never exceeded.
  Duration Delay(uint32_t failures);

  const Params& params() const { return params_; }

 private:
  Params params_;
  absl::BitGen random_;
};

}  // namespace homing::lookup_internal

#endif  // HOMING_LIB_LOOKUP_BACKOFF_H_
