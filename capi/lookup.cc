// File: capi/lookup.cc
//
// homing_lookup_*: the affinity lookup on a loop, over a STATIC round-robin
// cluster of resolver hosts, its options and its results.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "handles.h"
#include "homing/affinity_lookup.h"
#include "homing/upstream.h"
#include "internal.h"
#include "loop.h"
#include "options.h"

struct homing_lookup_options_t {
  homing::AffinityPolicy policy;
  std::vector<std::string> hosts;  // "ip:port" of the resolver cluster
};

struct homing_lookup_result_t {
  homing::LookupOutcome rep;
  std::string error;  // rep.error's message
};

namespace homing::capi {
namespace {

// Everything of a lookup that lives on the loop, destroyed lookup first,
// then the cluster it asks, then the store both count in.
struct LookupComponent {
  std::shared_ptr<StatsStore> stats;
  std::unique_ptr<Cluster> cluster;
  std::unique_ptr<AffinityLookup> lookup;
};

void DeliverResult(homing_loop_t* loop, const LookupOutcome& outcome,
                   homing_lookup_cb cb, void* user_data) {
  const homing_lookup_result_t result{outcome,
                                      std::string(outcome.error.message())};
  CallbackScope scope(loop);
  cb(&result, user_data);
}

absl::StatusOr<ClusterSpec> ResolverCluster(
    const homing_lookup_options_t& options) {
  if (options.policy.lookup_cluster.empty()) {
    return absl::InvalidArgumentError("lookup_cluster is required");
  }
  if (options.hosts.empty()) {
    return absl::InvalidArgumentError("at least one lookup host is required");
  }
  ClusterSpec spec{.name = options.policy.lookup_cluster,
                   .type = ClusterType::kStatic};
  for (size_t i = 0; i < options.hosts.size(); ++i) {
    auto address = SocketAddress::Parse(options.hosts[i]);
    if (!address.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("lookup host \"", options.hosts[i],
                       "\": ", address.status().message()));
    }
    spec.endpoints.push_back(
        {.address = address->Ip(), .port = address->port()});
  }
  return spec;
}

// Stores a non-empty string option.
homing_status SetText(std::string* field, const char* value) {
  if (value == nullptr || *value == '\0') return HOMING_ERR_INVALID_ARGUMENT;
  return Guard(nullptr, [&] {
    *field = value;
    return HOMING_OK;
  });
}

}  // namespace

int ToHomingSource(LookupOutcome::Source source) {
  switch (source) {
    case LookupOutcome::Source::kCache:
      return HOMING_SOURCE_CACHE;
    case LookupOutcome::Source::kStale:
      return HOMING_SOURCE_STALE;
    case LookupOutcome::Source::kResolver:
      return HOMING_SOURCE_RESOLVER;
    case LookupOutcome::Source::kDefaultTarget:
      return HOMING_SOURCE_DEFAULT_TARGET;
  }
  return HOMING_SOURCE_NONE;
}

}  // namespace homing::capi

struct homing_lookup_t final : homing::capi::LoopObject {
  using LoopObject::LoopObject;

  std::shared_ptr<void> ReleaseComponent() override {
    return std::move(component);
  }

  homing::AffinityLookup& lookup() const { return *component->lookup; }

  std::shared_ptr<homing::capi::LookupComponent> component;  // loop thread
};

using homing::capi::Guard;
using homing::capi::InvalidArgument;
using homing::capi::OnLoop;
using homing::capi::SetDuration;
using homing::capi::SetText;

extern "C" {

homing_lookup_options_t* homing_lookup_options_new(void) {
  try {
    return new homing_lookup_options_t();
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void homing_lookup_options_free(homing_lookup_options_t* options) {
  delete options;
}

homing_status homing_lookup_options_set_lookup_cluster(
    homing_lookup_options_t* options, const char* name) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  return SetText(&options->policy.lookup_cluster, name);
}

homing_status homing_lookup_options_add_lookup_host(
    homing_lookup_options_t* options, const char* address) {
  if (options == nullptr || address == nullptr)
    return HOMING_ERR_INVALID_ARGUMENT;
  return Guard(nullptr, [&] {
    options->hosts.emplace_back(address);
    return HOMING_OK;
  });
}

homing_status homing_lookup_options_set_lookup_path(
    homing_lookup_options_t* options, const char* path) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  return SetText(&options->policy.lookup_path, path);
}

homing_status homing_lookup_options_set_key(homing_lookup_options_t* options,
                                            int source, const char* name) {
  if (options == nullptr ||
      (source != HOMING_KEY_QUERY_PARAMETER && source != HOMING_KEY_HEADER)) {
    return HOMING_ERR_INVALID_ARGUMENT;
  }
  homing_status status = SetText(&options->policy.key.name, name);
  if (status != HOMING_OK) return status;
  options->policy.key.kind = source == HOMING_KEY_HEADER
                                 ? homing::KeySource::Kind::kHeader
                                 : homing::KeySource::Kind::kQueryParameter;
  return HOMING_OK;
}

homing_status homing_lookup_options_set_hostport_field(
    homing_lookup_options_t* options, const char* field) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  return SetText(&options->policy.hostport_field, field);
}

