// File: lib/dns/backoff.h
//
// The retry schedule after failed DNS resolutions: jittered exponential
// backoff between a base and a max interval, kept per host and reset by a
// success (Envoy's `dns_failure_refresh_rate`). With base == max it is a fixed
// interval, which is what a cache without `dns_failure_refresh_rate` uses.
//
// Example:
//
//   JitteredBackoff backoff(std::chrono::seconds(2), std::chrono::seconds(10));
//   Duration first = backoff.Next(bitgen);   // exactly 2s
//   Duration second = backoff.Next(bitgen);  // in [2s, 4s]
//   backoff.Reset();                         // after a success
//
// Thread safety: a value type; not synchronized.

#ifndef HOMING_LIB_DNS_BACKOFF_H_
#define HOMING_LIB_DNS_BACKOFF_H_

#include "absl/random/bit_gen_ref.h"
#include "homing/clock.h"

namespace homing::internal {

class JitteredBackoff {
 public:
  // `base` must be positive and `max` at least `base`.
  JitteredBackoff(Duration base, Duration max);

  // JitteredBackoff::Next()
  //
  // The delay before the next retry. The n-th call after a reset (n = 0, 1,
  // ...) draws uniformly from [max(base, c/2), c] where c = min(max, base·2^n):
  // the ceiling doubles per failure, the floor never drops below base, so
  // hosts that failed together do not retry in lockstep yet never retry
  // sooner than base.
  Duration Next(absl::BitGenRef gen);

  // JitteredBackoff::Reset()
  //
  // Starts over at base; call after a success.
  void Reset() { ceiling_ = base_; }

 private:
  Duration base_;
  Duration max_;
  Duration ceiling_;
};

}  // namespace homing::internal

#endif  // HOMING_LIB_DNS_BACKOFF_H_
