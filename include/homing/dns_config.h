// File: homing/dns_config.h
//
// DNS settings shared by the DNS cache (dynamic forward proxy), STRICT_DNS
// clusters and the config loader. Plain data with Envoy's defaults.

#ifndef HOMING_DNS_CONFIG_H_
#define HOMING_DNS_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "homing/clock.h"

namespace homing {

// DnsLookupFamily
//
// Envoy's `Cluster.DnsLookupFamily`:
//  - kV4Only / kV6Only: A / AAAA only.
//  - kV4Preferred:      A; AAAA only when there is no A record.
//  - kAuto:             AAAA; A only when there is no AAAA record.
//  - kAll:              both, IPv4 first.
enum class DnsLookupFamily { kV4Only, kV6Only, kV4Preferred, kAuto, kAll };

// ParseDnsLookupFamily() / DnsLookupFamilyName()
//
// "V4_ONLY", "V6_ONLY", "V4_PREFERRED", "AUTO", "ALL".
absl::StatusOr<DnsLookupFamily> ParseDnsLookupFamily(std::string_view name);
std::string_view DnsLookupFamilyName(DnsLookupFamily family);

// DnsResolverConfig
//
// Envoy's c-ares `typed_dns_resolver_config`: the name servers to ask, each
// "ip:port" (port 53 when omitted). Empty means the system's resolv.conf.
struct DnsResolverConfig {
  std::vector<std::string> resolvers;
  bool operator==(const DnsResolverConfig&) const = default;
};

// DnsFailureRefreshRate
//
// Jittered exponential backoff after a failed resolution, between `base` and
// `max` (Envoy's `dns_failure_refresh_rate`).
struct DnsFailureRefreshRate {
  Duration base = std::chrono::seconds(2);
  Duration max = std::chrono::seconds(10);
  bool operator==(const DnsFailureRefreshRate&) const = default;
};

// DnsCacheConfig
//
// Envoy's `extensions.common.dynamic_forward_proxy.v3.DnsCacheConfig`.
struct DnsCacheConfig {
  std::string name;  // required; stats live under "dns_cache.<name>."
  DnsLookupFamily dns_lookup_family = DnsLookupFamily::kAuto;
  // Refresh interval before the first answer and when an answer has no TTL.
  Duration dns_refresh_rate = std::chrono::seconds(60);
  // Refresh never runs more often than this, whatever the TTL.
  Duration dns_min_refresh_rate = std::chrono::seconds(5);
  // Unset: a failed host is retried at dns_refresh_rate.
  std::optional<DnsFailureRefreshRate> dns_failure_refresh_rate;
  Duration host_ttl = std::chrono::minutes(5);  // evict hosts unused this long
  uint32_t max_hosts = 1024;
  uint32_t max_pending_requests = 1024;  // Envoy's dns_cache_circuit_breaker
  Duration dns_query_timeout = std::chrono::seconds(5);
  std::vector<std::string> preresolve_hostnames;  // "host:port"
  DnsResolverConfig resolver;
  bool operator==(const DnsCacheConfig&) const = default;
};

}  // namespace homing

#endif  // HOMING_DNS_CONFIG_H_
