// File: homing/stats.h
//
// Counters, gauges and histograms with Envoy-style dotted names
// (`dns_cache.dynamic_forward_proxy_cache.dns_query_attempt`), and the three
// renderings the admin listener serves: `/stats` text, JSON and Prometheus.
//
// Registering a stat takes a lock and returns a reference that stays valid for
// the store's lifetime; components register at construction and keep the
// references. Updating a stat is a relaxed atomic operation: lock-free, and
// safe from any thread.
//
// Example:
//
//   homing::StatsStore store;
//   homing::StatsScope scope = store.Scope("dns_cache.dfp.");
//   homing::Counter& attempts = scope.Counter("dns_query_attempt");
//   attempts.Inc();
//   std::string text = store.Render(homing::StatsFormat::kText).value();
//   // "dns_cache.dfp.dns_query_attempt: 1\n"
//
// Thread safety: every member of every class here may be called from any
// thread.

#ifndef HOMING_STATS_H_
#define HOMING_STATS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace homing {

// Counter
//
// A monotonically increasing count.
class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Gauge
//
// A value that goes up and down (entries in a cache, active requests).
class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void Sub(int64_t n) { value_.fetch_sub(n, std::memory_order_relaxed); }
  void Inc() { Add(1); }
  void Dec() { Sub(1); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// HistogramSummary
//
// A point-in-time view of a histogram: sample count, sum, and the quantiles
// Envoy reports (P0, P25, P50, P75, P90, P95, P99, P99.5, P99.9, P100).
struct HistogramSummary {
  static constexpr std::array<double, 10> kQuantiles = {
      0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1.0};
  uint64_t count = 0;
  uint64_t sum = 0;
  std::array<double, kQuantiles.size()> values{};
};

// Histogram
//
// Records non-negative integer samples (durations in microseconds, sizes in
// bytes) into fixed log-linear buckets with a relative error below 4%.
class Histogram {
 public:
  // Bucket layout: values below 64 are exact; above, each power of two is
  // split into 32 linear buckets.
  static constexpr int kSubBuckets = 32;
  static constexpr int kBucketCount = 64 + (64 - 6) * kSubBuckets;

  void Record(uint64_t value);
  HistogramSummary Summarize() const;

 private:
  std::array<std::atomic<uint64_t>, kBucketCount> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_{0};
};

enum class StatType { kCounter, kGauge, kHistogram };

// StatValue
//
// One stat in a snapshot; `value` holds the counter or gauge value, `summary`
// the histogram summary.
struct StatValue {
  std::string name;
  StatType type = StatType::kCounter;
  int64_t value = 0;
  HistogramSummary summary;
};

enum class StatsFormat { kText, kJson, kPrometheus };

class StatsScope;

// StatsStore
//
// Owns every stat of one process (or one embedding). A name belongs to one
// type: asking for an existing counter's name as a gauge is a programming
// error and aborts with a message naming the stat.
class StatsStore {
 public:
  StatsStore();
  ~StatsStore();
  StatsStore(const StatsStore&) = delete;
  StatsStore& operator=(const StatsStore&) = delete;

  // StatsStore::Counter() / Gauge() / Histogram()
  //
  // Returns the stat named `name`, creating it at zero on first use.
  homing::Counter& Counter(std::string_view name);
  homing::Gauge& Gauge(std::string_view name);
  homing::Histogram& Histogram(std::string_view name);

  // StatsStore::Scope()
  //
  // Returns a view that prefixes every name with `prefix` (include the
  // trailing dot: "http.ingress_http.").
  StatsScope Scope(std::string_view prefix);

  // StatsStore::Snapshot()
  //
  // Returns every stat whose name matches `filter_regex` (RE2, partial match
  // as in Envoy's `/stats?filter=`; empty matches all), sorted by name.
  // Fails with InvalidArgument when the regex does not compile.
  absl::StatusOr<std::vector<StatValue>> Snapshot(
      std::string_view filter_regex = {}) const;

  // StatsStore::Render()
  //
  // Renders a snapshot:
  //  - kText:       `name: value` lines; histograms as
  //                 `name: P0(v) P25(v) ... P100(v)` (Envoy's shape).
  //  - kJson:       `{"stats":[{"name":"…","value":…},…]}`, histograms under
  //                 `{"histograms":{"computed_quantiles":[…]}}`.
  //  - kPrometheus: text exposition format 0.0.4, names prefixed `homing_`
  //                 with every character outside [a-zA-Z0-9_] turned into `_`.
  absl::StatusOr<std::string> Render(StatsFormat format,
                                     std::string_view filter_regex = {}) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// StatsScope
//
// A cheap, copyable name prefix over a store.
class StatsScope {
 public:
  StatsScope(StatsStore& store, std::string prefix)
      : store_(&store), prefix_(std::move(prefix)) {}

  homing::Counter& Counter(std::string_view name) const;
  homing::Gauge& Gauge(std::string_view name) const;
  homing::Histogram& Histogram(std::string_view name) const;

  // StatsScope::Scope()
  //
  // Returns a scope nested under this one: `Scope("a.").Scope("b.")`
  // prefixes names with "a.b.".
  StatsScope Scope(std::string_view prefix) const;

  const std::string& prefix() const { return prefix_; }
  StatsStore& store() const { return *store_; }

 private:
  StatsStore* store_;
  std::string prefix_;
};

}  // namespace homing

#endif  // HOMING_STATS_H_
