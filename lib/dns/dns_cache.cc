// The DNS cache (Envoy's dynamic forward proxy semantics). One entry per
// "host:port", owned here; readers get immutable DnsHostInfo snapshots that a
// resolution replaces rather than mutates, so a cache hit is a hash lookup
// plus a shared_ptr copy.
//
// Entry life: created by the first Load (or preresolve) and resolved at once;
// loads that arrive before the first answer wait on the entry (one query for
// all of them); the answer, good or bad, completes them and arms the refresh
// timer; each refresh re-resolves, or evicts the entry when nobody loaded it
// for host_ttl.

#include <algorithm>
#include <cassert>
#include <list>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/callback_list.h"
#include "common/string_util.h"
#include "dns/ares_resolver.h"
#include "dns/backoff.h"
#include "dns/host_key.h"
#include "homing/dns_cache.h"

namespace homing {
namespace {

using internal::ToAbsl;

std::string FormatDuration(Duration d) {
  return absl::FormatDuration(absl::FromChrono(d));
}

absl::Status ConfigError(const DnsCacheConfig& config, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("dns cache \"", config.name, "\": ", ToAbsl(what)));
}

struct DnsCacheStats {
  explicit DnsCacheStats(const StatsScope& scope)
      : dns_query_attempt(scope.Counter("dns_query_attempt")),
        dns_query_success(scope.Counter("dns_query_success")),
        dns_query_failure(scope.Counter("dns_query_failure")),
        dns_query_timeout(scope.Counter("dns_query_timeout")),
        host_added(scope.Counter("host_added")),
        host_removed(scope.Counter("host_removed")),
        host_address_changed(scope.Counter("host_address_changed")),
        host_overflow(scope.Counter("host_overflow")),
        dns_rq_pending_overflow(scope.Counter("dns_rq_pending_overflow")),
        cache_load(scope.Counter("cache_load")),
        num_hosts(scope.Gauge("num_hosts")) {}

  Counter& dns_query_attempt;
  Counter& dns_query_success;
  Counter& dns_query_failure;
  Counter& dns_query_timeout;
  Counter& host_added;
  Counter& host_removed;
  Counter& host_address_changed;
  Counter& host_overflow;
  Counter& dns_rq_pending_overflow;
  Counter& cache_load;
  Gauge& num_hosts;
};

class DnsCacheImpl final : public DnsCache {
 public:
  DnsCacheImpl(Dispatcher& dispatcher, DnsCacheConfig config, StatsScope stats,
               std::unique_ptr<DnsResolver> resolver)
      : dispatcher_(dispatcher),
        config_(std::move(config)),
        stats_(stats.Scope(absl::StrCat("dns_cache.", config_.name, "."))),
        resolver_(std::move(resolver)) {}

  ~DnsCacheImpl() override {
    alive_.reset();
    // Handles the caller still holds must not reach into freed entries.
    for (auto& [key, entry] : entries_) {
      while (!entry->waiters.empty()) entry->waiters.front()->Detach();
    }
    stats_.num_hosts.Sub(static_cast<int64_t>(entries_.size()));
  }

  void Preresolve() {
    for (const std::string& host_port : config_.preresolve_hostnames) {
      // Validated by ValidateDnsCacheConfig().
      HostPort parsed = *ParseHostPort(host_port);
      internal::StoredHostKey key = internal::HostKey::Canonical(parsed);
      if (!entries_.contains(key)) CreateEntry(std::move(parsed), std::move(key));
    }
  }

  LoadResult Load(std::string_view host, uint16_t default_port,
                  LoadCallback callback) override {
    assert(dispatcher_.IsLoopThread());
    stats_.cache_load.Inc();
    auto it = entries_.find(internal::HostKey::Of(host, default_port));
    if (it == entries_.end()) return LoadMiss(host, default_port, std::move(callback));
    return LoadExisting(*it->second, std::move(callback));
  }

  DnsHostInfoSharedPtr Find(std::string_view host_port) const override {
    // A host_port without a port gets port 0, which no entry has.
    auto it = entries_.find(internal::HostKey::Of(host_port, 0));
    return it == entries_.end() ? nullptr : it->second->info;
  }

  std::vector<DnsHostInfoSharedPtr> Hosts() const override {
    std::vector<DnsHostInfoSharedPtr> hosts;
    hosts.reserve(entries_.size());
    for (const auto& [key, entry] : entries_) hosts.push_back(entry->info);
    return hosts;
  }

