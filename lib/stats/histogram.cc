#include <bit>

#include "homing/stats.h"

namespace homing {
namespace {

// Values below 64 get a bucket each; from 64 up, each power of two [2^m,
// 2^(m+1)) is split into kSubBuckets equal buckets, so a bucket is at most
// 1/32 of its lower bound wide.
constexpr int kExactLimit = 64;
constexpr int kFirstSplitExponent = 6;  // 2^6 == kExactLimit

int BucketIndex(uint64_t value) {
  if (value < kExactLimit) return static_cast<int>(value);
  int exponent = 63 - std::countl_zero(value);
  int sub = static_cast<int>((value >> (exponent - 5)) & (Histogram::kSubBuckets - 1));
  return kExactLimit + (exponent - kFirstSplitExponent) * Histogram::kSubBuckets + sub;
}

// [lower, lower + width) of bucket `index`.
void BucketRange(int index, double* lower, double* width) {
  if (index < kExactLimit) {
    *lower = index;
    *width = 1;
    return;
  }
  int exponent = kFirstSplitExponent + (index - kExactLimit) / Histogram::kSubBuckets;
  int sub = (index - kExactLimit) % Histogram::kSubBuckets;
  double unit = static_cast<double>(uint64_t{1} << (exponent - 5));
  *lower = (Histogram::kSubBuckets + sub) * unit;
  *width = unit;
}

}  // namespace

void Histogram::Record(uint64_t value) {
  buckets_[BucketIndex(value)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

HistogramSummary Histogram::Summarize() const {
  std::array<uint64_t, kBucketCount> counts;
  uint64_t total = 0;
  for (int i = 0; i < kBucketCount; ++i) {
    counts[i] = buckets_[i].load(std::memory_order_relaxed);
    total += counts[i];
  }
  HistogramSummary summary;
  summary.count = total;
  summary.sum = sum_.load(std::memory_order_relaxed);
  if (total == 0) return summary;

  // Walk the buckets once; each quantile's rank is placed inside its bucket
  // by linear interpolation.
  int bucket = 0;
  uint64_t below = 0;  // samples in buckets before `bucket`
  for (size_t q = 0; q < HistogramSummary::kQuantiles.size(); ++q) {
    double rank = HistogramSummary::kQuantiles[q] * static_cast<double>(total);
    while (bucket < kBucketCount - 1 &&
           (counts[bucket] == 0 ||
            static_cast<double>(below + counts[bucket]) < rank)) {
      below += counts[bucket];
      ++bucket;
    }
    double lower, width;
    BucketRange(bucket, &lower, &width);
    if (bucket < kExactLimit) {  // exact buckets hold one value
      summary.values[q] = lower;
      continue;
    }
    double within = counts[bucket] == 0
                        ? 0
                        : (rank - static_cast<double>(below)) /
                              static_cast<double>(counts[bucket]);
    if (within < 0) within = 0;
    if (within > 1) within = 1;
    summary.values[q] = lower + within * width;
  }
  return summary;
}

}  // namespace homing
