// File: homing/proxy.h
//
// The glue between the HTTP layer and the router: a configuration's
// listeners served by `HttpServer`s whose requests are routed by a `Router`
// and forwarded by `ProxyStream`s, with the 421 retry, route retries,
// passive health, circuit breakers, per-cluster connection pools, an access
// log, configuration reload and graceful drain.
//
// Three layers, each usable on its own:
//
//  - `ProxyWorker`: one event loop's share of a proxy. It owns, for the
//    current configuration, a `ClusterManager`, one `Router` per listener
//    and one `UpstreamPools` per cluster (together an "engine"), and an
//    `HttpServer` per listener. It runs on any `homing::Dispatcher`
//    (homing/dispatcher.h), so a gateway embeds a ProxyWorker on its own
//    event loop.
//  - `ProxyService`: N workers, each on a `LoopThread` with its own engine
//    (so caches are per worker), their servers bound with SO_REUSEPORT to
//    the same addresses, one shared `StatsStore`; reload, drain and the
//    admin views across workers. homing-proxy is this plus argument parsing,
//    signals and an `AdminServer`.
//  - `ValidateConfig()` / `CheckReloadable()`: the checks `--check` and a
//    reload run before anything starts.
//
// Per request: `Router::Route()` (synchronously from cache, or later; a
// client that goes away cancels it) gives a local reply (JSON
// `{"error":"<code>","detail":"…"}` with the router's status) or a target;
// the request is forwarded through the target cluster's pools with the
// route's timeout. A 421 Misdirected Request from an affinity target makes
// the router forget the key (`Router::Misdirected()`), routes again (now a
// resolver lookup) and retries once on the new owner; a second 421 goes to
// the client. Failures before the response are JSON local replies:
//   503 upstream_connect_failure, upstream_overflow, upstream_reset;
//   504 upstream_timeout;
//   503 upstream_overflow also when the cluster has max_requests in flight.
// Routes with a `retry_policy` retry on its conditions (5xx, gateway-error,
// connect-failure, reset, retriable-4xx) up to num_retries times, on
// another host of the cluster when there is one; each attempt is bounded by
// per_try_timeout (or the route timeout).
//
// Upgrades (WebSocket, …): a request asking to switch protocols is
// forwarded only when the route's upgrade_configs, or else the connection
// manager's, enable its type (`UpgradeEnabled()`, Envoy's rule); otherwise
// it gets 403 upgrade_not_enabled before any lookup or upstream connection.
// A 101 from the target turns both connections into a tunnel, which the
// route timeout does not cut.
//
// Stats (in the shared store):
//   http.<stat_prefix>.*            the HTTP server's downstream_* stats, the
//                                   router's no_route and rq_local_reply, the
//                                   affinity lookup's affinity.*, and
//                                   downstream_rq_ws_on_non_ws_route (refused
//                                   upgrades)
//   cluster.<name>.*                the cluster's (upstream_rq_total, ...,
//                                   membership_*) and its upstream_rq_overflow
//                                   (max_requests); its connection pools'
//                                   under cluster.<name>.pool.*
//   dns_cache.<name>.*              the DNS caches'
//   server.live, server.concurrency, server.reload_success,
//   server.reload_failure           the service's
//
// Access log: one line per request, written by each worker in one write()
// per loop iteration (see `AppendAccessLogLine()` for the format).
//
// Example:
//
//   auto config = homing::LoadConfigFile("proxy.yaml");
//   if (absl::Status s = homing::ValidateConfig(*config); !s.ok()) return s;
//   homing::StatsStore stats;
//   homing::AccessLog access_log(STDOUT_FILENO);
//   auto proxy = homing::ProxyService::Start(
//       *main_dispatcher, std::make_shared<const homing::Bootstrap>(*config),
//       stats, {.concurrency = 2, .access_log = &access_log});
//   ...
//   (*proxy)->Drain(std::chrono::seconds(10), [&] { main_dispatcher->Stop(); });
//
// Thread safety: a ProxyWorker belongs to its dispatcher's loop thread. A ProxyService
// is used from the thread that started it (the "main" thread, whose
// dispatcher receives its callbacks); `state()` may be called from any
// thread. `AccessLog` is thread-safe.

