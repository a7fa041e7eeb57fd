#include "route/virtual_host_selector.h"

#include <algorithm>
#include <array>

#include "common/string_util.h"
#include "route/string_matcher.h"

namespace homing::route_internal {
namespace {

// Where the port starts in "host:port" or "[v6]:port"; npos without a port.
size_t PortStart(std::string_view authority) {
  size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) return colon;
  size_t bracket = authority.rfind(']');
  if (bracket != std::string_view::npos && bracket > colon) {
    return std::string_view::npos;
  }
  return colon;
}

}  // namespace

VirtualHostSelector::DomainMap& VirtualHostSelector::MapForLength(
    WildcardMaps& maps, size_t length) {
  auto it = std::find_if(maps.begin(), maps.end(), [length](const auto& entry) {
    return entry.first <= length;
  });
  if (it == maps.end() || it->first != length) {
    it = maps.insert(it, {length, DomainMap()});
  }
  return it->second;
}

std::optional<uint32_t> VirtualHostSelector::Add(std::string_view domain,
                                                 uint32_t host) {
  if (domain == "*") {
    if (any_) return any_;
    any_ = host;
    return std::nullopt;
  }
  DomainMap* map = &exact_;
  std::string_view key = domain;
  if (domain.starts_with('*')) {
    key.remove_prefix(1);
    map = &MapForLength(suffixes_, key.size());
  } else if (domain.ends_with('*')) {
    key.remove_suffix(1);
    map = &MapForLength(prefixes_, key.size());
  }
  auto [it, inserted] = map->try_emplace(LowerAscii(key), host);
  if (!inserted) return it->second;
  return std::nullopt;
}

template <typename Find>
std::optional<uint32_t> VirtualHostSelector::SelectWith(std::string_view host,
                                                        Find find) const {
  if (std::optional<uint32_t> found = find(exact_, host)) return found;
  // Longest wildcard first; a wildcard stands for at least one character.
  for (const auto& [length, map] : suffixes_) {
    if (length >= host.size()) continue;
    std::optional<uint32_t> found =
        find(map, host.substr(host.size() - length));
    if (found) return found;
  }
  for (const auto& [length, map] : prefixes_) {
    if (length >= host.size()) continue;
    if (std::optional<uint32_t> found = find(map, host.substr(0, length))) {
      return found;
    }
  }
  return any_;
}

std::optional<uint32_t> VirtualHostSelector::Select(
    std::string_view authority) const {
  if (exact_.empty() && suffixes_.empty() && prefixes_.empty()) return any_;
  std::string_view host = authority;
  if (ignore_port_) host = host.substr(0, PortStart(host));
  if (host.size() > kMaxHashedLength) {
    // Far longer than any DNS name: compare key by key instead of copying.
    auto find_by_scan = [](const DomainMap& map,
                           std::string_view key) -> std::optional<uint32_t> {
      for (const auto& [domain, virtual_host] : map) {
        if (internal::EqualsIgnoreCase(domain, key)) return virtual_host;
      }
      return std::nullopt;
    };
    return SelectWith(host, find_by_scan);
  }
  std::array<char, kMaxHashedLength> lowered;
  for (size_t i = 0; i < host.size(); ++i) {
    lowered[i] = internal::AsciiLower(host[i]);
  }
  auto find_by_hash = [](const DomainMap& map,
                         std::string_view key) -> std::optional<uint32_t> {
    auto it = map.find(internal::ToAbsl(key));
    if (it == map.end()) return std::nullopt;
    return it->second;
  };
  return SelectWith(std::string_view(lowered.data(), host.size()),
                    find_by_hash);
}

}  // namespace homing::route_internal
