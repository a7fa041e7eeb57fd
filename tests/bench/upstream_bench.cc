// Load balancer picks: cost of one ChooseHost() over N hosts, with the
// request hash precomputed (ComputeRequestHash is measured on its own).
// Hashes cycle through a fixed set so consistent-hash lookups touch
// different parts of their ring or table.

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "homing/placement.h"
#include "homing/upstream.h"

namespace homing {
namespace {

HostVector MakeHosts(int n) {
  HostVector hosts;
  for (int i = 0; i < n; ++i) {
    auto address = SocketAddress::FromIp(
        "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1), 8081);
    hosts.push_back(std::make_shared<Host>(*address, "", 1));
  }
  return hosts;
}

const std::vector<uint64_t>& Hashes() {
  static const std::vector<uint64_t> hashes = [] {
    std::vector<uint64_t> h;
    for (int i = 0; i < 4096; ++i) h.push_back(KeyHash("client-" + std::to_string(i)));
    return h;
  }();
  return hashes;
}

void BM_ChooseHost(benchmark::State& state, LbPolicy policy) {
  auto lb = LoadBalancer::Create(policy, ClusterSpec{},
                                 MakeHosts(static_cast<int>(state.range(0))), 1);
  const std::vector<uint64_t>& hashes = Hashes();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize((*lb)->ChooseHost({.hash = hashes[i++ & 4095]}));
  }
}

// Through Cluster, with outlier detection configured: what the router pays.
void BM_ClusterChooseHost(benchmark::State& state, LbPolicy policy) {
  ClusterSpec spec{.name = "backend", .lb_policy = policy,
                   .outlier_detection = OutlierDetectionSpec{}};
  for (int i = 0; i < state.range(0); ++i) {
    spec.endpoints.push_back({"10.0.0." + std::to_string(i + 1), 8081});
  }
  RealTimeSource time;
  StatsStore store;
  auto cluster = Cluster::Create(spec, time, store.Scope("cluster.backend."));
  const std::vector<uint64_t>& hashes = Hashes();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize((*cluster)->ChooseHost({.hash = hashes[i++ & 4095]}));
  }
}

void BM_ComputeRequestHash(benchmark::State& state) {
  const HashPolicySpec policies[] = {
      {.kind = HashPolicySpec::Kind::kQueryParameter, .name = "client_id"}};
  const RequestView request{.method = "GET", .authority = "proxy.local",
                            .path = "/join?client_id=123456", .headers = {}};
  for (auto _ : state) {
    benchmark::DoNotOptimize(ComputeRequestHash(policies, request));
  }
}

BENCHMARK_CAPTURE(BM_ChooseHost, round_robin, LbPolicy::kRoundRobin)->Arg(16);
BENCHMARK_CAPTURE(BM_ChooseHost, least_request, LbPolicy::kLeastRequest)->Arg(16);
BENCHMARK_CAPTURE(BM_ChooseHost, random, LbPolicy::kRandom)->Arg(16);
BENCHMARK_CAPTURE(BM_ChooseHost, ring_hash, LbPolicy::kRingHash)->Arg(4)->Arg(16)->Arg(64);
BENCHMARK_CAPTURE(BM_ChooseHost, maglev, LbPolicy::kMaglev)->Arg(4)->Arg(16)->Arg(64);
BENCHMARK_CAPTURE(BM_ClusterChooseHost, round_robin, LbPolicy::kRoundRobin)->Arg(16);
BENCHMARK_CAPTURE(BM_ClusterChooseHost, maglev, LbPolicy::kMaglev)->Arg(16);
BENCHMARK(BM_ComputeRequestHash);

}  // namespace
}  // namespace homing

BENCHMARK_MAIN();
