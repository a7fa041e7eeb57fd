// Load balancers, hash policies and policy names (homing/upstream.h).
// Cluster behaviour (validation, membership, passive health, stats) is in
// upstream_cluster_test.cc.

#include "homing/upstream.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "homing/placement.h"
#include "homing/query_string.h"

namespace homing {
namespace {

constexpr int kKeys = 100000;

HostSharedPtr MakeHost(int i, uint32_t weight = 1) {
  auto address = SocketAddress::FromIp("127.0.1." + std::to_string(10 + i), 8081);
  REQUIRE(address.ok());
  return std::make_shared<Host>(*address, "", weight);
}

HostVector MakeHosts(int n) {
  HostVector hosts;
  for (int i = 0; i < n; ++i) hosts.push_back(MakeHost(i));
  return hosts;
}

std::unique_ptr<LoadBalancer> MakeLb(LbPolicy policy, HostVector hosts,
                                     ClusterSpec params = {},
                                     uint64_t seed = 7) {
  auto lb = LoadBalancer::Create(policy, params, std::move(hosts), seed);
  REQUIRE(lb.ok());
  return *std::move(lb);
}

uint64_t Hash(int i) { return KeyHash("client-" + std::to_string(i)); }

// The host address each of kKeys request hashes lands on.
std::vector<std::string> Assignments(LoadBalancer& lb) {
  std::vector<std::string> owners;
  owners.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) {
    owners.push_back(lb.ChooseHost({.hash = Hash(i)})->address_string());
  }
  return owners;
}

const LbPolicy kBalancers[] = {LbPolicy::kRoundRobin, LbPolicy::kLeastRequest,
                               LbPolicy::kRandom, LbPolicy::kRingHash,
                               LbPolicy::kMaglev};

TEST_CASE("every balancer returns nullptr for an empty host set") {
  for (LbPolicy policy : kBalancers) {
    CAPTURE(LbPolicyName(policy));
    auto lb = MakeLb(policy, {});
    CHECK(lb->ChooseHost({}) == nullptr);
    CHECK(lb->ChooseHost({.hash = 42}) == nullptr);
  }
}

TEST_CASE("ROUND_ROBIN cycles through equal-weight hosts") {
  HostVector hosts = MakeHosts(4);
  auto lb = MakeLb(LbPolicy::kRoundRobin, hosts);
  std::vector<Host*> first_cycle;
  for (int i = 0; i < 4; ++i) first_cycle.push_back(lb->ChooseHost({}).get());
  std::vector<Host*> sorted = first_cycle;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::unique(sorted.begin(), sorted.end()) == sorted.end());
  for (int cycle = 0; cycle < 3; ++cycle) {
    for (int i = 0; i < 4; ++i) CHECK(lb->ChooseHost({}).get() == first_cycle[i]);
  }
}

TEST_CASE("ROUND_ROBIN follows weights and interleaves the picks") {
  HostVector hosts = {MakeHost(0, 1), MakeHost(1, 2), MakeHost(2, 3)};
  auto lb = MakeLb(LbPolicy::kRoundRobin, hosts);
  std::map<Host*, int> total;
  for (int window = 0; window < 100; ++window) {
    std::map<Host*, int> counts;
    for (int i = 0; i < 6; ++i) {
      Host* host = lb->ChooseHost({}).get();
      ++counts[host];
      ++total[host];
    }
    // Every window of sum(weights) picks holds each host weight times.
    CHECK(counts[hosts[0].get()] == 1);
    CHECK(counts[hosts[1].get()] == 2);
    CHECK(counts[hosts[2].get()] == 3);
  }
  CHECK(total[hosts[2].get()] == 300);
}

TEST_CASE("ROUND_ROBIN skips the host to avoid") {
  SUBCASE("equal weights") {
    HostVector hosts = MakeHosts(3);
    auto lb = MakeLb(LbPolicy::kRoundRobin, hosts);
    for (int i = 0; i < 30; ++i) {
      CHECK(lb->ChooseHost({.avoid = hosts[1].get()}) != hosts[1]);
    }
  }
  SUBCASE("weighted, even a dominant host") {
    HostVector hosts = {MakeHost(0, 100), MakeHost(1, 1), MakeHost(2, 1)};
    auto lb = MakeLb(LbPolicy::kRoundRobin, hosts);
    for (int i = 0; i < 30; ++i) {
      CHECK(lb->ChooseHost({.avoid = hosts[0].get()}) != hosts[0]);
    }
    // Avoiding it did not cost the heavy host its turns.
    int heavy = 0;
    for (int i = 0; i < 102; ++i) heavy += lb->ChooseHost({}) == hosts[0];
    CHECK(heavy >= 95);
  }
  SUBCASE("the only host is returned anyway") {
    HostVector hosts = MakeHosts(1);
    auto lb = MakeLb(LbPolicy::kRoundRobin, hosts);
    CHECK(lb->ChooseHost({.avoid = hosts[0].get()}) == hosts[0]);
  }
}