  std::unique_ptr<Cancelable> AddUpdateCallback(UpdateCallback callback) override {
    return update_callbacks_.Add(std::move(callback));
  }

  const DnsCacheConfig& config() const override { return config_; }

 private:
  class LoadHandle;

  struct Entry {
    Entry(HostPort parsed, internal::StoredHostKey cache_key,
          const DnsCacheConfig& config)
        : key(std::move(cache_key)),
          host_port(std::move(parsed)),
          backoff(config.dns_failure_refresh_rate
                      ? config.dns_failure_refresh_rate->base
                      : config.dns_refresh_rate,
                  config.dns_failure_refresh_rate
                      ? config.dns_failure_refresh_rate->max
                      : config.dns_refresh_rate) {}

    const internal::StoredHostKey key;
    const HostPort host_port;
    bool is_ip_literal = false;
    bool resolved = false;  // first answer arrived
    DnsHostInfoSharedPtr info;
    // host_ttl bookkeeping without reading the clock on the hit path: a load
    // only sets `used`; the refresh timer turns it into `last_used`.
    bool used = false;
    MonotonicTime last_used;
    internal::JitteredBackoff backoff;
    std::unique_ptr<Timer> refresh_timer;
    std::unique_ptr<Cancelable> query;
    std::list<LoadHandle*> waiters;
  };

  // A load waiting for an entry's first answer. Destroying it unregisters it
  // (no callback follows) and frees its pending-request slot.
  class LoadHandle final : public Cancelable {
   public:
    LoadHandle(DnsCacheImpl& cache, Entry& entry, LoadCallback callback)
        : cache_(&cache), entry_(&entry), callback_(std::move(callback)) {
      position_ = entry.waiters.insert(entry.waiters.end(), this);
      ++cache.pending_requests_;
    }
    ~LoadHandle() override { Detach(); }

    // Unregisters and returns the callback (the handle is done).
    LoadCallback Take() {
      Detach();
      return std::move(callback_);
    }

    void Detach() {
      if (entry_ == nullptr) return;
      entry_->waiters.erase(position_);
      --cache_->pending_requests_;
      entry_ = nullptr;
    }

   private:
    DnsCacheImpl* cache_;
    Entry* entry_;
    std::list<LoadHandle*>::iterator position_;
    LoadCallback callback_;
  };

  LoadResult LoadExisting(Entry& entry, LoadCallback&& callback) {
    entry.used = true;
    return LoadEntry(entry, std::move(callback));
  }

  LoadResult LoadEntry(Entry& entry, LoadCallback&& callback) {
    if (entry.resolved) {
      return LoadResult{.status = LoadStatus::kInCache, .handle = nullptr,
                        .host_info = entry.info};
    }
    if (pending_requests_ >= config_.max_pending_requests) {
      stats_.dns_rq_pending_overflow.Inc();
      return LoadResult{};
    }
    return LoadResult{
        .status = LoadStatus::kLoading,
        .handle = std::make_unique<LoadHandle>(*this, entry, std::move(callback)),
        .host_info = nullptr};
  }

  LoadResult LoadMiss(std::string_view host, uint16_t default_port,
                      LoadCallback&& callback) {
    absl::StatusOr<HostPort> parsed = ParseHostPort(host, default_port);
    if (!parsed.ok()) {
      auto info = std::make_shared<DnsHostInfo>();
      info->host = std::string(host);
      info->port = default_port;
      info->last_status = parsed.status();
      info->resolved_at = dispatcher_.Now();
      return LoadResult{.status = LoadStatus::kInCache, .handle = nullptr,
                        .host_info = std::move(info)};
    }
    // The fast key differs from the canonical one for "[::1]"-style input.
    internal::StoredHostKey key = internal::HostKey::Canonical(*parsed);
    if (auto it = entries_.find(key); it != entries_.end()) {
      return LoadExisting(*it->second, std::move(callback));
    }
    const bool is_ip = SocketAddress::FromIp(parsed->host, parsed->port).ok();
    if (!is_ip && pending_requests_ >= config_.max_pending_requests) {
      stats_.dns_rq_pending_overflow.Inc();
      return LoadResult{};
    }
    if (entries_.size() >= config_.max_hosts) {
      stats_.host_overflow.Inc();
      return LoadResult{};
    }
    // Creation time is the first use.
    Entry& entry = CreateEntry(*std::move(parsed), std::move(key));
    return LoadEntry(entry, std::move(callback));
  }

