#include "homing/stats.h"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace homing {
namespace {

TEST_CASE("stats are created at zero and keep their identity") {
  StatsStore store;
  Counter& counter = store.Counter("dns_cache.dfp.dns_query_attempt");
  CHECK(counter.value() == 0);
  counter.Inc();
  counter.Inc(4);
  CHECK(&store.Counter("dns_cache.dfp.dns_query_attempt") == &counter);
  CHECK(store.Counter("dns_cache.dfp.dns_query_attempt").value() == 5);

  Gauge& gauge = store.Gauge("dns_cache.dfp.num_hosts");
  gauge.Set(3);
  gauge.Inc();
  gauge.Sub(2);
  gauge.Dec();
  CHECK(gauge.value() == 1);

  // Many registrations later (rehashing), references stay valid.
  for (int i = 0; i < 1000; ++i) store.Counter("filler." + std::to_string(i));
  counter.Inc();
  CHECK(store.Counter("dns_cache.dfp.dns_query_attempt").value() == 6);
}

TEST_CASE("scopes prefix names and nest") {
  StatsStore store;
  StatsScope http = store.Scope("http.ingress_http.");
  StatsScope affinity = http.Scope("affinity.");
  affinity.Counter("cache_hit").Inc(2);
  affinity.Gauge("cache_entries").Set(7);
  CHECK(affinity.prefix() == "http.ingress_http.affinity.");
  CHECK(store.Counter("http.ingress_http.affinity.cache_hit").value() == 2);
  CHECK(store.Gauge("http.ingress_http.affinity.cache_entries").value() == 7);
}

TEST_CASE("increments from many threads are all counted") {
  StatsStore store;
  Counter& counter = store.Counter("c");
  Histogram& histogram = store.Histogram("h");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter.Inc();
        histogram.Record(static_cast<uint64_t>(i));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(counter.value() == 40000);
  CHECK(histogram.Summarize().count == 40000);
}

TEST_CASE("histogram quantiles stay within the bucket error") {
  Histogram histogram;
  for (uint64_t v = 1; v <= 10000; ++v) histogram.Record(v);
  HistogramSummary summary = histogram.Summarize();
  CHECK(summary.count == 10000);
  CHECK(summary.sum == 10000ull * 10001 / 2);
  for (size_t q = 0; q < HistogramSummary::kQuantiles.size(); ++q) {
    double expected = HistogramSummary::kQuantiles[q] * 10000;
    CAPTURE(HistogramSummary::kQuantiles[q]);
    CHECK(summary.values[q] >= expected * 0.96 - 1);
    CHECK(summary.values[q] <= expected * 1.04 + 1);
  }
}

TEST_CASE("small values are exact, huge values do not overflow") {
  Histogram histogram;
  for (int i = 0; i < 10; ++i) histogram.Record(5);
  HistogramSummary summary = histogram.Summarize();
  CHECK(summary.values.front() == 5);
  CHECK(summary.values.back() == 5);

  Histogram big;
  big.Record(UINT64_MAX);
  CHECK(big.Summarize().values.back() >= 1.8e19);
}

TEST_CASE("text rendering is Envoy's name: value, sorted") {
  StatsStore store;
  store.Counter("b.counter").Inc(2);
  store.Gauge("a.gauge").Set(-1);
  store.Histogram("c.histogram");
  auto text = store.Render(StatsFormat::kText);
  REQUIRE(text.ok());
  CHECK(*text ==
        "a.gauge: -1\n"
        "b.counter: 2\n"
        "c.histogram: No recorded values\n");

  store.Histogram("c.histogram").Record(10);
  text = store.Render(StatsFormat::kText, "^c\\.");
  REQUIRE(text.ok());
  CHECK(*text ==
        "c.histogram: P0(10) P25(10) P50(10) P75(10) P90(10) P95(10) P99(10) "
        "P99.5(10) P99.9(10) P100(10)\n");
}

TEST_CASE("filter is a partial RE2 match; a bad regex is an error") {
  StatsStore store;
  store.Counter("dns_cache.dynamic_forward_proxy_cache.cache_load").Inc();
  store.Counter("http.ingress_http.affinity.cache_hit").Inc();
  auto filtered = store.Render(StatsFormat::kText, "dynamic_forward_proxy");
  REQUIRE(filtered.ok());
  CHECK(*filtered == "dns_cache.dynamic_forward_proxy_cache.cache_load: 1\n");

  auto bad = store.Render(StatsFormat::kText, "(");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.status().message()).find("invalid stats filter regex \"(\"") == 0);
}

TEST_CASE("JSON rendering has Envoy's shape") {
  StatsStore store;
  store.Counter("a").Inc(3);
  store.Gauge("b").Set(4);
  auto json = store.Render(StatsFormat::kJson);
  REQUIRE(json.ok());
  CHECK(*json == R"({"stats":[{"name":"a","value":3},{"name":"b","value":4}]})");

  store.Histogram("h").Record(7);
  json = store.Render(StatsFormat::kJson, "^h$");
  REQUIRE(json.ok());
  CHECK(*json ==
        R"({"stats":[{"histograms":{"supported_quantiles":[0,25,50,75,90,95,99,99.5,99.9,100],)"
        R"("computed_quantiles":[{"name":"h","count":1,"sum":7,"values":[)"
        R"({"cumulative":7},{"cumulative":7},{"cumulative":7},{"cumulative":7},)"
        R"({"cumulative":7},{"cumulative":7},{"cumulative":7},{"cumulative":7},)"
        R"({"cumulative":7},{"cumulative":7}]}]}}]})");
}

TEST_CASE("Prometheus rendering sanitizes names with the homing_ prefix") {
  StatsStore store;
  store.Counter("dns_cache.dfp.dns_query_attempt").Inc(2);
  store.Gauge("cluster.resolver-v2.membership_total").Set(3);
  auto prometheus = store.Render(StatsFormat::kPrometheus);
  REQUIRE(prometheus.ok());
  CHECK(*prometheus ==
        "# TYPE homing_cluster_resolver_v2_membership_total gauge\n"
        "homing_cluster_resolver_v2_membership_total 3\n"
        "# TYPE homing_dns_cache_dfp_dns_query_attempt counter\n"
        "homing_dns_cache_dfp_dns_query_attempt 2\n");

  store.Histogram("rq_time").Record(50);
  prometheus = store.Render(StatsFormat::kPrometheus, "rq_time");
  REQUIRE(prometheus.ok());
  CHECK(prometheus->find("# TYPE homing_rq_time summary\n") == 0);
  CHECK(prometheus->find("homing_rq_time{quantile=\"0.5\"} 50\n") != std::string::npos);
  CHECK(prometheus->find("homing_rq_time_sum 50\nhoming_rq_time_count 1\n") !=
        std::string::npos);
}

TEST_CASE("a name registered as two types aborts") {
  // Death tests need a child process; run the abort path under fork().
  StatsStore store;
  store.Counter("x");
  pid_t child = fork();
  if (child == 0) {
    std::freopen("/dev/null", "w", stderr);
    store.Gauge("x");
    _exit(0);  // not reached
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
}

}  // namespace
}  // namespace homing
