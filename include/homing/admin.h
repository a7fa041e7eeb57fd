// File: homing/admin.h
//
// The admin listener: a read-only HTTP endpoint (Envoy's admin interface,
// the parts an operator of homing needs) on its own address, loopback by
// default.
//
//   GET /                    the endpoint list (also /help)
//   GET /stats               every stat as `name: value` lines;
//                            ?format=json|prometheus|text, ?filter=REGEX (RE2,
//                            partial match, as Envoy's)
//   GET /stats/prometheus    Prometheus text exposition 0.0.4
//   GET /clusters            `cluster::host::stat::value` lines (Envoy's
//                            text); ?format=json
//   GET /ready               200 `LIVE`, or 503 with the state
//                            (`PRE_INITIALIZING`, `DRAINING`)
//   GET /config_dump         the loaded configuration as JSON
//
// Anything else is a JSON local reply: 404 `not_found` for an unknown path,
// 405 `method_not_allowed` for a method other than GET and HEAD (there are no
// mutations), 400 `bad_request` for a bad query (unknown format, a filter
// that is not a valid regex).
//
// The listener is an `HttpServer`, so it runs on any `homing::Dispatcher`
// (homing/dispatcher.h). What the endpoints show comes from `AdminSources`,
// callbacks that the admin listener calls on its dispatcher's loop thread when
// a request arrives. The
// cluster view is plain data (`ClusterStatus`), collected on each worker
// with `DescribeCluster()` and combined with `MergeClusterStatus()`, so an
// embedder with any threading model can feed it.
//
// Example:
//
//   homing::AdminSources sources;
//   sources.stats = &stats;
//   sources.state = [&] { return proxy->state(); };
//   sources.clusters = [&] { return proxy->Clusters(); };
//   sources.config_dump = [&] { return homing::DumpConfigJson(*config); };
//   auto admin = homing::AdminServer::Create(*dispatcher,
//       *homing::SocketAddress::Parse("127.0.0.1:9901"), std::move(sources));
//   // curl 127.0.0.1:9901/clusters
//   // resolver::127.0.1.10:8081::rq_total::12
//
// Thread safety: `AdminServer` belongs to its dispatcher's loop thread;
// `DescribeCluster()` / `DescribeHost()` read a cluster on its own thread;
// the rendering and handling functions are pure.

#ifndef HOMING_ADMIN_H_
#define HOMING_ADMIN_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "homing/address.h"
#include "homing/dispatcher.h"
#include "homing/stats.h"
#include "homing/upstream.h"

namespace homing {

// ServerState
//
// Envoy's server states, as /ready reports them.
enum class ServerState {
  kPreInitializing,  // a worker's STRICT_DNS clusters have no first answer yet
  kLive,             // serving
  kDraining,         // shutting down: finishing in-flight requests
};

// ServerStateName()
//
// "PRE_INITIALIZING", "LIVE", "DRAINING".
std::string_view ServerStateName(ServerState state);

// HostStatus
//
// One upstream host of a cluster, with the counters of `HostStats`.
struct HostStatus {
  SocketAddress address;
  std::string hostname;  // the DNS name it came from; may be empty
  uint32_t weight = 1;
  bool healthy = true;   // false while ejected by outlier detection
  int64_t rq_active = 0;
  uint64_t rq_total = 0;
  uint64_t rq_error = 0;
  uint64_t cx_connect_fail = 0;
};

// ClusterStatus
//
// One cluster: its settings and its hosts. A dynamic forward proxy cluster's
// hosts are the owners requests were sent to (one logical host per
// hostport, named by the hostport, as in Envoy's /clusters).
struct ClusterStatus {
  std::string name;
  ClusterType type = ClusterType::kStatic;
  LbPolicy lb_policy = LbPolicy::kRoundRobin;
  uint32_t max_connections = 0;
  uint32_t max_pending_requests = 0;
  uint32_t max_requests = 0;
  std::vector<HostStatus> hosts;
};

// DescribeHost() / DescribeCluster()
//
// Snapshots of a host and of a cluster with its current hosts. Call them on
// the cluster's thread.
HostStatus DescribeHost(const Host& host);
ClusterStatus DescribeCluster(const Cluster& cluster);

// MergeClusterStatus()
//
// Adds `more` (another worker's view of the same configuration) into
// `*into`: clusters match by name and hosts by address; counters and
// rq_active are summed, a host is healthy only if it is healthy everywhere.
// Clusters and hosts that only `more` has are appended.
void MergeClusterStatus(std::vector<ClusterStatus>* into,
                        std::vector<ClusterStatus> more);

// RenderClustersText() / RenderClustersJson()
//
// /clusters in Envoy's text shape (`resolver::127.0.1.10:8081::rq_total::3`,
// per cluster `resolver::membership_total::2`) and in the shape of Envoy's
// `admin.v3.Clusters` JSON (numbers as JSON numbers).
std::string RenderClustersText(std::span<const ClusterStatus> clusters);
std::string RenderClustersJson(std::span<const ClusterStatus> clusters);

// AdminSources
//
// Where the endpoints get their data. Unset callbacks make their endpoint
// answer 404.
struct AdminSources {
  StatsStore* stats = nullptr;                          // /stats
  std::function<ServerState()> state;                   // /ready
  std::function<std::vector<ClusterStatus>()> clusters;  // /clusters
  std::function<std::string()> config_dump;             // /config_dump
};

// AdminResponse
struct AdminResponse {
  int status = 200;
  std::string content_type;
  std::string body;
};

// HandleAdminRequest()
//
// Answers one admin request (`path` with its query). This is what the
// listener runs; it is exposed so an embedder can mount the endpoints on a
// server of its own.
AdminResponse HandleAdminRequest(const AdminSources& sources,
                                 std::string_view method,
                                 std::string_view path);

// AdminServer
class AdminServer {
 public:
  // AdminServer::Create()
  //
  // Listens on `address` (port 0 picks one; see `local_address()`). Its
  // own HTTP stats go under "http.admin.". UnavailableError when the address
  // cannot be bound.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Create(
      Dispatcher& dispatcher, const SocketAddress& address,
      AdminSources sources);

  // Closes the listener and its connections.
  ~AdminServer();

  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  const SocketAddress& local_address() const;

 private:
  class Impl;
  explicit AdminServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace homing

#endif  // HOMING_ADMIN_H_
