#include "homing/placement.h"

#include <xxhash.h>

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"

namespace homing {
namespace {

using internal::ToAbsl;

// SplitMix64's finalizer (Steele, Lea & Flood 2014): a bijective 64-bit mix.
uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

absl::Status ValidateMembers(PlacementStrategy strategy,
                             const std::vector<std::string>& members) {
  if (members.empty()) {
    return absl::InvalidArgumentError("placement membership is empty");
  }
  std::vector<std::string_view> sorted;
  sorted.reserve(members.size());
  for (size_t i = 0; i < members.size(); ++i) {
    if (members[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("placement member ", i, " has an empty name"));
    }
    sorted.push_back(members[i]);
  }
  std::sort(sorted.begin(), sorted.end());
  auto duplicate = std::adjacent_find(sorted.begin(), sorted.end());
  if (duplicate != sorted.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "duplicate placement member \"", ToAbsl(*duplicate), "\""));
  }
  if (strategy == PlacementStrategy::kMaglev &&
      members.size() > MaglevTable::kDefaultSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("maglev placement takes at most ", MaglevTable::kDefaultSize,
                     " members, got ", members.size()));
  }
  return absl::OkStatus();
}

class JumpPlacement final : public Placement {
 public:
  JumpPlacement() : Placement(PlacementStrategy::kJump) {}
  size_t OwnerIndex(std::string_view key) const override {
    return JumpConsistentHash(KeyHash(key),
                              static_cast<uint32_t>(members_.size()));
  }

 private:
  void Rebuild() override {}
};

class ModuloPlacement final : public Placement {
 public:
  ModuloPlacement() : Placement(PlacementStrategy::kModulo) {}
  size_t OwnerIndex(std::string_view key) const override {
    return KeyHash(key) % members_.size();
  }

 private:
  void Rebuild() override {}
};

class RendezvousPlacement final : public Placement {
 public:
  RendezvousPlacement() : Placement(PlacementStrategy::kRendezvous) {}
  size_t OwnerIndex(std::string_view key) const override {
    const uint64_t key_hash = KeyHash(key);
    size_t best = 0;
    uint64_t best_score = Mix(key_hash ^ name_hashes_[0]);
    for (size_t i = 1; i < name_hashes_.size(); ++i) {
      // Branch-free select: where the running maximum changes is random per
      // key, so a branch here mispredicts on most lookups.
      const uint64_t score = Mix(key_hash ^ name_hashes_[i]);
      const bool higher = score > best_score;
      best_score = higher ? score : best_score;
      best = higher ? i : best;
    }
    return best;
  }

 private:
  void Rebuild() override {
    name_hashes_.clear();
    for (const std::string& name : members_) name_hashes_.push_back(KeyHash(name));
  }
  std::vector<uint64_t> name_hashes_;
};

class MaglevPlacement final : public Placement {
 public:
  MaglevPlacement() : Placement(PlacementStrategy::kMaglev) {}
  size_t OwnerIndex(std::string_view key) const override {
    return table_->Lookup(KeyHash(key));
  }

 private:
  void Rebuild() override {
    std::vector<std::string_view> names(members_.begin(), members_.end());
    table_ = MaglevTable::Build(names, {}, MaglevTable::kDefaultSize);
  }
  std::optional<MaglevTable> table_;  // set by Rebuild() before first use
};

}  // namespace

uint64_t KeyHash(std::string_view key) {
  return XXH64(key.data(), key.size(), 0);
}

uint32_t JumpConsistentHash(uint64_t hash, uint32_t buckets) {
  // Lamping & Veach, figure 1, verbatim: b is the last bucket the key jumped
  // to, j the next one; the linear congruential step drives the jumps.
  int64_t b = -1;
  int64_t j = 0;
  while (j < static_cast<int64_t>(buckets)) {
    b = j;
    hash = hash * 2862933555777941757ULL + 1;
    j = static_cast<int64_t>(static_cast<double>(b + 1) *
                             (static_cast<double>(1LL << 31) /
                              static_cast<double>((hash >> 33) + 1)));
  }
  return static_cast<uint32_t>(b);
}

absl::StatusOr<PlacementStrategy> ParsePlacementStrategy(std::string_view name) {
  for (PlacementStrategy strategy :
       {PlacementStrategy::kJump, PlacementStrategy::kRendezvous,
        PlacementStrategy::kMaglev, PlacementStrategy::kModulo}) {
    if (name == PlacementStrategyName(strategy)) return strategy;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown placement strategy \"", ToAbsl(name),
                   "\" (expected jump, rendezvous, maglev or modulo)"));
}

std::string_view PlacementStrategyName(PlacementStrategy strategy) {
  switch (strategy) {
    case PlacementStrategy::kJump:
      return "jump";
    case PlacementStrategy::kRendezvous:
      return "rendezvous";
    case PlacementStrategy::kMaglev:
      return "maglev";
    case PlacementStrategy::kModulo:
      return "modulo";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<Placement>> Placement::Create(
    PlacementStrategy strategy, std::vector<std::string> members) {
  std::unique_ptr<Placement> placement;
  switch (strategy) {
    case PlacementStrategy::kJump:
      placement = std::make_unique<JumpPlacement>();
      break;
    case PlacementStrategy::kRendezvous:
      placement = std::make_unique<RendezvousPlacement>();
      break;
    case PlacementStrategy::kMaglev:
      placement = std::make_unique<MaglevPlacement>();
      break;
    case PlacementStrategy::kModulo:
      placement = std::make_unique<ModuloPlacement>();
      break;
  }
  if (placement == nullptr) {
    return absl::InvalidArgumentError("unknown placement strategy");
  }
  absl::Status status = placement->SetMembers(std::move(members));
  if (!status.ok()) return status;
  return placement;
}

absl::Status Placement::SetMembers(std::vector<std::string> members) {
  absl::Status status = ValidateMembers(strategy_, members);
  if (!status.ok()) return status;
  members_ = std::move(members);
  Rebuild();
  return absl::OkStatus();
}

}  // namespace homing
