// File: homing/affinity_lookup.h
//
// The affinity lookup: "which instance owns this key?", asked of a resolver
// service and cached with gRPC RLS's semantics. It replaces the seed's Lua
// script (one resolver round trip on every request, no cache) with:
//
//  - a request `GET <lookup_path>?<param>=<percent-encoded key>` to a host of
//    the lookup cluster (its load balancer picks; one retry on another host
//    after a connect failure), over libcurl multi driven by the dispatcher,
//    keep-alive connections reused, bounded by `lookup_timeout`;
//  - a simdjson parse of the answer: 200 with a JSON object whose
//    `hostport_field` holds a hostport that passes `ParseHostPort()` and the
//    `allowed_hostports` allow-list (a dynamic forward proxy must never dial
//    what a resolver made up);
//  - a cache: fresh until `max_age`, served stale (with exactly one background
//    refresh) until `stale_age`, LRU-bounded by `max_entries`, one in-flight
//    lookup per key (others wait on it, bounded), failure backoff per key
//    (1s ×1.6, jitter 0.2, up to 120s) during which `default_target` is used
//    if set, and `Invalidate()` for the 421 Misdirected Request path.
//
// Stats under the scope given to Create():
//  - cache_hit, cache_stale_hit, cache_miss: every Lookup() counts in exactly
//    one (a key in failure backoff is a miss);
//  - lookup_attempt: resolver requests sent (a retry is a second attempt);
//  - lookup_success, lookup_failure: finished lookups (timeouts, bad answers
//    and rejected hostports are failures too);
//  - lookup_timeout, hostport_rejected: failures of those kinds;
//  - lookup_coalesced: Lookup() calls that joined an in-flight lookup;
//  - lookup_overflow: Lookup() calls refused by max_pending_lookups or
//    max_waiters_per_key;
//  - gauge cache_entries: keys cached (answers and backoff state).
//
// Example:
//
//   std::string key;
//   if (homing::ExtractAffinityKey(policy, request, &key) != homing::KeyStatus::kOk)
//     return Reply400();
//   auto proceed = [](const homing::LookupOutcome& outcome) {
//     if (outcome.ok()) Forward(outcome.target->hostport);
//     else ReplyError(outcome.failure, outcome.error);  // 502 / 503
//   };
//   auto result = lookup->Lookup(key, proceed);
//   if (result.outcome) proceed(*result.outcome);  // cache, backoff, overflow
//   else pending_handle = std::move(result.handle);  // keep it until called
//
// Thread safety: an AffinityLookup belongs to its dispatcher's thread; do not
// destroy it from inside one of its callbacks. Handles that outlive it become
// inert. `AffinityTarget` snapshots are immutable and may be read anywhere.

#ifndef HOMING_AFFINITY_LOOKUP_H_
#define HOMING_AFFINITY_LOOKUP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "homing/address.h"
#include "homing/affinity_policy.h"
#include "homing/cancelable.h"
#include "homing/dispatcher.h"
#include "homing/request.h"
#include "homing/stats.h"
#include "homing/upstream.h"

namespace homing {

enum class KeyStatus { kOk, kMissing, kEmpty, kTooLong };

// ExtractAffinityKey()
//
// Reads the key named by `policy.key` from the request (query parameters are
// percent-decoded; the first occurrence wins) into `*key`, which is only
// written on kOk. kMissing and kEmpty are distinct so the caller can say
// which in its 400; kTooLong means longer than `policy.max_key_length` after
// decoding.
KeyStatus ExtractAffinityKey(const AffinityPolicy& policy,
                             const RequestView& request, std::string* key);

// HostportAllowList
//
// `allowed_hostports` compiled: exact "host:port" entries and "*.suffix:port"
// wildcards ('*' = one or more whole leading labels; the suffix must be a
// domain name). Host names compare case-insensitively, with or without a
// trailing root dot; ports must be equal.
class HostportAllowList {
 public:
  // HostportAllowList::Create()
  //
  // InvalidArgument for a malformed pattern (bad host, bad port, '*' not a
  // whole leading label).
  static absl::StatusOr<HostportAllowList> Create(
      const std::vector<std::string>& patterns);
  bool Allows(const HostPort& hostport) const;

