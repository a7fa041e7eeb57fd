// File: lib/dns/ares_resolver.h
//
// Pieces of the c-ares resolver that configuration checks and tests use on
// their own. The resolver itself is `DnsResolver::CreateAres()`.
//
// Thread safety: pure functions.

#ifndef HOMING_LIB_DNS_ARES_RESOLVER_H_
#define HOMING_LIB_DNS_ARES_RESOLVER_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "homing/dns_config.h"

namespace homing::internal {

// AresServersCsv()
//
// `config.resolvers` ("ip" or "ip:port", IPv6 bracketed when it has a port)
// as the "ip:port,[ip6]:port" list ares_set_servers_ports_csv() takes; port
// 53 when omitted. InvalidArgument naming the entry that is not an IP
// address. Empty when no resolver is configured.
absl::StatusOr<std::string> AresServersCsv(const DnsResolverConfig& config);

// AresStatusToStatus()
//
// Maps a c-ares error of a lookup of `name` to a status whose message holds
// c-ares' own text: ENOTFOUND/ENODATA -> NotFound, ETIMEOUT ->
// DeadlineExceeded, ECONNREFUSED and server errors -> Unavailable, ENOMEM ->
// ResourceExhausted, bad names -> InvalidArgument, the rest -> Unknown.
absl::Status AresStatusToStatus(int ares_status, std::string_view name);

}  // namespace homing::internal

#endif  // HOMING_LIB_DNS_ARES_RESOLVER_H_
