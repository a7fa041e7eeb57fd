// File: capi/config.cc
//
// homing_config_*, homing_request_* and homing_route_*: loading a config,
// building requests, and matching them against a listener's route table.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "handles.h"
#include "homing/affinity_lookup.h"
#include "homing/route.h"
#include "homing/upstream.h"
#include "internal.h"

struct homing_route_t {
  const homing::Route* rep;
};

struct homing_route_table_t {
  std::shared_ptr<const homing::RouteTable> rep;
  std::vector<homing_route_t> routes;  // by Route::index()
};

namespace homing::capi {
namespace {

// Replaces one request field (the buffer is kept).
homing_status SetField(homing_request_t* request,
                       std::string homing_request_t::*field, const char* data,
                       size_t len) {
  std::string_view value;
  if (request == nullptr || !Text(data, len, &value)) {
    return HOMING_ERR_INVALID_ARGUMENT;
  }
  return Guard(nullptr, [&] {
    (request->*field).assign(value);
    return HOMING_OK;
  });
}

const AffinityPolicy* AffinityOf(const homing_route_t* route) {
  return route == nullptr ? nullptr : route->rep->action().affinity.get();
}

}  // namespace
}  // namespace homing::capi

using homing::capi::AffinityOf;
using homing::capi::Guard;
using homing::capi::InvalidArgument;

