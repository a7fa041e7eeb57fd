// ProxyService in process, on STATIC clusters of real HttpServer upstreams
// (127.0.1.7x) and a raw-socket client: load balancing, route retries,
// upstream failures and their JSON replies, circuit breakers, passive
// health, rq_active, the access log, the upgrade policy and tunnels, reload,
// drain and several workers.

#include <doctest/doctest.h>

#include <map>
#include <set>
#include <thread>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "homing/proxy.h"
#include "proxy_test_support.h"

namespace homing {
namespace {

using testing::Exchange;
using testing::GetRequest;
using testing::HttpResponse;
using testing::LogPipe;
using testing::MainLoop;
using testing::RawClient;
using testing::RawServer;
using testing::TestLoop;
using testing::TestUpstream;

constexpr char kConfig[] = R"(
static_resources:
  clusters:
  - name: backend
    type: STATIC
    load_assignment: {endpoints: [{lb_endpoints: [
      {endpoint: {address: {socket_address: {address: 127.0.1.71, port_value: {A}}}}},
      {endpoint: {address: {socket_address: {address: 127.0.1.72, port_value: {B}}}}}]}]}
  - name: second
    type: STATIC
    load_assignment: {endpoints: [{lb_endpoints: [
      {endpoint: {address: {socket_address: {address: 127.0.1.72, port_value: {B}}}}}]}]}
  - name: retrying
    type: STATIC
    load_assignment: {endpoints: [{lb_endpoints: [
      {endpoint: {address: {socket_address: {address: 127.0.1.71, port_value: {A}}}}},
      {endpoint: {address: {socket_address: {address: 127.0.1.72, port_value: {B}}}}}]}]}
  - name: ejecting
    type: STATIC
    outlier_detection: {consecutive_5xx: 1, base_ejection_time: 300s}
    load_assignment: {endpoints: [{lb_endpoints: [
      {endpoint: {address: {socket_address: {address: 127.0.1.71, port_value: {A}}}}},
      {endpoint: {address: {socket_address: {address: 127.0.1.72, port_value: {B}}}}}]}]}
  - name: limited
    type: STATIC
    circuit_breakers: {thresholds: [{max_requests: 1}]}
    load_assignment: {endpoints: [{lb_endpoints: [
      {endpoint: {address: {socket_address: {address: 127.0.1.71, port_value: {A}}}}}]}]}
  - name: dead
    type: STATIC
    load_assignment: {endpoints: [{lb_endpoints: [
      {endpoint: {address: {socket_address: {address: 127.0.1.79, port_value: {DEAD}}}}}]}]}
  - name: resetter
    type: STATIC
    load_assignment: {endpoints: [{lb_endpoints: [
      {endpoint: {address: {socket_address: {address: 127.0.1.78, port_value: {RESET}}}}}]}]}
  listeners:
  - name: main
    address: {socket_address: {address: 127.0.1.70, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          upgrade_configs: [{upgrade_type: websocket}]
          route_config:
            virtual_hosts:
            - name: local
              domains: ["*"]
              routes:
              - match: {prefix: /rr}
                route: {cluster: {RR_CLUSTER}}
              - match: {prefix: /retry}
                route: {cluster: retrying, retry_policy: {retry_on: 5xx, num_retries: 1}}
              - match: {prefix: /slow}
                route: {cluster: backend, timeout: 0.2s}
              - match: {prefix: /eject}
                route: {cluster: ejecting}
              - match: {prefix: /limited}
                route: {cluster: limited}
              - match: {prefix: /dead-retry}
                route: {cluster: dead, retry_policy: {retry_on: connect-failure, num_retries: 2}}
              - match: {prefix: /dead}
                route: {cluster: dead}
              - match: {prefix: /reset}
                route: {cluster: resetter}
              - name: ws-off
                match: {prefix: /ws-off}
                route: {cluster: backend, upgrade_configs: [{upgrade_type: websocket, enabled: false}]}
              - name: custom
                match: {prefix: /custom}
                route: {cluster: backend, upgrade_configs: [{upgrade_type: CONNECT-UDP}]}
          http_filters:
          - name: envoy.filters.http.buffer
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer
              max_request_bytes: 1024
          - name: envoy.filters.http.router
)";

// A port nothing listens on.
uint16_t ClosedPort() {
  RawServer probe("127.0.1.79");
  return probe.address.port();
}

struct Harness {
  TestLoop upstream_loop;
  TestUpstream a{upstream_loop, "A", "127.0.1.71"};
  TestUpstream b{upstream_loop, "B", "127.0.1.72"};
  RawServer resetter{"127.0.1.78"};
  uint16_t dead_port = ClosedPort();
  MainLoop main;
  StatsStore stats;
  LogPipe log;
  AccessLog access_log{log.write_fd()};
  std::unique_ptr<ProxyService> proxy;
  SocketAddress address;

  explicit Harness(size_t concurrency = 1) {
    absl::StatusOr<Bootstrap> config = ParseConfig(Config("backend"), "test");
    REQUIRE_MESSAGE(config.ok(), config.status().ToString());
    REQUIRE(ValidateConfig(*config).ok());
    main.Run([&] {
      auto started = ProxyService::Start(
          main.dispatcher(), std::make_shared<const Bootstrap>(*config), stats,
          {.concurrency = concurrency, .access_log = &access_log});
      REQUIRE_MESSAGE(started.ok(), started.status().ToString());
      proxy = *std::move(started);
      address = proxy->listen_addresses()[0];
    });
  }
  ~Harness() {
    main.Run([&] { proxy.reset(); });
  }

  std::string Config(std::string_view rr_cluster) const {
    return absl::StrReplaceAll(
        kConfig, {{"{A}", absl::StrCat(a.address.port())},
                  {"{B}", absl::StrCat(b.address.port())},
                  {"{DEAD}", absl::StrCat(dead_port)},
                  {"{RESET}", absl::StrCat(resetter.address.port())},
                  {"{RR_CLUSTER}", std::string(rr_cluster)}});
  }

  HttpResponse Get(std::string_view target) {
    std::optional<HttpResponse> response = Exchange(address, GetRequest(target));
    REQUIRE(response.has_value());
    return *std::move(response);
  }

  std::vector<ClusterStatus> Clusters() {
    std::vector<ClusterStatus> clusters;
    main.Run([&] { clusters = proxy->Clusters(); });
    return clusters;
  }
  HostStatus Host(std::string_view cluster, const SocketAddress& address) {
    for (const ClusterStatus& c : Clusters()) {
      if (c.name != cluster) continue;
      for (const HostStatus& host : c.hosts) {
        if (host.address == address) return host;
      }
    }
    FAIL("no such host");
    return {};
  }
  uint64_t Counter(std::string_view name) { return stats.Counter(name).value(); }

  absl::Status Reload(absl::StatusOr<Bootstrap> next) {
    std::optional<absl::Status> result;
    main.Run([&] {
      proxy->Reload(std::move(next), [&](absl::Status s) { result = s; });
    });
    REQUIRE(main.WaitFor([&] { return result.has_value(); }));
    return *result;
  }
};

TEST_CASE("requests go round robin over the cluster, each logged once") {
  Harness h;
  std::vector<std::string> bodies;
  for (int i = 0; i < 4; ++i) {
    HttpResponse response = h.Get("/rr/x?n=1");
    CHECK(response.status == 200);
    bodies.push_back(response.body);
  }
  CHECK(bodies[0] != bodies[1]);
  CHECK(bodies[0] == bodies[2]);
  CHECK(bodies[1] == bodies[3]);
  CHECK(std::set<std::string>(bodies.begin(), bodies.end()) ==
        std::set<std::string>{"A GET /rr/x?n=1", "B GET /rr/x?n=1"});
  for (int i = 0; i < 4; ++i) {
    std::optional<std::string> line = h.log.ReadLine();
    REQUIRE(line);
    CHECK(line->find("\"GET /rr/x?n=1 HTTP/1.1\" 200 route=local/0 key=- "
                     "lookup=- upstream=- addr=127.0.1.7") != std::string::npos);
    CHECK(line->find(" error=-") != std::string::npos);
  }
  CHECK(h.Counter("http.ingress.downstream_rq_2xx") == 4);
  CHECK(h.Counter("cluster.backend.upstream_rq_total") == 4);
  CHECK(h.Counter("cluster.backend.pool.upstream_rq_total") == 4);
  CHECK(h.Host("backend", h.a.address).rq_total == 2);
  CHECK(h.Host("backend", h.b.address).rq_total == 2);
}

TEST_CASE("a route's retry policy sends a 5xx answer to another host") {
  Harness h;
  h.a.set_fail_status(503);
  for (int i = 0; i < 2; ++i) {
    HttpResponse response = h.Get("/retry/x");
    CHECK(response.status == 200);
    CHECK(response.body == "B GET /retry/x");
  }
  // Round robin sent at least one of them to A first; each went on to B.
  CHECK(h.a.requests() >= 1);
  CHECK(h.b.requests() == 2);
  CHECK(h.Counter("cluster.retrying.upstream_rq_5xx") ==
        static_cast<uint64_t>(h.a.requests()));
  CHECK(h.Host("retrying", h.a.address).rq_error ==
        static_cast<uint64_t>(h.a.requests()));
  // With every host failing, the last answer goes to the client.
  h.b.set_fail_status(503);
  HttpResponse failing = h.Get("/retry/y");
  CHECK(failing.status == 503);
  CHECK(failing.body.find("failing") != std::string::npos);
}

TEST_CASE("upstream failures get JSON local replies") {
  Harness h;
  HttpResponse timeout = h.Get("/slow/hold");
  CHECK(timeout.status == 504);
  CHECK(timeout.Header("content-type") == "application/json");
  CHECK(timeout.body.find("{\"error\":\"upstream_timeout\",\"detail\":\"127.0.1.7") == 0);

  HttpResponse refused = h.Get("/dead");
  CHECK(refused.status == 503);
  CHECK(refused.body.find(absl::StrCat("{\"error\":\"upstream_connect_failure\","
                                       "\"detail\":\"127.0.1.79:",
                                       h.dead_port, ": ")) == 0);
  CHECK(h.Host("dead", *SocketAddress::FromIp("127.0.1.79", h.dead_port))
            .cx_connect_fail == 1);

  // With a retry policy the proxy answers itself once retries run out.
  HttpResponse retried = h.Get("/dead-retry");
  CHECK(retried.status == 503);
  CHECK(retried.body == absl::StrCat("{\"error\":\"upstream_connect_failure\","
                                     "\"detail\":\"127.0.1.79:",
                                     h.dead_port, ": connect_failure\"}"));
  CHECK(h.Host("dead", *SocketAddress::FromIp("127.0.1.79", h.dead_port))
            .cx_connect_fail == 4);

  h.resetter.Run([](RawServer& server) {
    const int fd = server.Accept();
    RawServer::ReadHead(fd);
    server.Close(fd);
  });
  HttpResponse reset = h.Get("/reset");
  h.resetter.Join();
  CHECK(reset.status == 503);
  CHECK(reset.body.find("{\"error\":\"upstream_reset\"") == 0);

  std::map<std::string, int> errors;
  for (int i = 0; i < 4; ++i) {
    std::optional<std::string> line = h.log.ReadLine();
    REQUIRE(line);
    errors[line->substr(line->rfind(" error=") + 7)]++;
  }
  CHECK(errors == std::map<std::string, int>{{"upstream_timeout", 1},
                                             {"upstream_connect_failure", 2},
                                             {"upstream_reset", 1}});
}

TEST_CASE("max_requests in flight: the next request gets 503 upstream_overflow") {
  Harness h;
  RawClient first(h.address);
  REQUIRE(first.Send(GetRequest("/limited/wait")));
  REQUIRE(h.main.WaitFor([&] { return h.a.held() == 1; }));
  CHECK(h.Host("limited", h.a.address).rq_active == 1);

  HttpResponse overflow = h.Get("/limited/x");
  CHECK(overflow.status == 503);
  CHECK(overflow.body ==
        "{\"error\":\"upstream_overflow\",\"detail\":\"cluster \\\"limited\\\" "
        "has max_requests (1) requests in flight\"}");
  CHECK(h.Counter("cluster.limited.upstream_rq_overflow") == 1);

  h.a.Release();
  std::optional<HttpResponse> released = first.ReadResponse();
  REQUIRE(released);
  CHECK(released->body == "A released");
  CHECK(h.Get("/limited/x").status == 200);
  CHECK(h.Host("limited", h.a.address).rq_active == 0);
}

TEST_CASE("passive health ejects a failing host and /clusters shows it") {
  Harness h;
  h.a.set_fail_status(500);
  std::vector<int> statuses;
  for (int i = 0; i < 6; ++i) statuses.push_back(h.Get("/eject").status);
  CHECK(std::count(statuses.begin(), statuses.end(), 500) == 1);
  CHECK(h.a.requests() == 1);
  CHECK_FALSE(h.Host("ejecting", h.a.address).healthy);
  CHECK(h.Host("ejecting", h.b.address).healthy);
  CHECK(h.Counter("cluster.ejecting.outlier_detection.ejections_enforced_total") == 1);
}

TEST_CASE("requests the proxy cannot take are answered and logged") {
  Harness h;
  HttpResponse missing = h.Get("/nowhere");
  CHECK(missing.status == 404);
  CHECK(missing.body ==
        "{\"error\":\"no_route\",\"detail\":\"no route matches GET /nowhere for "
        "host \\\"proxy.test\\\"\"}");
  std::optional<std::string> line = h.log.ReadLine();
  REQUIRE(line);
  CHECK(line->find("\"GET /nowhere HTTP/1.1\" 404 route=- key=- lookup=- "
                   "upstream=- addr=- dur_ms=") != std::string::npos);
  CHECK(line->find(" error=no_route") != std::string::npos);

  std::optional<HttpResponse> large = Exchange(
      h.address, "POST /rr HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n");
  REQUIRE(large);
  CHECK(large->status == 413);
  CHECK(large->body.find("{\"error\":\"payload_too_large\"") == 0);
  line = h.log.ReadLine();
  REQUIRE(line);
  CHECK(line->find("\"POST /rr HTTP/1.1\" 413 ") != std::string::npos);
  CHECK(line->find(" error=payload_too_large") != std::string::npos);

  // Refused by the HTTP server before routing: logged all the same.
  std::optional<HttpResponse> no_host = Exchange(h.address, "GET /rr HTTP/1.1\r\n\r\n");
  REQUIRE(no_host);
  CHECK(no_host->status == 400);
  line = h.log.ReadLine();
  REQUIRE(line);
  CHECK(line->find("\"GET /rr HTTP/1.1\" 400 route=- key=- lookup=- upstream=- "
                   "addr=- dur_ms=0.000 error=bad_request") != std::string::npos);
  std::optional<HttpResponse> malformed =
      Exchange(h.address, "GET /rr HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
  REQUIRE(malformed);
  CHECK(malformed->status == 400);
  line = h.log.ReadLine();
  REQUIRE(line);
  CHECK(line->find("\"- - HTTP/1.1\" 400 route=- ") != std::string::npos);
  CHECK(h.a.requests() + h.b.requests() == 0);
}

std::string UpgradeRequest(const std::string& target, const std::string& upgrade) {
  return absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: proxy.test\r\n",
                      "Connection: Upgrade\r\nUpgrade: ", upgrade, "\r\n\r\n");
}

TEST_CASE("an upgrade its route does not enable gets 403, before any upstream") {
  Harness h;
  struct Case {
    std::string target, upgrade, route;
  };
  // ws-off disables the connection manager's websocket; nothing enables
  // CONNECT-UDP on /rr; h2 is listed nowhere.
  for (const Case& c : {Case{"/ws-off", "websocket", "ws-off"},
                        Case{"/rr/x", "CONNECT-UDP", "local/0"},
                        Case{"/custom", "h2", "custom"}}) {
    CAPTURE(c.target);
    RawClient client(h.address);
    REQUIRE(client.Send(UpgradeRequest(c.target, c.upgrade)));
    std::optional<HttpResponse> refused = client.ReadResponse();
    REQUIRE(refused);
    CHECK(refused->status == 403);
    CHECK(refused->Header("content-type") == "application/json");
    CHECK(refused->body ==
          absl::StrCat("{\"error\":\"upgrade_not_enabled\",\"detail\":\"upgrade to "
                       "\\\"", c.upgrade, "\\\" is not enabled on route \\\"", c.route,
                       "\\\" (see upgrade_configs)\"}"));
    CHECK(client.WaitClosed());  // the rest of the stream is not HTTP
    std::optional<std::string> line = h.log.ReadLine();
    REQUIRE(line);
    CHECK_MESSAGE(line->find(absl::StrCat("\"GET ", c.target, " HTTP/1.1\" 403 route=",
                                          c.route, " key=- lookup=- upstream=- addr=-")) !=
                      std::string::npos,
                  *line);
    CHECK(line->find(" error=upgrade_not_enabled") != std::string::npos);
  }
  CHECK(h.Counter("http.ingress.downstream_rq_ws_on_non_ws_route") == 3);
  CHECK(h.Counter("cluster.backend.upstream_rq_total") == 0);
  CHECK(h.a.requests() + h.b.requests() == 0);

  // No route: the router's 404, not an upgrade refusal.
  std::optional<HttpResponse> missing =
      Exchange(h.address, UpgradeRequest("/nowhere", "websocket"));
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(h.Counter("http.ingress.downstream_rq_ws_on_non_ws_route") == 3);
}

TEST_CASE("an enabled upgrade is forwarded and tunnels after the 101") {
  Harness h;
  struct Case {
    std::string target, upgrade;
  };
  // The connection manager's websocket (any case), and a type only the
  // route enables.
  for (const Case& c : {Case{"/rr/ws", "WebSocket"}, Case{"/custom", "connect-udp"}}) {
    CAPTURE(c.target);
    RawClient client(h.address);
    REQUIRE(client.Send(UpgradeRequest(c.target, c.upgrade)));
    std::optional<HttpResponse> switching = client.ReadResponse();
    REQUIRE(switching);
    CHECK(switching->status == 101);
    CHECK(switching->Header("upgrade") == "echo");
    REQUIRE(client.Send("ping through the tunnel"));
    CHECK(client.ReadExactly(23) == "ping through the tunnel");
  }
  CHECK(h.a.requests() + h.b.requests() == 2);
  CHECK(h.Counter("http.ingress.downstream_rq_ws_on_non_ws_route") == 0);
}

TEST_CASE("the route timeout does not cut an established tunnel") {
  Harness h;
  RawClient client(h.address);
  REQUIRE(client.Send(UpgradeRequest("/slow/ws", "websocket")));  // timeout 0.2s
  std::optional<HttpResponse> switching = client.ReadResponse();
  REQUIRE(switching);
  REQUIRE(switching->status == 101);
  for (int i = 0; i < 3; ++i) {
    // Each pause is longer than the route timeout.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const std::string message = absl::StrCat("still open ", i);
    REQUIRE(client.Send(message));
    CHECK(client.ReadExactly(message.size()) == message);
  }
  CHECK(h.Counter("cluster.backend.upstream_rq_timeout") == 0);
}

TEST_CASE("a reload serves new requests while in-flight ones finish on the old") {
  Harness h;
  RawClient in_flight(h.address);
  REQUIRE(in_flight.Send(GetRequest("/limited/wait")));
  REQUIRE(h.main.WaitFor([&] { return h.a.held() == 1; }));

  CHECK(h.Reload(ParseConfig(h.Config("second"), "v2")).ok());
  CHECK(h.Counter("server.reload_success") == 1);
  for (int i = 0; i < 3; ++i) CHECK(h.Get("/rr/y").body == "B GET /rr/y");

  h.a.Release();
  std::optional<HttpResponse> old = in_flight.ReadResponse();
  REQUIRE(old);
  CHECK(old->body == "A released");

  // A config that needs a restart, or does not load, changes nothing.
  std::string moved = h.Config("backend");
  moved = absl::StrReplaceAll(moved, {{"address: 127.0.1.70", "address: 127.0.1.77"}});
  const absl::Status restart = h.Reload(ParseConfig(moved, "v3"));
  CHECK(restart.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(restart.message()).find("which needs a restart") != std::string::npos);
  const absl::Status broken = h.Reload(ParseConfig("static_resources: [", "v4"));
  CHECK(broken.code() == absl::StatusCode::kInvalidArgument);
  CHECK(h.Counter("server.reload_failure") == 2);
  CHECK(h.Get("/rr/z").body == "B GET /rr/z");
}

TEST_CASE("drain finishes in-flight requests and refuses new connections") {
  Harness h;
  RawClient in_flight(h.address);
  REQUIRE(in_flight.Send(GetRequest("/rr/wait")));
  REQUIRE(h.main.WaitFor([&] { return h.a.held() + h.b.held() == 1; }));
  bool drained = false;
  h.main.Run([&] {
    CHECK(h.proxy->state() == ServerState::kLive);
    h.proxy->Drain(std::chrono::seconds(10), [&] { drained = true; });
    CHECK(h.proxy->state() == ServerState::kDraining);
  });
  CHECK(h.stats.Gauge("server.live").value() == 0);

  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(connect(fd, h.address.sockaddr_ptr(), h.address.sockaddr_len()) != 0);
  close(fd);

  h.a.Release();
  h.b.Release();
  std::optional<HttpResponse> finished = in_flight.ReadResponse();
  REQUIRE(finished);
  CHECK(finished->status == 200);
  CHECK(finished->Header("connection") == "close");
  CHECK(h.main.WaitFor([&] { return drained; }));
}

TEST_CASE("several workers share the listener and their stats add up") {
  Harness h(3);
  CHECK(h.stats.Gauge("server.concurrency").value() == 3);
  constexpr int kRequests = 30;
  for (int i = 0; i < kRequests; ++i) CHECK(h.Get("/rr/n").status == 200);
  uint64_t total = 0;
  for (const ClusterStatus& cluster : h.Clusters()) {
    if (cluster.name != "backend") continue;
    CHECK(cluster.hosts.size() == 2);
    for (const HostStatus& host : cluster.hosts) total += host.rq_total;
  }
  CHECK(total == kRequests);
  CHECK(h.Counter("http.ingress.downstream_rq_2xx") == kRequests);
  CHECK(h.a.requests() + h.b.requests() == kRequests);
}

}  // namespace
}  // namespace homing