  Entry& CreateEntry(HostPort host_port, internal::StoredHostKey key) {
    auto owned = std::make_unique<Entry>(std::move(host_port), key, config_);
    Entry& entry = *owned;
    entries_.emplace(std::move(key), std::move(owned));
    stats_.host_added.Inc();
    stats_.num_hosts.Inc();
    entry.last_used = dispatcher_.Now();
    entry.refresh_timer =
        dispatcher_.CreateTimer([this, &entry] { OnRefreshTimer(entry); });

    auto info = std::make_shared<DnsHostInfo>();
    info->host = entry.host_port.host;
    info->port = entry.host_port.port;
    info->resolved_at = entry.last_used;
    absl::StatusOr<SocketAddress> literal =
        SocketAddress::FromIp(entry.host_port.host, entry.host_port.port);
    if (literal.ok()) {
      // An IP literal is its own answer; the timer only checks host_ttl.
      entry.is_ip_literal = true;
      entry.resolved = true;
      info->addresses.push_back(*literal);
      entry.info = std::move(info);
      entry.refresh_timer->Arm(config_.dns_refresh_rate);
      return entry;
    }
    info->last_status = absl::UnavailableError(absl::StrCat(
        "DNS lookup of \"", entry.host_port.host, "\" in progress"));
    entry.info = std::move(info);
    StartResolve(entry);
    return entry;
  }

  void StartResolve(Entry& entry) {
    stats_.dns_query_attempt.Inc();
    entry.query = resolver_->Resolve(
        entry.host_port.host, config_.dns_lookup_family,
        [this, &entry](DnsAnswer answer) { OnResolved(entry, std::move(answer)); });
  }

  void OnRefreshTimer(Entry& entry) {
    const MonotonicTime now = dispatcher_.Now();
    if (entry.used) {
      entry.used = false;
      entry.last_used = now;
    }
    if (now - entry.last_used > config_.host_ttl) {
      RemoveEntry(entry);
      return;
    }
    if (entry.is_ip_literal) {
      entry.refresh_timer->Arm(config_.dns_refresh_rate);
      return;
    }
    StartResolve(entry);
  }

  void RemoveEntry(Entry& entry) {
    stats_.host_removed.Inc();
    stats_.num_hosts.Dec();
    // Only resolved entries have a refresh timer armed, so none has waiters.
    entries_.erase(entry.key);
  }

  void OnResolved(Entry& entry, DnsAnswer answer) {
    entry.query.reset();
    const bool first = !entry.resolved;
    entry.resolved = true;

    auto info = std::make_shared<DnsHostInfo>(*entry.info);
    info->resolved_at = dispatcher_.Now();
    bool address_changed = false;
    Duration next_refresh;
    if (answer.status.ok() && !answer.addresses.empty()) {
      stats_.dns_query_success.Inc();
      entry.backoff.Reset();
      std::vector<SocketAddress> addresses =
          internal::WithPortDeduplicated(answer.addresses, entry.host_port.port);
      if (!internal::SameAddressSet(addresses, info->addresses)) {
        info->addresses = std::move(addresses);
        address_changed = true;
      }
      info->last_status = absl::OkStatus();
      info->ttl = answer.ttl;
      next_refresh = answer.ttl > Duration::zero()
                         ? std::max(config_.dns_min_refresh_rate, answer.ttl)
                         : config_.dns_refresh_rate;
    } else {
      stats_.dns_query_failure.Inc();
      if (answer.status.code() == absl::StatusCode::kDeadlineExceeded) {
        stats_.dns_query_timeout.Inc();
      }
      // The last good addresses stay; only the status says what happened.
      info->last_status = answer.status.ok()
                              ? absl::NotFoundError(absl::StrCat(
                                    "DNS lookup of \"", entry.host_port.host,
                                    "\" returned no address"))
                              : std::move(answer.status);
      next_refresh = entry.backoff.Next(bitgen_);
    }
    entry.info = std::move(info);
    entry.refresh_timer->Arm(next_refresh);
    if (address_changed) stats_.host_address_changed.Inc();

    // Callbacks last: any of them may destroy the cache.
    std::weak_ptr<bool> alive = alive_;
    const DnsHostInfoSharedPtr snapshot = entry.info;
    if (address_changed && !update_callbacks_.Run(snapshot)) return;
    if (first) {
      // A waiter's callback may cancel other waiters; take them one by one.
      while (!entry.waiters.empty()) {
        LoadCallback callback = entry.waiters.front()->Take();
        if (callback) callback(snapshot);
        if (alive.expired()) return;
      }
    }
  }

