// File: lib/route/virtual_host_selector.h
//
// Picks the virtual host for an authority the way Envoy does: an exact
// domain, then the longest suffix wildcard (`*.foo.com`, `*-bar.foo.com`),
// then the longest prefix wildcard (`foo.*`, `foo-*`), then `*`. A wildcard
// stands for at least one character. Domains compare case-insensitively;
// lookups hash the authority case-insensitively in place, so selecting never
// allocates or copies.
//
// Example:
//
//   VirtualHostSelector selector(/*ignore_port=*/false);
//   selector.Add("*.example.com", 0);
//   selector.Add("*", 1);
//   std::optional<uint32_t> host = selector.Select("api.example.com");  // 0
//
// Thread safety: build on one thread; `Select()` may then run concurrently.

#ifndef HOMING_LIB_ROUTE_VIRTUAL_HOST_SELECTOR_H_
#define HOMING_LIB_ROUTE_VIRTUAL_HOST_SELECTOR_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace homing::route_internal {

class VirtualHostSelector {
 public:
  // VirtualHostSelector()
  //
  // With `ignore_port`, an authority "host:port" is looked up as "host".
  explicit VirtualHostSelector(bool ignore_port) : ignore_port_(ignore_port) {}

  // VirtualHostSelector::Add()
  //
  // Registers `domain` for virtual host `host`. Returns the host already
  // registered under the same domain (case-insensitively) instead, leaving
  // the selector unchanged; a second `*` counts as such a duplicate.
  std::optional<uint32_t> Add(std::string_view domain, uint32_t host);

  // VirtualHostSelector::Select()
  //
  // The virtual host for `authority`, or nullopt when none matches.
  std::optional<uint32_t> Select(std::string_view authority) const;

 private:
  // Keys are lower-cased domains (or their literal part).
  using DomainMap = absl::flat_hash_map<std::string, uint32_t>;
  // Wildcards grouped by the length of their literal part, longest first.
  using WildcardMaps = std::vector<std::pair<size_t, DomainMap>>;

  // Authorities up to this length are looked up by hash.
  static constexpr size_t kMaxHashedLength = 512;

  static DomainMap& MapForLength(WildcardMaps& maps, size_t length);

  // Envoy's search order over `host`, with `find(map, key)` looking one
  // key up.
  template <typename Find>
  std::optional<uint32_t> SelectWith(std::string_view host, Find find) const;

  bool ignore_port_;
  DomainMap exact_;
  WildcardMaps suffixes_;        // "*.foo.com" stored as ".foo.com"
  WildcardMaps prefixes_;        // "foo.*" stored as "foo."
  std::optional<uint32_t> any_;  // the `*` host
};

}  // namespace homing::route_internal

#endif  // HOMING_LIB_ROUTE_VIRTUAL_HOST_SELECTOR_H_
