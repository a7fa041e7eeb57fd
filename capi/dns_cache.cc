// File: capi/dns_cache.cc
//
// homing_dns_cache_*: Envoy's DFP DNS cache on a loop, its options, and the
// snapshots of its entries (homing_dns_host_t).

#include "homing/dns_cache.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "handles.h"
#include "internal.h"
#include "loop.h"
#include "options.h"

struct homing_dns_cache_options_t {
  homing::DnsCacheConfig rep;
};

struct homing_dns_host_t {
  homing::DnsHostInfoSharedPtr rep;
  std::vector<std::string> addresses;  // "ip:port"
  std::string error;                   // last_status's message
};

namespace homing::capi {
namespace {

// Everything of a cache that lives on the loop; the store outlives the
// cache's references into it.
struct DnsCacheComponent {
  std::shared_ptr<StatsStore> stats;
  std::unique_ptr<DnsCache> cache;
};

homing_dns_host_t MakeHost(DnsHostInfoSharedPtr info) {
  homing_dns_host_t host;
  host.addresses.reserve(info->addresses.size());
  for (const SocketAddress& address : info->addresses) {
    host.addresses.push_back(address.ToString());
  }
  host.error = std::string(info->last_status.message());
  host.rep = std::move(info);
  return host;
}

// Calls the user's callback with a snapshot of `info`.
void DeliverHost(homing_loop_t* loop, DnsHostInfoSharedPtr info,
                 homing_dns_cb cb, void* user_data) {
  const homing_dns_host_t host = MakeHost(std::move(info));
  CallbackScope scope(loop);
  cb(&host, user_data);
}

absl::StatusOr<DnsLookupFamily> Family(int family) {
  switch (family) {
    case HOMING_DNS_V4_ONLY:
      return DnsLookupFamily::kV4Only;
    case HOMING_DNS_V6_ONLY:
      return DnsLookupFamily::kV6Only;
    case HOMING_DNS_V4_PREFERRED:
      return DnsLookupFamily::kV4Preferred;
    case HOMING_DNS_AUTO:
      return DnsLookupFamily::kAuto;
    case HOMING_DNS_ALL:
      return DnsLookupFamily::kAll;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown DNS lookup family ", family));
  }
}

}  // namespace
}  // namespace homing::capi

struct homing_dns_cache_t final : homing::capi::LoopObject {
  using LoopObject::LoopObject;

  std::shared_ptr<void> ReleaseComponent() override {
    return std::move(component);
  }

  homing::DnsCache& cache() const { return *component->cache; }

  std::shared_ptr<homing::capi::DnsCacheComponent> component;  // loop thread
};

using homing::capi::Guard;
using homing::capi::InvalidArgument;
using homing::capi::LoopGone;
using homing::capi::OnLoop;
using homing::capi::SetDuration;

extern "C" {

homing_dns_cache_options_t* homing_dns_cache_options_new(void) {
  try {
    return new homing_dns_cache_options_t();
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void homing_dns_cache_options_free(homing_dns_cache_options_t* options) {
  delete options;
}

homing_status homing_dns_cache_options_set_name(
    homing_dns_cache_options_t* options, const char* name) {
  if (options == nullptr || name == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  return Guard(nullptr, [&] {
    options->rep.name = name;
    return HOMING_OK;
  });
}

homing_status homing_dns_cache_options_set_lookup_family(
    homing_dns_cache_options_t* options, int family) {
  auto parsed = homing::capi::Family(family);
  if (options == nullptr || !parsed.ok()) return HOMING_ERR_INVALID_ARGUMENT;
  options->rep.dns_lookup_family = *parsed;
  return HOMING_OK;
}

homing_status homing_dns_cache_options_add_resolver(
    homing_dns_cache_options_t* options, const char* address) {
  if (options == nullptr || address == nullptr)
    return HOMING_ERR_INVALID_ARGUMENT;
  return Guard(nullptr, [&] {
    options->rep.resolver.resolvers.emplace_back(address);
    return HOMING_OK;
  });
}

homing_status homing_dns_cache_options_set_refresh_rate_ms(
    homing_dns_cache_options_t* options, int64_t ms) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  return SetDuration(ms, &options->rep.dns_refresh_rate);
}

homing_status homing_dns_cache_options_set_min_refresh_rate_ms(
    homing_dns_cache_options_t* options, int64_t ms) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  return SetDuration(ms, &options->rep.dns_min_refresh_rate);
}

homing_status homing_dns_cache_options_set_failure_refresh_rate_ms(
    homing_dns_cache_options_t* options, int64_t base_ms, int64_t max_ms) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  homing::DnsFailureRefreshRate rate;
  if (SetDuration(base_ms, &rate.base) != HOMING_OK ||
      SetDuration(max_ms, &rate.max) != HOMING_OK) {
    return HOMING_ERR_INVALID_ARGUMENT;
  }
  options->rep.dns_failure_refresh_rate = rate;
  return HOMING_OK;
}

homing_status homing_dns_cache_options_set_host_ttl_ms(
    homing_dns_cache_options_t* options, int64_t ms) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  return SetDuration(ms, &options->rep.host_ttl);
}

