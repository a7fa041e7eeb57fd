// RouteTable::Match() on prefix-heavy tables of 100 and 1,000 routes (the
// request hitting the first route, the last route, or none), on the seed's
// two-route table, and with virtual hosts picked by exact and wildcard
// domains. Target: <= 100 ns per match on the 100-route table.

#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "homing/route.h"

namespace homing {
namespace {

RouteSpec PrefixRoute(std::string prefix, std::string cluster) {
  RouteSpec route;
  route.match.path = std::move(prefix);
  route.action.cluster = std::move(cluster);
  return route;
}

// "/api/v<1..3>/resource<i>/" routes: a common shape that shares its first
// bytes across routes, so the first differing byte is deep in the path.
std::string ResourcePrefix(int i) {
  return "/api/v" + std::to_string(i % 3 + 1) + "/resource" +
         std::to_string(i) + "/";
}

std::shared_ptr<const RouteTable> PrefixTable(int routes) {
  RouteConfigSpec spec;
  VirtualHostSpec host{.name = "local", .domains = {"*"}, .routes = {}};
  for (int i = 0; i < routes; ++i) {
    host.routes.push_back(PrefixRoute(ResourcePrefix(i), "backend"));
  }
  spec.virtual_hosts.push_back(host);
  return *RouteTable::Compile(spec);
}

void RunMatch(benchmark::State& state, const RouteTable& table,
              const std::string& path, bool expect_hit) {
  RequestView request{.method = "GET",
                      .authority = "proxy.local:10000",
                      .path = path,
                      .headers = {}};
  if ((table.Match(request) != nullptr) != expect_hit) {
    state.SkipWithError("unexpected match result");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.Match(request));
  }
}

void BM_PrefixTable_HitFirst(benchmark::State& state) {
  auto table = PrefixTable(static_cast<int>(state.range(0)));
  RunMatch(state, *table, ResourcePrefix(0) + "items?page=2", true);
}
BENCHMARK(BM_PrefixTable_HitFirst)->Arg(100)->Arg(1000);

void BM_PrefixTable_HitLast(benchmark::State& state) {
  int routes = static_cast<int>(state.range(0));
  auto table = PrefixTable(routes);
  RunMatch(state, *table, ResourcePrefix(routes - 1) + "items?page=2", true);
}
BENCHMARK(BM_PrefixTable_HitLast)->Arg(100)->Arg(1000);

void BM_PrefixTable_Miss(benchmark::State& state) {
  auto table = PrefixTable(static_cast<int>(state.range(0)));
  RunMatch(state, *table, "/api/v2/resource99999/items", false);
}
BENCHMARK(BM_PrefixTable_Miss)->Arg(100)->Arg(1000);

// The seed: "/join" to the forward proxy, everything else to the resolver.
void BM_SeedTable_Where(benchmark::State& state) {
  RouteConfigSpec spec;
  spec.virtual_hosts.push_back(
      {.name = "local",
       .domains = {"*"},
       .routes = {PrefixRoute("/join", "dynamic_forward_proxy_cluster"),
                  PrefixRoute("/", "resolver")}});
  auto table = *RouteTable::Compile(spec);
  RunMatch(state, *table, "/where?client_id=123", true);
}
BENCHMARK(BM_SeedTable_Where);

// 100 virtual hosts with exact domains plus suffix wildcards; the request's
// authority is picked by exact lookup or by the wildcard.
void BM_DomainSelect(benchmark::State& state) {
  RouteConfigSpec spec;
  for (int i = 0; i < 100; ++i) {
    std::string name = "tenant" + std::to_string(i);
    spec.virtual_hosts.push_back(
        {.name = name,
         .domains = {name + ".example.com", "*." + name + ".example.net"},
         .routes = {PrefixRoute("/", name)}});
  }
  // Exact lookup of a mixed-case authority whose port is ignored, or the
  // suffix wildcard.
  spec.ignore_port_in_host_matching = true;
  std::string authority = state.range(0) == 0 ? "Tenant57.Example.com:8080"
                                              : "eu.tenant57.example.net";
  auto table = *RouteTable::Compile(spec);
  RequestView request{
      .method = "GET", .authority = authority, .path = "/x", .headers = {}};
  if (table->Match(request) == nullptr) {
    state.SkipWithError("no virtual host matched");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(table->Match(request));
  }
}
BENCHMARK(BM_DomainSelect)->ArgName("wildcard")->Arg(0)->Arg(1);

}  // namespace
}  // namespace homing

BENCHMARK_MAIN();