TEST_CASE("RANDOM spreads picks uniformly and depends on the seed") {
  HostVector hosts = MakeHosts(4);
  auto lb = MakeLb(LbPolicy::kRandom, hosts);
  std::map<Host*, int> counts;
  for (int i = 0; i < 40000; ++i) ++counts[lb->ChooseHost({}).get()];
  REQUIRE(counts.size() == 4);
  for (const auto& [host, count] : counts) {
    CHECK(count > 9000);
    CHECK(count < 11000);
  }

  auto same = MakeLb(LbPolicy::kRandom, hosts, {}, 7);
  auto again = MakeLb(LbPolicy::kRandom, hosts, {}, 7);
  auto other = MakeLb(LbPolicy::kRandom, hosts, {}, 8);
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    Host* a = same->ChooseHost({}).get();
    CHECK(a == again->ChooseHost({}).get());
    differ += a != other->ChooseHost({}).get();
  }
  CHECK(differ > 0);
}

TEST_CASE("RANDOM and LEAST_REQUEST skip the host to avoid") {
  HostVector hosts = MakeHosts(3);
  for (LbPolicy policy : {LbPolicy::kRandom, LbPolicy::kLeastRequest}) {
    CAPTURE(LbPolicyName(policy));
    auto lb = MakeLb(policy, hosts);
    std::map<Host*, int> counts;
    for (int i = 0; i < 3000; ++i) {
      ++counts[lb->ChooseHost({.avoid = hosts[2].get()}).get()];
    }
    CHECK(counts.count(hosts[2].get()) == 0);
    CHECK(counts[hosts[0].get()] > 1000);
    CHECK(counts[hosts[1].get()] > 1000);
  }
}

TEST_CASE("LEAST_REQUEST prefers the host with fewer active requests") {
  HostVector hosts = MakeHosts(2);
  hosts[0]->stats().rq_active = 5;
  SUBCASE("two choices: the busy host only wins when drawn twice") {
    auto lb = MakeLb(LbPolicy::kLeastRequest, hosts);
    int busy = 0;
    for (int i = 0; i < 10000; ++i) busy += lb->ChooseHost({}) == hosts[0];
    // Probability 1/4.
    CHECK(busy > 2000);
    CHECK(busy < 3000);
  }
  SUBCASE("more choices make the busy host rarer") {
    ClusterSpec params;
    params.least_request_choice_count = 5;
    auto lb = MakeLb(LbPolicy::kLeastRequest, hosts, params);
    int busy = 0;
    for (int i = 0; i < 10000; ++i) busy += lb->ChooseHost({}) == hosts[0];
    // Probability 1/32.
    CHECK(busy < 600);
  }
  SUBCASE("active requests count per unit of weight") {
    HostVector weighted = {MakeHost(0, 1), MakeHost(1, 4)};
    weighted[0]->stats().rq_active = 2;  // 2 per weight
    weighted[1]->stats().rq_active = 4;  // 1 per weight
    auto lb = MakeLb(LbPolicy::kLeastRequest, weighted);
    int light = 0;
    for (int i = 0; i < 1000; ++i) light += lb->ChooseHost({}) == weighted[0];
    CHECK(light > 150);  // only when drawn twice: about 1/4
    CHECK(light < 350);
  }
}

TEST_CASE("hash balancers: a request hash always reaches the same host") {
  for (LbPolicy policy : {LbPolicy::kRingHash, LbPolicy::kMaglev}) {
    CAPTURE(LbPolicyName(policy));
    HostVector hosts = MakeHosts(5);
    auto lb = MakeLb(policy, hosts);
    std::vector<std::string> first = Assignments(*lb);
    CHECK(Assignments(*lb) == first);
    // Independent of the order the hosts are listed in.
    std::reverse(hosts.begin(), hosts.end());
    auto reversed = MakeLb(policy, hosts);
    CHECK(Assignments(*reversed) == first);
    // And spread over every host within 15% of the mean (ring hash is the
    // less even of the two).
    std::map<std::string, int> counts;
    for (const std::string& owner : first) ++counts[owner];
    REQUIRE(counts.size() == 5);
    for (const auto& [owner, count] : counts) {
      CAPTURE(owner);
      CHECK(count > kKeys / 5 * 0.85);
      CHECK(count < kKeys / 5 * 1.15);
    }
  }
}

