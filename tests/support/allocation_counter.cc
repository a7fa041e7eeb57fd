#include "allocation_counter.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {

std::atomic<bool> counting{false};
std::atomic<size_t> allocations{0};

void* CountedAllocateOrNull(size_t size) noexcept {
  if (counting.load(std::memory_order_relaxed)) {
    allocations.fetch_add(1, std::memory_order_relaxed);
  }
  return std::malloc(size == 0 ? 1 : size);
}

void* CountedAllocate(size_t size) {
  void* memory = CountedAllocateOrNull(size);
  if (memory == nullptr) throw std::bad_alloc();
  return memory;
}

}  // namespace

// Every replaceable form, including the nothrow ones (libstdc++'s
// std::get_temporary_buffer and a sanitizer runtime would otherwise supply
// their own). The aligned forms keep the runtime's pairing.
void* operator new(size_t size) { return CountedAllocate(size); }
void* operator new[](size_t size) { return CountedAllocate(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  return CountedAllocateOrNull(size);
}
void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  return CountedAllocateOrNull(size);
}
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete[](void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, size_t) noexcept { std::free(memory); }
void operator delete[](void* memory, size_t) noexcept { std::free(memory); }

namespace homing::testing {

size_t AllocationsDuring(absl::FunctionRef<void()> body) {
  allocations = 0;
  counting = true;
  body();
  counting = false;
  return allocations;
}

}  // namespace homing::testing
