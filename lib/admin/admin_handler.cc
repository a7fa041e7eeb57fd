// HandleAdminRequest(): the admin endpoints, independent of any socket.

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "homing/admin.h"
#include "homing/http_message.h"
#include "homing/query_string.h"

namespace homing {
namespace {

using internal::ToAbsl;

constexpr char kJson[] = "application/json";
constexpr char kText[] = "text/plain; charset=UTF-8";
constexpr char kPrometheus[] = "text/plain; version=0.0.4; charset=UTF-8";

constexpr char kEndpoints[] =
    "homing admin endpoints (GET only):\n"
    "  /                   this list (also /help)\n"
    "  /stats              every stat, \"name: value\" per line;\n"
    "                      ?filter=REGEX (RE2, partial match), "
    "?format=text|json|prometheus\n"
    "  /stats/prometheus   Prometheus text exposition format 0.0.4 "
    "(?filter=REGEX)\n"
    "  /clusters           cluster::host::stat::value lines; ?format=json\n"
    "  /ready              200 LIVE once every worker's clusters are "
    "initialized, else 503 and the state\n"
    "  /config_dump        the loaded configuration as JSON\n";

AdminResponse LocalReply(int status, std::string_view code,
                         std::string_view detail) {
  return {status, kJson, LocalReplyBody(code, detail) + "\n"};
}

AdminResponse NotFound(std::string_view path) {
  return LocalReply(404, "not_found",
                    absl::StrCat("no admin endpoint ", ToAbsl(path),
                                 " (GET / lists them)"));
}

// The decoded value of query parameter `name`, or `fallback` when absent.
std::string QueryValue(std::string_view query, std::string_view name,
                       std::string_view fallback = {}) {
  std::string_view raw;
  if (!FindQueryParameter(query, name, &raw)) return std::string(fallback);
  return PercentDecode(raw);
}

AdminResponse Stats(const AdminSources& sources, std::string_view query,
                    std::string format) {
  if (format.empty()) format = QueryValue(query, "format", "text");
  StatsFormat stats_format;
  std::string_view content_type;
  if (format == "text") {
    stats_format = StatsFormat::kText;
    content_type = kText;
  } else if (format == "json") {
    stats_format = StatsFormat::kJson;
    content_type = kJson;
  } else if (format == "prometheus") {
    stats_format = StatsFormat::kPrometheus;
    content_type = kPrometheus;
  } else {
    return LocalReply(400, "bad_request",
                      absl::StrCat("unknown format \"", format,
                                   "\" (expected text, json or prometheus)"));
  }
  absl::StatusOr<std::string> body =
      sources.stats->Render(stats_format, QueryValue(query, "filter"));
  if (!body.ok()) {
    return LocalReply(400, "bad_request",
                      absl::StrCat("filter: ", body.status().message()));
  }
  return {200, std::string(content_type), *std::move(body)};
}

AdminResponse Clusters(const AdminSources& sources, std::string_view query) {
  const std::string format = QueryValue(query, "format", "text");
  if (format != "text" && format != "json") {
    return LocalReply(400, "bad_request",
                      absl::StrCat("unknown format \"", format,
                                   "\" (expected text or json)"));
  }
  const std::vector<ClusterStatus> clusters = sources.clusters();
  if (format == "json") return {200, kJson, RenderClustersJson(clusters)};
  return {200, kText, RenderClustersText(clusters)};
}

AdminResponse Ready(const AdminSources& sources) {
  const ServerState state = sources.state();
  return {state == ServerState::kLive ? 200 : 503, kText,
          absl::StrCat(ToAbsl(ServerStateName(state)), "\n")};
}

}  // namespace

AdminResponse HandleAdminRequest(const AdminSources& sources,
                                 std::string_view method,
                                 std::string_view path) {
  const RequestView request{.method = method, .path = path};
  const std::string_view endpoint = request.PathWithoutQuery();
  const std::string_view query = request.Query();
  if (method != "GET" && method != "HEAD") {
    return LocalReply(405, "method_not_allowed",
                      absl::StrCat("the admin listener is read-only; ",
                                   ToAbsl(method), " ", ToAbsl(endpoint),
                                   " is not served (use GET)"));
  }
  if (endpoint == "/" || endpoint == "/help") return {200, kText, kEndpoints};
  if (endpoint == "/stats" && sources.stats != nullptr) {
    return Stats(sources, query, {});
  }
  if (endpoint == "/stats/prometheus" && sources.stats != nullptr) {
    return Stats(sources, query, "prometheus");
  }
  if (endpoint == "/clusters" && sources.clusters) {
    return Clusters(sources, query);
  }
  if (endpoint == "/ready" && sources.state) return Ready(sources);
  if (endpoint == "/config_dump" && sources.config_dump) {
    return {200, kJson, sources.config_dump()};
  }
  return NotFound(endpoint);
}

}  // namespace homing
