// File: capi/options.h
//
// Helpers of the option setters: durations arrive as int64 milliseconds.

#ifndef HOMING_CAPI_OPTIONS_H_
#define HOMING_CAPI_OPTIONS_H_

#include <chrono>
#include <cstdint>

#include "homing/clock.h"
#include "homing/homing.h"

namespace homing::capi {

// SetDuration()
//
// Stores `ms` milliseconds in `*out`. HOMING_ERR_INVALID_ARGUMENT for a
// negative value or one that nanoseconds cannot hold (about 292 years).
inline homing_status SetDuration(int64_t ms, Duration* out) {
  constexpr int64_t kMaxMs =
      Duration::max().count() / std::nano::den * std::milli::den;
  if (ms < 0 || ms > kMaxMs) return HOMING_ERR_INVALID_ARGUMENT;
  *out = std::chrono::milliseconds(ms);
  return HOMING_OK;
}

}  // namespace homing::capi

#endif  // HOMING_CAPI_OPTIONS_H_
