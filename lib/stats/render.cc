#include "stats/render.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace homing::internal {
namespace {

constexpr const char* kQuantileNames[] = {"P0",  "P25",   "P50",   "P75",  "P90",
                                          "P95", "P99",   "P99.5", "P99.9", "P100"};
static_assert(std::size(kQuantileNames) == HistogramSummary::kQuantiles.size());

std::string FormatQuantile(double value) {
  // Integral values print without decimals; others with two, as Envoy does.
  if (std::floor(value) == value) return absl::StrFormat("%.0f", value);
  return absl::StrFormat("%.2f", value);
}

void AppendJsonString(std::string* out, std::string_view text) {
  out->push_back('"');
  for (unsigned char c : text) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

std::string PrometheusName(std::string_view name) {
  std::string out = "homing_";
  for (char c : name) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c >= '0' && c <= '9') || c == '_';
    out.push_back(keep ? c : '_');
  }
  return out;
}

}  // namespace

std::string RenderText(const std::vector<StatValue>& values) {
  std::string out;
  for (const StatValue& stat : values) {
    absl::StrAppend(&out, stat.name, ":");
    if (stat.type == StatType::kHistogram) {
      if (stat.summary.count == 0) {
        absl::StrAppend(&out, " No recorded values");
      } else {
        for (size_t q = 0; q < stat.summary.values.size(); ++q) {
          absl::StrAppend(&out, " ", kQuantileNames[q], "(",
                          FormatQuantile(stat.summary.values[q]), ")");
        }
      }
      out.push_back('\n');
    } else {
      absl::StrAppend(&out, " ", stat.value, "\n");
    }
  }
  return out;
}

std::string RenderJson(const std::vector<StatValue>& values) {
  std::string out = "{\"stats\":[";
  bool first = true;
  std::string histograms;
  for (const StatValue& stat : values) {
    if (stat.type == StatType::kHistogram) {
      if (!histograms.empty()) histograms.push_back(',');
      histograms.append("{\"name\":");
      AppendJsonString(&histograms, stat.name);
      absl::StrAppend(&histograms, ",\"count\":", stat.summary.count,
                      ",\"sum\":", stat.summary.sum, ",\"values\":[");
      for (size_t q = 0; q < stat.summary.values.size(); ++q) {
        if (q > 0) histograms.push_back(',');
        if (stat.summary.count == 0) {
          histograms.append("{\"cumulative\":null}");
        } else {
          absl::StrAppend(&histograms, "{\"cumulative\":",
                          FormatQuantile(stat.summary.values[q]), "}");
        }
      }
      histograms.append("]}");
      continue;
    }
    if (!first) out.push_back(',');
    first = false;
    out.append("{\"name\":");
    AppendJsonString(&out, stat.name);
    absl::StrAppend(&out, ",\"value\":", stat.value, "}");
  }
  if (!histograms.empty()) {
    if (!first) out.push_back(',');
    out.append("{\"histograms\":{\"supported_quantiles\":[");
    for (size_t q = 0; q < HistogramSummary::kQuantiles.size(); ++q) {
      if (q > 0) out.push_back(',');
      absl::StrAppend(&out, HistogramSummary::kQuantiles[q] * 100);
    }
    absl::StrAppend(&out, "],\"computed_quantiles\":[", histograms, "]}}");
  }
  out.append("]}");
  return out;
}

std::string RenderPrometheus(const std::vector<StatValue>& values) {
  std::string out;
  for (const StatValue& stat : values) {
    std::string name = PrometheusName(stat.name);
    switch (stat.type) {
      case StatType::kCounter:
        absl::StrAppend(&out, "# TYPE ", name, " counter\n", name, " ",
                        stat.value, "\n");
        break;
      case StatType::kGauge:
        absl::StrAppend(&out, "# TYPE ", name, " gauge\n", name, " ",
                        stat.value, "\n");
        break;
      case StatType::kHistogram:
        absl::StrAppend(&out, "# TYPE ", name, " summary\n");
        for (size_t q = 0; q < stat.summary.values.size(); ++q) {
          absl::StrAppend(&out, name, "{quantile=\"",
                          HistogramSummary::kQuantiles[q], "\"} ",
                          stat.summary.count == 0
                              ? std::string("NaN")
                              : FormatQuantile(stat.summary.values[q]),
                          "\n");
        }
        absl::StrAppend(&out, name, "_sum ", stat.summary.sum, "\n", name,
                        "_count ", stat.summary.count, "\n");
        break;
    }
  }
  return out;
}

}  // namespace homing::internal
