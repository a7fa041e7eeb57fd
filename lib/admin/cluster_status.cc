// /clusters: snapshots of clusters and hosts, merged across workers, in
// Envoy's text and JSON shapes.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "homing/admin.h"
#include "homing/http_message.h"

namespace homing {
namespace {

using internal::ToAbsl;

std::string_view ClusterTypeName(ClusterType type) {
  switch (type) {
    case ClusterType::kStatic:
      return "STATIC";
    case ClusterType::kStrictDns:
      return "STRICT_DNS";
    case ClusterType::kDynamicForwardProxy:
      return "envoy.clusters.dynamic_forward_proxy";
  }
  return "STATIC";
}

// Envoy's per-host counters, in Envoy's (alphabetical) order.
struct HostCounter {
  std::string_view name;
  bool gauge;
  int64_t HostStatus::*signed_value;
  uint64_t HostStatus::*value;
};
constexpr HostCounter kHostCounters[] = {
    {"cx_connect_fail", false, nullptr, &HostStatus::cx_connect_fail},
    {"rq_active", true, &HostStatus::rq_active, nullptr},
    {"rq_error", false, nullptr, &HostStatus::rq_error},
    {"rq_total", false, nullptr, &HostStatus::rq_total},
};

std::string CounterValue(const HostStatus& host, const HostCounter& counter) {
  return counter.gauge ? absl::StrCat(host.*counter.signed_value)
                       : absl::StrCat(host.*counter.value);
}

size_t HealthyCount(const ClusterStatus& cluster) {
  return static_cast<size_t>(
      std::count_if(cluster.hosts.begin(), cluster.hosts.end(),
                    [](const HostStatus& host) { return host.healthy; }));
}

void AppendJsonKey(std::string* out, std::string_view key) {
  AppendJsonString(out, key);
  out->push_back(':');
}

}  // namespace

std::string_view ServerStateName(ServerState state) {
  switch (state) {
    case ServerState::kPreInitializing:
      return "PRE_INITIALIZING";
    case ServerState::kLive:
      return "LIVE";
    case ServerState::kDraining:
      return "DRAINING";
  }
  return "PRE_INITIALIZING";
}

HostStatus DescribeHost(const Host& host) {
  const HostStats& stats = host.stats();
  HostStatus status;
  status.address = host.address();
  status.hostname = host.hostname();
  status.weight = host.weight();
  status.healthy = host.healthy();
  status.rq_active = stats.rq_active.load(std::memory_order_relaxed);
  status.rq_total = stats.rq_total.load(std::memory_order_relaxed);
  status.rq_error = stats.rq_error.load(std::memory_order_relaxed);
  status.cx_connect_fail = stats.cx_connect_fail.load(std::memory_order_relaxed);
  return status;
}

ClusterStatus DescribeCluster(const Cluster& cluster) {
  const ClusterSpec& spec = cluster.spec();
  ClusterStatus status;
  status.name = spec.name;
  status.type = spec.type;
  status.lb_policy = spec.lb_policy;
  status.max_connections = spec.max_connections;
  status.max_pending_requests = spec.max_pending_requests;
  status.max_requests = spec.max_requests;
  for (const HostSharedPtr& host : cluster.hosts()) {
    status.hosts.push_back(DescribeHost(*host));
  }
  return status;
}

void MergeClusterStatus(std::vector<ClusterStatus>* into,
                        std::vector<ClusterStatus> more) {
  for (ClusterStatus& cluster : more) {
    auto same_cluster = std::find_if(
        into->begin(), into->end(),
        [&](const ClusterStatus& c) { return c.name == cluster.name; });
    if (same_cluster == into->end()) {
      into->push_back(std::move(cluster));
      continue;
    }
    for (HostStatus& host : cluster.hosts) {
      auto same_host = std::find_if(
          same_cluster->hosts.begin(), same_cluster->hosts.end(),
          [&](const HostStatus& h) { return h.address == host.address; });
      if (same_host == same_cluster->hosts.end()) {
        same_cluster->hosts.push_back(std::move(host));
        continue;
      }
      same_host->healthy = same_host->healthy && host.healthy;
      same_host->rq_active += host.rq_active;
      same_host->rq_total += host.rq_total;
      same_host->rq_error += host.rq_error;
      same_host->cx_connect_fail += host.cx_connect_fail;
    }
  }
}

std::string RenderClustersText(std::span<const ClusterStatus> clusters) {
  std::string out;
  for (const ClusterStatus& cluster : clusters) {
    const std::string prefix = absl::StrCat(cluster.name, "::");
    absl::StrAppend(&out, prefix, "default_priority::max_connections::",
                    cluster.max_connections, "\n", prefix,
                    "default_priority::max_pending_requests::",
                    cluster.max_pending_requests, "\n", prefix,
                    "default_priority::max_requests::", cluster.max_requests,
                    "\n", prefix, "added_via_api::false\n", prefix,
                    "membership_total::", cluster.hosts.size(), "\n", prefix,
                    "membership_healthy::", HealthyCount(cluster), "\n");
    for (const HostStatus& host : cluster.hosts) {
      const std::string host_prefix =
          absl::StrCat(prefix, host.address.ToString(), "::");
      for (const HostCounter& counter : kHostCounters) {
        absl::StrAppend(&out, host_prefix, ToAbsl(counter.name), "::",
                        CounterValue(host, counter), "\n");
      }
      absl::StrAppend(&out, host_prefix, "hostname::", host.hostname, "\n",
                      host_prefix, "health_flags::",
                      host.healthy ? "healthy" : "/failed_outlier_check", "\n",
                      host_prefix, "weight::", host.weight, "\n");
    }
  }
  return out;
}

std::string RenderClustersJson(std::span<const ClusterStatus> clusters) {
  std::string out = "{\"cluster_statuses\":[";
  for (size_t i = 0; i < clusters.size(); ++i) {
    const ClusterStatus& cluster = clusters[i];
    if (i > 0) out.push_back(',');
    out.push_back('{');
    AppendJsonKey(&out, "name");
    AppendJsonString(&out, cluster.name);
    out.push_back(',');
    AppendJsonKey(&out, "type");
    AppendJsonString(&out, ClusterTypeName(cluster.type));
    out.push_back(',');
    AppendJsonKey(&out, "lb_policy");
    AppendJsonString(&out, LbPolicyName(cluster.lb_policy));
    absl::StrAppend(
        &out, ",\"added_via_api\":false,\"membership_total\":",
        cluster.hosts.size(), ",\"membership_healthy\":", HealthyCount(cluster),
        ",\"circuit_breakers\":{\"thresholds\":[{\"priority\":\"DEFAULT\","
        "\"max_connections\":",
        cluster.max_connections,
        ",\"max_pending_requests\":", cluster.max_pending_requests,
        ",\"max_requests\":", cluster.max_requests, "}]},\"host_statuses\":[");
    for (size_t j = 0; j < cluster.hosts.size(); ++j) {
      const HostStatus& host = cluster.hosts[j];
      if (j > 0) out.push_back(',');
      out.append("{\"address\":{\"socket_address\":{\"address\":");
      AppendJsonString(&out, host.address.Ip());
      absl::StrAppend(&out, ",\"port_value\":", host.address.port(), "}},");
      AppendJsonKey(&out, "hostname");
      AppendJsonString(&out, host.hostname);
      absl::StrAppend(
          &out, ",\"weight\":", host.weight,
          ",\"health_status\":{\"eds_health_status\":\"HEALTHY\","
          "\"failed_outlier_check\":",
          host.healthy ? "false" : "true", "},\"stats\":[");
      for (size_t k = 0; k < std::size(kHostCounters); ++k) {
        const HostCounter& counter = kHostCounters[k];
        if (k > 0) out.push_back(',');
        absl::StrAppend(&out, "{\"name\":\"", ToAbsl(counter.name), "\",",
                        counter.gauge ? "\"type\":\"GAUGE\"," : "",
                        "\"value\":", CounterValue(host, counter), "}");
      }
      out.append("]}");
    }
    out.append("]}");
  }
  out.append("]}\n");
  return out;
}

}  // namespace homing
