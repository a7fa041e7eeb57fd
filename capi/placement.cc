// File: capi/placement.cc
//
// homing_placement_* (owner of a key among members) and homing_lb_* (a
// STATIC cluster: a load balancer over fixed hosts with passive health).

#include "homing/placement.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "handles.h"
#include "homing/upstream.h"
#include "internal.h"

struct homing_placement_t {
  std::unique_ptr<homing::Placement> rep;
};

struct homing_lb_t {
  std::shared_ptr<homing::StatsStore> stats;  // outlives the cluster's stats
  std::unique_ptr<homing::Cluster> rep;
  absl::flat_hash_map<const homing::Host*, size_t> index_of;
};

namespace homing::capi {
namespace {

absl::StatusOr<std::vector<std::string>> Members(const char* const* members,
                                                 size_t count) {
  if (members == nullptr && count != 0) {
    return absl::InvalidArgumentError("members is NULL");
  }
  std::vector<std::string> names;
  names.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    if (members[i] == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("members[", i, "] is NULL"));
    }
    names.emplace_back(members[i]);
  }
  return names;
}

absl::StatusOr<PlacementStrategy> Strategy(int strategy) {
  switch (strategy) {
    case HOMING_PLACEMENT_JUMP:
      return PlacementStrategy::kJump;
    case HOMING_PLACEMENT_RENDEZVOUS:
      return PlacementStrategy::kRendezvous;
    case HOMING_PLACEMENT_MAGLEV:
      return PlacementStrategy::kMaglev;
    case HOMING_PLACEMENT_MODULO:
      return PlacementStrategy::kModulo;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown placement strategy ", strategy));
  }
}

int StrategyNumber(PlacementStrategy strategy) {
  switch (strategy) {
    case PlacementStrategy::kJump:
      return HOMING_PLACEMENT_JUMP;
    case PlacementStrategy::kRendezvous:
      return HOMING_PLACEMENT_RENDEZVOUS;
    case PlacementStrategy::kMaglev:
      return HOMING_PLACEMENT_MAGLEV;
    case PlacementStrategy::kModulo:
      return HOMING_PLACEMENT_MODULO;
  }
  return -1;
}

absl::StatusOr<LbPolicy> Policy(int policy) {
  switch (policy) {
    case HOMING_LB_ROUND_ROBIN:
      return LbPolicy::kRoundRobin;
    case HOMING_LB_LEAST_REQUEST:
      return LbPolicy::kLeastRequest;
    case HOMING_LB_RANDOM:
      return LbPolicy::kRandom;
    case HOMING_LB_RING_HASH:
      return LbPolicy::kRingHash;
    case HOMING_LB_MAGLEV:
      return LbPolicy::kMaglev;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown load balancing policy ", policy));
  }
}

}  // namespace

absl::StatusOr<RequestOutcome> ToRequestOutcome(int outcome) {
  switch (outcome) {
    case HOMING_OUTCOME_SUCCESS:
      return RequestOutcome::kSuccess;
    case HOMING_OUTCOME_SERVER_ERROR:
      return RequestOutcome::kServerError;
    case HOMING_OUTCOME_CONNECT_FAILURE:
      return RequestOutcome::kConnectFailure;
    case HOMING_OUTCOME_RESET:
      return RequestOutcome::kReset;
    case HOMING_OUTCOME_TIMEOUT:
      return RequestOutcome::kTimeout;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown outcome ", outcome));
  }
}

namespace {

// A balancer's clock: it only reads time while a host is ejected.
const TimeSource& LbClock() {
  static const RealTimeSource* const clock = new RealTimeSource();
  return *clock;
}

absl::Status CreateLb(const ClusterSpec& spec, homing_stats_t* stats,
                      homing_lb_t** out) {
  auto lb = std::make_unique<homing_lb_t>();
  lb->stats = StoreOf(stats);
  auto cluster = Cluster::Create(
      spec, LbClock(),
      lb->stats->Scope(absl::StrCat("cluster.", spec.name, ".")));
  if (!cluster.ok()) return cluster.status();
  lb->rep = *std::move(cluster);
  for (size_t i = 0; i < lb->rep->hosts().size(); ++i) {
    lb->index_of.emplace(lb->rep->hosts()[i].get(), i);
  }
  *out = lb.release();
  return absl::OkStatus();
}

}  // namespace
}  // namespace homing::capi