TEST_CASE("hash balancers: golden owners guard cross-release stability") {
  // Computed once over hosts 127.0.1.10-14:8081; a change here moves every
  // client of a deployed cluster.
  const std::map<LbPolicy, std::vector<std::string>> golden = {
      {LbPolicy::kRingHash,
       {"127.0.1.13:8081", "127.0.1.13:8081", "127.0.1.11:8081",
        "127.0.1.11:8081", "127.0.1.10:8081", "127.0.1.12:8081"}},
      {LbPolicy::kMaglev,
       {"127.0.1.11:8081", "127.0.1.13:8081", "127.0.1.12:8081",
        "127.0.1.13:8081", "127.0.1.12:8081", "127.0.1.13:8081"}},
  };
  for (const auto& [policy, owners] : golden) {
    CAPTURE(LbPolicyName(policy));
    auto lb = MakeLb(policy, MakeHosts(5));
    for (size_t i = 0; i < owners.size(); ++i) {
      CHECK(lb->ChooseHost({.hash = KeyHash(std::to_string(i))})->address_string() ==
            owners[i]);
    }
  }
  // Past the last point the ring wraps around to the first.
  auto ring = MakeLb(LbPolicy::kRingHash, MakeHosts(5));
  CHECK(ring->ChooseHost({.hash = ~uint64_t{0}})->address_string() == "127.0.1.13:8081");
  CHECK(ring->ChooseHost({.hash = 0})->address_string() == "127.0.1.13:8081");
}

// Adding a fifth host: keys either keep their host or move to the new one.
TEST_CASE("RING_HASH: adding a host moves keys only to it") {
  auto before = MakeLb(LbPolicy::kRingHash, MakeHosts(4));
  auto after = MakeLb(LbPolicy::kRingHash, MakeHosts(5));
  const std::string added = MakeHost(4)->address_string();
  std::vector<std::string> old_owners = Assignments(*before);
  std::vector<std::string> new_owners = Assignments(*after);
  int moved = 0;
  int moved_elsewhere = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (old_owners[i] == new_owners[i]) continue;
    ++moved;
    if (new_owners[i] != added) ++moved_elsewhere;
  }
  CHECK(moved_elsewhere == 0);
  CHECK(moved > kKeys / 5 * 0.85);
  CHECK(moved < kKeys / 5 * 1.15);
}

TEST_CASE("RING_HASH: removing a host moves only its keys") {
  HostVector hosts = MakeHosts(4);
  auto before = MakeLb(LbPolicy::kRingHash, hosts);
  const std::string removed = hosts[1]->address_string();
  hosts.erase(hosts.begin() + 1);
  auto after = MakeLb(LbPolicy::kRingHash, hosts);
  std::vector<std::string> old_owners = Assignments(*before);
  std::vector<std::string> new_owners = Assignments(*after);
  int others_moved = 0;
  int removed_keys = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (old_owners[i] == removed) {
      ++removed_keys;
    } else if (old_owners[i] != new_owners[i]) {
      ++others_moved;
    }
  }
  CHECK(others_moved == 0);
  CHECK(removed_keys > 0);
}

// Maglev refills its table on a membership change; a few slots of surviving
// hosts change hands (Envoy: "not as stable as ring hash"). With 65537 slots
// and 4-5 hosts this is about 0.1-0.2% of the keys; 1% bounds it with room
// for other key sets while still failing for a table rebuilt without
// regard to the old one (which moves most keys).
TEST_CASE("MAGLEV: adding a host moves keys to it, plus under 1% extra") {
  auto before = MakeLb(LbPolicy::kMaglev, MakeHosts(4));
  auto after = MakeLb(LbPolicy::kMaglev, MakeHosts(5));
  const std::string added = MakeHost(4)->address_string();
  std::vector<std::string> old_owners = Assignments(*before);
  std::vector<std::string> new_owners = Assignments(*after);
  int to_added = 0;
  int moved_elsewhere = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (old_owners[i] == new_owners[i]) continue;
    if (new_owners[i] == added) {
      ++to_added;
    } else {
      ++moved_elsewhere;
    }
  }
  CHECK(to_added > kKeys / 5 * 0.95);
  CHECK(moved_elsewhere < kKeys / 100);
}

