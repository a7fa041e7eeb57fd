// File: lib/upstream/ring_hash_lb.h
//
// RING_HASH: a ketama-style ring. Host i contributes weight_i × P points at
// XXH64("<hash_key>_<j>", 0) for j = 0..weight_i × P - 1, where P is
// ring_hash_minimum_ring_size, lowered only when the ring would exceed
// ring_hash_maximum_ring_size. A host's points thus depend on nothing but the
// host, and a membership change moves only the keys that land on or leave
// the hosts that came or went. A request goes to the first point at or after
// its hash (wrapping), walking on past hosts it may not pick; a radix index
// over the hashes' top bits finds that point in O(1) expected time.
//
// Thread safety: one thread.

#ifndef HOMING_LIB_UPSTREAM_RING_HASH_LB_H_
#define HOMING_LIB_UPSTREAM_RING_HASH_LB_H_

#include <cstdint>
#include <vector>

#include "upstream/round_robin_lb.h"

namespace homing::internal {

// RingHashLoadBalancer
class RingHashLoadBalancer final : public LoadBalancer {
 public:
  RingHashLoadBalancer(HostVector hosts, uint64_t minimum_ring_size,
                       uint64_t maximum_ring_size);
  HostSharedPtr ChooseHost(const LbContext& context) override;
  void OnHealthChanged() override;

  // RingHashLoadBalancer::ring_size()
  //
  // The number of points on the ring.
  size_t ring_size() const { return point_hashes_.size(); }

 private:
  PickableHosts hosts_;
  RoundRobinPicker fallback_;  // requests without a hash
  // Returns the position of the first point at or after `hash`, wrapping.
  size_t FirstPointAtOrAfter(uint64_t hash) const;

  // The ring, sorted by hash, in two arrays so the search touches only the
  // hashes.
  std::vector<uint64_t> point_hashes_;
  std::vector<uint32_t> point_hosts_;  // index into hosts_.all()
  // A radix index over the ring: bucket_start_[b] is the first point whose
  // top bits are >= b, with about one point per bucket, so a lookup scans a
  // point or two instead of a binary search's dozen mispredicted branches.
  std::vector<uint32_t> bucket_start_;
  int bucket_shift_ = 63;  // hash >> bucket_shift_ is the bucket
};

}  // namespace homing::internal

#endif  // HOMING_LIB_UPSTREAM_RING_HASH_LB_H_
