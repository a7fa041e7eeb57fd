// AffinityLookup: gRPC RLS's cache over a resolver service.
//
// Per key, Lookup() walks RLS's pick algorithm:
//   fresh answer            → serve it (cache_hit)
//   stale but servable      → serve it; start one background refresh unless
//                             one runs or the key is in backoff
//   in failure backoff      → default_target, or the recorded failure
//   otherwise               → join the key's in-flight lookup or start one;
//                             with no resolver host, fail without caching
// A finished lookup updates the entry (answer, or failure + backoff) and then
// calls its waiters in arrival order.

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/string_util.h"
#include "homing/affinity_lookup.h"
#include "homing/query_string.h"
#include "lookup/backoff.h"
#include "lookup/lookup_cache.h"
#include "lookup/resolver_answer.h"

namespace homing {
namespace {

using internal::ToAbsl;
using lookup_internal::CacheEntry;
using lookup_internal::FailureBackoff;
using lookup_internal::InternedTarget;
using lookup_internal::LookupCache;
using lookup_internal::ResolverAnswerParser;
using Failure = LookupOutcome::Failure;
using Source = LookupOutcome::Source;

int64_t Ticks(MonotonicTime time) { return time.time_since_epoch().count(); }
int64_t Ticks(Duration duration) { return duration.count(); }

struct LookupStats {
  explicit LookupStats(const StatsScope& scope)
      : cache_hit(scope.Counter("cache_hit")),
        cache_miss(scope.Counter("cache_miss")),
        cache_stale_hit(scope.Counter("cache_stale_hit")),
        lookup_attempt(scope.Counter("lookup_attempt")),
        lookup_success(scope.Counter("lookup_success")),
        lookup_failure(scope.Counter("lookup_failure")),
        lookup_timeout(scope.Counter("lookup_timeout")),
        lookup_coalesced(scope.Counter("lookup_coalesced")),
        lookup_overflow(scope.Counter("lookup_overflow")),
        hostport_rejected(scope.Counter("hostport_rejected")),
        owner_redirect_accepted(scope.Counter("owner_redirect_accepted")),
        owner_redirect_rejected(scope.Counter("owner_redirect_rejected")),
        cache_entries(scope.Gauge("cache_entries")) {}

  Counter& cache_hit;
  Counter& cache_miss;
  Counter& cache_stale_hit;
  Counter& lookup_attempt;
  Counter& lookup_success;
  Counter& lookup_failure;
  Counter& lookup_timeout;
  Counter& lookup_coalesced;
  Counter& lookup_overflow;
  Counter& hostport_rejected;
  Counter& owner_redirect_accepted;
  Counter& owner_redirect_rejected;
  Gauge& cache_entries;
};

struct PendingLookup;

// Waiter
//
// The handle of a Lookup() that returned without an outcome: one node of its
// PendingLookup's waiter list. Destroying it unlinks it (cancels).
class Waiter final : public Cancelable {
 public:
  explicit Waiter(AffinityLookup::Callback callback)
      : callback_(std::move(callback)) {}
  ~Waiter() override;

 private:
  friend struct PendingLookup;
  PendingLookup* pending_ = nullptr;
  Waiter* prev_ = nullptr;
  Waiter* next_ = nullptr;
  AffinityLookup::Callback callback_;
};

// PendingLookup
//
// One resolver lookup in flight for a key, and the Lookup() calls waiting
// for it (none for a background refresh).
struct PendingLookup {
  PendingLookup(std::string_view k, MonotonicTime d) : key(k), deadline(d) {}
  ~PendingLookup() {
    while (Waiter* waiter = PopFront()) waiter->callback_ = nullptr;
    if (request_in_flight) EndRequest();
  }

  // The host's rq_active counts this lookup's request while it is out.
  void BeginRequest(HostSharedPtr to) {
    host = std::move(to);
    host->stats().rq_active.fetch_add(1, std::memory_order_relaxed);
    request_in_flight = true;
  }
  void EndRequest() {
    host->stats().rq_active.fetch_sub(1, std::memory_order_relaxed);
    request_in_flight = false;
  }