#ifndef HOMING_PROXY_H_
#define HOMING_PROXY_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "homing/address.h"
#include "homing/admin.h"
#include "homing/clock.h"
#include "homing/config.h"
#include "homing/dispatcher.h"
#include "homing/stats.h"

namespace homing {

// ValidateConfig()
//
// Everything a start would check, without binding or resolving: builds the
// ClusterManager and every listener's Router on a scratch dispatcher and
// destroys them. `config` comes from the loader (ParseConfig /
// LoadConfigFile), which has checked the rest.
absl::Status ValidateConfig(const Bootstrap& config);

// CheckReloadable()
//
// A running proxy can swap clusters and routes, not its sockets: fails
// (FailedPrecondition, "… needs a restart") when `next` changes the admin
// address, the number of listeners, or a listener's address, stat_prefix,
// max_request_headers_kb, request_headers_timeout, stream_idle_timeout or
// idle_timeout.
absl::Status CheckReloadable(const Bootstrap& running, const Bootstrap& next);

// AccessLog
//
// Where access log lines go: a file descriptor (not owned), written whole
// under a lock so that lines from several workers never interleave. A
// blocking descriptor that cannot take more (a full pipe) blocks the writer:
// each worker writes once per loop iteration, so a slow reader slows the
// proxy down rather than growing memory.
class AccessLog {
 public:
  explicit AccessLog(int fd) : fd_(fd) {}
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // AccessLog::Write()
  //
  // Writes `lines` completely (retrying partial writes and EINTR; waiting
  // when the descriptor is non-blocking and full). Write errors are dropped:
  // the access log never fails a request.
  void Write(std::string_view lines);

  int fd() const { return fd_; }

 private:
  std::mutex mu_;
  const int fd_;
};

// AccessLogRecord
//
// One request, as the access log line shows it. Empty views print as "-".
struct AccessLogRecord {
  std::chrono::system_clock::time_point start;  // request head received
  std::string_view method;
  std::string_view path;  // with the query
  int http_minor = 1;
  int status = 0;                 // sent to the client; 0: none (client left)
  std::string_view route;         // the route's name ("backend/0")
  std::string_view key;           // the affinity key
  std::string_view lookup;        // "hit", "miss", "stale", "default"
  std::string_view upstream;      // owner hostport, or the host's DNS name
  uint16_t upstream_port = 0;     // appended to `upstream` when not 0
  const SocketAddress* address = nullptr;  // the address dialed
  Duration duration{0};           // head received → response complete
  std::string_view error;         // local reply code or failure
};

// AppendAccessLogLine()
//
// Appends one line:
//
//   2026-11-26T10:00:00.123Z "GET /join?client_id=123 HTTP/1.1" 200
//   route=backend/0 key=123 lookup=hit
//   upstream=server-1.server-headless.poc-routing.svc.cluster.local:8081
//   addr=127.0.1.11:8081 dur_ms=0.412 error=-
//
// (one line, single spaces). The time is UTC with milliseconds; dur_ms has
// three decimals. Bytes outside printable ASCII, and `"`, `\` and spaces in
// the key and the path, are written as \xHH so a line always splits on
// spaces. No allocation once `out` has room.
void AppendAccessLogLine(std::string* out, const AccessLogRecord& record);

// ProxyWorkerOptions
struct ProxyWorkerOptions {
  // Where each listener of the config binds, in order (usually its
  // configured address; another worker's actual address when that was port
  // 0). Empty: the configured addresses.
  std::vector<SocketAddress> listen_addresses{};
  AccessLog* access_log = nullptr;  // nullptr: no access log
};

// ProxyWorker
class ProxyWorker {
 public:
  // ProxyWorker::Create()
  //
  // Builds the engine for `config` and binds its listeners on `dispatcher`'s
  // loop (clusters are not resolved until Start()). `stats` must outlive
  // the worker. Fails with the component's error (bad config, address in
  // use).
  static absl::StatusOr<std::unique_ptr<ProxyWorker>> Create(
      Dispatcher& dispatcher, std::shared_ptr<const Bootstrap> config,
      StatsStore& stats, ProxyWorkerOptions options = {});

  // Closes listeners and connections at once (open requests are reset).
  ~ProxyWorker();

