// Proves that an AffinityLookup cache hit allocates nothing, counting
// allocations with tests/support/allocation_counter.

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "allocation_counter.h"
#include "homing/affinity_lookup.h"
#include "homing/manual_dispatcher.h"
#include "homing/stats.h"
#include "homing/upstream.h"

namespace homing {
namespace {

using testing::AllocationsDuring;

// Answers each request as soon as the test asks.
class AnsweringTransport final : public LookupTransport {
 public:
  std::unique_ptr<Cancelable> Get(const Host&, std::string_view, Duration,
                                  Callback callback) override {
    pending_.push_back(std::move(callback));
    return std::make_unique<Cancelable>();
  }
  void Answer(const std::string& hostport) {
    std::vector<Callback> calls = std::move(pending_);
    pending_.clear();
    for (Callback& call : calls) {
      Response response;
      response.status = 200;
      response.body = R"({"hostport":")" + hostport + R"("})";
      call(std::move(response));
    }
  }

 private:
  std::vector<Callback> pending_;
};

TEST_CASE("A cache hit allocates nothing") {
  ManualDispatcher dispatcher;
  StatsStore store;
  ClusterSpec spec;
  spec.name = "resolver";
  spec.endpoints = {{"127.0.1.10", 8081, 1}};
  auto cluster = Cluster::Create(spec, dispatcher, store.Scope("c."));
  REQUIRE(cluster.ok());
  AffinityPolicy policy;
  policy.lookup_cluster = "resolver";
  policy.allowed_hostports = {"*.example.com:8081"};
  auto owned = std::make_unique<AnsweringTransport>();
  AnsweringTransport* transport = owned.get();
  auto lookup = AffinityLookup::Create(dispatcher, policy, **cluster,
                                       store.Scope("a."), std::move(owned));
  REQUIRE(lookup.ok());

  std::vector<std::string> keys;
  for (int i = 0; i < 1000; ++i) {
    // Long keys live on the heap; the hit must still not copy them.
    keys.push_back((i % 2 ? "client-" : "a-rather-long-client-identifier-") +
                   std::to_string(i));
    (*lookup)->Lookup(keys.back(), [](const LookupOutcome&) {});
    transport->Answer("server-" + std::to_string(i % 3) + ".example.com:8081");
  }

  int* witness = nullptr;
  size_t hits = 0;
  size_t made = AllocationsDuring([&] {
    for (const std::string& key : keys) {
      // A callback capturing a pointer or two, as callers write them.
      AffinityLookup::Result result = (*lookup)->Lookup(
          key, [&witness](const LookupOutcome&) { witness = nullptr; });
      if (result.outcome && result.outcome->source == LookupOutcome::Source::kCache) {
        ++hits;
      }
    }
  });
  CHECK(hits == keys.size());
  CHECK(made == 0);
}

}  // namespace
}  // namespace homing
