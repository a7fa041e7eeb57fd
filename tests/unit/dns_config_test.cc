#include "homing/dns_config.h"

#include <doctest/doctest.h>

#include <string>

namespace homing {
namespace {

TEST_CASE("DNS lookup families parse from and print as Envoy's names") {
  for (const char* name : {"V4_ONLY", "V6_ONLY", "V4_PREFERRED", "AUTO", "ALL"}) {
    auto family = ParseDnsLookupFamily(name);
    REQUIRE(family.ok());
    CHECK(DnsLookupFamilyName(*family) == name);
  }
  auto bad = ParseDnsLookupFamily("v4_only");
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()) ==
        "unknown value \"v4_only\" (expected V4_ONLY, V6_ONLY, V4_PREFERRED, AUTO or ALL)");
}

TEST_CASE("DnsCacheConfig defaults are Envoy's") {
  DnsCacheConfig config;
  CHECK(config.dns_lookup_family == DnsLookupFamily::kAuto);
  CHECK(config.dns_refresh_rate == std::chrono::seconds(60));
  CHECK(config.dns_min_refresh_rate == std::chrono::seconds(5));
  CHECK(config.host_ttl == std::chrono::minutes(5));
  CHECK(config.max_hosts == 1024);
  CHECK(config.max_pending_requests == 1024);
  CHECK(config.dns_query_timeout == std::chrono::seconds(5));
}

}  // namespace
}  // namespace homing
