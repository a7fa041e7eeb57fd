// The affinity lookup's pure parts: key extraction, the hostport allow-list,
// the resolver answer parser and the failure backoff schedule.

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "homing/affinity_lookup.h"
#include "lookup/backoff.h"
#include "lookup/resolver_answer.h"

namespace homing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct KeyResult {
  KeyStatus status;
  std::string key;
};

KeyResult ExtractFromPath(const AffinityPolicy& policy, std::string_view path) {
  RequestView request{.method = "GET", .authority = "proxy", .path = path,
                      .headers = {}};
  KeyResult result{KeyStatus::kOk, "<unset>"};
  result.status = ExtractAffinityKey(policy, request, &result.key);
  return result;
}

KeyResult ExtractFromHeaders(const AffinityPolicy& policy,
                             std::span<const RequestHeader> headers) {
  RequestView request{.method = "GET", .authority = "proxy",
                      .path = "/join?client_id=from-query", .headers = headers};
  KeyResult result{KeyStatus::kOk, "<unset>"};
  result.status = ExtractAffinityKey(policy, request, &result.key);
  return result;
}

TEST_CASE("ExtractAffinityKey reads the first query parameter, percent-decoded") {
  AffinityPolicy policy;  // key: query parameter client_id
  KeyResult plain = ExtractFromPath(policy, "/join?client_id=123");
  CHECK(plain.status == KeyStatus::kOk);
  CHECK(plain.key == "123");

  KeyResult decoded =
      ExtractFromPath(policy, "/join?x=1&client_id=a%26b%3Dc%20d%2F%C3%A9&client_id=2");
  CHECK(decoded.status == KeyStatus::kOk);
  CHECK(decoded.key == "a&b=c d/\xC3\xA9");

  CHECK(ExtractFromPath(policy, "/join?client_id=x+y").key == "x y");
  CHECK(ExtractFromPath(policy, "/join?client_id=7#frag").key == "7");
}

TEST_CASE("ExtractAffinityKey tells a missing key from an empty one") {
  AffinityPolicy policy;
  KeyResult missing = ExtractFromPath(policy, "/join?other=1");
  CHECK(missing.status == KeyStatus::kMissing);
  CHECK(missing.key == "<unset>");
  CHECK(ExtractFromPath(policy, "/join").status == KeyStatus::kMissing);
  CHECK(ExtractFromPath(policy, "/join?client_idx=1").status == KeyStatus::kMissing);

  KeyResult empty = ExtractFromPath(policy, "/join?client_id=");
  CHECK(empty.status == KeyStatus::kEmpty);
  CHECK(empty.key == "<unset>");
  CHECK(ExtractFromPath(policy, "/join?client_id&x=1").status == KeyStatus::kEmpty);
}

TEST_CASE("ExtractAffinityKey bounds the decoded key length") {
  AffinityPolicy policy;
  policy.max_key_length = 4;
  CHECK(ExtractFromPath(policy, "/join?client_id=1234").status == KeyStatus::kOk);
  KeyResult too_long = ExtractFromPath(policy, "/join?client_id=12345");
  CHECK(too_long.status == KeyStatus::kTooLong);
  CHECK(too_long.key == "<unset>");
  // Six raw characters, four once decoded.
  KeyResult escaped = ExtractFromPath(policy, "/join?client_id=%41%42CD");
  CHECK(escaped.status == KeyStatus::kOk);
  CHECK(escaped.key == "ABCD");
}

TEST_CASE("ExtractAffinityKey reads a header, case-insensitively") {
  AffinityPolicy policy;
  policy.key = {KeySource::Kind::kHeader, "X-Client-Id"};
  policy.max_key_length = 5;
  const RequestHeader headers[] = {{"accept", "*/*"},
                                   {"x-client-id", "a%20b"},
                                   {"X-CLIENT-ID", "second"}};
  KeyResult found = ExtractFromHeaders(policy, headers);
  CHECK(found.status == KeyStatus::kOk);
  CHECK(found.key == "a%20b");  // header values are not percent-decoded

  const RequestHeader none[] = {{"accept", "*/*"}};
  CHECK(ExtractFromHeaders(policy, none).status == KeyStatus::kMissing);
  const RequestHeader empty[] = {{"x-client-id", ""}};
  CHECK(ExtractFromHeaders(policy, empty).status == KeyStatus::kEmpty);
  const RequestHeader too_long[] = {{"x-client-id", "123456"}};
  CHECK(ExtractFromHeaders(policy, too_long).status == KeyStatus::kTooLong);
}