  ProxyWorker(const ProxyWorker&) = delete;
  ProxyWorker& operator=(const ProxyWorker&) = delete;

  // ProxyWorker::Start()
  //
  // Starts STRICT_DNS resolution. `on_initialized` runs on the loop once
  // every STRICT_DNS cluster has had its first answer. Requests are served
  // from the start; until then a cluster without hosts answers 503.
  void Start(std::function<void()> on_initialized = nullptr);

  // ProxyWorker::initialized()
  bool initialized() const;

  // ProxyWorker::Reload()
  //
  // Builds an engine for `config` (which must pass CheckReloadable() against
  // the running one) and starts it; once its clusters are initialized it
  // serves every new request, while requests in flight finish on the old
  // one, which goes away with the last of them. `on_swapped` runs on the
  // loop after the swap. A reload started before the previous one swapped
  // replaces it. Fails (and changes nothing) when the engine cannot be
  // built.
  absl::Status Reload(std::shared_ptr<const Bootstrap> config,
                      std::function<void()> on_swapped = nullptr);

  // ProxyWorker::Drain()
  //
  // Stops accepting, closes idle connections and lets open requests finish;
  // `on_drained` runs once no client connection is left (possibly before
  // this returns).
  void Drain(std::function<void()> on_drained);

  // ProxyWorker::listen_addresses()
  //
  // The bound address of each listener.
  std::vector<SocketAddress> listen_addresses() const;

  // ProxyWorker::Clusters()
  //
  // The current engine's clusters (see ClusterStatus).
  std::vector<ClusterStatus> Clusters() const;

  // ProxyWorker::config()
  const std::shared_ptr<const Bootstrap>& config() const;

 private:
  class Impl;
  explicit ProxyWorker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ProxyServiceOptions
struct ProxyServiceOptions {
  size_t concurrency = 1;           // worker threads, >= 1
  AccessLog* access_log = nullptr;  // shared by the workers
};

// ProxyService
class ProxyService {
 public:
  // ProxyService::Start()
  //
  // Starts `options.concurrency` workers for `config` (which passed
  // ValidateConfig()) and their clusters. `main` is the caller's dispatcher:
  // callbacks of Reload() and Drain() run there, and it must outlive the
  // service. Fails when a worker cannot be created (address in use).
  static absl::StatusOr<std::unique_ptr<ProxyService>> Start(
      Dispatcher& main, std::shared_ptr<const Bootstrap> config,
      StatsStore& stats, ProxyServiceOptions options = {});

  // Stops every worker at once (open requests are reset) and joins them.
  ~ProxyService();

  ProxyService(const ProxyService&) = delete;
  ProxyService& operator=(const ProxyService&) = delete;

  // ProxyService::state()
  //
  // kPreInitializing until every worker's clusters are initialized, then
  // kLive, and kDraining from Drain() on. Thread-safe.
  ServerState state() const;

  // ProxyService::listen_addresses()
  //
  // The bound address of each listener (every worker shares them).
  const std::vector<SocketAddress>& listen_addresses() const;

  // ProxyService::config()
  //
  // The configuration new requests are served with.
  const std::shared_ptr<const Bootstrap>& config() const;

  // ProxyService::Reload()
  //
  // Replaces the configuration on every worker (see ProxyWorker::Reload()).
  // `next` failing to load, CheckReloadable() or ValidateConfig() is a
  // reload failure: counted in server.reload_failure, logged, and reported
  // to `done`, while the old configuration keeps serving. Success is counted
  // in server.reload_success and reported once every worker serves the new
  // configuration. A reload asked for while one is in progress runs after
  // it (only the latest one waits).
  void Reload(absl::StatusOr<Bootstrap> next,
              std::function<void(absl::Status)> done = nullptr);

  // ProxyService::Drain()
  //
  // Drains every worker; `done` runs on `main` once all are drained or
  // `timeout` has passed, whichever comes first. Destroy the service then.
  void Drain(Duration timeout, std::function<void()> done);

  // ProxyService::Clusters()
  //
  // Every worker's clusters, merged (counters summed).
  std::vector<ClusterStatus> Clusters() const;

 private:
  class Impl;
  explicit ProxyService(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace homing

#endif  // HOMING_PROXY_H_
