#include "homing/address.h"

#include <doctest/doctest.h>

#include <string>

#include "common/address_format.h"

namespace homing {
namespace {

TEST_CASE("ParseHostPort accepts names, IPv4 and bracketed IPv6") {
  auto name = ParseHostPort(
      "server-1.server-headless.poc-routing.svc.cluster.local:8081");
  REQUIRE(name.ok());
  CHECK(name->host == "server-1.server-headless.poc-routing.svc.cluster.local");
  CHECK(name->port == 8081);

  auto v4 = ParseHostPort("127.0.1.10:80");
  REQUIRE(v4.ok());
  CHECK(v4->host == "127.0.1.10");

  auto v6 = ParseHostPort("[::1]:443");
  REQUIRE(v6.ok());
  CHECK(v6->host == "::1");
  CHECK(v6->ToString() == "[::1]:443");
}

TEST_CASE("ParseHostPort applies a default port only when asked") {
  CHECK_FALSE(ParseHostPort("server").ok());
  auto with_default = ParseHostPort("server", 8081);
  REQUIRE(with_default.ok());
  CHECK(with_default->port == 8081);
  CHECK(ParseHostPort("server:9000", 8081)->port == 9000);
}

TEST_CASE("ParseHostPort rejects what a hostile resolver could send") {
  struct Case {
    const char* text;
    const char* why;
  };
  const Case cases[] = {
      {"", "empty"},
      {"user@server:8081", "userinfo"},
      {"server:8081/admin", "path"},
      {"server:8081?x=1", "path"},
      {"server :8081", "whitespace"},
      {"server:8081\n", "whitespace"},
      {"server:0", "port must be 1-65535"},
      {"server:65536", "port must be 1-65535"},
      {"server:80a", "port must be 1-65535"},
      {"server:", "port must be 1-65535"},
      {":8081", "empty host"},
      {"-bad.example:80", "not a valid DNS name"},
      {"bad-.example:80", "not a valid DNS name"},
      {"a..b:80", "not a valid DNS name"},
      {"under_score:80", "not a valid DNS name"},
      {"::1:80", "must be bracketed"},
      {"[::1", "unterminated"},
      {"[::1]x", "unexpected text"},
      {"[not-v6]:80", "not an IPv6 literal"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    auto parsed = ParseHostPort(c.text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(std::string(parsed.status().message()).find(c.why) != std::string::npos);
  }
}

TEST_CASE("IsValidDnsName enforces label and name lengths") {
  CHECK(IsValidDnsName("a"));
  CHECK(IsValidDnsName("server-0.server-headless."));
  CHECK(IsValidDnsName(std::string(63, 'a') + ".com"));
  CHECK_FALSE(IsValidDnsName(std::string(64, 'a') + ".com"));
  std::string long_name;
  while (long_name.size() < 254) long_name += "abcdefgh.";
  CHECK_FALSE(IsValidDnsName(long_name));
  CHECK_FALSE(IsValidDnsName("."));
}

TEST_CASE("SocketAddress parses, prints and compares") {
  auto v4 = SocketAddress::Parse("127.0.1.11:8081");
  REQUIRE(v4.ok());
  CHECK(v4->family() == AF_INET);
  CHECK(v4->port() == 8081);
  CHECK(v4->Ip() == "127.0.1.11");
  CHECK(v4->ToString() == "127.0.1.11:8081");
  CHECK(v4->WithPort(80).ToString() == "127.0.1.11:80");
  CHECK(*v4 == *SocketAddress::FromIp("127.0.1.11", 8081));
  CHECK_FALSE(*v4 == v4->WithPort(80));

  auto v6 = SocketAddress::Parse("[::1]:53");
  REQUIRE(v6.ok());
  CHECK(v6->family() == AF_INET6);
  CHECK(v6->ToString() == "[::1]:53");
  auto round_trip = SocketAddress::FromSockaddr(v6->sockaddr_ptr());
  REQUIRE(round_trip.has_value());
  CHECK(*round_trip == *v6);

  CHECK_FALSE(SocketAddress::Parse("server:80").ok());
  CHECK_FALSE(SocketAddress::FromIp("999.1.1.1", 80).ok());
  CHECK_FALSE(SocketAddress().valid());
}

TEST_CASE("FormatIp writes every IPv4 octet width and IPv6 like inet_ntop") {
  for (const char* ip : {"0.0.0.0", "255.255.255.255", "10.0.1.20", "127.0.1.109",
                         "192.168.100.9", "::1", "fe80::1:2", "2001:db8::ff00:42:8329"}) {
    CAPTURE(ip);
    auto address = SocketAddress::FromIp(ip, 80);
    REQUIRE(address.ok());
    char out[internal::kMaxIpLength];
    const size_t length = internal::FormatIp(*address, out);
    CHECK(std::string(out, length) == ip);
    CHECK(out[length] == '\0');
    CHECK(address->Ip() == ip);
  }
  char out[internal::kMaxIpLength];
  CHECK(internal::FormatIp(SocketAddress(), out) == 0);
}

}  // namespace
}  // namespace homing
