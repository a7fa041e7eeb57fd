#include "homing/address.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/address_format.h"
#include "common/string_util.h"

namespace homing {
namespace {

bool IsDnsLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-';
}

std::optional<uint16_t> ParsePort(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  uint32_t port = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port == 0 || port > 65535) return std::nullopt;
  return static_cast<uint16_t>(port);
}

bool IsIpv4Literal(std::string_view host) {
  in_addr addr;
  std::string copy(host);
  return inet_pton(AF_INET, copy.c_str(), &addr) == 1;
}

bool IsIpv6Literal(std::string_view host) {
  in6_addr addr;
  std::string copy(host);
  return inet_pton(AF_INET6, copy.c_str(), &addr) == 1;
}

absl::Status InvalidHostPort(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid hostport \"", internal::ToAbsl(text), "\": ",
                   internal::ToAbsl(why)));
}

}  // namespace

bool IsValidDnsName(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  size_t label_start = 0;
  while (label_start <= name.size()) {
    size_t dot = name.find('.', label_start);
    if (dot == std::string_view::npos) dot = name.size();
    std::string_view label = name.substr(label_start, dot - label_start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!IsDnsLabelChar(c)) return false;
    }
    label_start = dot + 1;
  }
  return true;
}

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<HostPort> ParseHostPort(std::string_view text,
                                       std::optional<uint16_t> default_port) {
  if (text.empty()) return InvalidHostPort(text, "empty");
  for (char c : text) {
    if (c <= ' ' || c == 0x7f) {
      return InvalidHostPort(text, "contains whitespace or a control character");
    }
  }
  if (text.find('@') != std::string_view::npos) {
    return InvalidHostPort(text, "userinfo is not allowed");
  }
  if (text.find_first_of("/?#\\") != std::string_view::npos) {
    return InvalidHostPort(text, "a path, query or fragment is not allowed");
  }

  HostPort result;
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return InvalidHostPort(text, "unterminated '['");
    }
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return InvalidHostPort(text, "unexpected text after ']'");
      }
      port_text = rest.substr(1);
      has_port = true;
    }
    if (!IsIpv6Literal(host)) {
      return InvalidHostPort(text, "not an IPv6 literal inside brackets");
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon != std::string_view::npos &&
        text.find(':') != colon) {
      return InvalidHostPort(text, "IPv6 literals must be bracketed");
    }
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = text.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) return InvalidHostPort(text, "empty host");
    if (!IsIpv4Literal(host) && !IsValidDnsName(host)) {
      return InvalidHostPort(text, "host is not a valid DNS name or IP address");
    }
  }

  if (has_port) {
    std::optional<uint16_t> port = ParsePort(port_text);
    if (!port) return InvalidHostPort(text, "port must be 1-65535");
    result.port = *port;
  } else if (default_port) {
    result.port = *default_port;
  } else {
    return InvalidHostPort(text, "missing port");
  }
  result.host = std::string(host);
  return result;
}

absl::StatusOr<SocketAddress> SocketAddress::FromIp(std::string_view ip,
                                                    uint16_t port) {
  SocketAddress address;
  std::string copy(ip);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage_);
  if (inet_pton(AF_INET, copy.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return address;
  }
  address.storage_ = {};
  if (inet_pton(AF_INET6, copy.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return address;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("not an IP address: \"", copy, "\""));
}

absl::StatusOr<SocketAddress> SocketAddress::Parse(std::string_view text) {
  absl::StatusOr<HostPort> hostport = ParseHostPort(text);
  if (!hostport.ok()) return hostport.status();
  return FromIp(hostport->host, hostport->port);
}

std::optional<SocketAddress> SocketAddress::FromSockaddr(const sockaddr* sa) {
  SocketAddress address;
  if (sa->sa_family == AF_INET) {
    std::memcpy(&address.storage_, sa, sizeof(sockaddr_in));
  } else if (sa->sa_family == AF_INET6) {
    std::memcpy(&address.storage_, sa, sizeof(sockaddr_in6));
  } else {
    return std::nullopt;
  }
  return address;
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  }
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

SocketAddress SocketAddress::WithPort(uint16_t port) const {
  SocketAddress copy = *this;
  if (family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&copy.storage_)->sin_port = htons(port);
  } else if (family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&copy.storage_)->sin6_port = htons(port);
  }
  return copy;
}

socklen_t SocketAddress::sockaddr_len() const {
  if (family() == AF_INET) return sizeof(sockaddr_in);
  if (family() == AF_INET6) return sizeof(sockaddr_in6);
  return 0;
}

std::string SocketAddress::Ip() const {
  char buffer[internal::kMaxIpLength];
  return std::string(buffer, internal::FormatIp(*this, buffer));
}

std::string SocketAddress::ToString() const {
  if (family() == AF_INET6) return absl::StrCat("[", Ip(), "]:", port());
  return absl::StrCat(Ip(), ":", port());
}

bool SocketAddress::operator==(const SocketAddress& other) const {
  if (family() != other.family()) return false;
  if (family() == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&storage_);
    const auto* b = reinterpret_cast<const sockaddr_in*>(&other.storage_);
    return a->sin_port == b->sin_port &&
           a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  if (family() == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&storage_);
    const auto* b = reinterpret_cast<const sockaddr_in6*>(&other.storage_);
    return a->sin6_port == b->sin6_port &&
           std::memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(in6_addr)) == 0;
  }
  return true;
}

namespace internal {

size_t FormatIp(const SocketAddress& address, char (&out)[kMaxIpLength]) {
  const sockaddr* sa = address.sockaddr_ptr();
  if (sa->sa_family == AF_INET6) {
    const auto* ip = &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
    return inet_ntop(AF_INET6, ip, out, sizeof(out)) == nullptr
               ? 0
               : std::strlen(out);
  }
  if (sa->sa_family != AF_INET) return 0;
  const auto* octets = reinterpret_cast<const unsigned char*>(
      &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr);
  size_t length = 0;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) out[length++] = '.';
    const unsigned value = octets[i];
    if (value >= 100) out[length++] = static_cast<char>('0' + value / 100);
    if (value >= 10) out[length++] = static_cast<char>('0' + value / 10 % 10);
    out[length++] = static_cast<char>('0' + value % 10);
  }
  out[length] = '\0';
  return length;
}

}  // namespace internal
}  // namespace homing
