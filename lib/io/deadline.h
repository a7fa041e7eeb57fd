// File: lib/io/deadline.h
//
// Deadline arithmetic shared by the dispatchers: deadlines saturate instead
// of overflowing (a timer armed with `Duration::max()` simply never fires),
// and delays round up to libuv's millisecond resolution so a timer never
// wakes before its deadline.

#ifndef HOMING_LIB_IO_DEADLINE_H_
#define HOMING_LIB_IO_DEADLINE_H_

#include <chrono>
#include <cstdint>

#include "homing/clock.h"

namespace homing::internal {

// `time + delay`, clamped to the clock's range; a negative delay counts as 0.
inline MonotonicTime SaturatingAdd(MonotonicTime time, Duration delay) {
  if (delay <= Duration::zero()) return time;
  if (delay > MonotonicTime::max() - time) return MonotonicTime::max();
  return time + delay;
}

// `delay` in whole milliseconds, rounded up; 0 for non-positive delays.
inline uint64_t CeilMilliseconds(Duration delay) {
  if (delay <= Duration::zero()) return 0;
  const auto whole =
      std::chrono::duration_cast<std::chrono::milliseconds>(delay);
  return static_cast<uint64_t>(whole.count()) + (whole < delay ? 1 : 0);
}

}  // namespace homing::internal

#endif  // HOMING_LIB_IO_DEADLINE_H_
