// File: homing/affinity_policy.h
//
// The settings of homing's affinity filter (`homing.filters.http.affinity`),
// as a route carries them in `typed_per_filter_config`. Plain data: the config
// loader fills it, the route table carries it, `AffinityLookup` acts on it.
//
// Example (YAML, under a route):
//
//   typed_per_filter_config:
//     homing.filters.http.affinity:
//       lookup_cluster: resolver
//       lookup_path: /where
//       key: { query_parameter: client_id }
//       hostport_field: hostport
//       lookup_timeout: 1s
//       max_age: 30s
//       stale_age: 60s
//       max_entries: 100000
//       allowed_hostports: ["*.server-headless.poc-routing.svc.cluster.local:8081"]

#ifndef HOMING_AFFINITY_POLICY_H_
#define HOMING_AFFINITY_POLICY_H_

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "homing/clock.h"

namespace homing {

inline constexpr char kAffinityFilterName[] = "homing.filters.http.affinity";

// KeySource
//
// Where the affinity key comes from: the first value of a query parameter
// (percent-decoded) or of a request header. The resolver request carries the
// key as a query parameter of the same name; a header name is lower-cased for
// it (`x-client-id: 7` → `GET /where?x-client-id=7`).
struct KeySource {
  enum class Kind { kQueryParameter, kHeader };
  Kind kind = Kind::kQueryParameter;
  std::string name = "client_id";
  bool operator==(const KeySource&) const = default;
};

// AffinityPolicy
//
// Cache lifetimes follow HTTP's stale-while-revalidate reading of the two
// ages: an answer younger than `max_age` is served as is; one between
// `max_age` and `stale_age` is served while exactly one background refresh
// runs; an older one is not served. `stale_age` equal to `max_age` disables
// stale serving. `max_age` 0 turns the cache off (`stale_age` must be 0
// too): every request asks the resolver, as the seed's Lua script did, and
// only concurrent requests for one key share a lookup. The four size bounds
// must be at least 1.
struct AffinityPolicy {
  std::string lookup_cluster;                 // required
  std::string lookup_path = "/where";         // must start with '/'
  KeySource key;
  std::string hostport_field = "hostport";    // field of the JSON answer
  Duration lookup_timeout = std::chrono::seconds(1);
  Duration max_age = std::chrono::seconds(30);
  Duration stale_age = std::chrono::seconds(30);  // >= max_age
  size_t max_entries = 100000;                // LRU-evicted beyond this
  size_t max_key_length = 256;                // longer keys are invalid (400)
  size_t max_pending_lookups = 1024;          // keys with a lookup in flight
  size_t max_waiters_per_key = 1024;          // requests queued on one key
  // Patterns a resolver's hostport must match before anyone resolves it:
  // exact "host:port", or "*.suffix:port" where '*' stands for one or more
  // whole leading labels. Empty means nothing is allowed.
  std::vector<std::string> allowed_hostports;
  // Used while a key has no usable answer (resolver failing, in backoff).
  std::optional<std::string> default_target;
  // The response header in which a target's 421 Misdirected Request may
  // name the key's new owner (homing-server's); empty: not read.
  std::string owner_header = "x-homing-owner";

  bool operator==(const AffinityPolicy&) const = default;
};

}  // namespace homing

#endif  // HOMING_AFFINITY_POLICY_H_
