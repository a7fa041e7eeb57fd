// MaglevTable: Eisenbud et al., "Maglev: A Fast and Reliable Software Network
// Load Balancer", NSDI'16, §3.4 (population), with Envoy's weighted turns
// (source/extensions/load_balancing_policies/maglev/maglev_lb.cc).

#include "homing/placement.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>


namespace homing {
namespace {

constexpr uint32_t kUnclaimed = std::numeric_limits<uint32_t>::max();

// One member's walk through its preference permutation.
struct Turn {
  uint32_t member;
  uint32_t weight;
  uint64_t position;  // permutation[next], the next slot this member prefers
  uint64_t skip;
  uint64_t target = 0;  // weighted turns: claim when round * weight >= target
};

}  // namespace

MaglevTable MaglevTable::Build(std::span<const std::string_view> names,
                               std::span<const uint32_t> weights,
                               uint64_t table_size) {
  if (names.empty() || table_size < 2 ||
      (!weights.empty() && weights.size() != names.size())) {
    std::fputs("homing: MaglevTable::Build() preconditions violated\n", stderr);
    std::abort();
  }
  std::vector<uint32_t> order(names.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return names[a] < names[b]; });

  std::vector<Turn> turns;
  turns.reserve(names.size());
  uint64_t max_weight = 1;
  for (uint32_t member : order) {
    const std::string_view name = names[member];
    const uint32_t weight = weights.empty() ? 1 : weights[member];
    max_weight = std::max<uint64_t>(max_weight, weight);
    turns.push_back({.member = member,
                     .weight = weight,
                     .position = XXH64(name.data(), name.size(), 0) % table_size,
                     .skip = XXH64(name.data(), name.size(), 1) % (table_size - 1) + 1});
  }

  std::vector<uint32_t> slots(table_size, kUnclaimed);
  uint64_t claimed = 0;
  for (uint64_t round = 1; claimed < table_size; ++round) {
    for (Turn& turn : turns) {
      if (claimed == table_size) break;
      if (round * turn.weight < turn.target) continue;
      turn.target += max_weight;
      while (slots[turn.position] != kUnclaimed) {
        turn.position = (turn.position + turn.skip) % table_size;
      }
      slots[turn.position] = turn.member;
      turn.position = (turn.position + turn.skip) % table_size;
      ++claimed;
    }
  }
  return MaglevTable(std::move(slots));
}

}  // namespace homing
