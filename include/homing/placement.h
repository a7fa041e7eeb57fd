// File: homing/placement.h
//
// `owner(key, members)`: which member of an ordered membership owns a key.
// Four strategies, all deterministic across processes, platforms and
// releases, because every one starts from the same documented key hash:
//
//   KeyHash(key) = XXH64(key bytes, seed 0)      (xxHash 0.8, little-endian)
//
//  - kJump:       Lamping & Veach jump consistent hash over ordinals 0..n-1.
//                 n→n+1 moves exactly the keys the new last member takes
//                 (about 1/(n+1)). Fits StatefulSet ordinals: scale-in removes
//                 the highest ordinals.
//  - kRendezvous: highest random weight over member *names*
//                 (score = Mix(KeyHash(key) ^ XXH64(name))). Removing any
//                 member moves only that member's keys.
//  - kMaglev:     Maglev lookup table (65537 entries, prime) built from member
//                 names; O(1) lookup, near-perfect balance, rebuilt on
//                 membership change.
//  - kModulo:     KeyHash(key) % n; for comparison (moves most keys on change).
//
// Example:
//
//   auto placement = homing::Placement::Create(
//       homing::PlacementStrategy::kJump,
//       {"server-0.server-headless:8081", "server-1.server-headless:8081"});
//   const std::string& owner = (*placement)->Owner("123");
//
// Thread safety: `Owner()`/`OwnerIndex()` are const and may run concurrently;
// `SetMembers()` must not run concurrently with anything else on the same
// object (build a new Placement and swap a shared_ptr to change membership
// under readers).

#ifndef HOMING_PLACEMENT_H_
#define HOMING_PLACEMENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace homing {

// KeyHash()
//
// The 64-bit hash every placement strategy and consistent-hash load balancer
// starts from: XXH64 of the key's bytes with seed 0.
uint64_t KeyHash(std::string_view key);

// JumpConsistentHash()
//
// Lamping & Veach (arXiv:1406.2294): maps `hash` to a bucket in [0, buckets).
// `buckets` must be > 0.
uint32_t JumpConsistentHash(uint64_t hash, uint32_t buckets);

enum class PlacementStrategy { kJump, kRendezvous, kMaglev, kModulo };

// ParsePlacementStrategy() / PlacementStrategyName()
//
// "jump", "rendezvous", "maglev", "modulo".
absl::StatusOr<PlacementStrategy> ParsePlacementStrategy(std::string_view name);
std::string_view PlacementStrategyName(PlacementStrategy strategy);

// Placement
class Placement {
 public:
  virtual ~Placement() = default;

  // Placement::Create()
  //
  // Fails (InvalidArgument) on an empty membership or duplicate member names.
  static absl::StatusOr<std::unique_ptr<Placement>> Create(
      PlacementStrategy strategy, std::vector<std::string> members);

  // Placement::OwnerIndex()
  //
  // Returns the ordinal of the member that owns `key`.
  virtual size_t OwnerIndex(std::string_view key) const = 0;

  // Placement::Owner()
  //
  // Returns the name of the member that owns `key`.
  const std::string& Owner(std::string_view key) const {
    return members_[OwnerIndex(key)];
  }

  // Placement::SetMembers()
  //
  // Replaces the membership (rebuilding any table). Same errors as Create();
  // on error the old membership stays.
  absl::Status SetMembers(std::vector<std::string> members);

  const std::vector<std::string>& members() const { return members_; }
  PlacementStrategy strategy() const { return strategy_; }

 protected:
  explicit Placement(PlacementStrategy strategy) : strategy_(strategy) {}
  // Called by SetMembers() after validation; rebuilds derived state.
  virtual void Rebuild() = 0;
  std::vector<std::string> members_;

 private:
  PlacementStrategy strategy_;
};

}  // namespace homing

#endif  // HOMING_PLACEMENT_H_