TEST_CASE("MAGLEV: removing a host moves its keys, plus under 1% extra") {
  HostVector hosts = MakeHosts(4);
  auto before = MakeLb(LbPolicy::kMaglev, hosts);
  const std::string removed = hosts[1]->address_string();
  hosts.erase(hosts.begin() + 1);
  auto after = MakeLb(LbPolicy::kMaglev, hosts);
  std::vector<std::string> old_owners = Assignments(*before);
  std::vector<std::string> new_owners = Assignments(*after);
  int others_moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (old_owners[i] != removed && old_owners[i] != new_owners[i]) {
      ++others_moved;
    }
  }
  CHECK(others_moved < kKeys / 100);
}

TEST_CASE("MAGLEV: weights set the share of keys") {
  HostVector hosts = {MakeHost(0, 1), MakeHost(1, 3)};
  auto lb = MakeLb(LbPolicy::kMaglev, hosts);
  int heavy = 0;
  for (int i = 0; i < kKeys; ++i) heavy += lb->ChooseHost({.hash = Hash(i)}) == hosts[1];
  CHECK(heavy > kKeys * 0.73);
  CHECK(heavy < kKeys * 0.77);
}

TEST_CASE("hash balancers without a request hash fall back to round robin") {
  for (LbPolicy policy : {LbPolicy::kRingHash, LbPolicy::kMaglev}) {
    CAPTURE(LbPolicyName(policy));
    HostVector hosts = MakeHosts(3);
    auto lb = MakeLb(policy, hosts);
    std::map<Host*, int> counts;
    for (int i = 0; i < 30; ++i) ++counts[lb->ChooseHost({}).get()];
    REQUIRE(counts.size() == 3);
    for (const auto& [host, count] : counts) CHECK(count == 10);
  }
}

TEST_CASE("hash balancers: avoiding a host sends its keys elsewhere, only them") {
  for (LbPolicy policy : {LbPolicy::kRingHash, LbPolicy::kMaglev}) {
    CAPTURE(LbPolicyName(policy));
    HostVector hosts = MakeHosts(4);
    auto lb = MakeLb(policy, hosts);
    int changed = 0;
    for (int i = 0; i < 1000; ++i) {
      HostSharedPtr owner = lb->ChooseHost({.hash = Hash(i)});
      HostSharedPtr retry = lb->ChooseHost({.hash = Hash(i), .avoid = hosts[0].get()});
      CHECK(retry != hosts[0]);
      changed += owner != retry;
      if (owner != hosts[0]) CHECK(retry == owner);
    }
    CHECK(changed > 150);  // hosts[0]'s quarter
  }
  auto single = MakeLb(LbPolicy::kMaglev, MakeHosts(1));
  HostSharedPtr only = single->ChooseHost({.hash = 1});
  CHECK(single->ChooseHost({.hash = 1, .avoid = only.get()}) == only);
}

