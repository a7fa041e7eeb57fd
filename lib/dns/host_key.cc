#include "dns/host_key.h"

#include <algorithm>

namespace homing::internal {

std::vector<SocketAddress> WithPortDeduplicated(
    std::span<const SocketAddress> addresses, uint16_t port) {
  std::vector<SocketAddress> result;
  result.reserve(addresses.size());
  for (const SocketAddress& address : addresses) {
    SocketAddress with_port = address.WithPort(port);
    if (std::find(result.begin(), result.end(), with_port) == result.end()) {
      result.push_back(with_port);
    }
  }
  return result;
}

bool SameAddressSet(std::span<const SocketAddress> a,
                    std::span<const SocketAddress> b) {
  auto contains_all = [](std::span<const SocketAddress> haystack,
                         std::span<const SocketAddress> needles) {
    return std::all_of(needles.begin(), needles.end(),
                       [&](const SocketAddress& needle) {
                         return std::find(haystack.begin(), haystack.end(),
                                          needle) != haystack.end();
                       });
  };
  return contains_all(a, b) && contains_all(b, a);
}

}  // namespace homing::internal
