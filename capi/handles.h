// File: capi/handles.h
//
// The one-member wrappers (leveldb's `struct leveldb_t { DB* rep; }`) of the
// handles that several translation units of the C ABI take as arguments:
// stats stores, configs and requests; and the enum conversions they share.

#ifndef HOMING_CAPI_HANDLES_H_
#define HOMING_CAPI_HANDLES_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "homing/affinity_lookup.h"
#include "homing/config.h"
#include "homing/homing.h"
#include "homing/request.h"
#include "homing/stats.h"
#include "homing/upstream.h"

struct homing_stats_t {
  std::shared_ptr<homing::StatsStore> rep;
};

struct homing_config_t {
  std::shared_ptr<const homing::Bootstrap> rep;
};

// A request keeps its strings (and the strings of headers dropped by a
// reset) so that a reused request stops allocating.
struct homing_request_t {
  std::string method;
  std::string authority;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;
  size_t header_count = 0;  // entries beyond it are spare buffers
  mutable std::vector<homing::RequestHeader> header_views;

  // homing_request_t::View()
  //
  // The request as routing sees it; valid until the request changes.
  // Allocates nothing: add_header reserves the views.
  homing::RequestView View() const {
    header_views.resize(header_count);
    for (size_t i = 0; i < header_count; ++i) {
      header_views[i] = {headers[i].first, headers[i].second};
    }
    return homing::RequestView{.method = method,
                               .authority = authority,
                               .path = path,
                               .headers = header_views};
  }
};

namespace homing::capi {

// StoreOf()
//
// The store an object created with `stats` registers in: the caller's, or a
// private one for NULL.
inline std::shared_ptr<StatsStore> StoreOf(homing_stats_t* stats) {
  return stats != nullptr ? stats->rep : std::make_shared<StatsStore>();
}

// ToRequestOutcome()
//
// A HOMING_OUTCOME_* as the core's RequestOutcome; InvalidArgument for any
// other number.
absl::StatusOr<RequestOutcome> ToRequestOutcome(int outcome);

// ToHomingSource()
//
// Where an owner came from, as a HOMING_SOURCE_*.
int ToHomingSource(LookupOutcome::Source source);

}  // namespace homing::capi

#endif  // HOMING_CAPI_HANDLES_H_
