// Placement strategies: cost of one Owner() lookup, key hashing included.
// Keys cycle through a fixed set so every iteration hashes a realistic
// client id and touches a different part of Maglev's table.

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "homing/placement.h"

namespace homing {
namespace {

std::vector<std::string> Members(int n) {
  std::vector<std::string> members;
  for (int i = 0; i < n; ++i) {
    members.push_back("server-" + std::to_string(i) + ".server-headless:8081");
  }
  return members;
}

const std::vector<std::string>& Keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (int i = 0; i < 4096; ++i) k.push_back("client-" + std::to_string(i * 7919));
    return k;
  }();
  return keys;
}

void BM_Owner(benchmark::State& state, PlacementStrategy strategy) {
  auto placement =
      Placement::Create(strategy, Members(static_cast<int>(state.range(0))));
  const std::vector<std::string>& keys = Keys();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize((*placement)->OwnerIndex(keys[i++ & 4095]));
  }
}

void BM_KeyHash(benchmark::State& state) {
  const std::vector<std::string>& keys = Keys();
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(KeyHash(keys[i++ & 4095]));
}

BENCHMARK(BM_KeyHash);
BENCHMARK_CAPTURE(BM_Owner, jump, PlacementStrategy::kJump)->Arg(16)->Arg(256);
BENCHMARK_CAPTURE(BM_Owner, rendezvous, PlacementStrategy::kRendezvous)
    ->Arg(3)->Arg(16);
BENCHMARK_CAPTURE(BM_Owner, maglev, PlacementStrategy::kMaglev)->Arg(16)->Arg(256);
BENCHMARK_CAPTURE(BM_Owner, modulo, PlacementStrategy::kModulo)->Arg(16);

}  // namespace
}  // namespace homing

BENCHMARK_MAIN();