using homing::capi::Guard;
using homing::capi::InvalidArgument;

extern "C" {

uint64_t homing_key_hash(const char* key, size_t key_len) {
  std::string_view view;
  if (!homing::capi::Text(key, key_len, &view)) view = {};
  return homing::KeyHash(view);
}

const char* homing_placement_strategy_name(int strategy) {
  absl::StatusOr<homing::PlacementStrategy> parsed =
      homing::capi::Strategy(strategy);
  // The names are string literals, so their views are terminated.
  return parsed.ok() ? homing::PlacementStrategyName(*parsed).data() : nullptr;
}

homing_status homing_placement_strategy_from_name(const char* name,
                                                  int* strategy) {
  if (name == nullptr || strategy == nullptr)
    return HOMING_ERR_INVALID_ARGUMENT;
  absl::StatusOr<homing::PlacementStrategy> parsed =
      homing::ParsePlacementStrategy(name);
  if (!parsed.ok()) return HOMING_ERR_INVALID_ARGUMENT;
  *strategy = homing::capi::StrategyNumber(*parsed);
  return HOMING_OK;
}

homing_status homing_placement_new(int strategy, const char* const* members,
                                   size_t member_count,
                                   homing_placement_t** out, char** errmsg) {
  homing::capi::ClearOutput(out);
  if (out == nullptr) {
    return InvalidArgument(errmsg, "homing_placement_new: out is required");
  }
  return Guard(errmsg, [&]() -> absl::Status {
    auto parsed = homing::capi::Strategy(strategy);
    if (!parsed.ok()) return parsed.status();
    auto names = homing::capi::Members(members, member_count);
    if (!names.ok()) return names.status();
    auto placement = homing::Placement::Create(*parsed, *std::move(names));
    if (!placement.ok()) return placement.status();
    *out = new homing_placement_t{*std::move(placement)};
    return absl::OkStatus();
  });
}

void homing_placement_free(homing_placement_t* placement) { delete placement; }

homing_status homing_placement_set_members(homing_placement_t* placement,
                                           const char* const* members,
                                           size_t member_count, char** errmsg) {
  if (placement == nullptr) {
    return InvalidArgument(
        errmsg, "homing_placement_set_members: placement is required");
  }
  return Guard(errmsg, [&]() -> absl::Status {
    auto names = homing::capi::Members(members, member_count);
    if (!names.ok()) return names.status();
    return placement->rep->SetMembers(*std::move(names));
  });
}

homing_status homing_placement_owner(const homing_placement_t* placement,
                                     const char* key, size_t key_len,
                                     size_t* index, const char** member) {
  std::string_view view;
  if (placement == nullptr || !homing::capi::Text(key, key_len, &view)) {
    return HOMING_ERR_INVALID_ARGUMENT;
  }
  const size_t owner = placement->rep->OwnerIndex(view);
  if (index != nullptr) *index = owner;
  if (member != nullptr) *member = placement->rep->members()[owner].c_str();
  return HOMING_OK;
}

size_t homing_placement_member_count(const homing_placement_t* placement) {
  return placement == nullptr ? 0 : placement->rep->members().size();
}

const char* homing_placement_member(const homing_placement_t* placement,
                                    size_t index) {
  if (placement == nullptr || index >= placement->rep->members().size()) {
    return nullptr;
  }
  return placement->rep->members()[index].c_str();
}

int homing_placement_strategy(const homing_placement_t* placement) {
  return placement == nullptr
             ? -1
             : homing::capi::StrategyNumber(placement->rep->strategy());
}

homing_status homing_lb_new(const char* name, int policy,
                            const char* const* hosts, const uint32_t* weights,
                            size_t host_count, homing_stats_t* stats,
                            homing_lb_t** out, char** errmsg) {
  homing::capi::ClearOutput(out);
  if (name == nullptr || *name == '\0' || out == nullptr) {
    return InvalidArgument(errmsg,
                           "homing_lb_new: a name and out are required");
  }
  if (host_count == 0 || hosts == nullptr) {
    return InvalidArgument(errmsg,
                           "homing_lb_new: at least one host is required");
  }
  return Guard(errmsg, [&]() -> absl::Status {
    auto parsed = homing::capi::Policy(policy);
    if (!parsed.ok()) return parsed.status();
    homing::ClusterSpec spec{
        .name = name,
        .type = homing::ClusterType::kStatic,
        .lb_policy = *parsed,
        .outlier_detection = homing::OutlierDetectionSpec{}};
    for (size_t i = 0; i < host_count; ++i) {
      if (hosts[i] == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("hosts[", i, "] is NULL"));
      }
      auto address = homing::SocketAddress::Parse(hosts[i]);
      if (!address.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("hosts[", i, "]: ", address.status().message()));
      }
      spec.endpoints.push_back({.address = address->Ip(),
                                .port = address->port(),
                                .weight = weights == nullptr ? 1 : weights[i]});
    }
    return homing::capi::CreateLb(spec, stats, out);
  });
}

