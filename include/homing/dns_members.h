// File: homing/dns_members.h
//
// `DnsMembers` keeps a StatefulSet's member list from the DNS records of its
// headless service, the way Kubernetes publishes them, so an instance's view
// of the membership follows `kubectl scale` without a restart or a config
// change:
//
//   - SRV `_<port>._tcp.<service>` (targets `<pod>.<service>`, each with its
//     port), where the service names its port;
//   - else the service's A/AAAA records, each named by its PTR record
//     (`<pod>.<service>`), with `Options::port`.
//
// Members are "host:port" strings ordered by the ordinal at the end of their
// pod name (`server-2.…` → 2), so a placement over them keeps each pod's
// index as pods are added and removed at the end, as a StatefulSet scales;
// while a pod in the middle is missing from DNS, the ones after it shift
// down. A name without an ordinal (an address without a PTR name, as
// "ip:port") sorts after, by name.
// The records are re-resolved every `refresh`, sooner when their TTL is
// shorter (never more often than `min_refresh`). A failed resolution keeps
// the last members.
//
// Stats under the scope given to Create(): counters resolve_success,
// resolve_failure, membership_change; gauge members.
//
// Example:
//
//   auto resolver = homing::DnsResolver::CreateAres(dispatcher, {}, 5s);
//   auto members = homing::DnsMembers::Create(
//       dispatcher, {.service = "server-headless.poc-routing.svc.cluster.local",
//                    .port = 8081},
//       *std::move(resolver), stats.Scope("membership."),
//       [&](const std::vector<std::string>& members) { placement.Reset(members); });
//   (*members)->Start();
//
// Thread safety: belongs to its dispatcher's thread.

#ifndef HOMING_DNS_MEMBERS_H_
#define HOMING_DNS_MEMBERS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "homing/clock.h"
#include "homing/dispatcher.h"
#include "homing/dns_cache.h"
#include "homing/stats.h"

namespace homing {

// PodOrdinal()
//
// The StatefulSet ordinal of a member ("server-2.server-headless…:8081" or
// "server-2" → 2): the digits after the last '-' of the first DNS label.
// nullopt when there are none.
std::optional<size_t> PodOrdinal(std::string_view member);

class DnsMembers {
 public:
  struct Options {
    std::string service;     // the headless service's name; required
    std::string srv_name;    // default "_http._tcp.<service>"
    uint16_t port = 0;       // for A records; required
    DnsLookupFamily family = DnsLookupFamily::kV4Only;
    Duration refresh = std::chrono::seconds(5);
    Duration min_refresh = std::chrono::seconds(1);
  };
  // The members after a change (also the first time they are known).
  using Callback = std::function<void(const std::vector<std::string>& members)>;

  virtual ~DnsMembers() = default;

  // DnsMembers::Create()
  //
  // InvalidArgument without a service or a port, or with refresh below
  // min_refresh or min_refresh not positive.
  static absl::StatusOr<std::unique_ptr<DnsMembers>> Create(
      Dispatcher& dispatcher, Options options,
      std::unique_ptr<DnsResolver> resolver, StatsScope stats,
      Callback on_change);

  // DnsMembers::Start()
  //
  // Resolves now, then on the refresh schedule.
  virtual void Start() = 0;

  // DnsMembers::members()
  //
  // The current members (empty before the first answer).
  virtual const std::vector<std::string>& members() const = 0;
};

}  // namespace homing

#endif  // HOMING_DNS_MEMBERS_H_
