// File: tests/support/allocation_counter.h
//
// Counts the heap allocations a piece of code makes, for tests that prove a
// hot path allocates nothing. Linking this fixture replaces the program's
// global operator new/delete (allocation_counter.cc) with versions that count
// while AllocationsDuring() runs; outside it they behave as usual.
//
// Example:
//
//   CHECK(homing::testing::AllocationsDuring([&] { table->Match(request); }) == 0);

#ifndef HOMING_TESTS_SUPPORT_ALLOCATION_COUNTER_H_
#define HOMING_TESTS_SUPPORT_ALLOCATION_COUNTER_H_

#include <cstddef>

#include "absl/functional/function_ref.h"

namespace homing::testing {

// Runs `body` and returns how many times it called operator new (any form).
size_t AllocationsDuring(absl::FunctionRef<void()> body);

}  // namespace homing::testing

#endif  // HOMING_TESTS_SUPPORT_ALLOCATION_COUNTER_H_
