// File: lib/route/route_candidate_index.h
//
// Narrows a virtual host's routes to the few that can match a path, in route
// order, so first-match-wins scanning tests only those. It is a small
// decision tree over path bytes: an inner node reads the path byte at one
// position (ASCII lower-cased) and picks one of 257 children (one per byte
// value, one for a path too short to have that byte). A route whose required
// prefix (see `RouteMatcher::required_path_prefix()`) reaches that position
// goes only to the child of its byte there; any other route goes to every
// child. A route left out of a child therefore cannot match any path that
// leads to it, and every list keeps route order: the first matching
// candidate is the first matching route.
//
// Nodes are split at the position that most shrinks the longest list, until
// lists are short or no split helps; prefix-heavy tables resolve in one or
// two byte reads.
//
// Example:
//
//   std::vector<std::string_view> prefixes = {"/join", "/where", "/"};
//   RouteCandidateIndex index(prefixes);
//   for (uint32_t route : index.Candidates("/join?client_id=1")) { ... }
//
// Thread safety: immutable once built; `Candidates()` may run concurrently.

#ifndef HOMING_LIB_ROUTE_ROUTE_CANDIDATE_INDEX_H_
#define HOMING_LIB_ROUTE_ROUTE_CANDIDATE_INDEX_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace homing::route_internal {

class RouteCandidateIndex {
 public:
  // Lists this short are scanned rather than split further.
  static constexpr size_t kLeafSize = 4;

  // RouteCandidateIndex()
  //
  // `required_prefixes[i]` is route i's required path prefix, empty when the
  // route constrains no leading bytes.
  explicit RouteCandidateIndex(
      const std::vector<std::string_view>& required_prefixes);

  // RouteCandidateIndex::Candidates()
  //
  // The indexes of the routes that can match `path` (the full `:path`), in
  // ascending order.
  std::span<const uint32_t> Candidates(std::string_view path) const;

  // RouteCandidateIndex::longest_list()
  //
  // The longest candidate list any path can get (for tests and tuning).
  size_t longest_list() const;

 private:
  // A child reference: an inner node index, or a leaf index with kLeafBit.
  static constexpr uint32_t kLeafBit = 0x80000000u;
  static constexpr size_t kShortPath = 256;  // child for a path too short

  struct InnerNode {
    size_t position;
    std::array<uint32_t, 257> children;
  };

  class Builder;

  std::vector<InnerNode> inner_;
  std::vector<std::vector<uint32_t>> leaves_;
  uint32_t root_;
};

}  // namespace homing::route_internal

#endif  // HOMING_LIB_ROUTE_ROUTE_CANDIDATE_INDEX_H_
