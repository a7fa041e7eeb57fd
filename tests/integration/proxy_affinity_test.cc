// ProxyService in process on real parts: dnsmasq answering the cluster
// names, two resolver_server.py processes as the resolver cluster, owner
// instances as in-process HttpServers on 127.0.1.9x, a raw-socket client and
// an AdminServer. The seed's two routes (/where round robin, /join to the
// owner), the 421 path, every local reply, /ready, the access log, and pool
// draining when an owner's address changes.

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "../unit/proxy_test_support.h"
#include "absl/strings/str_cat.h"
#include "dnsmasq.h"
#include "homing/admin.h"
#include "homing/proxy.h"
#include "resolver_process.h"

namespace homing {
namespace {

using testing::DnsRecord;
using testing::Dnsmasq;
using testing::Exchange;
using testing::GetRequest;
using testing::HttpResponse;
using testing::LogPipe;
using testing::MainLoop;
using testing::RawClient;
using testing::ResolverProcess;
using testing::TestLoop;
using testing::TestUpstream;

constexpr char kResolverName[] = "resolver.proxy-test.cluster.local";
constexpr char kEmptyName[] = "nobody.proxy-test.cluster.local";

std::string OwnerName(int i) {
  return absl::StrCat("server-", i, ".server-headless.poc-routing.svc.cluster.local");
}

struct HarnessOptions {
  uint32_t max_hosts = 1024;
  bool dns_paused_at_start = false;
};

struct Harness {
  Dnsmasq dns;  // answers with TTL 1s
  std::unique_ptr<ResolverProcess> resolvers[2];
  TestLoop upstream_loop;
  std::vector<std::unique_ptr<TestUpstream>> owners;  // server-0, server-1
  uint16_t owner_port = 0;
  std::vector<DnsRecord> records;
  MainLoop main;
  StatsStore stats;
  LogPipe log;
  AccessLog access_log{log.write_fd()};
  std::unique_ptr<ProxyService> proxy;
  std::unique_ptr<AdminServer> admin;
  SocketAddress address;
  SocketAddress admin_address;

  explicit Harness(HarnessOptions options = {}) {
    owners.push_back(std::make_unique<TestUpstream>(upstream_loop, "server-0", "127.0.1.93"));
    owner_port = owners[0]->address.port();
    owners.push_back(
        std::make_unique<TestUpstream>(upstream_loop, "server-1", "127.0.1.94", owner_port));
    records = {{kResolverName, "127.0.1.91"},
               {kResolverName, "127.0.1.92"},
               {OwnerName(0), "127.0.1.93"},
               {OwnerName(1), "127.0.1.94"},
               {OwnerName(2), "127.0.1.95"}};  // nothing listens there
    REQUIRE(dns.SetRecords(records).ok());
    REQUIRE(dns.Start().ok());
    auto first = ResolverProcess::Start({.address = "127.0.1.91"});
    REQUIRE_MESSAGE(first.ok(), first.status().ToString());
    resolvers[0] = *std::move(first);
    auto second = ResolverProcess::Start(
        {.address = "127.0.1.92", .port = resolvers[0]->port()});
    REQUIRE_MESSAGE(second.ok(), second.status().ToString());
    resolvers[1] = *std::move(second);

    absl::StatusOr<Bootstrap> config = ParseConfig(Config(options), "test");
    REQUIRE_MESSAGE(config.ok(), config.status().ToString());
    REQUIRE(ValidateConfig(*config).ok());
    if (options.dns_paused_at_start) dns.Pause();
    main.Run([&] {
      auto started = ProxyService::Start(main.dispatcher(),
                                         std::make_shared<const Bootstrap>(*config),
                                         stats, {.access_log = &access_log});
      REQUIRE_MESSAGE(started.ok(), started.status().ToString());
      proxy = *std::move(started);
      address = proxy->listen_addresses()[0];
      AdminSources sources;
      sources.stats = &stats;
      sources.state = [this] { return proxy->state(); };
      sources.clusters = [this] { return proxy->Clusters(); };
      auto created = AdminServer::Create(main.dispatcher(),
                                         testing::Loopback("127.0.1.90"), sources);
      REQUIRE_MESSAGE(created.ok(), created.status().ToString());
      admin = *std::move(created);
      admin_address = admin->local_address();
    });
    if (!options.dns_paused_at_start) {
      REQUIRE(main.WaitFor([&] { return proxy->state() == ServerState::kLive; }));
    }
  }
  ~Harness() {
    dns.Resume();
    main.Run([&] {
      admin.reset();
      proxy.reset();
    });
  }