homing_status homing_lookup_options_set_lookup_timeout_ms(
    homing_lookup_options_t* options, int64_t ms) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  return SetDuration(ms, &options->policy.lookup_timeout);
}

homing_status homing_lookup_options_set_max_age_ms(
    homing_lookup_options_t* options, int64_t ms) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  return SetDuration(ms, &options->policy.max_age);
}

homing_status homing_lookup_options_set_stale_age_ms(
    homing_lookup_options_t* options, int64_t ms) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  return SetDuration(ms, &options->policy.stale_age);
}

homing_status homing_lookup_options_set_max_entries(
    homing_lookup_options_t* options, size_t max_entries) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  options->policy.max_entries = max_entries;
  return HOMING_OK;
}

homing_status homing_lookup_options_set_max_key_length(
    homing_lookup_options_t* options, size_t max_key_length) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  options->policy.max_key_length = max_key_length;
  return HOMING_OK;
}

homing_status homing_lookup_options_set_max_pending_lookups(
    homing_lookup_options_t* options, size_t max_pending) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  options->policy.max_pending_lookups = max_pending;
  return HOMING_OK;
}

homing_status homing_lookup_options_set_max_waiters_per_key(
    homing_lookup_options_t* options, size_t max_waiters) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  options->policy.max_waiters_per_key = max_waiters;
  return HOMING_OK;
}

homing_status homing_lookup_options_add_allowed_hostport(
    homing_lookup_options_t* options, const char* pattern) {
  if (options == nullptr || pattern == nullptr)
    return HOMING_ERR_INVALID_ARGUMENT;
  return Guard(nullptr, [&] {
    options->policy.allowed_hostports.emplace_back(pattern);
    return HOMING_OK;
  });
}