extern "C" {

homing_status homing_config_parse(const char* text, size_t text_len,
                                  const char* source_name,
                                  homing_config_t** out, char** errmsg) {
  homing::capi::ClearOutput(out);
  std::string_view view;
  if (!homing::capi::Text(text, text_len, &view) || out == nullptr) {
    return InvalidArgument(errmsg,
                           "homing_config_parse: text and out are required");
  }
  return Guard(errmsg, [&]() -> absl::Status {
    absl::StatusOr<homing::Bootstrap> parsed = homing::ParseConfig(
        view, source_name == nullptr ? "config" : source_name);
    if (!parsed.ok()) return parsed.status();
    *out = new homing_config_t{
        std::make_shared<const homing::Bootstrap>(*std::move(parsed))};
    return absl::OkStatus();
  });
}

homing_status homing_config_load_file(const char* path, homing_config_t** out,
                                      char** errmsg) {
  homing::capi::ClearOutput(out);
  if (path == nullptr || out == nullptr) {
    return InvalidArgument(
        errmsg, "homing_config_load_file: path and out are required");
  }
  return Guard(errmsg, [&]() -> absl::Status {
    absl::StatusOr<homing::Bootstrap> parsed = homing::LoadConfigFile(path);
    if (!parsed.ok()) return parsed.status();
    *out = new homing_config_t{
        std::make_shared<const homing::Bootstrap>(*std::move(parsed))};
    return absl::OkStatus();
  });
}

void homing_config_free(homing_config_t* config) { delete config; }

size_t homing_config_listener_count(const homing_config_t* config) {
  return config == nullptr ? 0 : config->rep->listeners.size();
}

const char* homing_config_listener_name(const homing_config_t* config,
                                        size_t index) {
  if (config == nullptr || index >= config->rep->listeners.size())
    return nullptr;
  return config->rep->listeners[index].name.c_str();
}

size_t homing_config_cluster_count(const homing_config_t* config) {
  return config == nullptr ? 0 : config->rep->clusters.size();
}

const char* homing_config_cluster_name(const homing_config_t* config,
                                       size_t index) {
  if (config == nullptr || index >= config->rep->clusters.size())
    return nullptr;
  return config->rep->clusters[index].name.c_str();
}

homing_request_t* homing_request_new(void) {
  try {
    return new homing_request_t();
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void homing_request_free(homing_request_t* request) { delete request; }

void homing_request_reset(homing_request_t* request) {
  if (request == nullptr) return;
  request->method.clear();
  request->authority.clear();
  request->path.clear();
  request->header_count = 0;
}

homing_status homing_request_set_method(homing_request_t* request,
                                        const char* method, size_t len) {
  return homing::capi::SetField(request, &homing_request_t::method, method,
                                len);
}

homing_status homing_request_set_authority(homing_request_t* request,
                                           const char* authority, size_t len) {
  return homing::capi::SetField(request, &homing_request_t::authority,
                                authority, len);
}

homing_status homing_request_set_path(homing_request_t* request,
                                      const char* path, size_t len) {
  return homing::capi::SetField(request, &homing_request_t::path, path, len);
}

homing_status homing_request_add_header(homing_request_t* request,
                                        const char* name, size_t name_len,
                                        const char* value, size_t value_len) {
  std::string_view name_view, value_view;
  if (request == nullptr || !homing::capi::Text(name, name_len, &name_view) ||
      !homing::capi::Text(value, value_len, &value_view) || name_view.empty()) {
    return HOMING_ERR_INVALID_ARGUMENT;
  }
  return Guard(nullptr, [&] {
    if (request->header_count == request->headers.size()) {
      request->headers.emplace_back();
    }
    auto& [stored_name, stored_value] = request->headers[request->header_count];
    stored_name.assign(name_view);
    stored_value.assign(value_view);
    // Matching builds its views here and must not allocate (nor throw).
    request->header_views.reserve(request->header_count + 1);
    ++request->header_count;
    return HOMING_OK;
  });
}

homing_status homing_route_table_new(const homing_config_t* config,
                                     size_t listener_index,
                                     homing_route_table_t** out,
                                     char** errmsg) {
  homing::capi::ClearOutput(out);
  if (config == nullptr || out == nullptr) {
    return InvalidArgument(
        errmsg, "homing_route_table_new: config and out are required");
  }
  if (listener_index >= config->rep->listeners.size()) {
    return InvalidArgument(
        errmsg, absl::StrCat("listener index ", listener_index,
                             " is out of range (the config has ",
                             config->rep->listeners.size(), " listeners)"));
  }
  return Guard(errmsg, [&]() -> absl::Status {
    auto compiled =
        homing::RouteTable::Compile(config->rep->listeners[listener_index]
                                        .http_connection_manager.route_config);
    if (!compiled.ok()) return compiled.status();
    auto table = std::make_unique<homing_route_table_t>();
    table->rep = *std::move(compiled);
    table->routes.reserve(table->rep->route_count());
    for (size_t i = 0; i < table->rep->route_count(); ++i) {
      table->routes.push_back({&table->rep->route(i)});
    }
    *out = table.release();
    return absl::OkStatus();
  });
}

void homing_route_table_free(homing_route_table_t* table) { delete table; }

size_t homing_route_table_route_count(const homing_route_table_t* table) {
  return table == nullptr ? 0 : table->routes.size();
}

const homing_route_t* homing_route_table_route(
    const homing_route_table_t* table, size_t index) {
  if (table == nullptr || index >= table->routes.size()) return nullptr;
  return &table->routes[index];
}

const homing_route_t* homing_route_table_match(
    const homing_route_table_t* table, const homing_request_t* request) {
  if (table == nullptr || request == nullptr) return nullptr;
  const homing::Route* route = table->rep->Match(request->View());
  return route == nullptr ? nullptr : &table->routes[route->index()];
}

const char* homing_route_name(const homing_route_t* route) {
  return route == nullptr ? nullptr : route->rep->name().c_str();
}

const char* homing_route_virtual_host(const homing_route_t* route) {
  return route == nullptr ? nullptr : route->rep->virtual_host_name().c_str();
}

const char* homing_route_cluster(const homing_route_t* route) {
  return route == nullptr ? nullptr : route->rep->action().cluster.c_str();
}

int64_t homing_route_timeout_ms(const homing_route_t* route) {
  if (route == nullptr) return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             route->rep->action().timeout)
      .count();
}

int homing_route_has_affinity(const homing_route_t* route) {
  return AffinityOf(route) != nullptr;
}

const char* homing_route_affinity_lookup_cluster(const homing_route_t* route) {
  const homing::AffinityPolicy* policy = AffinityOf(route);
  return policy == nullptr ? nullptr : policy->lookup_cluster.c_str();
}

const char* homing_route_affinity_lookup_path(const homing_route_t* route) {
  const homing::AffinityPolicy* policy = AffinityOf(route);
  return policy == nullptr ? nullptr : policy->lookup_path.c_str();
}

int homing_route_affinity_key_source(const homing_route_t* route) {
  const homing::AffinityPolicy* policy = AffinityOf(route);
  if (policy == nullptr) return HOMING_KEY_NONE;
  return policy->key.kind == homing::KeySource::Kind::kHeader
             ? HOMING_KEY_HEADER
             : HOMING_KEY_QUERY_PARAMETER;
}

const char* homing_route_affinity_key_name(const homing_route_t* route) {
  const homing::AffinityPolicy* policy = AffinityOf(route);
  return policy == nullptr ? nullptr : policy->key.name.c_str();
}

homing_status homing_route_affinity_key(const homing_route_t* route,
                                        const homing_request_t* request,
                                        char** key, size_t* key_len,
                                        char** errmsg) {
  if (route == nullptr || request == nullptr || key == nullptr) {
    return InvalidArgument(
        errmsg,
        "homing_route_affinity_key: route, request and key are required");
  }
  const homing::AffinityPolicy* policy = AffinityOf(route);
  if (policy == nullptr) {
    return InvalidArgument(errmsg, absl::StrCat("route \"", route->rep->name(),
                                                "\" has no affinity policy"));
  }
  return Guard(errmsg, [&]() -> absl::Status {
    const std::string_view source =
        policy->key.kind == homing::KeySource::Kind::kHeader
            ? "header"
            : "query parameter";
    const std::string what = absl::StrCat(homing::internal::ToAbsl(source),
                                          " \"", policy->key.name, "\"");
    std::string extracted;
    switch (homing::ExtractAffinityKey(*policy, request->View(), &extracted)) {
      case homing::KeyStatus::kOk:
        break;
      case homing::KeyStatus::kMissing:
        return absl::NotFoundError(absl::StrCat(what, " is required"));
      case homing::KeyStatus::kEmpty:
        return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
      case homing::KeyStatus::kTooLong:
        return absl::InvalidArgumentError(absl::StrCat(
            what, " is longer than ", policy->max_key_length, " bytes"));
    }
    char* copy = homing::capi::CopyToMalloc(extracted);
    if (copy == nullptr) throw std::bad_alloc();
    *key = copy;
    if (key_len != nullptr) *key_len = extracted.size();
    return absl::OkStatus();
  });
}

homing_status homing_route_hash(const homing_route_t* route,
                                const homing_request_t* request,
                                uint64_t* hash) {
  if (route == nullptr || request == nullptr || hash == nullptr) {
    return HOMING_ERR_INVALID_ARGUMENT;
  }
  std::optional<uint64_t> computed = homing::ComputeRequestHash(
      route->rep->action().hash_policy, request->View());
  if (!computed) return HOMING_ERR_NOT_FOUND;
  *hash = *computed;
  return HOMING_OK;
}

}  // extern "C"
