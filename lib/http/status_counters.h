// File: lib/http/status_counters.h
//
// StatusClassCounters: Envoy's `<prefix>_1xx` … `<prefix>_5xx` counters,
// for the server's responses (downstream_rq_*) and the pools' (upstream_rq_*).
//
// Thread safety: as the counters (lock-free increments).

#ifndef HOMING_LIB_HTTP_STATUS_COUNTERS_H_
#define HOMING_LIB_HTTP_STATUS_COUNTERS_H_

#include <array>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "homing/stats.h"

namespace homing::internal {

class StatusClassCounters {
 public:
  // `prefix` is e.g. "downstream_rq": counters "downstream_rq_1xx" and on.
  StatusClassCounters(const StatsScope& scope, std::string_view prefix) {
    for (int i = 0; i < 5; ++i) {
      counters_[i] = &scope.Counter(absl::StrCat(ToAbsl(prefix), "_", i + 1, "xx"));
    }
  }

  // Counts `status` in its class; statuses outside 100–599 are not counted.
  void Record(int status) {
    const int status_class = status / 100;
    if (status_class >= 1 && status_class <= 5) counters_[status_class - 1]->Inc();
  }

 private:
  std::array<Counter*, 5> counters_;
};

}  // namespace homing::internal

#endif  // HOMING_LIB_HTTP_STATUS_COUNTERS_H_