  Dispatcher& dispatcher_;
  const DnsCacheConfig config_;
  DnsCacheStats stats_;
  std::unique_ptr<DnsResolver> resolver_;
  // Declared after resolver_: entries hold query handles into it.
  absl::flat_hash_map<internal::StoredHostKey, std::unique_ptr<Entry>,
                      internal::HostKeyHash, internal::HostKeyEq>
      entries_;
  uint32_t pending_requests_ = 0;
  internal::CallbackList<const DnsHostInfoSharedPtr&> update_callbacks_;
  absl::BitGen bitgen_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace

absl::Status ValidateDnsCacheConfig(const DnsCacheConfig& config) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  if (config.name.empty()) {
    return absl::InvalidArgumentError("dns cache: name must not be empty");
  }
  if (config.dns_refresh_rate < milliseconds(1)) {
    return ConfigError(config, absl::StrCat("dns_refresh_rate must be at least 1ms (got ",
                                            FormatDuration(config.dns_refresh_rate), ")"));
  }
  if (config.dns_min_refresh_rate < seconds(1)) {
    return ConfigError(config, absl::StrCat("dns_min_refresh_rate must be at least 1s (got ",
                                            FormatDuration(config.dns_min_refresh_rate), ")"));
  }
  if (config.host_ttl <= Duration::zero()) {
    return ConfigError(config, absl::StrCat("host_ttl must be positive (got ",
                                            FormatDuration(config.host_ttl), ")"));
  }
  if (config.max_hosts == 0) {
    return ConfigError(config, "max_hosts must be positive");
  }
  if (config.dns_query_timeout < Duration::zero()) {
    return ConfigError(config, absl::StrCat("dns_query_timeout must not be negative (got ",
                                            FormatDuration(config.dns_query_timeout), ")"));
  }
  if (const auto& failure = config.dns_failure_refresh_rate) {
    if (failure->base <= milliseconds(1)) {
      return ConfigError(config, absl::StrCat(
          "dns_failure_refresh_rate.base_interval must be greater than 1ms (got ",
          FormatDuration(failure->base), ")"));
    }
    if (failure->max < failure->base) {
      return ConfigError(config, absl::StrCat(
          "dns_failure_refresh_rate.max_interval (", FormatDuration(failure->max),
          ") must not be less than base_interval (", FormatDuration(failure->base), ")"));
    }
  }
  for (size_t i = 0; i < config.preresolve_hostnames.size(); ++i) {
    absl::StatusOr<HostPort> parsed = ParseHostPort(config.preresolve_hostnames[i]);
    if (!parsed.ok()) {
      return ConfigError(config, absl::StrCat("preresolve_hostnames[", i, "]: ",
                                              parsed.status().message()));
    }
  }
  if (config.preresolve_hostnames.size() > config.max_hosts) {
    return ConfigError(config, absl::StrCat(
        "preresolve_hostnames has ", config.preresolve_hostnames.size(),
        " entries, more than max_hosts (", config.max_hosts, ")"));
  }
  if (absl::StatusOr<std::string> servers = internal::AresServersCsv(config.resolver);
      !servers.ok()) {
    return ConfigError(config, absl::StrCat("resolver.", servers.status().message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DnsCache>> DnsCache::Create(
    Dispatcher& dispatcher, const DnsCacheConfig& config, StatsScope stats,
    std::unique_ptr<DnsResolver> resolver) {
  if (absl::Status status = ValidateDnsCacheConfig(config); !status.ok()) {
    return status;
  }
  if (resolver == nullptr) {
    absl::StatusOr<std::unique_ptr<DnsResolver>> ares =
        DnsResolver::CreateAres(dispatcher, config.resolver, config.dns_query_timeout);
    if (!ares.ok()) return ares.status();
    resolver = *std::move(ares);
  }
  auto cache = std::make_unique<DnsCacheImpl>(dispatcher, config, std::move(stats),
                                              std::move(resolver));
  cache->Preresolve();
  return cache;
}

}  // namespace homing
