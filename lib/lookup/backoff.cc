// FailureBackoff: jittered exponential delays.

#include "lookup/backoff.h"

#include <algorithm>
#include <cmath>

namespace homing::lookup_internal {

Duration FailureBackoff::Delay(uint32_t failures) {
  using Seconds = std::chrono::duration<double>;
  const double max = Seconds(params_.max).count();
  double base = Seconds(params_.initial).count();
  for (uint32_t i = 1; i < failures && base < max; ++i) {
    base *= params_.multiplier;
  }
  base = std::min(base, max);
  double factor = absl::Uniform(random_, 1.0 - params_.jitter,
                                1.0 + params_.jitter);
  return std::chrono::duration_cast<Duration>(
      Seconds(std::min(base * factor, max)));
}

}  // namespace homing::lookup_internal
