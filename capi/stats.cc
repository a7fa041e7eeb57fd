// File: capi/stats.cc
//
// homing_stats_*: a StatsStore shared by the objects created with it.

#include <re2/re2.h>

#include "absl/strings/str_cat.h"
#include "handles.h"
#include "internal.h"

namespace homing::capi {
namespace {

// Reads one stat without creating it (StatsStore::Counter() would, and
// asking for a gauge's name as a counter aborts).
homing_status ReadStat(const homing_stats_t* stats, const char* name,
                       StatType type, int64_t* value, char** errmsg) {
  if (stats == nullptr || name == nullptr || value == nullptr) {
    return InvalidArgument(errmsg, "stats, name and value are required");
  }
  return Guard(errmsg, [&]() -> absl::Status {
    const std::string exact = absl::StrCat("^", RE2::QuoteMeta(name), "$");
    absl::StatusOr<std::vector<StatValue>> found = stats->rep->Snapshot(exact);
    if (!found.ok()) return found.status();
    if (found->empty()) {
      return absl::NotFoundError(absl::StrCat("no stat named \"", name, "\""));
    }
    if (found->front().type != type) {
      return absl::InvalidArgumentError(
          absl::StrCat("stat \"", name, "\" is not a ",
                       type == StatType::kCounter ? "counter" : "gauge"));
    }
    *value = found->front().value;
    return absl::OkStatus();
  });
}

}  // namespace
}  // namespace homing::capi

using homing::capi::Guard;
using homing::capi::InvalidArgument;

extern "C" {

homing_stats_t* homing_stats_new(void) {
  try {
    return new homing_stats_t{std::make_shared<homing::StatsStore>()};
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void homing_stats_free(homing_stats_t* stats) { delete stats; }

homing_status homing_stats_render(const homing_stats_t* stats, int format,
                                  const char* filter, char** out,
                                  size_t* out_len, char** errmsg) {
  homing::capi::ClearOutput(out);
  if (out_len != nullptr) *out_len = 0;
  if (stats == nullptr || out == nullptr) {
    return InvalidArgument(errmsg,
                           "homing_stats_render: stats and out are required");
  }
  if (format < HOMING_STATS_TEXT || format > HOMING_STATS_PROMETHEUS) {
    return InvalidArgument(errmsg,
                           absl::StrCat("unknown stats format ", format));
  }
  return Guard(errmsg, [&]() -> absl::Status {
    absl::StatusOr<std::string> text = stats->rep->Render(
        static_cast<homing::StatsFormat>(format),
        filter == nullptr ? std::string_view() : std::string_view(filter));
    if (!text.ok()) return text.status();
    char* copy = homing::capi::CopyToMalloc(*text);
    if (copy == nullptr) throw std::bad_alloc();
    *out = copy;
    if (out_len != nullptr) *out_len = text->size();
    return absl::OkStatus();
  });
}

homing_status homing_stats_counter(const homing_stats_t* stats,
                                   const char* name, uint64_t* value,
                                   char** errmsg) {
  int64_t raw = 0;
  homing_status status = homing::capi::ReadStat(
      stats, name, homing::StatType::kCounter, value ? &raw : nullptr, errmsg);
  if (status == HOMING_OK) *value = static_cast<uint64_t>(raw);
  return status;
}

homing_status homing_stats_gauge(const homing_stats_t* stats, const char* name,
                                 int64_t* value, char** errmsg) {
  return homing::capi::ReadStat(stats, name, homing::StatType::kGauge, value,
                                errmsg);
}

}  // extern "C"
