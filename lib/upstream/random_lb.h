// File: lib/upstream/random_lb.h
//
// The two balancers that sample candidates at random: RANDOM (one uniform
// draw) and LEAST_REQUEST (Envoy's power of `choice_count` choices: draw that
// many candidates, keep the one with the fewest active requests per unit of
// weight; the first drawn wins a tie).
//
// Thread safety: one thread.

#ifndef HOMING_LIB_UPSTREAM_RANDOM_LB_H_
#define HOMING_LIB_UPSTREAM_RANDOM_LB_H_

#include <cstdint>

#include "upstream/pickable_hosts.h"

namespace homing::internal {

// RandomLoadBalancer
class RandomLoadBalancer final : public LoadBalancer {
 public:
  RandomLoadBalancer(HostVector hosts, uint64_t seed);
  HostSharedPtr ChooseHost(const LbContext& context) override;
  void OnHealthChanged() override { hosts_.Refresh(); }

 private:
  PickableHosts hosts_;
  FastRandom random_;
};

// LeastRequestLoadBalancer
class LeastRequestLoadBalancer final : public LoadBalancer {
 public:
  LeastRequestLoadBalancer(HostVector hosts, uint32_t choice_count,
                           uint64_t seed);
  HostSharedPtr ChooseHost(const LbContext& context) override;
  void OnHealthChanged() override { hosts_.Refresh(); }

 private:
  PickableHosts hosts_;
  uint32_t choice_count_;
  FastRandom random_;
};

}  // namespace homing::internal

#endif  // HOMING_LIB_UPSTREAM_RANDOM_LB_H_