  void Append(Waiter* waiter) {
    waiter->pending_ = this;
    waiter->prev_ = last;
    waiter->next_ = nullptr;
    (last ? last->next_ : first) = waiter;
    last = waiter;
    ++waiter_count;
  }
  void Remove(Waiter* waiter) {
    (waiter->prev_ ? waiter->prev_->next_ : first) = waiter->next_;
    (waiter->next_ ? waiter->next_->prev_ : last) = waiter->prev_;
    waiter->pending_ = nullptr;
    --waiter_count;
  }
  Waiter* PopFront() {
    Waiter* waiter = first;
    if (waiter != nullptr) Remove(waiter);
    return waiter;
  }
  // Calls every waiter once with `outcome`. A callback may destroy handles
  // of waiters not yet called; those are skipped.
  void Notify(const LookupOutcome& outcome) {
    while (Waiter* waiter = PopFront()) {
      AffinityLookup::Callback callback = std::move(waiter->callback_);
      if (callback) callback(outcome);
    }
  }

  std::string key;
  MonotonicTime deadline;  // lookup_timeout bounds the retry too
  HostSharedPtr host;      // of the current attempt
  bool request_in_flight = false;
  bool retried = false;
  std::unique_ptr<Cancelable> request;
  Waiter* first = nullptr;
  Waiter* last = nullptr;
  size_t waiter_count = 0;
};

Waiter::~Waiter() {
  if (pending_ != nullptr) pending_->Remove(this);
}

LookupOutcome Served(Source source, AffinityTargetSharedPtr target) {
  LookupOutcome outcome;
  outcome.source = source;
  outcome.target = std::move(target);
  return outcome;
}

LookupOutcome FailureOutcome(Failure failure, absl::Status error) {
  LookupOutcome outcome;
  outcome.failure = failure;
  outcome.error = std::move(error);
  return outcome;
}

class AffinityLookupImpl final : public AffinityLookup {
 public:
  AffinityLookupImpl(Dispatcher& dispatcher, const AffinityPolicy& policy,
                     HostportAllowList allow_list,
                     AffinityTargetSharedPtr default_target,
                     Cluster& lookup_cluster, StatsScope stats,
                     std::unique_ptr<LookupTransport> transport)
      : dispatcher_(dispatcher),
        policy_(policy),
        allow_list_(std::move(allow_list)),
        default_target_(std::move(default_target)),
        cluster_(lookup_cluster),
        stats_(stats),
        transport_(std::move(transport)),
        query_prefix_(ResolverQueryPrefix(policy)),
        cache_(policy.max_entries) {}

  // Gives back this instance's share of the gauge (see UpdateGauge()).
  ~AffinityLookupImpl() override {
    stats_.cache_entries.Sub(static_cast<int64_t>(reported_entries_));
  }

  Result Lookup(std::string_view key, Callback callback) override;
  void Invalidate(std::string_view key) override;
  bool Redirect(std::string_view key, std::string_view hostport) override;
  size_t size() const override { return cache_.size(); }
  const AffinityPolicy& policy() const override { return policy_; }

 private:
  static std::string ResolverQueryPrefix(const AffinityPolicy& policy);

  Result Synchronous(LookupOutcome outcome) {
    return Result{std::move(outcome), nullptr};
  }
  Result Overflow(std::string_view what, size_t bound);
  // The outcome for a key with no servable answer after a failure.
  LookupOutcome UnservedOutcome(const CacheEntry& entry) const;
  LookupOutcome NoResolverHostOutcome();
  void MaybeRefresh(std::string_view key, const CacheEntry& entry,
                    MonotonicTime now);

  // Starts a lookup. Returns nullptr when it failed at once (no resolver
  // host); the key's entry then records the failure.
  PendingLookup* StartLookup(std::string_view key, MonotonicTime now);
  // Sends the pending lookup to a host other than `avoid`; false when none
  // is left or the deadline has passed.
  bool SendRequest(PendingLookup* pending, const Host* avoid);
  void OnResponse(PendingLookup* pending, LookupTransport::Response response);
  void Succeed(PendingLookup* pending, InternedTarget* target);
  // With caching off (max_age 0): hands `target` to the waiters and keeps
  // nothing but the end of a past failure's backoff.
  void SucceedUncached(PendingLookup* pending, AffinityTargetSharedPtr target);
  void Fail(PendingLookup* pending, Failure failure, absl::Status error);
  // Removes `pending` from the in-flight set and calls its waiters.
  void Finish(PendingLookup* pending, const LookupOutcome& outcome);
  // Several instances (one per proxy worker) may share a store: each adds
  // its own changes, so the gauge is their total.
  void UpdateGauge() {
    stats_.cache_entries.Add(static_cast<int64_t>(cache_.size()) -
                             static_cast<int64_t>(reported_entries_));
    reported_entries_ = cache_.size();
  }

