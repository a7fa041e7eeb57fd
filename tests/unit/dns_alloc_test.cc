// Proves that a DNS cache hit allocates nothing: this file replaces the
// program's global operator new/delete with versions that count allocations
// while a test holds the counter open.

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#include "dns_test_resolver.h"
#include "homing/dns_cache.h"
#include "homing/manual_dispatcher.h"
#include "homing/stats.h"

namespace {

std::atomic<bool> counting{false};
std::atomic<size_t> allocations{0};

void* CountedAllocate(size_t size) {
  if (counting.load(std::memory_order_relaxed)) {
    allocations.fetch_add(1, std::memory_order_relaxed);
  }
  void* memory = std::malloc(size == 0 ? 1 : size);
  if (memory == nullptr) throw std::bad_alloc();
  return memory;
}

}  // namespace

void* operator new(size_t size) { return CountedAllocate(size); }
void* operator new[](size_t size) { return CountedAllocate(size); }
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete[](void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, size_t) noexcept { std::free(memory); }
void operator delete[](void* memory, size_t) noexcept { std::free(memory); }

namespace homing {
namespace {

template <typename Body>
size_t AllocationsDuring(Body body) {
  allocations = 0;
  counting = true;
  body();
  counting = false;
  return allocations;
}

TEST_CASE("a cache hit allocates nothing, with or without the port in the host") {
  ManualDispatcher dispatcher;
  StatsStore store;
  auto owned = std::make_unique<testing::ScriptedResolver>();
  testing::ScriptedResolver* resolver = owned.get();
  DnsCacheConfig config;
  config.name = "alloc";
  auto cache = DnsCache::Create(dispatcher, config, store.Scope(""), std::move(owned));
  REQUIRE(cache.ok());
  const std::string name = "server-1.server-headless.poc-routing.svc.cluster.local";
  (*cache)->Load(name, 8081, nullptr);
  resolver->Answer(name, testing::ScriptedResolver::Ok({"127.0.1.10"}));
  (*cache)->Load("127.0.1.11", 8081, nullptr);
  const std::string with_port = name + ":8081";

  int hits = 0;
  size_t allocated = AllocationsDuring([&] {
    for (int i = 0; i < 100; ++i) {
      hits += (*cache)->Load(name, 8081, [&hits](const DnsHostInfoSharedPtr&) { ++hits; })
                  .status == DnsCache::LoadStatus::kInCache;
      hits += (*cache)->Load(with_port, 80, nullptr).status == DnsCache::LoadStatus::kInCache;
      hits += (*cache)->Load("127.0.1.11", 8081, nullptr).status ==
              DnsCache::LoadStatus::kInCache;
    }
  });
  CHECK(hits == 300);
  CHECK(allocated == 0);
}

}  // namespace
}  // namespace homing
