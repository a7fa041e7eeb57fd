// File: lib/router/cluster_load.h
//
// What RequestInFlight counts in: a cluster's requests in flight, and the
// recycled slots that in-flight handles share (so admitting a request
// allocates nothing once warm). A slot in use keeps its ClusterLoad alive:
// a decision may outlive its router and end on another thread.

#ifndef HOMING_LIB_ROUTER_CLUSTER_LOAD_H_
#define HOMING_LIB_ROUTER_CLUSTER_LOAD_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "homing/router.h"

namespace homing::internal {

struct ClusterLoad;

struct InFlightSlot {
  std::atomic<uint32_t> refs{0};    // RequestInFlight copies
  std::atomic<bool> ended{true};
  HostSharedPtr host;
  std::shared_ptr<ClusterLoad> load;  // while in use
};

struct ClusterLoad {
  std::atomic<uint32_t> active{0};
  uint32_t max = 0;
  Counter* overflow = nullptr;

  std::mutex mu;  // guards the slots: handles may end on any thread
  std::vector<std::unique_ptr<InFlightSlot>> slots;
  std::vector<InFlightSlot*> free;  // capacity kept >= slots.size()
};

// Admit() (declared in homing/router.h, as RequestInFlight's friend)
//
// ClusterManager::Admit() for one cluster's load.

}  // namespace homing::internal

#endif  // HOMING_LIB_ROUTER_CLUSTER_LOAD_H_