homing_status homing_dns_cache_options_set_max_hosts(
    homing_dns_cache_options_t* options, uint32_t max_hosts) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  options->rep.max_hosts = max_hosts;
  return HOMING_OK;
}

homing_status homing_dns_cache_options_set_max_pending_requests(
    homing_dns_cache_options_t* options, uint32_t max_pending) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  options->rep.max_pending_requests = max_pending;
  return HOMING_OK;
}

homing_status homing_dns_cache_options_set_query_timeout_ms(
    homing_dns_cache_options_t* options, int64_t ms) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  return SetDuration(ms, &options->rep.dns_query_timeout);
}

homing_status homing_dns_cache_options_add_preresolve_hostname(
    homing_dns_cache_options_t* options, const char* host_port) {
  if (options == nullptr || host_port == nullptr)
    return HOMING_ERR_INVALID_ARGUMENT;
  return Guard(nullptr, [&] {
    options->rep.preresolve_hostnames.emplace_back(host_port);
    return HOMING_OK;
  });
}

homing_status homing_dns_cache_new(homing_loop_t* loop,
                                   const homing_dns_cache_options_t* options,
                                   homing_stats_t* stats,
                                   homing_dns_cache_t** out, char** errmsg) {
  homing::capi::ClearOutput(out);
  if (loop == nullptr || options == nullptr || out == nullptr) {
    return InvalidArgument(
        errmsg, "homing_dns_cache_new: loop, options and out are required");
  }
  return OnLoop(loop, errmsg, [&]() -> absl::Status {
    auto component = std::make_shared<homing::capi::DnsCacheComponent>();
    component->stats = homing::capi::StoreOf(stats);
    auto created = homing::DnsCache::Create(*loop->dispatcher, options->rep,
                                            component->stats->Scope(""));
    if (!created.ok()) return created.status();
    component->cache = *std::move(created);
    auto cache = std::make_unique<homing_dns_cache_t>(loop);
    cache->component = std::move(component);
    cache->Register();
    *out = cache.release();
    return absl::OkStatus();
  });
}

void homing_dns_cache_free(homing_dns_cache_t* cache) {
  if (cache != nullptr)
    homing::capi::FreeLoopObject(cache, "homing_dns_cache_free");
}

