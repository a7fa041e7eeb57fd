// A resolution round: SRV records; when the service has none, its addresses
// and then, all at once, each address's PTR name. A round ends by scheduling
// the next one; only one round runs at a time.

#include "homing/dns_members.h"

#include <algorithm>
#include <limits>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/string_util.h"

namespace homing {
namespace {

using internal::ToAbsl;

// Ordered by ordinal; names without one after, by name.
bool MemberLess(const std::string& a, const std::string& b) {
  constexpr size_t kNone = std::numeric_limits<size_t>::max();
  return std::forward_as_tuple(PodOrdinal(a).value_or(kNone), a) <
         std::forward_as_tuple(PodOrdinal(b).value_or(kNone), b);
}

class DnsMembersImpl final : public DnsMembers {
 public:
  DnsMembersImpl(Dispatcher& dispatcher, Options options,
                 std::unique_ptr<DnsResolver> resolver, StatsScope stats,
                 Callback on_change)
      : options_(std::move(options)),
        resolver_(std::move(resolver)),
        on_change_(std::move(on_change)),
        resolve_success_(stats.Counter("resolve_success")),
        resolve_failure_(stats.Counter("resolve_failure")),
        membership_change_(stats.Counter("membership_change")),
        members_gauge_(stats.Gauge("members")),
        timer_(dispatcher.CreateTimer([this] { StartRound(); })) {}

  void Start() override { StartRound(); }
  const std::vector<std::string>& members() const override { return members_; }

 private:
  void StartRound() {
    timer_->Disarm();
    reverse_lookups_.clear();
    absl::StatusOr<std::unique_ptr<Cancelable>> srv = resolver_->ResolveSrv(
        options_.srv_name, [this](DnsSrvAnswer answer) { OnSrv(std::move(answer)); });
    if (srv.ok()) {
      query_ = *std::move(srv);
    } else {
      ResolveAddresses();  // a resolver without SRV support
    }
  }

  void OnSrv(DnsSrvAnswer answer) {
    if (answer.status.ok() && !answer.records.empty()) {
      std::vector<std::string> members;
      for (const DnsSrvRecord& record : answer.records) {
        members.push_back(absl::StrCat(absl::AsciiStrToLower(record.target), ":",
                                       record.port));
      }
      Finish(std::move(members), Duration::zero());
      return;
    }
    if (!answer.status.ok() && answer.status.code() != absl::StatusCode::kNotFound) {
      Fail(answer.status);
      return;
    }
    ResolveAddresses();  // no SRV records: the service names no port
  }

  void ResolveAddresses() {
    query_ = resolver_->Resolve(options_.service, options_.family,
                                [this](DnsAnswer answer) { OnAddresses(std::move(answer)); });
  }

  void OnAddresses(DnsAnswer answer) {
    if (!answer.status.ok()) {
      Fail(answer.status);
      return;
    }
    ttl_ = answer.ttl;
    names_.assign(answer.addresses.size(), std::string());
    names_pending_ = answer.addresses.size();
    for (size_t i = 0; i < answer.addresses.size(); ++i) {
      const SocketAddress address = answer.addresses[i];
      absl::StatusOr<std::unique_ptr<Cancelable>> lookup = resolver_->ReverseLookup(
          address, [this, i, address](absl::StatusOr<std::string> name) {
            OnName(i, address, std::move(name));
          });
      if (lookup.ok()) {
        reverse_lookups_.push_back(*std::move(lookup));
      } else {
        OnName(i, address, lookup.status());
      }
    }
    if (answer.addresses.empty()) FinishAddresses();
  }

  // An address without a PTR name stays a member, under its IP.
  void OnName(size_t index, const SocketAddress& address,
              absl::StatusOr<std::string> name) {
    names_[index] = name.ok()
                        ? absl::StrCat(absl::AsciiStrToLower(*name), ":", options_.port)
                        : address.WithPort(options_.port).ToString();  // [v6]:port
    if (--names_pending_ == 0) FinishAddresses();
  }

