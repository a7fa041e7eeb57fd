// Proves that ChooseHost() allocates nothing in the steady state, for every
// balancer and through Cluster (with outlier detection and an ejected host),
// counting allocations with tests/support/allocation_counter.

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "allocation_counter.h"
#include "homing/placement.h"
#include "homing/upstream.h"

namespace homing {
namespace {

using testing::AllocationsDuring;

class FakeTimeSource final : public TimeSource {
 public:
  MonotonicTime Now() const override { return now_; }
  void Advance(Duration d) { now_ += d; }

 private:
  MonotonicTime now_ = MonotonicTime() + std::chrono::hours(1);
};

TEST_CASE("ChooseHost allocates nothing, for every balancer") {
  for (LbPolicy policy : {LbPolicy::kRoundRobin, LbPolicy::kLeastRequest,
                          LbPolicy::kRandom, LbPolicy::kRingHash,
                          LbPolicy::kMaglev}) {
    for (bool weighted : {false, true}) {
      CAPTURE(LbPolicyName(policy));
      CAPTURE(weighted);
      ClusterSpec spec{.name = "backend", .lb_policy = policy,
                       .outlier_detection = OutlierDetectionSpec{
                           .consecutive_5xx = 1, .max_ejection_percent = 50}};
      for (int i = 0; i < 6; ++i) {
        spec.endpoints.push_back({"127.0.1." + std::to_string(10 + i), 8081,
                                  weighted ? static_cast<uint32_t>(i + 1) : 1});
      }
      FakeTimeSource time;
      StatsStore store;
      auto cluster = Cluster::Create(spec, time, store.Scope("c."));
      REQUIRE(cluster.ok());
      Cluster& c = **cluster;
      const Host* avoid = c.hosts()[3].get();
      auto pick_many = [&] {
        for (int i = 0; i < 1000; ++i) {
          HostSharedPtr a = c.ChooseHost({.hash = KeyHash(std::to_string(i % 10))});
          HostSharedPtr b = c.ChooseHost({});
          HostSharedPtr r = c.ChooseHost({.hash = static_cast<uint64_t>(i), .avoid = avoid});
          CHECK((a != nullptr && b != nullptr && r != nullptr));
        }
      };
      CHECK(AllocationsDuring(pick_many) == 0);
      // Ejecting a host, picking while it is out, and its return allocate
      // nothing either.
      size_t count = AllocationsDuring([&] {
        c.ReportOutcome(*c.hosts()[1], RequestOutcome::kServerError);
        pick_many();
        time.Advance(std::chrono::seconds(31));
        pick_many();
      });
      CHECK(store.Counter("c.outlier_detection.ejections_enforced_total").value() == 1);
      CHECK(c.hosts()[1]->healthy());
      CHECK(count == 0);
    }
  }
}

TEST_CASE("ComputeRequestHash allocates nothing") {
  const HashPolicySpec policies[] = {
      {.kind = HashPolicySpec::Kind::kQueryParameter, .name = "client_id"},
      {.kind = HashPolicySpec::Kind::kHeader, .name = "x-user"}};
  const RequestHeader headers[] = {{"X-User", "someone"}};
  const std::string path = "/join?client_id=a%20long%20encoded%20client%20id%20" +
                           std::string(200, 'x');
  const RequestView request{.method = "GET", .authority = "proxy", .path = path,
                            .headers = headers};
  std::optional<uint64_t> hash;
  CHECK(AllocationsDuring([&] { hash = ComputeRequestHash(policies, request); }) == 0);
  CHECK(hash.has_value());
}

}  // namespace
}  // namespace homing