homing_status homing_lb_new_from_config(const homing_config_t* config,
                                        const char* cluster_name,
                                        homing_stats_t* stats,
                                        homing_lb_t** out, char** errmsg) {
  homing::capi::ClearOutput(out);
  if (config == nullptr || cluster_name == nullptr || out == nullptr) {
    return InvalidArgument(
        errmsg,
        "homing_lb_new_from_config: config, cluster_name and out are required");
  }
  return Guard(errmsg, [&]() -> absl::Status {
    const homing::ClusterSpec* spec = config->rep->FindCluster(cluster_name);
    if (spec == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("the config has no cluster \"", cluster_name, "\""));
    }
    if (spec->type != homing::ClusterType::kStatic) {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster \"", cluster_name,
                       "\" is not STATIC (use a router for STRICT_DNS and "
                       "dynamic forward proxy clusters)"));
    }
    return homing::capi::CreateLb(*spec, stats, out);
  });
}

void homing_lb_free(homing_lb_t* lb) { delete lb; }

homing_status homing_lb_pick(homing_lb_t* lb, const char* hash_key,
                             size_t hash_key_len, size_t* index,
                             const char** address) {
  std::string_view key;
  if (lb == nullptr || !homing::capi::Text(hash_key, hash_key_len, &key)) {
    return HOMING_ERR_INVALID_ARGUMENT;
  }
  homing::LbContext context;
  if (hash_key != nullptr) context.hash = homing::KeyHash(key);
  homing::HostSharedPtr host = lb->rep->ChooseHost(context);
  if (host == nullptr)
    return HOMING_ERR_UNAVAILABLE;  // a cluster without hosts
  auto found = lb->index_of.find(host.get());
  if (found == lb->index_of.end()) return HOMING_ERR_INTERNAL;
  host->stats().rq_active.fetch_add(1, std::memory_order_relaxed);
  if (index != nullptr) *index = found->second;
  if (address != nullptr) *address = host->address_string().c_str();
  return HOMING_OK;
}

homing_status homing_lb_report(homing_lb_t* lb, size_t index, int outcome) {
  if (lb == nullptr || index >= lb->rep->hosts().size()) {
    return HOMING_ERR_INVALID_ARGUMENT;
  }
  auto parsed = homing::capi::ToRequestOutcome(outcome);
  if (!parsed.ok()) return HOMING_ERR_INVALID_ARGUMENT;
  const homing::Host& host = *lb->rep->hosts()[index];
  // A report without a pick must not drive the count negative.
  int64_t active = host.stats().rq_active.load(std::memory_order_relaxed);
  while (active > 0 && !host.stats().rq_active.compare_exchange_weak(
                           active, active - 1, std::memory_order_relaxed)) {
  }
  return Guard(nullptr, [&] {
    lb->rep->ReportOutcome(host, *parsed);
    return HOMING_OK;
  });
}

size_t homing_lb_host_count(const homing_lb_t* lb) {
  return lb == nullptr ? 0 : lb->rep->hosts().size();
}

const char* homing_lb_host(const homing_lb_t* lb, size_t index) {
  if (lb == nullptr || index >= lb->rep->hosts().size()) return nullptr;
  return lb->rep->hosts()[index]->address_string().c_str();
}

int homing_lb_host_healthy(const homing_lb_t* lb, size_t index) {
  if (lb == nullptr || index >= lb->rep->hosts().size()) return 0;
  return lb->rep->hosts()[index]->healthy();
}

}  // extern "C"