HostportAllowList AllowList(std::vector<std::string> patterns) {
  absl::StatusOr<HostportAllowList> list = HostportAllowList::Create(patterns);
  REQUIRE_MESSAGE(list.ok(), list.status().ToString());
  return *std::move(list);
}

bool Allows(const HostportAllowList& list, std::string_view hostport) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(hostport);
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
  return list.Allows(*parsed);
}

TEST_CASE("HostportAllowList matches exact hostports") {
  HostportAllowList list = AllowList({"server-0.example.com:8081", "10.0.0.7:80",
                                      "[::1]:9000"});
  CHECK(Allows(list, "server-0.example.com:8081"));
  CHECK(Allows(list, "SERVER-0.Example.COM:8081"));
  CHECK(Allows(list, "server-0.example.com.:8081"));
  CHECK_FALSE(Allows(list, "server-0.example.com:8082"));
  CHECK_FALSE(Allows(list, "server-1.example.com:8081"));
  CHECK_FALSE(Allows(list, "x.server-0.example.com:8081"));
  CHECK(Allows(list, "10.0.0.7:80"));
  CHECK_FALSE(Allows(list, "10.0.0.8:80"));
  CHECK(Allows(list, "[::1]:9000"));
}

TEST_CASE("HostportAllowList wildcards stand for one or more leading labels") {
  HostportAllowList list =
      AllowList({"*.server-headless.poc-routing.svc.cluster.local:8081"});
  CHECK(Allows(list, "server-1.server-headless.poc-routing.svc.cluster.local:8081"));
  CHECK(Allows(list, "a.b.server-headless.poc-routing.svc.cluster.local:8081"));
  CHECK(Allows(list, "Server-1.SERVER-HEADLESS.poc-routing.svc.cluster.local:8081"));
  // No label in front of the suffix.
  CHECK_FALSE(Allows(list, "server-headless.poc-routing.svc.cluster.local:8081"));
  // Port mismatch.
  CHECK_FALSE(Allows(list, "server-1.server-headless.poc-routing.svc.cluster.local:22"));
  // Suffix only matched at a label boundary.
  CHECK_FALSE(Allows(list, "evilserver-headless.poc-routing.svc.cluster.local:8081"));
  CHECK_FALSE(Allows(list, "server-1.server-headless.poc-routing.svc.cluster.local.evil.com:8081"));
}

TEST_CASE("HostportAllowList allows nothing when empty") {
  HostportAllowList list = AllowList({});
  CHECK_FALSE(Allows(list, "server-0.example.com:8081"));
}

TEST_CASE("HostportAllowList rejects malformed patterns with a message") {
  struct Case {
    std::string pattern;
    std::string message;
  };
  const Case cases[] = {
      {"", "allowed_hostports[0] \"\": invalid hostport \"\": empty"},
      {"*", "allowed_hostports[0] \"*\": '*' must be followed by '.' and a domain suffix"},
      {"*:8081", "allowed_hostports[0] \"*:8081\": '*' must be followed by '.' and a domain suffix"},
      {"*example.com:80", "allowed_hostports[0] \"*example.com:80\": '*' must be followed by '.' and a domain suffix"},
      {"a.*.com:80", "allowed_hostports[0] \"a.*.com:80\": '*' may only stand for whole leading labels (\"*.example.com:8081\")"},
      {"*.*.com:80", "allowed_hostports[0] \"*.*.com:80\": invalid hostport \"*.com:80\": host is not a valid DNS name or IP address"},
      {"example.com", "allowed_hostports[0] \"example.com\": invalid hostport \"example.com\": missing port"},
      {"example.com:0", "allowed_hostports[0] \"example.com:0\": invalid hostport \"example.com:0\": port must be 1-65535"},
      {"example.com:65536", "allowed_hostports[0] \"example.com:65536\": invalid hostport \"example.com:65536\": port must be 1-65535"},
      {"user@example.com:80", "allowed_hostports[0] \"user@example.com:80\": invalid hostport \"user@example.com:80\": userinfo is not allowed"},
      {"*.0.0.1:80", "allowed_hostports[0] \"*.0.0.1:80\": a wildcard suffix must be a domain name, not an IP address"},
      // Found by the resolver_answer fuzzer: an IPv6 literal's last "label"
      // can hold letters.
      {"*.[::a]:80", "allowed_hostports[0] \"*.[::a]:80\": a wildcard suffix must be a domain name, not an IP address"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.pattern);
    absl::StatusOr<HostportAllowList> list = HostportAllowList::Create({c.pattern});
    REQUIRE_FALSE(list.ok());
    CHECK(list.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(list.status().message()) == c.message);
  }
  absl::StatusOr<HostportAllowList> second =
      HostportAllowList::Create({"ok.example.com:80", "bad"});
  REQUIRE_FALSE(second.ok());
  CHECK(std::string(second.status().message()) ==
        "allowed_hostports[1] \"bad\": invalid hostport \"bad\": missing port");
}

