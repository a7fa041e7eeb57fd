// Affinity lookup micro-benchmarks: a cache hit (one hot key, and spread over
// a 1M-key working set), the resolver answer parse, and the memory one cached
// key costs at 1M keys (counter bytes_per_entry, from mallinfo2()).

#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "homing/affinity_lookup.h"
#include "homing/manual_dispatcher.h"
#include "homing/stats.h"
#include "homing/upstream.h"
#include "lookup/resolver_answer.h"

namespace homing {
namespace {

constexpr size_t kWorkingSet = 1'000'000;
constexpr int kOwners = 10;

// Answers every request when the benchmark says so.
class InstantTransport final : public LookupTransport {
 public:
  std::unique_ptr<Cancelable> Get(const Host&, std::string_view, Duration,
                                  Callback callback) override {
    pending_.push_back(std::move(callback));
    return std::make_unique<Cancelable>();
  }
  void AnswerAll(const std::string& body) {
    std::vector<Callback> calls = std::move(pending_);
    pending_.clear();
    for (Callback& call : calls) {
      Response response;
      response.status = 200;
      response.body = body;
      call(std::move(response));
    }
  }

 private:
  std::vector<Callback> pending_;
};

std::string AnswerBody(int owner) {
  return R"({"client_id":"123","hostport":"server-)" + std::to_string(owner) +
         R"(.server-headless.poc-routing.svc.cluster.local:8081"})";
}

std::string Key(size_t i) { return "client-" + std::to_string(i); }

// Heap bytes in use: small blocks plus the mmap()ed large ones (a big hash
// table's array lives there).
size_t AllocatedBytes() {
  struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

// A lookup with its cluster, dispatcher and stats, filled with `keys` keys
// owned by kOwners instances.
struct Filled {
  explicit Filled(size_t keys) {
    ClusterSpec spec;
    spec.name = "resolver";
    spec.endpoints = {{"127.0.1.10", 8081, 1}};
    cluster = std::move(*Cluster::Create(spec, dispatcher, store.Scope("c.")));
    AffinityPolicy policy;
    policy.lookup_cluster = "resolver";
    policy.max_entries = 2 * kWorkingSet;
    policy.max_age = std::chrono::hours(1);
    policy.stale_age = std::chrono::hours(1);
    policy.allowed_hostports = {"*.server-headless.poc-routing.svc.cluster.local:8081"};
    auto owned = std::make_unique<InstantTransport>();
    transport = owned.get();
    lookup = std::move(*AffinityLookup::Create(dispatcher, policy, *cluster,
                                               store.Scope("a."), std::move(owned)));
    for (int owner = 0; owner < kOwners; ++owner) bodies.push_back(AnswerBody(owner));

    before_fill = AllocatedBytes();
    for (size_t i = 0; i < keys; ++i) {
      lookup->Lookup(Key(i), [](const LookupOutcome&) {});
      transport->AnswerAll(bodies[i % kOwners]);
    }
    after_fill = AllocatedBytes();
  }

  ManualDispatcher dispatcher;
  StatsStore store;
  std::unique_ptr<Cluster> cluster;
  InstantTransport* transport = nullptr;
  std::unique_ptr<AffinityLookup> lookup;
  std::vector<std::string> bodies;
  size_t before_fill = 0;
  size_t after_fill = 0;
};

Filled& OneMillion() {
  static Filled* filled = new Filled(kWorkingSet);
  return *filled;
}

// What a caller passes: a lambda holding a pointer or two.
void* sink = nullptr;

void BM_CacheHitHotKey(benchmark::State& state) {
  Filled filled(1);
  const std::string key = Key(0);
  for (auto _ : state) {
    AffinityLookup::Result result =
        filled.lookup->Lookup(key, [&](const LookupOutcome&) { sink = &state; });
    benchmark::DoNotOptimize(result);
  }
  state.counters["hits"] = static_cast<double>(
      filled.store.Counter("a.cache_hit").value());
}
BENCHMARK(BM_CacheHitHotKey);

void BM_CacheHit1MKeys(benchmark::State& state) {
  Filled& filled = OneMillion();
  // Keys in random order, read sequentially: the key text is where a request
  // would have it (in cache), while the cache's own memory is hit at random.
  std::vector<std::string> keys;
  keys.reserve(kWorkingSet);
  for (size_t i = 0; i < kWorkingSet; ++i) keys.push_back(Key(i));
  std::shuffle(keys.begin(), keys.end(), std::mt19937_64(42));
  size_t next = 0;
  for (auto _ : state) {
    AffinityLookup::Result result = filled.lookup->Lookup(
        keys[next], [&](const LookupOutcome&) { sink = &state; });
    benchmark::DoNotOptimize(result);
    if (++next == kWorkingSet) next = 0;
  }
  if (filled.store.Counter("a.cache_miss").value() != kWorkingSet) {
    state.SkipWithError("a lookup missed the cache");
  }
}
BENCHMARK(BM_CacheHit1MKeys);

void BM_MemoryPerCachedKey(benchmark::State& state) {
  for (auto _ : state) {
    Filled& filled = OneMillion();
    benchmark::DoNotOptimize(filled);
  }
  Filled& filled = OneMillion();
  state.counters["entries"] = static_cast<double>(filled.lookup->size());
  state.counters["bytes_per_entry"] =
      static_cast<double>(filled.after_fill - filled.before_fill) /
      static_cast<double>(filled.lookup->size());
}
BENCHMARK(BM_MemoryPerCachedKey)->Iterations(1);

void BM_ParseResolverAnswer(benchmark::State& state) {
  lookup_internal::ResolverAnswerParser parser;
  const std::string body = AnswerBody(1);
  for (auto _ : state) {
    absl::StatusOr<std::string_view> hostport = parser.Parse(body, "hostport");
    benchmark::DoNotOptimize(hostport);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ParseResolverAnswer);

}  // namespace
}  // namespace homing

BENCHMARK_MAIN();
