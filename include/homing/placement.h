// File: homing/placement.h
//
// `owner(key, members)`: which member of an ordered membership owns a key.
// Four strategies, all deterministic across processes, platforms and
// releases, because every one starts from the same documented key hash:
//
//   KeyHash(key) = XXH64(key bytes, seed 0)      (xxHash 0.8, libxxhash)
//
// XXH64 is defined on bytes with a little-endian reading, so the value is the
// same on every platform; the tests pin it against the xxHash spec vectors.
//
//  - kJump:       Lamping & Veach jump consistent hash of KeyHash(key) over
//                 ordinals 0..n-1. n→n+1 moves exactly the keys the new last
//                 member takes (about 1/(n+1)), all of them to that member.
//                 Fits StatefulSet ordinals: scale-in removes the highest
//                 ordinals. Removing a middle member renumbers the rest, so
//                 use kRendezvous or kMaglev for arbitrary removals.
//  - kRendezvous: highest random weight over member *names*:
//                   score(member) = Mix(KeyHash(key) ^ XXH64(name, seed 0))
//                 where Mix is the SplitMix64 finalizer (without it the XOR's
//                 highest differing bit would decide, which skews the shares).
//                 The highest score wins (the lowest ordinal on a tie).
//                 Removing any member moves only that member's keys. O(n).
//  - kMaglev:     Maglev lookup table (65537 entries, prime) built from member
//                 names (see `MaglevTable`); owner = table[KeyHash(key) % 65537].
//                 O(1) lookup, near-perfect balance; a membership change moves
//                 the keys of the members that come or go plus a small extra
//                 share. The table depends on the names, not their order.
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
// under readers). `MaglevTable` is an immutable value once built.

#ifndef HOMING_PLACEMENT_H_
#define HOMING_PLACEMENT_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace homing {

// KeyHash()
//
// The 64-bit hash every placement strategy and consistent-hash load balancer
// starts from: XXH64 of the key's bytes with seed 0. Hash the key exactly as
// the client sent it after percent-decoding, so that every component that
// sees the same key agrees on its owner.
uint64_t KeyHash(std::string_view key);

// JumpConsistentHash()
//
// Lamping & Veach (arXiv:1406.2294): maps `hash` to a bucket in [0, buckets).
// `buckets` must be > 0.
uint32_t JumpConsistentHash(uint64_t hash, uint32_t buckets);

enum class PlacementStrategy { kJump, kRendezvous, kMaglev, kModulo };

// ParsePlacementStrategy() / PlacementStrategyName()
//
// "jump", "rendezvous", "maglev", "modulo" (lower case, as in configs).
absl::StatusOr<PlacementStrategy> ParsePlacementStrategy(std::string_view name);
std::string_view PlacementStrategyName(PlacementStrategy strategy);

// MaglevTable
//
// The Maglev lookup table (Eisenbud et al., NSDI'16 §3.4, as Envoy builds it)
// over named, weighted members. Each member's preference list is the
// permutation
//
//   offset = XXH64(name, seed 0) % M
//   skip   = XXH64(name, seed 1) % (M - 1) + 1
//   permutation[j] = (offset + j * skip) % M
//
// which visits every slot because M is prime. Members take turns, in name
// order, claiming their next unclaimed preferred slot until all M slots are
// taken; a member of weight w takes a turn in w of every `max weight` rounds,
// so slot shares follow weights. With M > 100 × members the shares differ by
// under 1% (paper §3.4). Member names must be distinct.
//
// Example:
//
//   std::vector<std::string_view> names = {"a", "b", "c"};
//   homing::MaglevTable table = homing::MaglevTable::Build(names, {}, 65537);
//   uint32_t member = table.Lookup(homing::KeyHash("123"));  // index into names
class MaglevTable {
 public:
  static constexpr uint64_t kDefaultSize = 65537;

  // MaglevTable::Build()
  //
  // `names` must be non-empty and distinct; `weights` is empty (every weight
  // 1) or one weight >= 1 per name; `table_size` must be prime. With more
  // members than slots some members get no slot. Callers validate; a
  // violated precondition is a programming error.
  static MaglevTable Build(std::span<const std::string_view> names,
                           std::span<const uint32_t> weights,
                           uint64_t table_size);

  // MaglevTable::Lookup()
  //
  // Returns the index (into the `names` given to Build()) owning `hash`.
  uint32_t Lookup(uint64_t hash) const { return slots_[hash % slots_.size()]; }

  // MaglevTable::slots()
  //
  // Every slot's member index; a caller that must skip a member probes the
  // next slots (their owners are spread like the table's shares).
  std::span<const uint32_t> slots() const { return slots_; }

 private:
  explicit MaglevTable(std::vector<uint32_t> slots) : slots_(std::move(slots)) {}
  std::vector<uint32_t> slots_;
};

// Placement
class Placement {
 public:
  virtual ~Placement() = default;

  // Placement::Create()
  //
  // Fails (InvalidArgument) on an empty membership, an empty member name,
  // duplicate member names, or (kMaglev) more members than table slots.
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
