// Proves that RouteTable::Match() allocates nothing, counting allocations
// with tests/support/allocation_counter.

#include <doctest/doctest.h>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "allocation_counter.h"
#include "homing/route.h"

namespace homing {
namespace {

using testing::AllocationsDuring;

RouteSpec MakeRoute(std::string name, PathMatchKind kind, std::string path) {
  RouteSpec route;
  route.name = std::move(name);
  route.match.path_specifier = kind;
  route.match.path = std::move(path);
  route.action.cluster = "backend";
  return route;
}

// A realistic table: a host per tenant domain, dozens of prefix routes,
// regex, header and query-parameter routes, and a catch-all.
std::shared_ptr<const RouteTable> RealisticTable() {
  using Kind = StringMatcherSpec::Kind;
  RouteConfigSpec spec;
  VirtualHostSpec api{
      .name = "api", .domains = {"api.example.com", "api.*"}, .routes = {}};
  for (int i = 0; i < 40; ++i) {
    api.routes.push_back(MakeRoute("svc" + std::to_string(i),
                                   PathMatchKind::kPrefix,
                                   "/v1/service" + std::to_string(i) + "/"));
  }
  api.routes.push_back(
      MakeRoute("user", PathMatchKind::kSafeRegex, "/users/[0-9]+(/posts)?"));
  RouteSpec beta =
      MakeRoute("beta", PathMatchKind::kPathSeparatedPrefix, "/beta");
  beta.match.case_sensitive = false;
  beta.match.headers = {
      {.name = "x-tenant",
       .string_match =
           StringMatcherSpec{
               .kind = Kind::kPrefix, .value = "ACME", .ignore_case = true}},
      {.name = "x-debug", .string_match = std::nullopt, .invert_match = true},
      {.name = "x-build",
       .string_match =
           StringMatcherSpec{.kind = Kind::kSafeRegex, .value = "[0-9a-f]{6}"}},
      {.name = ":method", .string_match = StringMatcherSpec{.value = "GET"}}};
  api.routes.push_back(beta);
  RouteSpec join = MakeRoute("join", PathMatchKind::kPrefix, "/join");
  join.match.query_parameters = {
      {.name = "client_id",
       .string_match = StringMatcherSpec{.kind = Kind::kSafeRegex,
                                         .value = "[a-z ]+[0-9]*"}},
      {.name = "region",
       .string_match = StringMatcherSpec{
           .kind = Kind::kContains, .value = "EU", .ignore_case = true}}};
  api.routes.push_back(join);
  api.routes.push_back(MakeRoute("health", PathMatchKind::kPath, "/health"));
  spec.virtual_hosts.push_back(api);

  VirtualHostSpec shop{
      .name = "shop", .domains = {"*.shop.example.com"}, .routes = {}};
  shop.routes.push_back(MakeRoute("cart", PathMatchKind::kPrefix, "/cart"));
  spec.virtual_hosts.push_back(shop);

  VirtualHostSpec fallback{.name = "fallback", .domains = {"*"}, .routes = {}};
  fallback.routes.push_back(MakeRoute("root", PathMatchKind::kPrefix, "/"));
  spec.virtual_hosts.push_back(fallback);

  auto table = RouteTable::Compile(spec);
  REQUIRE(table.ok());
  return *table;
}

struct Probe {
  RequestView request;
  const char* expected;  // route name, nullptr for no match
};

// Requests of every kind, hit and miss; `variant` changes the values (not
// their shape) so the measured pass is not a replay of the warm-up.
std::vector<Probe> Probes(int variant, const std::vector<RequestHeader>& beta,
                          const std::vector<RequestHeader>& repeated) {
  static const char* kUserPaths[] = {"/users/42", "/users/7/posts?x=1"};
  static const char* kJoinPaths[] = {
      "/join?client_id=acme+corp12&region=west-eu-1",
      "/join?region=EU&client_id=b%C3%A9ta&client_id=zzz"};
  static const char* kServicePaths[] = {"/v1/service37/items?page=2",
                                        "/v1/service3/x"};
  std::vector<Probe> probes = {
      {{"GET", "API.example.com:443", kServicePaths[variant], {}},
       variant == 0 ? "svc37" : "svc3"},
      {{"GET", "api.example.com", "/v1/service40/items", {}}, nullptr},
      {{"GET", "api.internal", kUserPaths[variant], {}}, "user"},
      {{"GET", "api.example.com", "/users/x", {}}, nullptr},
      {{"GET", "api.example.com", "/BETA/feature", beta}, "beta"},
      {{"GET", "api.example.com", "/beta/feature", repeated}, nullptr},
      {{"GET", "api.example.com", kJoinPaths[variant], {}},
       variant == 0 ? "join" : nullptr},
      {{"GET", "api.example.com", "/join?client_id=A1", {}}, nullptr},
      {{"GET", "api.example.com", "/health?probe=1", {}}, "health"},
      {{"GET", "eu.shop.example.com", "/cart/items", {}}, "cart"},
      {{"GET", "eu.shop.example.com", "/checkout", {}}, nullptr},
      {{"GET", "unknown.test", "/anything", {}}, "root"},
  };
  return probes;
}

TEST_CASE("the allocation counter sees allocations") {
  size_t counted = AllocationsDuring([] {
    auto text = std::make_unique<std::string>(100, 'x');
    CHECK(text->size() == 100);
  });
  CHECK(counted >= 2);
}

TEST_CASE("RouteTable::Match() allocates nothing, hit or miss") {
  auto table = RealisticTable();
  std::vector<RequestHeader> beta = {{"X-Tenant", "acme-eu"},
                                     {"x-build", "0a1b2c"}};
  std::vector<RequestHeader> repeated = {{"x-tenant", "acme"},
                                         {"x-build", "0a1b2c"},
                                         {"x-debug", "1"},
                                         {"x-tenant", "other"}};
  std::vector<Probe> warm_up = Probes(0, beta, repeated);
  std::vector<Probe> measured = Probes(1, beta, repeated);
  measured.insert(measured.end(), warm_up.begin(), warm_up.end());

  // RE2 builds its DFA states on first use; after one pass over requests of
  // this shape, matching must not allocate at all.
  for (const Probe& probe : warm_up) table->Match(probe.request);

  std::array<const Route*, 64> results{};
  REQUIRE(measured.size() <= results.size());
  size_t counted = AllocationsDuring([&] {
    for (size_t i = 0; i < measured.size(); ++i) {
      results[i] = table->Match(measured[i].request);
    }
  });
  CHECK(counted == 0);
  for (size_t i = 0; i < measured.size(); ++i) {
    CAPTURE(measured[i].request.path);
    if (measured[i].expected == nullptr) {
      CHECK(results[i] == nullptr);
    } else {
      REQUIRE(results[i] != nullptr);
      CHECK(results[i]->name() == measured[i].expected);
    }
  }
}

}  // namespace
}  // namespace homing