homing_status homing_dns_cache_load(homing_dns_cache_t* cache, const char* host,
                                    size_t host_len, uint16_t default_port,
                                    homing_dns_cb cb, void* user_data,
                                    homing_pending_t** pending, char** errmsg) {
  std::string_view name;
  if (cache == nullptr || cb == nullptr ||
      !homing::capi::Text(host, host_len, &name)) {
    return InvalidArgument(
        errmsg, "homing_dns_cache_load: cache, host and cb are required");
  }
  homing_loop_t* loop = cache->loop();
  if (loop == nullptr) return LoopGone(errmsg);
  return OnLoop(loop, errmsg, [&]() -> absl::Status {
    auto handle = std::make_unique<homing_pending_t>();
    std::shared_ptr<homing::capi::PendingOp> op = cache->pendings().Start(loop);
    homing::DnsCache::LoadResult result = cache->cache().Load(
        name, default_port,
        [weak = std::weak_ptr<homing::capi::PendingOp>(op), loop, cb,
         user_data](const homing::DnsHostInfoSharedPtr& info) {
          std::shared_ptr<homing::capi::PendingOp> self = weak.lock();
          if (self == nullptr || self->done) return;
          self->Finish();
          homing::capi::GuardVoid("homing_dns_cache_load callback", [&] {
            homing::capi::DeliverHost(loop, info, cb, user_data);
          });
        });
    switch (result.status) {
      case homing::DnsCache::LoadStatus::kLoading:
        op->op = std::move(result.handle);
        if (pending != nullptr) {
          handle->rep = std::move(op);
          *pending = handle.release();
        }
        return absl::OkStatus();
      case homing::DnsCache::LoadStatus::kInCache:
        op->Finish();
        if (pending != nullptr) *pending = nullptr;
        homing::capi::DeliverHost(loop, std::move(result.host_info), cb,
                                  user_data);
        return absl::OkStatus();
      case homing::DnsCache::LoadStatus::kOverflow:
        break;
    }
    op->Finish();
    return absl::ResourceExhaustedError(
        absl::StrCat("DNS cache \"", cache->cache().config().name,
                     "\" is full (max_hosts or max_pending_requests reached)"));
  });
}

homing_status homing_dns_cache_find(homing_dns_cache_t* cache,
                                    const char* host_port, size_t host_port_len,
                                    homing_dns_host_t** out) {
  homing::capi::ClearOutput(out);
  std::string_view key;
  if (cache == nullptr || out == nullptr ||
      !homing::capi::Text(host_port, host_port_len, &key)) {
    return HOMING_ERR_INVALID_ARGUMENT;
  }
  homing_loop_t* loop = cache->loop();
  if (loop == nullptr) return HOMING_ERR_FAILED_PRECONDITION;
  return OnLoop(loop, nullptr, [&] {
    homing::DnsHostInfoSharedPtr info = cache->cache().Find(key);
    if (info == nullptr) return HOMING_ERR_NOT_FOUND;
    *out = new homing_dns_host_t(homing::capi::MakeHost(std::move(info)));
    return HOMING_OK;
  });
}

homing_status homing_dns_cache_host_count(homing_dns_cache_t* cache,
                                          size_t* count) {
  if (cache == nullptr || count == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  homing_loop_t* loop = cache->loop();
  if (loop == nullptr) return HOMING_ERR_FAILED_PRECONDITION;
  return OnLoop(loop, nullptr, [&] {
    *count = cache->cache().Hosts().size();
    return HOMING_OK;
  });
}

const char* homing_dns_host_name(const homing_dns_host_t* host) {
  return host == nullptr ? nullptr : host->rep->host.c_str();
}

uint16_t homing_dns_host_port(const homing_dns_host_t* host) {
  return host == nullptr ? 0 : host->rep->port;
}

size_t homing_dns_host_address_count(const homing_dns_host_t* host) {
  return host == nullptr ? 0 : host->addresses.size();
}

const char* homing_dns_host_address(const homing_dns_host_t* host,
                                    size_t index) {
  if (host == nullptr || index >= host->addresses.size()) return nullptr;
  return host->addresses[index].c_str();
}

homing_status homing_dns_host_status(const homing_dns_host_t* host) {
  if (host == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  return homing::capi::ToHomingStatus(host->rep->last_status.code());
}

const char* homing_dns_host_error(const homing_dns_host_t* host) {
  return host == nullptr ? nullptr : host->error.c_str();
}

int64_t homing_dns_host_ttl_ms(const homing_dns_host_t* host) {
  if (host == nullptr) return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(host->rep->ttl)
      .count();
}

void homing_dns_host_free(homing_dns_host_t* host) { delete host; }

}  // extern "C"
