// DNS cache hit path: Load() of a host whose entry is resolved. The target is
// at most 50 ns per hit, without allocating (tests/unit/dns_alloc_test.cc).

#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "homing/dns_cache.h"
#include "homing/libuv_dispatcher.h"
#include "homing/stats.h"

namespace homing {
namespace {

// Answers every name with one address on the next loop turn.
class InstantResolver final : public DnsResolver {
 public:
  explicit InstantResolver(Dispatcher& dispatcher) : dispatcher_(dispatcher) {}

  std::unique_ptr<Cancelable> Resolve(std::string_view, DnsLookupFamily,
                                      Callback callback) override {
    dispatcher_.Post([callback = std::move(callback)] {
      DnsAnswer answer;
      answer.addresses.push_back(*SocketAddress::FromIp("127.0.1.10", 0));
      answer.ttl = std::chrono::seconds(30);
      callback(std::move(answer));
    });
    return std::make_unique<Cancelable>();
  }

 private:
  Dispatcher& dispatcher_;
};

std::string HostName(int i) {
  return "server-" + std::to_string(i) + ".server-headless.poc-routing.svc.cluster.local";
}

// A cache holding `hosts` resolved entries.
struct Bench {
  explicit Bench(int hosts) {
    dispatcher = *LibuvDispatcher::Create();
    DnsCacheConfig config;
    config.name = "bench";
    cache = *DnsCache::Create(*dispatcher, config, store.Scope(""),
                              std::make_unique<InstantResolver>(*dispatcher));
    for (int i = 0; i < hosts; ++i) {
      cache->Load(HostName(i), 8081, [](const DnsHostInfoSharedPtr&) {});
    }
    dispatcher->RunNoWait();
  }
  ~Bench() {
    cache.reset();
    dispatcher->RunNoWait();
  }

  StatsStore store;
  std::unique_ptr<LibuvDispatcher> dispatcher;
  std::unique_ptr<DnsCache> cache;
};

void BM_DnsCacheHit(benchmark::State& state) {
  const int hosts = static_cast<int>(state.range(0));
  Bench bench(hosts);
  std::vector<std::string> names;
  for (int i = 0; i < 64; ++i) names.push_back(HostName(i * 7 % hosts));
  size_t i = 0;
  for (auto _ : state) {
    DnsCache::LoadResult result =
        bench.cache->Load(names[i++ & 63], 8081, [](const DnsHostInfoSharedPtr&) {});
    benchmark::DoNotOptimize(result);
  }
  if (bench.cache->Load(names[0], 8081, nullptr).status != DnsCache::LoadStatus::kInCache) {
    state.SkipWithError("not a cache hit");
  }
}
BENCHMARK(BM_DnsCacheHit)->Arg(1)->Arg(1000);

void BM_DnsCacheHitHostWithPort(benchmark::State& state) {
  Bench bench(1000);
  std::vector<std::string> names;
  for (int i = 0; i < 64; ++i) names.push_back(HostName(i * 7) + ":8081");
  size_t i = 0;
  for (auto _ : state) {
    DnsCache::LoadResult result =
        bench.cache->Load(names[i++ & 63], 80, [](const DnsHostInfoSharedPtr&) {});
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_DnsCacheHitHostWithPort);

void BM_DnsCacheHitIpLiteral(benchmark::State& state) {
  Bench bench(0);
  for (auto _ : state) {
    DnsCache::LoadResult result =
        bench.cache->Load("127.0.1.11", 8081, [](const DnsHostInfoSharedPtr&) {});
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_DnsCacheHitIpLiteral);

}  // namespace
}  // namespace homing

BENCHMARK_MAIN();
