// File: lib/stats/render.h
//
// The three renderings of a stats snapshot served by the admin listener.

#ifndef HOMING_LIB_STATS_RENDER_H_
#define HOMING_LIB_STATS_RENDER_H_

#include <string>
#include <string_view>
#include <vector>

#include "homing/stats.h"

namespace homing::internal {

// `name: value` per line; histograms as `name: P0(v) P25(v) ... P100(v)`.
std::string RenderText(const std::vector<StatValue>& values);

// Envoy's /stats?format=json shape: counters and gauges as
// {"name":…,"value":…}, histograms in one {"histograms":{…}} element.
std::string RenderJson(const std::vector<StatValue>& values);

// Prometheus text exposition 0.0.4: `homing_` + name with every character
// outside [a-zA-Z0-9_] replaced by '_'; histograms as summaries.
std::string RenderPrometheus(const std::vector<StatValue>& values);

}  // namespace homing::internal

#endif  // HOMING_LIB_STATS_RENDER_H_