 private:
  struct Pattern {
    bool wildcard = false;
    std::string host;  // exact host, or the suffix after "*" (".svc...")
    uint16_t port = 0;
  };
  std::vector<Pattern> patterns_;
};

// ParseResolverAnswer()
//
// Extracts the string field `field` from a resolver's JSON body (simdjson).
// InvalidArgument for: not JSON, not an object, field missing, field not a
// string. The message says which.
absl::StatusOr<std::string> ParseResolverAnswer(std::string_view body,
                                                std::string_view field);

// AffinityTarget
//
// One validated answer: the hostport text and its parsed form.
struct AffinityTarget {
  std::string hostport;
  HostPort parsed;
};
using AffinityTargetSharedPtr = std::shared_ptr<const AffinityTarget>;

// LookupOutcome
//
// How a lookup ended. `target` is set on success; otherwise `error` says why
// (`failure` classifies it for the HTTP status the proxy answers). With
// Source::kDefaultTarget, `target` is the policy's default and `failure` /
// `error` say why the resolver's answer was unusable.
struct LookupOutcome {
  enum class Source { kCache, kStale, kResolver, kDefaultTarget };
  enum class Failure {
    kNone,
    kResolverUnavailable,  // no host, connect failure, 5xx → 503
    kResolverTimeout,      // → 503 (lookup_timeout)
    kBadAnswer,            // non-200 4xx, not JSON, missing field → 502
    kHostportRejected,     // outside the allow-list or malformed → 502
    kOverflow,             // too many pending lookups / waiters → 503
  };
  Source source = Source::kCache;
  AffinityTargetSharedPtr target;
  Failure failure = Failure::kNone;
  absl::Status error;
  bool ok() const { return target != nullptr; }
};

// LookupTransport
//
// One HTTP GET to one resolver host. homing has two: libcurl multi
// (`CreateCurl()`, in the homing_lookup_curl library, so that programs with
// a transport of their own do not load libcurl) and homing-proxy's, over
// its own HTTP client; tests script their own.
class LookupTransport {
 public:
  struct Response {
    enum class Error { kNone, kConnectFailure, kTimeout, kOther };
    Error error = Error::kNone;
    std::string error_detail;
    long status = 0;
    std::string body;
  };
  using Callback = std::function<void(Response response)>;
  virtual ~LookupTransport() = default;

  // LookupTransport::Get()
  //
  // GET http://<host address><path_and_query>, calling back once on the
  // dispatcher thread, never from inside Get(). Bodies over 64 KiB fail
  // (kOther). Destroying the returned handle before the callback cancels it;
  // destroying it from inside the callback is allowed. A connect timeout is
  // kTimeout, not kConnectFailure (there is no time left for a retry).
  virtual std::unique_ptr<Cancelable> Get(const Host& host,
                                          std::string_view path_and_query,
                                          Duration timeout,
                                          Callback callback) = 0;

  // LookupTransport::CreateCurl()
  //
  // libcurl multi on `dispatcher` (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION),
  // keep-alive connections reused across lookups, HTTP/1.1 only, proxy
  // environment variables ignored.
  static absl::StatusOr<std::unique_ptr<LookupTransport>> CreateCurl(
      Dispatcher& dispatcher);
};

// AffinityLookup
//
// The cache and its lookups. Per key, Lookup() serves a fresh answer, or a
// stale one (starting one background refresh), or — while the key is in
// failure backoff — the default target or the failure; otherwise it joins
// the key's lookup in flight or starts one.
class AffinityLookup {
 public:
  using Callback = std::function<void(const LookupOutcome& outcome)>;

  struct Result {
    // Set when the lookup completed synchronously (cache hit, stale hit,
    // default target, or immediate failure such as overflow).
    std::optional<LookupOutcome> outcome;
    // Set when the callback will be called later; destroying it cancels.
    std::unique_ptr<Cancelable> handle;
  };

  virtual ~AffinityLookup() = default;

  // AffinityLookup::Create()
  //
  // `lookup_cluster` must outlive the lookup; `transport` asks the resolver
  // (`LookupTransport::CreateCurl(dispatcher)` for libcurl's). InvalidArgument
  // for an invalid policy (bad allow-list pattern, stale_age below max_age,
  // lookup_path not starting with '/') or a null transport.
  static absl::StatusOr<std::unique_ptr<AffinityLookup>> Create(
      Dispatcher& dispatcher, const AffinityPolicy& policy,
      Cluster& lookup_cluster, StatsScope stats,
      std::unique_ptr<LookupTransport> transport);

  // AffinityLookup::Lookup()
  //
  // Returns the owner of `key` from cache, or starts (or joins) a lookup.
  // The callback runs once on the dispatcher thread, never from inside
  // Lookup(), and only when `handle` is returned. A cache hit does not
  // allocate. A failed lookup puts the key in backoff (1s ×1.6, jitter 0.2,
  // capped at 120s): until it ends, Lookup() answers synchronously with the
  // default target or the failure instead of asking again. A lookup
  // cluster without hosts (a STRICT_DNS cluster before its first answer)
  // fails the call the same way but is no failure of the key: nothing is
  // cached, and the key is looked up as soon as the cluster has hosts.
  virtual Result Lookup(std::string_view key, Callback callback) = 0;

  // AffinityLookup::Invalidate()
  //
  // Forgets `key`'s answer and backoff state (the target said 421: it is not
  // the owner). A lookup already in flight for `key` goes on; its answer is
  // cached as fresh.
  virtual void Invalidate(std::string_view key) = 0;

  // AffinityLookup::Redirect()
  //
  // The target answered 421 naming `hostport` as `key`'s owner (a
  // membership change it already knows of). When `hostport` parses and
  // passes the allow-list it becomes the key's cached answer, fresh as if
  // the resolver had given it, and true is returned (counts
  // `owner_redirect_accepted`): the next Lookup() needs no resolver. Else
  // the key's answer is forgotten as by Invalidate() and false is returned
  // (counts `owner_redirect_rejected`, and `hostport_rejected` for a
  // hostport outside the allow-list). With the cache off (max_age 0) it is
  // Invalidate().
  virtual bool Redirect(std::string_view key, std::string_view hostport) = 0;

  // AffinityLookup::size()
  //
  // The number of cached keys (the cache_entries gauge).
  virtual size_t size() const = 0;
  virtual const AffinityPolicy& policy() const = 0;
};

}  // namespace homing

#endif  // HOMING_AFFINITY_LOOKUP_H_
