#include "upstream/round_robin_lb.h"

#include <algorithm>

namespace homing::internal {
namespace {

// std::push_heap/pop_heap build max-heaps; "later" puts the earliest deadline
// on top.
struct Later {
  template <typename D>
  bool operator()(const D& a, const D& b) const {
    return a.time != b.time ? a.time > b.time : a.index > b.index;
  }
};

}  // namespace

RoundRobinPicker::RoundRobinPicker(const PickableHosts& hosts) {
  if (!hosts.all_weights_equal()) schedule_.reserve(hosts.all().size());
  Refresh(hosts);
}

void RoundRobinPicker::Refresh(const PickableHosts& hosts) {
  if (hosts.all_weights_equal()) return;
  schedule_.clear();
  for (uint32_t index : hosts.candidates()) {
    schedule_.push_back({1.0 / hosts.all()[index]->weight(), index});
  }
  std::make_heap(schedule_.begin(), schedule_.end(), Later());
}

uint32_t RoundRobinPicker::PickWeighted(std::vector<Deadline>::iterator end,
                                        const PickableHosts& hosts) {
  std::pop_heap(schedule_.begin(), end, Later());
  Deadline& next = *(end - 1);
  const uint32_t index = next.index;
  next.time += 1.0 / hosts.all()[index]->weight();
  std::push_heap(schedule_.begin(), end, Later());
  return index;
}

uint32_t RoundRobinPicker::Pick(const PickableHosts& hosts, const Host* avoid) {
  const bool skip_avoid = hosts.Avoidable(avoid);
  if (hosts.all_weights_equal()) {
    std::span<const uint32_t> candidates = hosts.candidates();
    uint32_t index = candidates[next_++ % candidates.size()];
    // `avoid` is one candidate and another exists: the next one differs.
    if (skip_avoid && hosts.all()[index].get() == avoid) {
      index = candidates[next_++ % candidates.size()];
    }
    return index;
  }
  if (!skip_avoid || hosts.all()[schedule_.front().index].get() != avoid) {
    return PickWeighted(schedule_.end(), hosts);
  }
  // Set `avoid` aside (keeping its deadline), pick from the rest, put it back.
  std::pop_heap(schedule_.begin(), schedule_.end(), Later());
  const uint32_t index = PickWeighted(schedule_.end() - 1, hosts);
  std::push_heap(schedule_.begin(), schedule_.end(), Later());
  return index;
}

RoundRobinLoadBalancer::RoundRobinLoadBalancer(HostVector hosts)
    : hosts_(std::move(hosts)), picker_(hosts_) {}

HostSharedPtr RoundRobinLoadBalancer::ChooseHost(const LbContext& context) {
  if (hosts_.candidates().empty()) return nullptr;
  return hosts_.all()[picker_.Pick(hosts_, context.avoid)];
}

void RoundRobinLoadBalancer::OnHealthChanged() {
  hosts_.Refresh();
  picker_.Refresh(hosts_);
}

}  // namespace homing::internal
