// File: lib/common/address_format.h
//
// Formats socket addresses as text without allocating, for the per-request
// paths (X-Forwarded-For, the access log). glibc's inet_ntop() formats IPv4
// through sprintf(), about 1,700 instructions a call; FormatIp() does IPv4
// in about 50 and hands IPv6 to inet_ntop().
//
// Example:
//
//   char ip[homing::internal::kMaxIpLength];
//   size_t length = homing::internal::FormatIp(address, ip);  // "127.0.1.10"
//
// Thread safety: pure functions.

#ifndef HOMING_LIB_COMMON_ADDRESS_FORMAT_H_
#define HOMING_LIB_COMMON_ADDRESS_FORMAT_H_

#include <arpa/inet.h>

#include <cstddef>

#include "homing/address.h"

namespace homing::internal {

inline constexpr size_t kMaxIpLength = INET6_ADDRSTRLEN;

// FormatIp()
//
// Writes the address's IP ("10.0.0.1", "::1", no brackets, no port) to `out`
// and returns its length: 0 when the address is neither IPv4 nor IPv6.
size_t FormatIp(const SocketAddress& address, char (&out)[kMaxIpLength]);

}  // namespace homing::internal

#endif  // HOMING_LIB_COMMON_ADDRESS_FORMAT_H_