homing_status homing_lookup_options_set_default_target(
    homing_lookup_options_t* options, const char* hostport) {
  if (options == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  return Guard(nullptr, [&] {
    if (hostport == nullptr) {
      options->policy.default_target.reset();
    } else {
      options->policy.default_target = hostport;
    }
    return HOMING_OK;
  });
}

homing_status homing_lookup_new(homing_loop_t* loop,
                                const homing_lookup_options_t* options,
                                homing_stats_t* stats, homing_lookup_t** out,
                                char** errmsg) {
  homing::capi::ClearOutput(out);
  if (loop == nullptr || options == nullptr || out == nullptr) {
    return InvalidArgument(
        errmsg, "homing_lookup_new: loop, options and out are required");
  }
  return OnLoop(loop, errmsg, [&]() -> absl::Status {
    absl::StatusOr<homing::ClusterSpec> spec =
        homing::capi::ResolverCluster(*options);
    if (!spec.ok()) return spec.status();
    auto component = std::make_shared<homing::capi::LookupComponent>();
    component->stats = homing::capi::StoreOf(stats);
    const std::string& name = options->policy.lookup_cluster;
    auto cluster = homing::Cluster::Create(
        *spec, *loop->dispatcher,
        component->stats->Scope(absl::StrCat("cluster.", name, ".")));
    if (!cluster.ok()) return cluster.status();
    component->cluster = *std::move(cluster);
    auto transport = homing::LookupTransport::CreateCurl(*loop->dispatcher);
    if (!transport.ok()) return transport.status();
    auto created = homing::AffinityLookup::Create(
        *loop->dispatcher, options->policy, *component->cluster,
        component->stats->Scope(absl::StrCat("affinity.", name, ".")),
        *std::move(transport));
    if (!created.ok()) return created.status();
    component->lookup = *std::move(created);
    auto lookup = std::make_unique<homing_lookup_t>(loop);
    lookup->component = std::move(component);
    lookup->Register();
    *out = lookup.release();
    return absl::OkStatus();
  });
}

void homing_lookup_free(homing_lookup_t* lookup) {
  if (lookup != nullptr)
    homing::capi::FreeLoopObject(lookup, "homing_lookup_free");
}

homing_status homing_lookup_owner(homing_lookup_t* lookup, const char* key,
                                  size_t key_len, homing_lookup_cb cb,
                                  void* user_data, homing_pending_t** pending,
                                  char** errmsg) {
  std::string_view view;
  if (lookup == nullptr || cb == nullptr ||
      !homing::capi::Text(key, key_len, &view)) {
    return InvalidArgument(
        errmsg, "homing_lookup_owner: lookup, key and cb are required");
  }
  homing_loop_t* loop = lookup->loop();
  if (loop == nullptr) return homing::capi::LoopGone(errmsg);
  return OnLoop(loop, errmsg, [&]() -> absl::Status {
    auto handle = std::make_unique<homing_pending_t>();
    std::shared_ptr<homing::capi::PendingOp> op =
        lookup->pendings().Start(loop);
    homing::AffinityLookup::Result result = lookup->lookup().Lookup(
        view, [weak = std::weak_ptr<homing::capi::PendingOp>(op), loop, cb,
               user_data](const homing::LookupOutcome& outcome) {
          std::shared_ptr<homing::capi::PendingOp> self = weak.lock();
          if (self == nullptr || self->done) return;
          self->Finish();
          homing::capi::GuardVoid("homing_lookup_owner callback", [&] {
            homing::capi::DeliverResult(loop, outcome, cb, user_data);
          });
        });
    if (!result.outcome) {
      op->op = std::move(result.handle);
      if (pending != nullptr) {
        handle->rep = std::move(op);
        *pending = handle.release();
      }
      return absl::OkStatus();
    }
    op->Finish();
    if (pending != nullptr) *pending = nullptr;
    homing::capi::DeliverResult(loop, *result.outcome, cb, user_data);
    return absl::OkStatus();
  });
}

homing_status homing_lookup_invalidate(homing_lookup_t* lookup, const char* key,
                                       size_t key_len) {
  std::string_view view;
  if (lookup == nullptr || !homing::capi::Text(key, key_len, &view)) {
    return HOMING_ERR_INVALID_ARGUMENT;
  }
  homing_loop_t* loop = lookup->loop();
  if (loop == nullptr) return HOMING_ERR_FAILED_PRECONDITION;
  return OnLoop(loop, nullptr, [&] {
    lookup->lookup().Invalidate(view);
    return HOMING_OK;
  });
}

homing_status homing_lookup_size(homing_lookup_t* lookup, size_t* size) {
  if (lookup == nullptr || size == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  homing_loop_t* loop = lookup->loop();
  if (loop == nullptr) return HOMING_ERR_FAILED_PRECONDITION;
  return OnLoop(loop, nullptr, [&] {
    *size = lookup->lookup().size();
    return HOMING_OK;
  });
}

int homing_lookup_result_ok(const homing_lookup_result_t* result) {
  return result != nullptr && result->rep.ok();
}

const char* homing_lookup_result_hostport(
    const homing_lookup_result_t* result) {
  if (result == nullptr) return nullptr;
  return result->rep.ok() ? result->rep.target->hostport.c_str() : "";
}

int homing_lookup_result_source(const homing_lookup_result_t* result) {
  if (result == nullptr || !result->rep.ok()) return HOMING_SOURCE_NONE;
  return homing::capi::ToHomingSource(result->rep.source);
}

int homing_lookup_result_failure(const homing_lookup_result_t* result) {
  if (result == nullptr) return HOMING_LOOKUP_OK;
  using Failure = homing::LookupOutcome::Failure;
  switch (result->rep.failure) {
    case Failure::kNone:
      return HOMING_LOOKUP_OK;
    case Failure::kResolverUnavailable:
      return HOMING_LOOKUP_RESOLVER_UNAVAILABLE;
    case Failure::kResolverTimeout:
      return HOMING_LOOKUP_RESOLVER_TIMEOUT;
    case Failure::kBadAnswer:
      return HOMING_LOOKUP_BAD_ANSWER;
    case Failure::kHostportRejected:
      return HOMING_LOOKUP_HOSTPORT_REJECTED;
    case Failure::kOverflow:
      return HOMING_LOOKUP_OVERFLOW;
  }
  return HOMING_LOOKUP_OK;
}

homing_status homing_lookup_result_status(
    const homing_lookup_result_t* result) {
  if (result == nullptr) return HOMING_ERR_INVALID_ARGUMENT;
  return homing::capi::ToHomingStatus(result->rep.error.code());
}

const char* homing_lookup_result_error(const homing_lookup_result_t* result) {
  return result == nullptr ? nullptr : result->error.c_str();
}

}  // extern "C"
