// File: homing/clock.h
//
// The monotonic time source every time-aware component reads. Components take
// a `TimeSource&` instead of calling `std::chrono::steady_clock` so tests can
// drive them with a simulated clock (see `homing::ManualDispatcher`).
//
// Thread safety: `Now()` implementations must be callable from any thread.

#ifndef HOMING_CLOCK_H_
#define HOMING_CLOCK_H_

#include <chrono>

namespace homing {

using MonotonicClock = std::chrono::steady_clock;
using MonotonicTime = MonotonicClock::time_point;
using Duration = std::chrono::nanoseconds;

// TimeSource
//
// Reports the current monotonic time.
class TimeSource {
 public:
  virtual ~TimeSource() = default;

  // TimeSource::Now()
  //
  // Returns the current monotonic time. A dispatcher's implementation may
  // return the time cached at the start of the current loop iteration.
  virtual MonotonicTime Now() const = 0;
};

// RealTimeSource
//
// `std::chrono::steady_clock`, for components used without a dispatcher.
class RealTimeSource final : public TimeSource {
 public:
  MonotonicTime Now() const override { return MonotonicClock::now(); }
};

}  // namespace homing

#endif  // HOMING_CLOCK_H_
