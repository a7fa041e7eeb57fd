#include "route/route_candidate_index.h"

#include <algorithm>
#include <numeric>

#include "common/string_util.h"
#include "route/string_matcher.h"

namespace homing::route_internal {

// Builds the tree top-down. Routes whose prefix is too short for a node's
// position are copied into every child, so a table with many of them could
// grow large: the leaves share a budget of route ids, and a node that would
// exceed it stays a (longer) leaf.
class RouteCandidateIndex::Builder {
 public:
  // Positions past this are never considered (a split there is unlikely to
  // help and would make compiling long prefixes slow).
  static constexpr size_t kMaxPosition = 256;
  static constexpr size_t kBudgetPerRoute = 32;

  Builder(RouteCandidateIndex& index,
          const std::vector<std::string_view>& required_prefixes)
      : index_(index),
        entry_budget_(kBudgetPerRoute * required_prefixes.size() + 1024) {
    lowered_.reserve(required_prefixes.size());
    for (std::string_view prefix : required_prefixes) {
      lowered_.push_back(LowerAscii(prefix));
    }
  }

  uint32_t Build(const std::vector<uint32_t>& routes) {
    if (routes.size() <= kLeafSize) return AddLeaf(routes);
    size_t position = BestPosition(routes);
    if (position == kNoPosition) return AddLeaf(routes);

    std::vector<uint32_t> unconstrained;
    std::array<std::vector<uint32_t>, 256> by_byte;
    for (uint32_t route : routes) {
      if (lowered_[route].size() <= position) {
        unconstrained.push_back(route);
        for (auto& list : by_byte) {
          if (!list.empty()) list.push_back(route);
        }
      } else {
        auto& list = by_byte[static_cast<uint8_t>(lowered_[route][position])];
        if (list.empty()) list = unconstrained;
        list.push_back(route);
      }
    }
    size_t projected = unconstrained.size();
    for (const auto& list : by_byte) projected += list.size();
    if (projected > entry_budget_) return AddLeaf(routes);

    uint32_t node = static_cast<uint32_t>(index_.inner_.size());
    index_.inner_.push_back({.position = position, .children = {}});
    uint32_t shared = Build(unconstrained);
    std::array<uint32_t, 257> children;
    children.fill(shared);
    for (size_t byte = 0; byte < by_byte.size(); ++byte) {
      if (!by_byte[byte].empty()) children[byte] = Build(by_byte[byte]);
    }
    index_.inner_[node].children = children;
    return node;
  }

 private:
  static constexpr size_t kNoPosition = static_cast<size_t>(-1);

  // The position minimising the longest child list; kNoPosition when no
  // position makes every list shorter than `routes`.
  size_t BestPosition(const std::vector<uint32_t>& routes) const {
    size_t longest_prefix = 0;
    for (uint32_t route : routes) {
      longest_prefix = std::max(longest_prefix, lowered_[route].size());
    }
    size_t best_position = kNoPosition;
    size_t best_longest_list = routes.size();
    for (size_t position = 0; position < std::min(longest_prefix, kMaxPosition);
         ++position) {
      size_t unconstrained = 0;
      std::array<size_t, 256> counts{};
      for (uint32_t route : routes) {
        const std::string& prefix = lowered_[route];
        if (prefix.size() <= position) {
          ++unconstrained;
        } else {
          ++counts[static_cast<uint8_t>(prefix[position])];
        }
      }
      size_t longest_list =
          unconstrained + *std::max_element(counts.begin(), counts.end());
      if (longest_list < best_longest_list) {
        best_longest_list = longest_list;
        best_position = position;
      }
    }
    return best_position;
  }

  uint32_t AddLeaf(const std::vector<uint32_t>& routes) {
    entry_budget_ -= std::min(entry_budget_, routes.size());
    index_.leaves_.push_back(routes);
    return static_cast<uint32_t>(index_.leaves_.size() - 1) | kLeafBit;
  }

  RouteCandidateIndex& index_;
  std::vector<std::string> lowered_;
  size_t entry_budget_;
};

RouteCandidateIndex::RouteCandidateIndex(
    const std::vector<std::string_view>& required_prefixes) {
  std::vector<uint32_t> all(required_prefixes.size());
  std::iota(all.begin(), all.end(), 0u);
  root_ = Builder(*this, required_prefixes).Build(all);
}

std::span<const uint32_t> RouteCandidateIndex::Candidates(
    std::string_view path) const {
  uint32_t node = root_;
  while ((node & kLeafBit) == 0) {
    const InnerNode& inner = inner_[node];
    size_t slot =
        inner.position < path.size()
            ? static_cast<uint8_t>(internal::AsciiLower(path[inner.position]))
            : kShortPath;
    node = inner.children[slot];
  }
  return leaves_[node & ~kLeafBit];
}

size_t RouteCandidateIndex::longest_list() const {
  size_t longest = 0;
  for (const auto& leaf : leaves_) longest = std::max(longest, leaf.size());
  return longest;
}

}  // namespace homing::route_internal