  void FinishAddresses() { Finish(names_, ttl_); }

  void Finish(std::vector<std::string> members, Duration ttl) {
    resolve_success_.Inc();
    std::sort(members.begin(), members.end(), MemberLess);
    members.erase(std::unique(members.begin(), members.end()), members.end());
    ScheduleNext(ttl);
    if (members == members_) return;
    members_ = std::move(members);
    members_gauge_.Set(static_cast<int64_t>(members_.size()));
    membership_change_.Inc();
    HOMING_LOG(kInfo, "membership of ", options_.service, ": ", members_.size(),
               " members");
    on_change_(members_);  // last: it may destroy this
  }

  void Fail(const absl::Status& status) {
    resolve_failure_.Inc();
    HOMING_LOG(kWarn, "membership of ", options_.service,
               " not refreshed (keeping ", members_.size(), " members): ",
               status.ToString());
    ScheduleNext(Duration::zero());
  }

  // The next round: after `refresh`, or the records' TTL when shorter, but
  // not before `min_refresh`.
  void ScheduleNext(Duration ttl) {
    Duration next = options_.refresh;
    if (ttl > Duration::zero()) next = std::min(next, ttl);
    timer_->Arm(std::max(next, options_.min_refresh));
  }

  const Options options_;
  const std::unique_ptr<DnsResolver> resolver_;
  const Callback on_change_;
  Counter& resolve_success_;
  Counter& resolve_failure_;
  Counter& membership_change_;
  Gauge& members_gauge_;
  std::unique_ptr<Timer> timer_;
  std::vector<std::string> members_;

  // The round in progress.
  std::unique_ptr<Cancelable> query_;
  std::vector<std::unique_ptr<Cancelable>> reverse_lookups_;
  std::vector<std::string> names_;
  size_t names_pending_ = 0;
  Duration ttl_{0};
};

}  // namespace

std::optional<size_t> PodOrdinal(std::string_view member) {
  const std::string_view label = member.substr(0, member.find_first_of(".:"));
  const size_t dash = label.rfind('-');
  if (dash == std::string_view::npos || dash + 1 == label.size()) return std::nullopt;
  // Kubernetes names a pod without a hostname by its IP ("10-1-2-3"): that
  // last number is no ordinal.
  const std::string_view prefix = label.substr(0, dash);
  if (prefix.find_first_not_of("0123456789-") == std::string_view::npos) {
    return std::nullopt;
  }
  size_t ordinal = 0;
  for (char c : label.substr(dash + 1)) {
    if (c < '0' || c > '9' || ordinal > 1000000) return std::nullopt;
    ordinal = ordinal * 10 + static_cast<size_t>(c - '0');
  }
  return ordinal;
}

absl::StatusOr<std::unique_ptr<DnsMembers>> DnsMembers::Create(
    Dispatcher& dispatcher, Options options, std::unique_ptr<DnsResolver> resolver,
    StatsScope stats, Callback on_change) {
  if (options.service.empty()) {
    return absl::InvalidArgumentError("DnsMembers: service is required");
  }
  if (options.port == 0) {
    return absl::InvalidArgumentError("DnsMembers: port is required");
  }
  if (options.min_refresh <= Duration::zero() || options.refresh < options.min_refresh) {
    return absl::InvalidArgumentError(
        "DnsMembers: min_refresh must be positive and refresh at least min_refresh");
  }
  if (resolver == nullptr || !on_change) {
    return absl::InvalidArgumentError("DnsMembers: a resolver and a callback are required");
  }
  if (options.srv_name.empty()) options.srv_name = absl::StrCat("_http._tcp.", options.service);
  return std::make_unique<DnsMembersImpl>(dispatcher, std::move(options),
                                          std::move(resolver), std::move(stats),
                                          std::move(on_change));
}

}  // namespace homing
