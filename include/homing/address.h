// File: homing/address.h
//
// Host:port parsing and validation, and resolved socket addresses. Hostports
// arrive from untrusted places (a resolver's JSON answer, a Host header), so
// `ParseHostPort()` is strict: a DNS name (RFC 1123 labels), an IPv4 literal
// or a bracketed IPv6 literal, then `:port` with port 1-65535. Userinfo,
// paths, whitespace, empty labels and trailing garbage are all rejected with
// a message saying which.
//
// Example:
//
//   absl::StatusOr<homing::HostPort> hp = homing::ParseHostPort(
//       "server-1.server-headless.poc-routing.svc.cluster.local:8081");
//   // hp->host == "server-1.server-headless...", hp->port == 8081
//
//   auto addr = homing::SocketAddress::Parse("127.0.1.11:8081");
//
// Thread safety: all functions are pure; the types are values.

#ifndef HOMING_ADDRESS_H_
#define HOMING_ADDRESS_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace homing {

struct HostPort {
  std::string host;  // DNS name or IP literal, IPv6 without brackets
  uint16_t port = 0;
  bool operator==(const HostPort&) const = default;

  // HostPort::ToString()
  //
  // Returns "host:port", bracketing IPv6 literals.
  std::string ToString() const;
};

// ParseHostPort()
//
// Parses and validates "host:port". When the text has no port and
// `default_port` is set, that port is used; otherwise a missing port is an
// error.
absl::StatusOr<HostPort> ParseHostPort(
    std::string_view text, std::optional<uint16_t> default_port = std::nullopt);

// IsValidDnsName()
//
// Returns `true` for a syntactically valid DNS host name: 1-253 characters,
// dot-separated labels of 1-63 letters, digits and hyphens, no label
// starting or ending with a hyphen. A single trailing dot is allowed.
bool IsValidDnsName(std::string_view name);

// SocketAddress
//
// An IPv4 or IPv6 address with a port, as connect() and bind() take it.
class SocketAddress {
 public:
  SocketAddress() = default;

  // SocketAddress::Parse()
  //
  // Parses "1.2.3.4:80" or "[::1]:80". No DNS.
  static absl::StatusOr<SocketAddress> Parse(std::string_view text);

  // SocketAddress::FromIp()
  //
  // Parses a bare IP literal (no brackets, no port) and pairs it with `port`.
  static absl::StatusOr<SocketAddress> FromIp(std::string_view ip,
                                              uint16_t port);

  // SocketAddress::FromSockaddr()
  //
  // Copies an AF_INET or AF_INET6 sockaddr; nullopt for other families.
  static std::optional<SocketAddress> FromSockaddr(const sockaddr* sa);

  int family() const { return storage_.ss_family; }
  uint16_t port() const;
  SocketAddress WithPort(uint16_t port) const;
  const sockaddr* sockaddr_ptr() const {
    return reinterpret_cast<const sockaddr*>(&storage_);
  }
  socklen_t sockaddr_len() const;
  bool valid() const { return storage_.ss_family != AF_UNSPEC; }

  // SocketAddress::Ip()
  //
  // Returns the address without the port: "1.2.3.4" or "::1".
  std::string Ip() const;

  // SocketAddress::ToString()
  //
  // Returns "1.2.3.4:80" or "[::1]:80".
  std::string ToString() const;

  bool operator==(const SocketAddress& other) const;

 private:
  sockaddr_storage storage_{};
};

}  // namespace homing

#endif  // HOMING_ADDRESS_H_
