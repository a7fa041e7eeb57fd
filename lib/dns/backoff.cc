#include "dns/backoff.h"

#include <algorithm>

#include "absl/random/distributions.h"

namespace homing::internal {

JitteredBackoff::JitteredBackoff(Duration base, Duration max)
    : base_(base), max_(std::max(base, max)), ceiling_(base) {}

Duration JitteredBackoff::Next(absl::BitGenRef gen) {
  const Duration ceiling = ceiling_;
  ceiling_ = ceiling_ > max_ / 2 ? max_ : ceiling_ * 2;
  const Duration floor = std::max(base_, ceiling / 2);
  return Duration(absl::Uniform<Duration::rep>(absl::IntervalClosed, gen,
                                               floor.count(), ceiling.count()));
}

}  // namespace homing::internal
