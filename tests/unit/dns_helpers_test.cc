#include "dns/backoff.h"

#include <doctest/doctest.h>

#include <chrono>
#include <set>

#include "absl/random/random.h"
#include "dns/host_key.h"

namespace homing::internal {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("backoff ceilings double from base to max, floors never go below base") {
  absl::BitGen gen;
  for (int trial = 0; trial < 200; ++trial) {
    JitteredBackoff backoff(milliseconds(100), milliseconds(1000));
    CHECK(backoff.Next(gen) == milliseconds(100));
    Duration d = backoff.Next(gen);
    CHECK((d >= milliseconds(100) && d <= milliseconds(200)));
    d = backoff.Next(gen);
    CHECK((d >= milliseconds(200) && d <= milliseconds(400)));
    d = backoff.Next(gen);
    CHECK((d >= milliseconds(400) && d <= milliseconds(800)));
    for (int i = 0; i < 5; ++i) {  // capped: ceiling 1000, floor 500
      d = backoff.Next(gen);
      CHECK((d >= milliseconds(500) && d <= milliseconds(1000)));
    }
  }
}

TEST_CASE("backoff draws spread over the jitter range") {
  absl::BitGen gen;
  std::set<Duration::rep> draws;
  Duration lowest = seconds(10);
  Duration highest = Duration::zero();
  for (int trial = 0; trial < 500; ++trial) {
    JitteredBackoff backoff(seconds(1), seconds(60));
    backoff.Next(gen);
    Duration d = backoff.Next(gen);  // in [1s, 2s]
    draws.insert(d.count());
    lowest = std::min(lowest, d);
    highest = std::max(highest, d);
  }
  CHECK(draws.size() > 400);
  CHECK(lowest < milliseconds(1100));
  CHECK(highest > milliseconds(1900));
}

TEST_CASE("backoff reset starts over at base") {
  absl::BitGen gen;
  JitteredBackoff backoff(seconds(2), seconds(10));
  for (int i = 0; i < 4; ++i) backoff.Next(gen);
  backoff.Reset();
  CHECK(backoff.Next(gen) == seconds(2));
}

TEST_CASE("base equal to max is a fixed interval") {
  absl::BitGen gen;
  JitteredBackoff backoff(seconds(60), seconds(60));
  for (int i = 0; i < 10; ++i) CHECK(backoff.Next(gen) == seconds(60));
}

TEST_CASE("host keys split host and port without copying; a bare host takes the default") {
  auto key = [](std::string_view host, uint16_t port) {
    HostKey k = HostKey::Of(host, port);
    return std::string(k.host) + "|" + std::to_string(k.port);
  };
  CHECK(key("a.example", 8081) == "a.example|8081");
  CHECK(key("a.example:9000", 8081) == "a.example|9000");
  CHECK(key("[::1]", 80) == "[::1]|80");
  CHECK(key("[::1]:443", 80) == "[::1]|443");
  CHECK(key("10.0.0.1", 65535) == "10.0.0.1|65535");
  CHECK(key("a.example:99999", 80) == "a.example|0");  // out of range: no entry matches
  const std::string text = "b.example:80";
  CHECK(HostKey::Of(text, 1).host.data() == text.data());
  CHECK(key("a:http", 80) == "a:http|80");
  CHECK(key("1234", 80) == "1234|80");
  CHECK(key("a:0", 80) == "a|0");
  CHECK(key("a:1234567", 80) == "a:1234567|80");
  CHECK(key("::1", 80) == ":|1");  // unbracketed IPv6: a key no entry has
}

TEST_CASE("stored keys are the canonical host text and port, and match their views") {
  StoredHostKey v6 = HostKey::Canonical(*ParseHostPort("[::1]", 80));
  CHECK(v6.first == "[::1]");
  CHECK(v6.second == 80);
  StoredHostKey name = HostKey::Canonical(*ParseHostPort("a.example:9000"));
  CHECK(HostKeyEq()(name, HostKey::Of("a.example", 9000)));
  CHECK(HostKeyHash()(name) == HostKeyHash()(HostKey::Of("a.example:9000", 1)));
  CHECK_FALSE(HostKeyEq()(name, HostKey::Of("a.example", 9001)));
}

TEST_CASE("address sets compare without order and deduplicate with the port applied") {
  auto ip = [](const char* text) { return *SocketAddress::FromIp(text, 0); };
  std::vector<SocketAddress> answer = {ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.1")};
  std::vector<SocketAddress> with_port = WithPortDeduplicated(answer, 80);
  REQUIRE(with_port.size() == 2);
  CHECK(with_port[0].ToString() == "10.0.0.1:80");
  CHECK(with_port[1].ToString() == "10.0.0.2:80");
  std::vector<SocketAddress> reversed = {with_port[1], with_port[0]};
  CHECK(SameAddressSet(with_port, reversed));
  CHECK_FALSE(SameAddressSet(with_port, std::span(with_port).first(1)));
  CHECK_FALSE(SameAddressSet(with_port, WithPortDeduplicated(answer, 81)));
}

}  // namespace
}  // namespace homing::internal
