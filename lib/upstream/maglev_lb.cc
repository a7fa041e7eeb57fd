#include "upstream/maglev_lb.h"

#include <string_view>
#include <vector>

namespace homing::internal {

MaglevLoadBalancer::MaglevLoadBalancer(HostVector hosts, uint64_t table_size)
    : hosts_(std::move(hosts)), fallback_(hosts_) {
  const HostVector& all = hosts_.all();
  if (all.empty()) return;
  std::vector<std::string_view> names;
  std::vector<uint32_t> weights;
  names.reserve(all.size());
  weights.reserve(all.size());
  for (const HostSharedPtr& host : all) {
    names.push_back(host->hash_key());
    weights.push_back(host->weight());
  }
  table_ = MaglevTable::Build(names, weights, table_size);
}

HostSharedPtr MaglevLoadBalancer::ChooseHost(const LbContext& context) {
  if (hosts_.candidates().empty()) return nullptr;
  const HostVector& all = hosts_.all();
  if (!context.hash.has_value()) {
    return all[fallback_.Pick(hosts_, context.avoid)];
  }
  std::span<const uint32_t> slots = table_->slots();
  const size_t first = *context.hash % slots.size();
  const Host& owner = *all[slots[first]];
  const bool skip_avoid = hosts_.Avoidable(context.avoid);
  if (hosts_.Pickable(owner, context.avoid, skip_avoid)) return all[slots[first]];
  // One lap meets every host that has a slot. Only a table smaller than the
  // host count can leave the pickable hosts without one; keep the owner then.
  size_t at = first;
  for (size_t step = 1; step < slots.size(); ++step) {
    if (++at == slots.size()) at = 0;
    if (hosts_.Pickable(*all[slots[at]], context.avoid, skip_avoid)) {
      return all[slots[at]];
    }
  }
  return all[slots[first]];
}

void MaglevLoadBalancer::OnHealthChanged() {
  hosts_.Refresh();
  fallback_.Refresh(hosts_);
}

}  // namespace homing::internal
