#include "upstream/pickable_hosts.h"

namespace homing::internal {

PickableHosts::PickableHosts(HostVector hosts) : hosts_(std::move(hosts)) {
  candidates_.reserve(hosts_.size());
  for (const HostSharedPtr& host : hosts_) {
    if (host->weight() != hosts_.front()->weight()) all_weights_equal_ = false;
  }
  Refresh();
}

void PickableHosts::Refresh() {
  candidates_.clear();
  for (uint32_t i = 0; i < hosts_.size(); ++i) {
    if (hosts_[i]->healthy()) candidates_.push_back(i);
  }
  panic_ = candidates_.empty() && !hosts_.empty();
  if (panic_) {
    for (uint32_t i = 0; i < hosts_.size(); ++i) candidates_.push_back(i);
  }
}

uint32_t PickCandidate(const PickableHosts& hosts, FastRandom& random,
                       const Host* avoid) {
  std::span<const uint32_t> candidates = hosts.candidates();
  uint32_t pick = random.Below(candidates.size());
  if (hosts.all()[candidates[pick]].get() == avoid && hosts.Avoidable(avoid)) {
    // Uniform over the other candidates: step 1..size-1 places on.
    pick = static_cast<uint32_t>(
        (pick + 1 + random.Below(candidates.size() - 1)) % candidates.size());
  }
  return candidates[pick];
}

}  // namespace homing::internal
