// File: lib/upstream/round_robin_lb.h
//
// ROUND_ROBIN, and the round robin the hash balancers fall back to when a
// request has no hash. Equal weights cycle through the candidates; unequal
// weights use Envoy's earliest-deadline-first schedule: each host's next
// deadline is its last one plus 1/weight, and the earliest deadline goes next,
// so a weight-2 host is picked twice as often and the picks interleave.
//
// Thread safety: one thread.

#ifndef HOMING_LIB_UPSTREAM_ROUND_ROBIN_LB_H_
#define HOMING_LIB_UPSTREAM_ROUND_ROBIN_LB_H_

#include <cstdint>
#include <vector>

#include "upstream/pickable_hosts.h"

namespace homing::internal {

// RoundRobinPicker
//
// The schedule alone, over a PickableHosts its owner keeps.
class RoundRobinPicker {
 public:
  explicit RoundRobinPicker(const PickableHosts& hosts);

  // RoundRobinPicker::Refresh()
  //
  // Restarts the schedule over the current candidates; call after
  // PickableHosts::Refresh().
  void Refresh(const PickableHosts& hosts);

  // RoundRobinPicker::Pick()
  //
  // Returns an index into hosts.all(); candidates must not be empty.
  uint32_t Pick(const PickableHosts& hosts, const Host* avoid);

 private:
  struct Deadline {
    double time;
    uint32_t index;  // into hosts.all(); also breaks ties
  };
  // Pops the earliest deadline of the heap [schedule_.begin(), end) and
  // schedules that host's next turn.
  uint32_t PickWeighted(std::vector<Deadline>::iterator end,
                        const PickableHosts& hosts);

  uint64_t next_ = 0;
  std::vector<Deadline> schedule_;  // min-heap; capacity reserved up front
};

// RoundRobinLoadBalancer
class RoundRobinLoadBalancer final : public LoadBalancer {
 public:
  explicit RoundRobinLoadBalancer(HostVector hosts);
  HostSharedPtr ChooseHost(const LbContext& context) override;
  void OnHealthChanged() override;

 private:
  PickableHosts hosts_;
  RoundRobinPicker picker_;
};

}  // namespace homing::internal

#endif  // HOMING_LIB_UPSTREAM_ROUND_ROBIN_LB_H_
