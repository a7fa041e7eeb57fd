// File: lib/upstream/maglev_lb.h
//
// MAGLEV: a `MaglevTable` over the hosts' hash keys and weights. A request
// goes to the host of slot hash % table_size; when it may not pick that host
// (unhealthy, or the one to avoid) it probes the following slots, whose hosts
// are spread like the table's shares, so the skipped host's keys spread over
// the others and no other key moves.
//
// Thread safety: one thread.

#ifndef HOMING_LIB_UPSTREAM_MAGLEV_LB_H_
#define HOMING_LIB_UPSTREAM_MAGLEV_LB_H_

#include <cstdint>
#include <optional>

#include "homing/placement.h"
#include "upstream/round_robin_lb.h"

namespace homing::internal {

// MaglevLoadBalancer
class MaglevLoadBalancer final : public LoadBalancer {
 public:
  MaglevLoadBalancer(HostVector hosts, uint64_t table_size);
  HostSharedPtr ChooseHost(const LbContext& context) override;
  void OnHealthChanged() override;

 private:
  PickableHosts hosts_;
  RoundRobinPicker fallback_;  // requests without a hash
  std::optional<MaglevTable> table_;  // absent without hosts
};

}  // namespace homing::internal

#endif  // HOMING_LIB_UPSTREAM_MAGLEV_LB_H_