  Dispatcher& dispatcher_;
  const AffinityPolicy policy_;
  const HostportAllowList allow_list_;
  const AffinityTargetSharedPtr default_target_;
  Cluster& cluster_;
  LookupStats stats_;
  std::unique_ptr<LookupTransport> transport_;
  const std::string query_prefix_;  // "<lookup_path>?<param>="
  LookupCache cache_;
  size_t reported_entries_ = 0;  // this instance's part of cache_entries
  FailureBackoff backoff_;
  ResolverAnswerParser parser_;
  // Declared after transport_: destroyed first, cancelling their requests.
  absl::flat_hash_map<std::string, std::unique_ptr<PendingLookup>> pending_;
};

std::string AffinityLookupImpl::ResolverQueryPrefix(
    const AffinityPolicy& policy) {
  std::string param = policy.key.name;
  if (policy.key.kind == KeySource::Kind::kHeader) {
    std::transform(param.begin(), param.end(), param.begin(),
                   internal::AsciiLower);
  }
  const char* separator =
      policy.lookup_path.find('?') == std::string::npos ? "?" : "&";
  return absl::StrCat(policy.lookup_path, separator, PercentEncode(param), "=");
}

AffinityLookup::Result AffinityLookupImpl::Lookup(std::string_view key,
                                                  Callback callback) {
  const MonotonicTime now = dispatcher_.Now();
  if (CacheEntry* entry = cache_.Find(key)) {
    if (entry->target != nullptr) {
      const int64_t age = Ticks(now) - entry->fetched_at;
      if (age < Ticks(policy_.max_age)) {
        cache_.MarkUsed(entry);
        stats_.cache_hit.Inc();
        return Synchronous(Served(Source::kCache, entry->target->target));
      }
      if (age < Ticks(policy_.stale_age)) {
        cache_.MarkUsed(entry);
        stats_.cache_stale_hit.Inc();
        LookupOutcome outcome = Served(Source::kStale, entry->target->target);
        MaybeRefresh(key, *entry, now);
        return Synchronous(std::move(outcome));
      }
    }
    if (Ticks(now) < entry->backoff_until) {
      cache_.MarkUsed(entry);
      stats_.cache_miss.Inc();
      return Synchronous(UnservedOutcome(*entry));
    }
  }

  stats_.cache_miss.Inc();
  PendingLookup* pending;
  auto it = pending_.find(ToAbsl(key));
  if (it != pending_.end()) {
    pending = it->second.get();
    if (pending->waiter_count >= policy_.max_waiters_per_key) {
      return Overflow("lookups waiting on one key (max_waiters_per_key ",
                      policy_.max_waiters_per_key);
    }
    stats_.lookup_coalesced.Inc();
  } else {
    if (pending_.size() >= policy_.max_pending_lookups) {
      return Overflow("keys being looked up (max_pending_lookups ",
                      policy_.max_pending_lookups);
    }
    if (cluster_.hosts().empty()) return Synchronous(NoResolverHostOutcome());
    pending = StartLookup(key, now);
    if (pending == nullptr) return Synchronous(UnservedOutcome(*cache_.Find(key)));
  }
  auto waiter = std::make_unique<Waiter>(std::move(callback));
  pending->Append(waiter.get());
  return Result{std::nullopt, std::move(waiter)};
}

AffinityLookup::Result AffinityLookupImpl::Overflow(std::string_view what,
                                                    size_t bound) {
  stats_.lookup_overflow.Inc();
  return Synchronous(FailureOutcome(
      Failure::kOverflow,
      absl::ResourceExhaustedError(
          absl::StrCat("too many ", ToAbsl(what), bound, ")"))));
}

LookupOutcome AffinityLookupImpl::UnservedOutcome(
    const CacheEntry& entry) const {
  LookupOutcome outcome = FailureOutcome(entry.last_failure, entry.last_error);
  if (default_target_ != nullptr) {
    outcome.source = Source::kDefaultTarget;
    outcome.target = default_target_;
  }
  return outcome;
}

// A lookup cluster without hosts (a STRICT_DNS cluster before its first
// answer, or one whose name stopped resolving) says nothing about a key: the
// request fails, or gets the default target, and the key's entry is left
// alone, so it routes as soon as the cluster has hosts instead of sitting
// out a backoff.
LookupOutcome AffinityLookupImpl::NoResolverHostOutcome() {
  stats_.lookup_failure.Inc();
  LookupOutcome outcome = FailureOutcome(
      Failure::kResolverUnavailable,
      absl::UnavailableError(
          absl::StrCat("lookup cluster '", cluster_.name(), "' has no hosts")));
  if (default_target_ != nullptr) {
    outcome.source = Source::kDefaultTarget;
    outcome.target = default_target_;
  }
  return outcome;
}

void AffinityLookupImpl::MaybeRefresh(std::string_view key,
                                      const CacheEntry& entry,
                                      MonotonicTime now) {
  if (cluster_.hosts().empty()) return;  // the stale answer serves meanwhile
  if (Ticks(now) < entry.backoff_until) return;
  if (pending_.size() >= policy_.max_pending_lookups) return;
  if (pending_.contains(ToAbsl(key))) return;
  StartLookup(key, now);
}

void AffinityLookupImpl::Invalidate(std::string_view key) {
  if (CacheEntry* entry = cache_.Find(key)) {
    cache_.Erase(entry);
    UpdateGauge();
  }
}

bool AffinityLookupImpl::Redirect(std::string_view key,
                                  std::string_view hostport) {
  if (policy_.max_age == Duration::zero() || key.size() > policy_.max_key_length) {
    Invalidate(key);
    return false;
  }
  InternedTarget* target = cache_.targets().Find(hostport);
  if (target == nullptr) {
    absl::StatusOr<HostPort> parsed = ParseHostPort(hostport);
    const bool allowed = parsed.ok() && allow_list_.Allows(*parsed);
    if (!allowed) {
      if (parsed.ok()) stats_.hostport_rejected.Inc();
      stats_.owner_redirect_rejected.Inc();
      HOMING_LOG(kDebug, "affinity: 421 names \"", ToAbsl(hostport),
                 "\", which is not an allowed owner; asking the resolver");
      Invalidate(key);
      return false;
    }
    target = cache_.targets().Intern(hostport, *std::move(parsed));
  }
  stats_.owner_redirect_accepted.Inc();
  CacheEntry* entry = cache_.FindOrInsert(key);
  cache_.SetTarget(entry, target);
  entry->fetched_at = Ticks(dispatcher_.Now());
  entry->backoff_until = 0;
  entry->failures = 0;
  entry->last_error = absl::OkStatus();
  entry->last_failure = Failure::kNone;
  cache_.EvictBeyondCapacity();
  UpdateGauge();
  return true;
}

PendingLookup* AffinityLookupImpl::StartLookup(std::string_view key,
                                               MonotonicTime now) {
  auto owned = std::make_unique<PendingLookup>(key, now + policy_.lookup_timeout);
  PendingLookup* pending = owned.get();
  pending_.emplace(pending->key, std::move(owned));
  if (SendRequest(pending, nullptr)) return pending;
  Fail(pending, Failure::kResolverUnavailable,
       absl::UnavailableError(absl::StrCat("lookup cluster '", cluster_.name(),
                                           "' has no hosts")));
  return nullptr;
}

bool AffinityLookupImpl::SendRequest(PendingLookup* pending,
                                     const Host* avoid) {
  LbContext context;
  context.avoid = avoid;
  HostSharedPtr host = cluster_.ChooseHost(context);
  if (host == nullptr || host.get() == avoid) return false;
  const Duration remaining = pending->deadline - dispatcher_.Now();
  if (remaining <= Duration::zero()) return false;
  pending->BeginRequest(std::move(host));
  stats_.lookup_attempt.Inc();
  pending->request = transport_->Get(
      *pending->host, absl::StrCat(query_prefix_, PercentEncode(pending->key)),
      remaining, [this, pending](LookupTransport::Response response) {
        OnResponse(pending, std::move(response));
      });
  return true;
}

void AffinityLookupImpl::OnResponse(PendingLookup* pending,
                                    LookupTransport::Response response) {
  using Error = LookupTransport::Response::Error;
  pending->EndRequest();
  const Host& host = *pending->host;
  const std::string resolver = absl::StrCat("resolver ", host.address_string());
  switch (response.error) {
    case Error::kConnectFailure: {
      cluster_.ReportOutcome(host, RequestOutcome::kConnectFailure);
      if (!pending->retried) {
        pending->retried = true;
        HostSharedPtr failed = pending->host;
        if (SendRequest(pending, failed.get())) return;
      }
      return Fail(pending, Failure::kResolverUnavailable,
                  absl::UnavailableError(absl::StrCat(
                      resolver, ": connect failed: ", response.error_detail)));
    }
    case Error::kTimeout:
      cluster_.ReportOutcome(host, RequestOutcome::kTimeout);
      stats_.lookup_timeout.Inc();
      return Fail(pending, Failure::kResolverTimeout,
                  absl::DeadlineExceededError(absl::StrCat(
                      resolver, ": no answer within lookup_timeout (",
                      absl::FormatDuration(absl::FromChrono(policy_.lookup_timeout)),
                      ")")));
    case Error::kOther:
      cluster_.ReportOutcome(host, RequestOutcome::kReset);
      return Fail(pending, Failure::kResolverUnavailable,
                  absl::UnavailableError(
                      absl::StrCat(resolver, ": ", response.error_detail)));
    case Error::kNone:
      break;
  }

  if (response.status >= 500) {
    cluster_.ReportOutcome(host, RequestOutcome::kServerError);
    return Fail(pending, Failure::kResolverUnavailable,
                absl::UnavailableError(
                    absl::StrCat(resolver, " answered ", response.status)));
  }
  cluster_.ReportOutcome(host, RequestOutcome::kSuccess);
  if (response.status != 200) {
    return Fail(pending, Failure::kBadAnswer,
                absl::InvalidArgumentError(
                    absl::StrCat(resolver, " answered ", response.status)));
  }
  absl::StatusOr<std::string_view> hostport =
      parser_.Parse(response.body, policy_.hostport_field);
  if (!hostport.ok()) {
    return Fail(pending, Failure::kBadAnswer,
                absl::InvalidArgumentError(absl::StrCat(
                    resolver, ": ", hostport.status().message())));
  }
  InternedTarget* target = cache_.targets().Find(*hostport);
  if (target == nullptr) {
    absl::StatusOr<HostPort> parsed = ParseHostPort(*hostport);
    if (!parsed.ok()) {
      stats_.hostport_rejected.Inc();
      return Fail(pending, Failure::kHostportRejected,
                  absl::InvalidArgumentError(absl::StrCat(
                      resolver, ": ", parsed.status().message())));
    }
    if (!allow_list_.Allows(*parsed)) {
      stats_.hostport_rejected.Inc();
      return Fail(pending, Failure::kHostportRejected,
                  absl::PermissionDeniedError(absl::StrCat(
                      resolver, ": hostport \"", ToAbsl(*hostport),
                      "\" is not in allowed_hostports")));
    }
    if (policy_.max_age == Duration::zero()) {
      return SucceedUncached(pending, std::make_shared<const AffinityTarget>(
                                          AffinityTarget{std::string(*hostport),
                                                         *std::move(parsed)}));
    }
    target = cache_.targets().Intern(*hostport, std::move(*parsed));
  }
  Succeed(pending, target);
}

void AffinityLookupImpl::SucceedUncached(PendingLookup* pending,
                                         AffinityTargetSharedPtr target) {
  stats_.lookup_success.Inc();
  if (CacheEntry* entry = cache_.Find(pending->key)) {
    cache_.Erase(entry);
    UpdateGauge();
  }
  Finish(pending, Served(Source::kResolver, std::move(target)));
}

void AffinityLookupImpl::Succeed(PendingLookup* pending,
                                 InternedTarget* target) {
  stats_.lookup_success.Inc();
  CacheEntry* entry = cache_.FindOrInsert(pending->key);
  cache_.SetTarget(entry, target);
  entry->fetched_at = Ticks(dispatcher_.Now());
  entry->backoff_until = 0;
  entry->failures = 0;
  entry->last_error = absl::OkStatus();
  entry->last_failure = Failure::kNone;
  LookupOutcome outcome = Served(Source::kResolver, target->target);
  cache_.EvictBeyondCapacity();
  UpdateGauge();
  Finish(pending, outcome);
}

void AffinityLookupImpl::Fail(PendingLookup* pending, Failure failure,
                              absl::Status error) {
  stats_.lookup_failure.Inc();
  HOMING_LOG(kDebug, "affinity lookup failed: ", error.ToString());
  CacheEntry* entry = cache_.FindOrInsert(pending->key);
  if (entry->failures < UINT8_MAX) ++entry->failures;
  entry->backoff_until =
      Ticks(dispatcher_.Now()) + Ticks(backoff_.Delay(entry->failures));
  entry->last_error = std::move(error);
  entry->last_failure = failure;
  // A failed refresh leaves an answer that is still within stale_age in
  // service; the waiters (who joined because nothing was servable) get the
  // default target or the failure.
  LookupOutcome outcome = UnservedOutcome(*entry);
  cache_.EvictBeyondCapacity();
  UpdateGauge();
  Finish(pending, outcome);
}

void AffinityLookupImpl::Finish(PendingLookup* pending,
                                const LookupOutcome& outcome) {
  auto it = pending_.find(pending->key);
  std::unique_ptr<PendingLookup> owned = std::move(it->second);
  pending_.erase(it);
  owned->Notify(outcome);
}

}  // namespace

absl::StatusOr<std::unique_ptr<AffinityLookup>> AffinityLookup::Create(
    Dispatcher& dispatcher, const AffinityPolicy& policy,
    Cluster& lookup_cluster, StatsScope stats,
    std::unique_ptr<LookupTransport> transport) {
  auto invalid = [](auto... parts) {
    return absl::InvalidArgumentError(absl::StrCat("affinity policy: ", parts...));
  };
  if (policy.lookup_path.empty() || policy.lookup_path.front() != '/') {
    return invalid("lookup_path \"", policy.lookup_path, "\" must start with '/'");
  }
  if (policy.key.name.empty()) return invalid("key name is empty");
  if (policy.hostport_field.empty()) return invalid("hostport_field is empty");
  if (policy.lookup_timeout <= Duration::zero()) {
    return invalid("lookup_timeout must be positive");
  }
  if (policy.max_age < Duration::zero()) return invalid("max_age must not be negative");
  if (policy.max_age == Duration::zero() && policy.stale_age != Duration::zero()) {
    return invalid("stale_age must be 0 when max_age is 0 (caching off)");
  }
  if (policy.stale_age < policy.max_age) {
    return invalid("stale_age (",
                   absl::FormatDuration(absl::FromChrono(policy.stale_age)),
                   ") is below max_age (",
                   absl::FormatDuration(absl::FromChrono(policy.max_age)), ")");
  }
  const std::pair<const char*, size_t> bounds[] = {
      {"max_entries", policy.max_entries},
      {"max_key_length", policy.max_key_length},
      {"max_pending_lookups", policy.max_pending_lookups},
      {"max_waiters_per_key", policy.max_waiters_per_key}};
  for (const auto& [name, value] : bounds) {
    if (value == 0) return invalid(name, " must be at least 1");
  }
  absl::StatusOr<HostportAllowList> allow_list =
      HostportAllowList::Create(policy.allowed_hostports);
  if (!allow_list.ok()) return invalid(allow_list.status().message());
  AffinityTargetSharedPtr default_target;
  if (policy.default_target) {
    absl::StatusOr<HostPort> parsed = ParseHostPort(*policy.default_target);
    if (!parsed.ok()) return invalid("default_target: ", parsed.status().message());
    default_target = std::make_shared<const AffinityTarget>(
        AffinityTarget{*policy.default_target, std::move(*parsed)});
  }
  if (transport == nullptr) {
    return absl::InvalidArgumentError("AffinityLookup::Create: no transport");
  }
  return std::make_unique<AffinityLookupImpl>(
      dispatcher, policy, std::move(*allow_list), std::move(default_target),
      lookup_cluster, std::move(stats), std::move(transport));
}

}  // namespace homing