TEST_CASE("LoadBalancer::Create rejects CLUSTER_PROVIDED and bad parameters") {
  auto provided = LoadBalancer::Create(LbPolicy::kClusterProvided, {}, {}, 1);
  REQUIRE(!provided.ok());
  CHECK(provided.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(provided.status().message() ==
        "lb_policy CLUSTER_PROVIDED has no load balancer (the cluster "
        "provides the host)");

  ClusterSpec params;
  params.maglev_table_size = 65536;
  auto maglev = LoadBalancer::Create(LbPolicy::kMaglev, params, MakeHosts(2), 1);
  REQUIRE(!maglev.ok());
  CHECK(maglev.status().message() == "maglev_table_size 65536 is not prime");
  // Round robin does not read the table size.
  CHECK(LoadBalancer::Create(LbPolicy::kRoundRobin, params, MakeHosts(2), 1).ok());

  auto weightless = LoadBalancer::Create(LbPolicy::kRingHash, {}, {MakeHost(0, 0)}, 1);
  REQUIRE(!weightless.ok());
  CHECK(weightless.status().message() ==
        "host 127.0.1.10:8081 has weight 0 (weights must be at least 1)");
}

RequestView Request(std::string_view path,
                    std::span<const RequestHeader> headers = {}) {
  return RequestView{.method = "GET", .authority = "proxy", .path = path,
                     .headers = headers};
}

HashPolicySpec QueryPolicy(std::string name, bool terminal = false) {
  return {.kind = HashPolicySpec::Kind::kQueryParameter,
          .name = std::move(name),
          .terminal = terminal};
}

HashPolicySpec HeaderPolicy(std::string name, bool terminal = false) {
  return {.kind = HashPolicySpec::Kind::kHeader,
          .name = std::move(name),
          .terminal = terminal};
}

uint64_t Rotl1(uint64_t h) { return (h << 1) | (h >> 63); }

TEST_CASE("ComputeRequestHash: a query parameter hashes as KeyHash of its value") {
  const std::vector<HashPolicySpec> policies = {QueryPolicy("client_id")};
  CHECK(ComputeRequestHash(policies, Request("/join?client_id=123")) == KeyHash("123"));
  CHECK(ComputeRequestHash(policies, Request("/join?a=1&client_id=123&client_id=9")) ==
        KeyHash("123"));
  CHECK(ComputeRequestHash(policies, Request("/join?client_id=")) == KeyHash(""));
  CHECK(ComputeRequestHash(policies, Request("/join")) == std::nullopt);
  CHECK(ComputeRequestHash(policies, Request("/join?CLIENT_ID=1")) == std::nullopt);
  CHECK(ComputeRequestHash(policies, Request("/join?other=1")) == std::nullopt);
  CHECK(ComputeRequestHash({}, Request("/join?client_id=1")) == std::nullopt);
}

TEST_CASE("ComputeRequestHash: query values are percent-decoded") {
  const std::vector<HashPolicySpec> policies = {QueryPolicy("client_id")};
  const std::string long_value(100, 'x');
  for (std::string raw :
       {std::string("a%20b"), std::string("a+b"), std::string("%31%32%33"),
        std::string("100%"), std::string("%zz"), std::string("%%41"),
        std::string("%4"), "%C3%A9" + long_value + "%2F" + long_value}) {
    CAPTURE(raw);
    const std::string path = "/join?client_id=" + raw;
    CHECK(ComputeRequestHash(policies, Request(path)) == KeyHash(PercentDecode(raw)));
  }
  CHECK(ComputeRequestHash(policies, Request("/join?client_id=%31%32%33")) ==
        KeyHash("123"));
}

TEST_CASE("ComputeRequestHash: headers match case-insensitively, first value") {
  const RequestHeader headers[] = {{"X-Client-Id", "42"}, {"x-client-id", "43"}};
  const std::vector<HashPolicySpec> policies = {HeaderPolicy("x-client-id")};
  CHECK(ComputeRequestHash(policies, Request("/", headers)) == KeyHash("42"));
  CHECK(ComputeRequestHash(policies, Request("/")) == std::nullopt);
}

TEST_CASE("ComputeRequestHash: policies combine; terminal stops at a hash") {
  const RequestHeader headers[] = {{"x-user", "u"}};
  const RequestView request = Request("/join?client_id=c", headers);

  const std::vector<HashPolicySpec> both = {QueryPolicy("client_id"),
                                            HeaderPolicy("x-user")};
  CHECK(ComputeRequestHash(both, request) == (Rotl1(KeyHash("c")) ^ KeyHash("u")));

  // Two identical policies do not cancel out.
  const std::vector<HashPolicySpec> twice = {QueryPolicy("client_id"),
                                             QueryPolicy("client_id")};
  CHECK(ComputeRequestHash(twice, request) == (Rotl1(KeyHash("c")) ^ KeyHash("c")));

  const std::vector<HashPolicySpec> terminal = {QueryPolicy("client_id", true),
                                                HeaderPolicy("x-user")};
  CHECK(ComputeRequestHash(terminal, request) == KeyHash("c"));

  // A terminal policy that finds nothing does not stop the evaluation.
  const std::vector<HashPolicySpec> missing_terminal = {
      QueryPolicy("absent", true), HeaderPolicy("x-user")};
  CHECK(ComputeRequestHash(missing_terminal, request) == KeyHash("u"));
}

TEST_CASE("ParseLbPolicy and LbPolicyName round trip with Envoy's names") {
  const std::map<LbPolicy, std::string> names = {
      {LbPolicy::kRoundRobin, "ROUND_ROBIN"},
      {LbPolicy::kLeastRequest, "LEAST_REQUEST"},
      {LbPolicy::kRandom, "RANDOM"},
      {LbPolicy::kRingHash, "RING_HASH"},
      {LbPolicy::kMaglev, "MAGLEV"},
      {LbPolicy::kClusterProvided, "CLUSTER_PROVIDED"}};
  for (const auto& [policy, name] : names) {
    CHECK(LbPolicyName(policy) == name);
    auto parsed = ParseLbPolicy(name);
    REQUIRE(parsed.ok());
    CHECK(*parsed == policy);
  }
  auto unknown = ParseLbPolicy("round_robin");
  REQUIRE(!unknown.ok());
  CHECK(unknown.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(unknown.status().message() ==
        "unknown lb_policy \"round_robin\" (expected ROUND_ROBIN, "
        "LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV or CLUSTER_PROVIDED)");
}

}  // namespace
}  // namespace homing
