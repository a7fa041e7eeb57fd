// Proves that a DNS cache hit allocates nothing, counting allocations with
// tests/support/allocation_counter.

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "allocation_counter.h"
#include "dns_test_resolver.h"
#include "homing/dns_cache.h"
#include "homing/manual_dispatcher.h"
#include "homing/stats.h"

namespace homing {
namespace {

using testing::AllocationsDuring;

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