  std::string Owner(int i) const { return absl::StrCat(OwnerName(i), ":", owner_port); }

  std::string Config(const HarnessOptions& options) const {
    return absl::StrCat(R"(
static_resources:
  listeners:
  - name: main
    address: {socket_address: {address: 127.0.1.90, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          route_config:
            virtual_hosts:
            - name: local
              domains: ["*"]
              routes:
              - match: {prefix: /join}
                route: {cluster: dynamic_forward_proxy_cluster, timeout: 0.5s}
                typed_per_filter_config:
                  homing.filters.http.affinity:
                    lookup_cluster: resolver
                    lookup_path: /where
                    key: {query_parameter: client_id}
                    lookup_timeout: 0.5s
                    max_key_length: 16
                    max_pending_lookups: 1
                    allowed_hostports: ["*.server-headless.poc-routing.svc.cluster.local:)",
                        owner_port, R"("]
              - match: {prefix: /where}
                route: {cluster: resolver}
              - match: {prefix: /nohosts}
                route: {cluster: empty}
          http_filters:
          - name: homing.filters.http.affinity
          - name: envoy.filters.http.dynamic_forward_proxy
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig
              dns_cache_config: &cache
                name: dynamic_forward_proxy_cache
                dns_lookup_family: V4_ONLY
                dns_min_refresh_rate: 1s
                max_hosts: )", options.max_hosts, R"(
          - name: envoy.filters.http.router
  clusters:
  - name: resolver
    type: STRICT_DNS
    dns_lookup_family: V4_ONLY
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: )", kResolverName,
                        R"(, port_value: )", resolvers[0]->port(), R"(}}}
  - name: empty
    type: STRICT_DNS
    dns_lookup_family: V4_ONLY
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: )", kEmptyName,
                        R"(, port_value: 80}}}
  - name: dynamic_forward_proxy_cluster
    lb_policy: CLUSTER_PROVIDED
    cluster_type:
      name: envoy.clusters.dynamic_forward_proxy
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig
        dns_cache_config: *cache
typed_dns_resolver_config:
  name: envoy.network.dns_resolver.cares
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig
    resolvers: [{socket_address: {address: 127.0.0.1, port_value: )",
                        dns.port(), R"(}}]
)");
  }

  // The same control on both resolver processes.
  void Control(const std::string& json) {
    for (auto& resolver : resolvers) REQUIRE(resolver->Control(json).ok());
  }
  void Map(const std::string& key, int owner) {
    Control(absl::StrCat(R"({"mapping": {")", key, R"(": ")", Owner(owner), R"("}})"));
  }
  int64_t Lookups(const std::string& key) {
    int64_t total = 0;
    for (auto& resolver : resolvers) {
      absl::StatusOr<ResolverProcess::Stats> stats = resolver->GetStats();
      REQUIRE(stats.ok());
      total += stats->per_key[key];
    }
    return total;
  }

  HttpResponse Get(std::string_view target) {
    std::optional<HttpResponse> response = Exchange(address, GetRequest(target));
    REQUIRE(response.has_value());
    return *std::move(response);
  }
  HttpResponse Admin(std::string_view target) {
    std::optional<HttpResponse> response = Exchange(admin_address, GetRequest(target));
    REQUIRE(response.has_value());
    return *std::move(response);
  }
  std::string NextLogLine() {
    std::optional<std::string> line = log.ReadLine();
    REQUIRE(line.has_value());
    return *line;
  }
};

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

TEST_CASE("/join goes to the owner the resolver names, then from cache") {
  Harness h;
  h.Map("123", 1);
  for (int i = 0; i < 2; ++i) {
    HttpResponse response = h.Get("/join?client_id=123");
    CHECK(response.status == 200);
    CHECK(response.body == "server-1 GET /join?client_id=123");
  }
  CHECK(h.owners[0]->requests() == 0);
  CHECK(h.Lookups("123") == 1);
  const std::string miss = h.NextLogLine();
  CHECK_MESSAGE(Contains(miss, absl::StrCat("\"GET /join?client_id=123 HTTP/1.1\" 200 "
                                            "route=local/0 key=123 lookup=miss upstream=",
                                            h.Owner(1), " addr=127.0.1.94:", h.owner_port,
                                            " dur_ms=")),
                miss);
  const std::string hit = h.NextLogLine();
  CHECK_MESSAGE(Contains(hit, " lookup=hit "), hit);
  CHECK(Contains(hit, " error=-"));

  // The seed's verification command 7: the DNS cache's stats are there.
  HttpResponse stats = h.Admin("/stats?filter=dynamic_forward_proxy");
  CHECK(Contains(stats.body, "dns_cache.dynamic_forward_proxy_cache.dns_query_attempt: 1\n"));
  CHECK(Contains(stats.body, "dns_cache.dynamic_forward_proxy_cache.num_hosts: 1\n"));
  HttpResponse clusters = h.Admin("/clusters");
  CHECK(Contains(clusters.body,
                 absl::StrCat("dynamic_forward_proxy_cluster::127.0.1.94:", h.owner_port,
                              "::rq_total::2\n")));
  CHECK(Contains(clusters.body,
                 absl::StrCat("dynamic_forward_proxy_cluster::127.0.1.94:", h.owner_port,
                              "::hostname::", h.Owner(1), "\n")));
}

TEST_CASE("/where goes round robin over the resolver cluster") {
  Harness h;
  for (int i = 0; i < 4; ++i) {
    HttpResponse response = h.Get("/where?client_id=123");
    CHECK(response.status == 200);
    CHECK(Contains(response.body, R"("client_id": "123")"));
  }
  for (auto& resolver : h.resolvers) CHECK(resolver->GetStats()->total == 2);
  HttpResponse clusters = h.Admin("/clusters");
  CHECK(Contains(clusters.body, "resolver::membership_total::2\n"));
  CHECK(Contains(clusters.body,
                 absl::StrCat("resolver::127.0.1.91:", h.resolvers[0]->port(),
                              "::rq_total::2\n")));
  CHECK(Contains(clusters.body,
                 absl::StrCat("resolver::127.0.1.92:", h.resolvers[0]->port(),
                              "::health_flags::healthy\n")));
  const std::string line = h.NextLogLine();
  CHECK_MESSAGE(Contains(line, absl::StrCat(" 200 route=local/1 key=- lookup=- upstream=",
                                            kResolverName, ":", h.resolvers[0]->port(),
                                            " addr=127.0.1.9")),
                line);
}

TEST_CASE("a 421 sends the request once more, to the resolver's new owner") {
  Harness h;
  h.Map("k", 0);
  CHECK(h.Get("/join?client_id=k").body == "server-0 GET /join?client_id=k");
  h.NextLogLine();

  // k moved to server-1; server-0 says so once.
  h.Map("k", 1);
  h.owners[0]->set_misdirect_once();
  HttpResponse moved = h.Get("/join?client_id=k");
  CHECK(moved.status == 200);
  CHECK(moved.body == "server-1 GET /join?client_id=k");
  CHECK(h.owners[0]->requests() == 2);
  CHECK(h.Lookups("k") == 2);
  const std::string line = h.NextLogLine();
  CHECK_MESSAGE(Contains(line, absl::StrCat(" 200 route=local/0 key=k lookup=miss upstream=",
                                            h.Owner(1), " addr=127.0.1.94:")),
                line);
  // The new answer is cached.
  CHECK(h.Get("/join?client_id=k").body == "server-1 GET /join?client_id=k");
  CHECK(h.Lookups("k") == 2);

  // A second 421 goes to the client.
  h.Map("j", 0);
  h.owners[0]->set_misdirect(true);
  HttpResponse twice = h.Get("/join?client_id=j");
  CHECK(twice.status == 421);
  CHECK(twice.body == R"({"error":"misdirected","detail":"server-0"})");
  CHECK(h.Lookups("j") == 2);
  CHECK(h.stats.Counter("cluster.dynamic_forward_proxy_cluster.upstream_rq_total").value() == 6);
  // The relayed 421 still tells the router: j's next request asks again.
  CHECK(h.stats.Counter("http.ingress_http.affinity.owner_misdirected").value() == 3);
  h.owners[0]->set_misdirect(false);
  CHECK(h.Get("/join?client_id=j").status == 200);
  CHECK(h.Lookups("j") == 3);
}

TEST_CASE("every local reply of the router reaches the client as JSON") {
  Harness h({.max_hosts = 3});
  struct Case {
    std::string control;
    std::string target;
    int status;
    std::string error;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {"{}", "/nowhere", 404, "no_route",
       R"(no route matches GET /nowhere for host \"proxy.test\")"},
      {"{}", "/join", 400, "missing_key", R"(query parameter \"client_id\" is required)"},
      {"{}", "/join?client_id=", 400, "empty_key", R"(query parameter \"client_id\" is empty)"},
      {"{}", "/join?client_id=" + std::string(17, 'k'), 400, "invalid_key",
       R"(query parameter \"client_id\" is longer than 16 bytes)"},
      {R"({"status": 500})", "/join?client_id=a", 503, "resolver_unavailable", "500"},
      {R"({"delay_ms": 1500})", "/join?client_id=b", 503, "resolver_timeout", ""},
      {R"({"mode": "garbage"})", "/join?client_id=c", 502, "bad_resolver_answer", "not JSON"},
      {R"({"hostport": "evil.example.com:8081"})", "/join?client_id=d", 502,
       "hostport_rejected", "not in allowed_hostports"},
      {R"({"hostport": ")" + h.Owner(9) + R"("})", "/join?client_id=e", 503,
       "dns_resolution_failed", R"(DNS resolution of \"server-9.)"},
      {"{}", "/nohosts", 503, "no_healthy_upstream", R"(cluster \"empty\" has no hosts)"},
      // Owners 9 (failed, cached), 2 and 1 fill max_hosts 3; owner 0 is one too many.
      {R"({"hostport": ")" + h.Owner(2) + R"("})", "/join?client_id=f", 503,
       "upstream_connect_failure", "127.0.1.95:"},
      {R"({"hostport": ")" + h.Owner(1) + R"("})", "/join/hold?client_id=g", 504,
       "upstream_timeout", "127.0.1.94:"},
      {R"({"hostport": ")" + h.Owner(0) + R"("})", "/join?client_id=h", 503,
       "dns_overflow", R"(DNS cache \"dynamic_forward_proxy_cache\" is full)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.target);
    h.Control(R"({"reset": true})");
    h.Control(c.control);
    HttpResponse response = h.Get(c.target);
    CHECK(response.status == c.status);
    CHECK(response.Header("content-type") == "application/json");
    CHECK_MESSAGE(response.body.find(absl::StrCat(R"({"error":")", c.error,
                                                  R"(","detail":")")) == 0,
                  response.body);
    CHECK_MESSAGE(Contains(response.body, c.detail), response.body);
    const std::string line = h.NextLogLine();
    CHECK_MESSAGE(Contains(line, absl::StrCat("\" ", c.status, " route=")), line);
    CHECK_MESSAGE(Contains(line, absl::StrCat(" error=", c.error)), line);
  }

  // Two keys at once with max_pending_lookups 1: the second overflows.
  h.Control(R"({"reset": true})");
  h.Control(R"({"delay_ms": 300})");
  h.Map("slow1", 1);  // in the (full) DNS cache already
  Counter& attempts = h.stats.Counter("http.ingress_http.affinity.lookup_attempt");
  const uint64_t before = attempts.value();
  RawClient first(h.address);
  REQUIRE(first.Send(GetRequest("/join?client_id=slow1")));
  REQUIRE(h.main.WaitFor([&] { return attempts.value() == before + 1; }));
  HttpResponse overflow = h.Get("/join?client_id=slow2");
  CHECK(overflow.status == 503);
  CHECK(overflow.body.find(R"({"error":"lookup_overflow")") == 0);
  std::optional<HttpResponse> slow = first.ReadResponse();
  REQUIRE(slow);
  CHECK(slow->status == 200);
}

TEST_CASE("a client that leaves while its lookup is pending cancels it") {
  Harness h;
  h.Control(R"({"delay_ms": 300})");
  h.Map("gone", 0);
  {
    // Mid-request: a client closing after a complete request is taken to
    // have half-closed and still gets its response (see http_server.h).
    RawClient client(h.address);
    REQUIRE(client.Send(GetRequest("/join?client_id=gone", "Content-Length: 10\r\n") +
                        "abc"));
    REQUIRE(h.main.WaitFor([&] {
      return h.stats.Counter("http.ingress_http.affinity.lookup_attempt").value() == 1;
    }));
  }  // closes the connection
  const std::string line = h.NextLogLine();
  CHECK_MESSAGE(Contains(line, "\"GET /join?client_id=gone HTTP/1.1\" 0 route=- "), line);
  CHECK(Contains(line, " error=downstream_reset"));
  // The lookup went on and its answer is cached; nothing reached the owner.
  CHECK(h.main.WaitFor([&] {
    return h.stats.Counter("http.ingress_http.affinity.lookup_success").value() == 1;
  }));
  CHECK(h.owners[0]->requests() == 0);
  CHECK(h.Get("/join?client_id=gone").body == "server-0 GET /join?client_id=gone");
  CHECK(Contains(h.NextLogLine(), " lookup=hit "));
}

TEST_CASE("/ready is PRE_INITIALIZING until the clusters resolve, DRAINING after") {
  Harness h({.dns_paused_at_start = true});
  HttpResponse starting = h.Admin("/ready");
  CHECK(starting.status == 503);
  CHECK(starting.body == "PRE_INITIALIZING\n");
  CHECK(h.stats.Gauge("server.live").value() == 0);
  h.dns.Resume();
  REQUIRE(h.main.WaitFor([&] { return h.proxy->state() == ServerState::kLive; }));
  HttpResponse live = h.Admin("/ready");
  CHECK(live.status == 200);
  CHECK(live.body == "LIVE\n");
  CHECK(h.main.WaitFor([&] { return h.stats.Gauge("server.live").value() == 1; }));
  bool drained = false;
  h.main.Run([&] { h.proxy->Drain(std::chrono::seconds(5), [&] { drained = true; }); });
  HttpResponse draining = h.Admin("/ready");
  CHECK(draining.status == 503);
  CHECK(draining.body == "DRAINING\n");
  CHECK(h.main.WaitFor([&] { return drained; }));
}

TEST_CASE("an owner whose address changes gets fresh connections") {
  Harness h;
  TestUpstream moved_to(h.upstream_loop, "server-1b", "127.0.1.96", h.owner_port);
  h.Map("m", 1);
  CHECK(h.Get("/join?client_id=m").body == "server-1 GET /join?client_id=m");
  CHECK(h.owners[1]->connections() == 1);  // kept alive in the pool

  std::vector<DnsRecord> records = h.records;
  for (DnsRecord& record : records) {
    if (record.name == OwnerName(1)) record.ip = "127.0.1.96";
  }
  REQUIRE(h.dns.SetRecords(records).ok());
  // The cache refreshes at dns_min_refresh_rate (1s); then the old address's
  // idle connection is closed and requests reach the new one.
  CHECK(h.main.WaitFor([&] { return h.owners[1]->connections() == 0; }));
  CHECK(h.Get("/join?client_id=m").body == "server-1b GET /join?client_id=m");
  CHECK(h.stats.Counter("dns_cache.dynamic_forward_proxy_cache.host_address_changed")
            .value() == 2);
}

}  // namespace
}  // namespace homing