TEST_CASE("ParseResolverAnswer extracts the hostport field") {
  absl::StatusOr<std::string> hostport = ParseResolverAnswer(
      R"({"client_id":"123","hostport":"server-1.server-headless:8081"})", "hostport");
  REQUIRE(hostport.ok());
  CHECK(*hostport == "server-1.server-headless:8081");

  absl::StatusOr<std::string> escaped =
      ParseResolverAnswer(R"( {"where": "caf\u00e9:1", "x": [1, {"where": 2}]} )", "where");
  REQUIRE(escaped.ok());
  CHECK(*escaped == "caf\xC3\xA9:1");
}

TEST_CASE("ParseResolverAnswer says what is wrong with a bad answer") {
  struct Case {
    std::string body;
    std::string message;
  };
  const Case cases[] = {
      {"<html>oops</html>", "resolver answer is not JSON ("},
      {"", "resolver answer is not JSON ("},
      {R"({"hostport":"a:1"} trailing)", "resolver answer is not JSON ("},
      {R"({"hostport":"a:1")", "resolver answer is not JSON ("},
      {R"(["hostport","a:1"])", "resolver answer is not a JSON object"},
      {R"("a:1")", "resolver answer is not a JSON object"},
      {R"({"client_id":"1"})", "resolver answer has no \"hostport\" field"},
      {R"({"nested":{"hostport":"a:1"}})", "resolver answer has no \"hostport\" field"},
      {R"({"hostport":8081})", "resolver answer field \"hostport\" is not a string"},
      {R"({"hostport":null})", "resolver answer field \"hostport\" is not a string"},
      {std::string(lookup_internal::kMaxResolverBody + 1, ' '),
       "resolver answer is larger than 65536 bytes"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.body.substr(0, 40));
    absl::StatusOr<std::string> result = ParseResolverAnswer(c.body, "hostport");
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(result.status().message()).rfind(c.message, 0) == 0);
  }
}

TEST_CASE("ResolverAnswerParser is reusable across answers of any size") {
  lookup_internal::ResolverAnswerParser parser;
  std::string big = R"({"pad":")" + std::string(20000, 'x') + R"(","hostport":"big:1"})";
  for (int round = 0; round < 3; ++round) {
    absl::StatusOr<std::string_view> small = parser.Parse(R"({"hostport":"s:1"})", "hostport");
    REQUIRE(small.ok());
    CHECK(*small == "s:1");
    absl::StatusOr<std::string_view> large = parser.Parse(big, "hostport");
    REQUIRE(large.ok());
    CHECK(*large == "big:1");
    CHECK_FALSE(parser.Parse("{", "hostport").ok());
  }
}

using Seconds = std::chrono::duration<double>;

double DelaySeconds(lookup_internal::FailureBackoff& backoff, uint32_t failures) {
  return Seconds(backoff.Delay(failures)).count();
}

TEST_CASE("FailureBackoff grows 1.6x from 1s with 20% jitter") {
  lookup_internal::FailureBackoff backoff;
  for (uint32_t failures = 1; failures <= 8; ++failures) {
    CAPTURE(failures);
    double base = 1.0;
    for (uint32_t i = 1; i < failures; ++i) base *= 1.6;
    double lowest = 1e9, highest = 0;
    for (int sample = 0; sample < 200; ++sample) {
      double delay = DelaySeconds(backoff, failures);
      lowest = std::min(lowest, delay);
      highest = std::max(highest, delay);
    }
    CHECK(lowest >= base * 0.8 - 1e-9);
    CHECK(highest <= base * 1.2 + 1e-9);
    // The jitter really spreads the delays (200 samples over ±20%).
    CHECK(highest - lowest > base * 0.2);
  }
}

TEST_CASE("FailureBackoff is capped at 120s") {
  lookup_internal::FailureBackoff backoff;
  for (uint32_t failures : {12u, 13u, 20u, 255u, 100000u}) {
    CAPTURE(failures);
    for (int sample = 0; sample < 100; ++sample) {
      double delay = DelaySeconds(backoff, failures);
      CHECK(delay <= 120.0);
      CHECK(delay >= 96.0);
    }
  }
}

}  // namespace
}  // namespace homing
