// File: lib/upstream/pickable_hosts.h
//
// What every load balancer shares: the host snapshot it was built over, the
// subset it may pick from right now (the healthy hosts, or every host in
// panic mode, when none is healthy), the `LbContext::avoid` rule, and a small
// random generator. Refreshing after a health change allocates nothing.
//
// Thread safety: like the balancers, one thread.

#ifndef HOMING_LIB_UPSTREAM_PICKABLE_HOSTS_H_
#define HOMING_LIB_UPSTREAM_PICKABLE_HOSTS_H_

#include <cstdint>
#include <span>
#include <vector>

#include "homing/upstream.h"

namespace homing::internal {

// PickableHosts
class PickableHosts {
 public:
  explicit PickableHosts(HostVector hosts);

  // PickableHosts::Refresh()
  //
  // Recomputes the candidates from the hosts' current health.
  void Refresh();

  const HostVector& all() const { return hosts_; }

  // PickableHosts::candidates()
  //
  // Indices into all() of the hosts to pick from: the healthy ones, or all
  // of them in panic mode. Empty only when there are no hosts.
  std::span<const uint32_t> candidates() const { return candidates_; }

  bool panic() const { return panic_; }
  bool all_weights_equal() const { return all_weights_equal_; }

  // PickableHosts::Avoidable()
  //
  // Whether a pick should skip `avoid`: it is set and some other candidate
  // exists.
  bool Avoidable(const Host* avoid) const {
    return avoid != nullptr &&
           (candidates_.size() > 1 ||
            (candidates_.size() == 1 && hosts_[candidates_[0]].get() != avoid));
  }

  // PickableHosts::Pickable()
  //
  // Whether a consistent-hash walk may stop at `host`. `skip_avoid` is
  // Avoidable(avoid), computed once per pick.
  bool Pickable(const Host& host, const Host* avoid, bool skip_avoid) const {
    if (skip_avoid && &host == avoid) return false;
    return panic_ || host.healthy();
  }

 private:
  HostVector hosts_;
  std::vector<uint32_t> candidates_;  // capacity hosts_.size(): no reallocation
  bool panic_ = false;
  bool all_weights_equal_ = true;
};

// FastRandom
//
// SplitMix64 (Steele, Lea & Flood 2014): fast, seedable, good enough to
// spread picks; not for anything secret.
class FastRandom {
 public:
  explicit FastRandom(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // FastRandom::Below()
  //
  // Returns a value in [0, n), n > 0 (Lemire's multiply-shift; the bias is
  // below n / 2^32).
  uint32_t Below(size_t n) {
    return static_cast<uint32_t>(((Next() >> 32) * static_cast<uint64_t>(n)) >> 32);
  }

 private:
  uint64_t state_;
};

// PickCandidate()
//
// Picks a uniformly random candidate, skipping `avoid` when Avoidable().
uint32_t PickCandidate(const PickableHosts& hosts, FastRandom& random,
                       const Host* avoid);

}  // namespace homing::internal

#endif  // HOMING_LIB_UPSTREAM_PICKABLE_HOSTS_H_
