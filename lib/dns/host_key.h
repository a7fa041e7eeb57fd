// File: lib/dns/host_key.h
//
// Cache keys and address-set helpers shared by the DNS cache and STRICT_DNS.
//
// A cache entry is keyed by host and port, the host as `HostPort::ToString()`
// prints it (IPv6 literals bracketed). `HostKey::Of()` splits what a caller
// passes ("name", "name:8081", "[::1]:80") into that pair without copying or
// allocating, so a cache hit hashes the caller's own bytes: building a
// "host:port" string first, even on the stack, costs a copy and stalls the
// hash reading it back.
//
// Example:
//
//   HostKey key = HostKey::Of("server-1.headless", 8081);
//   entries.find(key);  // {"server-1.headless", 8081}
//
// Thread safety: pure functions and value types.

#ifndef HOMING_LIB_DNS_HOST_KEY_H_
#define HOMING_LIB_DNS_HOST_KEY_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "common/string_util.h"
#include "homing/address.h"

namespace homing::internal {

// A stored key: the host text and the port.
using StoredHostKey = std::pair<std::string, uint16_t>;

// HostKey
//
// A view of an entry's key. Port 0 never matches an entry (ports are 1-65535),
// so input whose port is out of range simply misses and the caller's full
// parse reports the error.
struct HostKey {
  std::string_view host;
  uint16_t port = 0;

  // HostKey::Of()
  //
  // Splits "host:port" at a colon followed by 1-5 trailing digits; anything
  // else is a bare host and gets `default_port`. Only the tail is scanned:
  // reading the whole name would dominate a cache hit. Input that is not a
  // valid host:port (an unbracketed IPv6 literal, a port above 65535) gives
  // a key no entry has.
  static HostKey Of(std::string_view host, uint16_t default_port) {
    size_t digits = 0;
    uint32_t port = 0;
    for (uint32_t scale = 1; digits < host.size() && digits <= 5; scale *= 10) {
      const char c = host[host.size() - 1 - digits];
      if (c < '0' || c > '9') break;
      port += static_cast<uint32_t>(c - '0') * scale;
      ++digits;
    }
    const size_t colon = host.size() - 1 - digits;
    if (digits == 0 || digits == host.size() || host[colon] != ':') {
      return HostKey{host, default_port};
    }
    if (digits > 5 || port > 65535) port = 0;
    return HostKey{host.substr(0, colon), static_cast<uint16_t>(port)};
  }

  // HostKey::Canonical()
  //
  // The key to store for a parsed host:port.
  static StoredHostKey Canonical(const HostPort& host_port) {
    const std::string text = host_port.ToString();
    return {text.substr(0, text.rfind(':')), host_port.port};
  }
};

// HostKeyHash / HostKeyEq
//
// Transparent hash and equality over stored keys and HostKey views, for absl::flat_hash_map heterogeneous lookup.
struct HostKeyHash {
  using is_transparent = void;
  size_t operator()(const HostKey& key) const {
    return absl::HashOf(ToAbsl(key.host), key.port);
  }
  size_t operator()(const StoredHostKey& key) const {
    return (*this)(HostKey{key.first, key.second});
  }
};

struct HostKeyEq {
  using is_transparent = void;
  bool operator()(const StoredHostKey& a, const StoredHostKey& b) const {
    return a == b;
  }
  bool operator()(const StoredHostKey& a, const HostKey& b) const {
    return a.second == b.port && std::string_view(a.first) == b.host;
  }
  bool operator()(const HostKey& a, const StoredHostKey& b) const {
    return (*this)(b, a);
  }
};

// WithPortDeduplicated()
//
// `addresses` with `port` applied, duplicates dropped, order kept.
std::vector<SocketAddress> WithPortDeduplicated(
    std::span<const SocketAddress> addresses, uint16_t port);

// SameAddressSet()
//
// `true` when both lists hold the same addresses, in any order. A DNS server
// that rotates its answers does not make a change.
bool SameAddressSet(std::span<const SocketAddress> a,
                    std::span<const SocketAddress> b);

}  // namespace homing::internal

#endif  // HOMING_LIB_DNS_HOST_KEY_H_
