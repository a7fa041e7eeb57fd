#include "upstream/ring_hash_lb.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "absl/strings/str_cat.h"
#include "homing/placement.h"

namespace homing::internal {
namespace {

struct Point {
  uint64_t hash;
  uint32_t host;
};

}  // namespace

RingHashLoadBalancer::RingHashLoadBalancer(HostVector hosts,
                                           uint64_t minimum_ring_size,
                                           uint64_t maximum_ring_size)
    : hosts_(std::move(hosts)), fallback_(hosts_) {
  const HostVector& all = hosts_.all();
  const uint64_t total_weight = std::accumulate(
      all.begin(), all.end(), uint64_t{0},
      [](uint64_t sum, const HostSharedPtr& host) { return sum + host->weight(); });
  uint64_t points_per_weight = minimum_ring_size;
  if (total_weight > 0 && points_per_weight > maximum_ring_size / total_weight) {
    points_per_weight = std::max<uint64_t>(1, maximum_ring_size / total_weight);
  }

  std::vector<Point> points;
  points.reserve(total_weight * points_per_weight);
  std::string point_key;
  for (uint32_t index = 0; index < all.size(); ++index) {
    const std::string& hash_key = all[index]->hash_key();
    const uint64_t count = all[index]->weight() * points_per_weight;
    for (uint64_t j = 0; j < count; ++j) {
      point_key.clear();
      absl::StrAppend(&point_key, hash_key, "_", j);
      points.push_back({KeyHash(point_key), index});
    }
  }
  // Equal hashes (rare) are ordered by host identity, not host order, so the
  // ring does not depend on the order hosts were listed in.
  std::sort(points.begin(), points.end(), [&](const Point& a, const Point& b) {
    if (a.hash != b.hash) return a.hash < b.hash;
    return all[a.host]->hash_key() < all[b.host]->hash_key();
  });
  point_hashes_.reserve(points.size());
  point_hosts_.reserve(points.size());
  for (const Point& point : points) {
    point_hashes_.push_back(point.hash);
    point_hosts_.push_back(point.host);
  }

  // 2^bits buckets, at least as many as points (bits in [1, 24]).
  int bits = 1;
  while (bits < 24 && (uint64_t{1} << bits) < point_hashes_.size()) ++bits;
  bucket_shift_ = 64 - bits;
  const uint64_t buckets = uint64_t{1} << bits;
  bucket_start_.resize(buckets + 1);
  size_t at = 0;
  for (uint64_t bucket = 0; bucket < buckets; ++bucket) {
    while (at < point_hashes_.size() && (point_hashes_[at] >> bucket_shift_) < bucket) {
      ++at;
    }
    bucket_start_[bucket] = static_cast<uint32_t>(at);
  }
  bucket_start_[buckets] = static_cast<uint32_t>(point_hashes_.size());
}

size_t RingHashLoadBalancer::FirstPointAtOrAfter(uint64_t hash) const {
  const uint64_t bucket = hash >> bucket_shift_;
  size_t at = bucket_start_[bucket];
  const size_t end = bucket_start_[bucket + 1];
  // Points before the bucket are below `hash`; the first point of the next
  // bucket is above it.
  while (at < end && point_hashes_[at] < hash) ++at;
  return at == point_hashes_.size() ? 0 : at;
}

HostSharedPtr RingHashLoadBalancer::ChooseHost(const LbContext& context) {
  if (hosts_.candidates().empty()) return nullptr;
  const HostVector& all = hosts_.all();
  if (!context.hash.has_value()) {
    return all[fallback_.Pick(hosts_, context.avoid)];
  }
  const size_t size = point_hashes_.size();
  const size_t first = FirstPointAtOrAfter(*context.hash);
  const bool skip_avoid = hosts_.Avoidable(context.avoid);
  // A pickable host exists (candidates is not empty), so the walk ends
  // within one lap.
  for (size_t step = 0, at = first; step < size; ++step) {
    const Host& host = *all[point_hosts_[at]];
    if (hosts_.Pickable(host, context.avoid, skip_avoid)) {
      return all[point_hosts_[at]];
    }
    if (++at == size) at = 0;
  }
  return all[point_hosts_[first]];
}

void RingHashLoadBalancer::OnHealthChanged() {
  hosts_.Refresh();
  fallback_.Refresh(hosts_);
}

}  // namespace homing::internal
