#include "upstream/random_lb.h"

namespace homing::internal {

RandomLoadBalancer::RandomLoadBalancer(HostVector hosts, uint64_t seed)
    : hosts_(std::move(hosts)), random_(seed) {}

HostSharedPtr RandomLoadBalancer::ChooseHost(const LbContext& context) {
  if (hosts_.candidates().empty()) return nullptr;
  return hosts_.all()[PickCandidate(hosts_, random_, context.avoid)];
}

LeastRequestLoadBalancer::LeastRequestLoadBalancer(HostVector hosts,
                                                   uint32_t choice_count,
                                                   uint64_t seed)
    : hosts_(std::move(hosts)), choice_count_(choice_count), random_(seed) {}

HostSharedPtr LeastRequestLoadBalancer::ChooseHost(const LbContext& context) {
  if (hosts_.candidates().empty()) return nullptr;
  const HostVector& all = hosts_.all();
  uint32_t best = PickCandidate(hosts_, random_, context.avoid);
  for (uint32_t choice = 1; choice < choice_count_; ++choice) {
    const uint32_t index = PickCandidate(hosts_, random_, context.avoid);
    // active / weight < best_active / best_weight, without dividing.
    const double active = static_cast<double>(
        all[index]->stats().rq_active.load(std::memory_order_relaxed));
    const double best_active = static_cast<double>(
        all[best]->stats().rq_active.load(std::memory_order_relaxed));
    if (active * all[best]->weight() < best_active * all[index]->weight()) {
      best = index;
    }
  }
  return all[best];
}

}  // namespace homing::internal
