// homing-proxy, the real binary ($HOMING_PROXY), with generated configs on
// 127.0.1.23x: the seed's topology with real homing-server instances
// ($HOMING_SERVER) and dnsmasq, --check, bad arguments, SIGHUP reload,
// SIGTERM drain, the HTTP limits (400, 431, 408), an Upgrade through an
// affinity route, and two workers. Every process started here is stopped by
// the test, even when it fails.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "../unit/proxy_test_support.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "dnsmasq.h"
#include "homing/config.h"

extern char** environ;

namespace homing {
namespace {

using testing::DnsRecord;
using testing::Dnsmasq;
using testing::Exchange;
using testing::GetRequest;
using testing::HttpResponse;
using testing::RawClient;
using testing::RawServer;
using testing::TestLoop;
using testing::TestUpstream;

std::string Binary(const char* variable) {
  const char* path = std::getenv(variable);
  REQUIRE_MESSAGE(path != nullptr, variable, " is not set");
  return path;
}

// A child process with its stdout and stderr on pipes; killed (SIGKILL) by
// the destructor unless it exited.
class Process {
 public:
  explicit Process(std::vector<std::string> argv) {
    int out[2];
    int err[2];
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(pipe2(err, O_CLOEXEC) == 0);
    std::vector<char*> args;
    for (std::string& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      dup2(out[1], 1);
      dup2(err[1], 2);
      execve(args[0], args.data(), environ);
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    stdout_ = out[0];
    stderr_ = err[0];
  }
  ~Process() {
    if (!exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(stdout_);
    close(stderr_);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  void Signal(int signum) { kill(pid_, signum); }

  // The exit code (10 s at most; -1 on timeout or death by a signal).
  int Wait() {
    for (int i = 0; i < 1000; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      usleep(10000);
    }
    return -1;
  }

  // Everything read from stderr once it contains `needle` (10 s at most).
  std::string StderrUntil(const std::string& needle) {
    ReadUntil(stderr_, &err_, [&] { return err_.find(needle) != std::string::npos; });
    return err_;
  }
  std::string AllStderr() {
    ReadUntil(stderr_, &err_, [] { return false; });
    return err_;
  }
  std::string AllStdout() {
    ReadUntil(stdout_, &out_, [] { return false; });
    return out_;
  }
  // The next stdout line (10 s at most).
  std::optional<std::string> StdoutLine() {
    if (!ReadUntil(stdout_, &out_, [&] { return out_.find('\n') != std::string::npos; })) {
      return std::nullopt;
    }
    const size_t newline = out_.find('\n');
    std::string line = out_.substr(0, newline);
    out_.erase(0, newline + 1);
    return line;
  }

 private:
  template <typename Done>
  static bool ReadUntil(int fd, std::string* buffer, Done done) {
    for (int waited = 0; !done();) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) {
        if ((waited += 100) >= 10000) return false;
        continue;
      }
      char chunk[4096];
      const ssize_t n = read(fd, chunk, sizeof(chunk));
      if (n <= 0) return done();
      buffer->append(chunk, static_cast<size_t>(n));
    }
    return true;
  }

  pid_t pid_ = -1;
  bool exited_ = false;
  int stdout_ = -1;
  int stderr_ = -1;
  std::string out_;
  std::string err_;
};

// A file in the test's temporary directory, removed at the end.
class TempFile {
 public:
  explicit TempFile(std::string_view name)
      : path_(absl::StrCat("/tmp/homing-proxy-test-", getpid(), "-", std::string(name))) {}
  ~TempFile() { std::remove(path_.c_str()); }
  void Write(std::string_view contents) const {
    std::ofstream(path_, std::ios::trunc) << contents;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A port free on `ip` right now.
uint16_t FreePort(std::string_view ip) {
  RawServer probe(ip);
  return probe.address.port();
}

std::string OwnerName(int i) {
  return absl::StrCat("server-", i, ".server-headless.poc-routing.svc.cluster.local");
}

// The seed's config, moved onto loopback: listener and admin on port 0,
// the resolver cluster at `server.poc-routing.svc.cluster.local:<port>`, a
// /static route to `{STATIC}` and HTTP limits small enough to hit.
constexpr char kConfig[] = R"(
admin:
  address: {socket_address: {address: 127.0.1.240, port_value: 0}}
static_resources:
  listeners:
  - name: listener_0
    address: {socket_address: {address: {LISTEN_IP}, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          upgrade_configs: [{upgrade_type: websocket}]
          max_request_headers_kb: 1
          request_headers_timeout: 0.3s
          route_config:
            virtual_hosts:
            - name: backend
              domains: ["*"]
              routes:
              - match: {prefix: /join}
                route: {cluster: dynamic_forward_proxy_cluster}
                typed_per_filter_config:
                  homing.filters.http.affinity:
                    lookup_cluster: resolver
                    lookup_path: /where
                    key: {query_parameter: client_id}
                    allowed_hostports: ["*.server-headless.poc-routing.svc.cluster.local:{PORT}"]
              - match: {prefix: /static}
                route: {cluster: {STATIC}}
              - match: {prefix: /}
                route: {cluster: resolver}
          http_filters:
          - name: homing.filters.http.affinity
          - name: envoy.filters.http.dynamic_forward_proxy
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig
              dns_cache_config: {name: dynamic_forward_proxy_cache, dns_lookup_family: V4_ONLY}
          - name: envoy.filters.http.router
  clusters:
  - name: resolver
    connect_timeout: 0.25s
    type: STRICT_DNS
    dns_lookup_family: V4_ONLY
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: server.poc-routing.svc.cluster.local, port_value: {PORT}}}}
  - name: dynamic_forward_proxy_cluster
    lb_policy: CLUSTER_PROVIDED
    cluster_type:
      name: envoy.clusters.dynamic_forward_proxy
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig
        dns_cache_config: {name: dynamic_forward_proxy_cache, dns_lookup_family: V4_ONLY}
  - name: a
    type: STATIC
    load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.1.236, port_value: {A}}}}}]}]}
  - name: b
    type: STATIC
    load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.1.237, port_value: {B}}}}}]}]}
typed_dns_resolver_config:
  name: envoy.network.dns_resolver.cares
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig
    resolvers: [{socket_address: {address: 127.0.0.1, port_value: {DNS}}}]
)";

// dnsmasq, two homing-servers (the seed's StatefulSet: each resolves and
// owns), two in-process upstreams for the /static route, and the proxy.
struct Seed {
  Dnsmasq dns;
  uint16_t port = FreePort("127.0.1.234");
  std::vector<std::unique_ptr<Process>> servers;
  TestLoop upstream_loop;
  TestUpstream a{upstream_loop, "A", "127.0.1.236"};
  TestUpstream b{upstream_loop, "B", "127.0.1.237"};
  TempFile config{"config.yaml"};
  std::unique_ptr<Process> proxy;
  SocketAddress address;
  SocketAddress admin;

  Seed() {
    REQUIRE(dns.SetRecords({{"server.poc-routing.svc.cluster.local", "127.0.1.234"},
                            {"server.poc-routing.svc.cluster.local", "127.0.1.235"},
                            {OwnerName(0), "127.0.1.234"},
                            {OwnerName(1), "127.0.1.235"},
                            {OwnerName(2), "127.0.1.238"}})
                .ok());
    REQUIRE(dns.Start().ok());
    const std::string members =
        absl::StrCat(OwnerName(0), ":", port, ",", OwnerName(1), ":", port);
    for (int i = 0; i < 2; ++i) {
      servers.push_back(std::make_unique<Process>(std::vector<std::string>{
          Binary("HOMING_SERVER"), "--listen",
          absl::StrCat("127.0.1.23", 4 + i, ":", port), "--members", members,
          "--self", absl::StrCat(i)}));
      servers.back()->StderrUntil(" as member ");
    }
  }

  std::string Config(std::string_view static_cluster = "a",
                     std::string_view listen_ip = "127.0.1.230") const {
    return absl::StrReplaceAll(kConfig, {{"{PORT}", absl::StrCat(port)},
                                         {"{A}", absl::StrCat(a.address.port())},
                                         {"{B}", absl::StrCat(b.address.port())},
                                         {"{DNS}", absl::StrCat(dns.port())},
                                         {"{STATIC}", std::string(static_cluster)},
                                         {"{LISTEN_IP}", std::string(listen_ip)}});
  }

  // Starts homing-proxy on Config() and waits until /ready says LIVE.
  void StartProxy(std::vector<std::string> extra_args = {}) {
    config.Write(Config());
    std::vector<std::string> argv = {Binary("HOMING_PROXY"), "--config", config.path()};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    proxy = std::make_unique<Process>(argv);
    const std::string err = proxy->StderrUntil("homing-proxy started");
    std::smatch match;
    REQUIRE_MESSAGE(std::regex_search(err, match, std::regex("listener_0 listening on (\\S+)")),
                    err);
    address = *SocketAddress::Parse(match[1].str());
    REQUIRE(std::regex_search(err, match, std::regex("admin listening on (\\S+)")));
    admin = *SocketAddress::Parse(match[1].str());
    for (int i = 0; i < 1000 && AdminGet("/ready").status != 200; ++i) usleep(10000);
    REQUIRE(AdminGet("/ready").status == 200);
  }

  HttpResponse Get(std::string_view target) {
    std::optional<HttpResponse> response = Exchange(address, GetRequest(target));
    REQUIRE(response.has_value());
    return *std::move(response);
  }
  HttpResponse AdminGet(std::string_view target) {
    std::optional<HttpResponse> response = Exchange(admin, GetRequest(target));
    REQUIRE(response.has_value());
    return *std::move(response);
  }
  // A counter or gauge from /stats.
  int64_t Stat(const std::string& name) {
    const std::string body = AdminGet("/stats?filter=%5E" + name + "%24").body;
    const size_t colon = body.find(": ");
    REQUIRE_MESSAGE(colon != std::string::npos, name, " not in /stats");
    return std::stoll(body.substr(colon + 2));
  }
};

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

TEST_CASE("homing-proxy runs the seed: /where round robin, /join to the owner") {
  Seed seed;
  seed.StartProxy();
  HttpResponse where = seed.Get("/where?client_id=123");
  CHECK(where.status == 200);
  const std::regex owner_pattern("\"hostport\":\"(server-([01])[^\"]+)\"");
  std::smatch owner;
  REQUIRE_MESSAGE(std::regex_search(where.body, owner, owner_pattern), where.body);
  const int owner_index = std::stoi(owner[2].str());

  HttpResponse join = seed.Get("/join?client_id=123");
  CHECK(join.status == 200);
  CHECK(join.body == absl::StrCat(R"({"assigned":"server-)", owner_index, ":", seed.port,
                                  R"(","client_id":"123","status":"ok"})"));
  // Only the owner logs the join (the seed's verification command 6).
  std::optional<std::string> joined = seed.servers[owner_index]->StdoutLine();
  REQUIRE(joined);
  CHECK(Contains(*joined, absl::StrCat("/join: client_id=123 assigned to server-",
                                       owner_index, ":", seed.port)));

  std::optional<std::string> first = seed.proxy->StdoutLine();
  std::optional<std::string> second = seed.proxy->StdoutLine();
  REQUIRE(first);
  REQUIRE(second);
  CHECK_MESSAGE(std::regex_match(*first,
                                 std::regex("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z "
                                            "\"GET /where\\?client_id=123 HTTP/1.1\" 200 "
                                            "route=backend/2 key=- lookup=- "
                                            "upstream=server.poc-routing.svc.cluster.local:\\d+ "
                                            "addr=127\\.0\\.1\\.23[45]:\\d+ dur_ms=\\d+\\.\\d{3} "
                                            "error=-")),
                *first);
  CHECK_MESSAGE(Contains(*second, absl::StrCat("\"GET /join?client_id=123 HTTP/1.1\" 200 "
                                               "route=backend/0 key=123 lookup=miss upstream=",
                                               owner[1].str(), " addr=127.0.1.23",
                                               4 + owner_index, ":", seed.port)),
                *second);

  // Verification command 7: /stats | grep dynamic_forward_proxy.
  const std::string stats = seed.AdminGet("/stats").body;
  CHECK(Contains(stats, "dns_cache.dynamic_forward_proxy_cache.dns_query_attempt: 1\n"));
  CHECK(Contains(stats, "dns_cache.dynamic_forward_proxy_cache.host_added: 1\n"));
  CHECK(Contains(stats, "http.ingress_http.affinity.cache_miss: 1\n"));

  HttpResponse clusters = seed.AdminGet("/clusters");
  CHECK(Contains(clusters.body, "resolver::membership_total::2\n"));
  HttpResponse json = seed.AdminGet("/clusters?format=json");
  CHECK(json.body.find(R"({"cluster_statuses":[{"name":"resolver")") == 0);
  HttpResponse unknown = seed.AdminGet("/nope");
  CHECK(unknown.status == 404);
  CHECK(unknown.body.find(R"({"error":"not_found")") == 0);
  HttpResponse listing = seed.AdminGet("/");
  CHECK(Contains(listing.body, "/config_dump"));

  // /config_dump holds the loaded config, which loads again.
  const std::string dump = seed.AdminGet("/config_dump").body;
  const std::string prefix =
      R"({"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.BootstrapConfigDump","bootstrap":)";
  REQUIRE(dump.rfind(prefix, 0) == 0);
  const std::string bootstrap = dump.substr(prefix.size(), dump.size() - prefix.size() - 4);
  absl::StatusOr<Bootstrap> reloaded = ParseConfig(bootstrap, "dump");
  REQUIRE_MESSAGE(reloaded.ok(), reloaded.status().ToString());
  CHECK(*reloaded == *ParseConfig(seed.Config(), "config"));

  seed.proxy->Signal(SIGTERM);
  CHECK(seed.proxy->Wait() == 0);
}

TEST_CASE("--check validates and exits") {
  TempFile good("good.yaml");
  Seed seed;
  good.Write(seed.Config());
  Process ok({Binary("HOMING_PROXY"), "--config", good.path(), "--check"});
  CHECK(ok.Wait() == 0);
  CHECK(ok.AllStdout() == "configuration OK\n");

  TempFile bad("bad.yaml");
  bad.Write(absl::StrReplaceAll(seed.Config(), {{"connect_timeout: 0.25s",
                                                 "connect_timeout: 0.25s\n    lb_policy: FOO"}}));
  Process refused({Binary("HOMING_PROXY"), "--config", bad.path(), "--check"});
  CHECK(refused.Wait() == 1);
  const std::string err = refused.AllStderr();
  CHECK_MESSAGE(Contains(err, absl::StrCat("homing-proxy: ", bad.path(),
                                           ": static_resources.clusters[0].lb_policy (line ")),
                err);
  CHECK(Contains(err, R"(): unknown value "FOO")"));
  CHECK(refused.AllStdout().empty());

  TempFile syntax("syntax.yaml");
  syntax.Write("static_resources: [\n");
  Process broken({Binary("HOMING_PROXY"), "--config", syntax.path(), "--check"});
  CHECK(broken.Wait() == 1);
  CHECK(Contains(broken.AllStderr(), absl::StrCat("homing-proxy: ", syntax.path(), ":")));

  Process missing({Binary("HOMING_PROXY"), "--config", "/nonexistent/proxy.yaml", "--check"});
  CHECK(missing.Wait() == 1);
  CHECK(Contains(missing.AllStderr(), "cannot read config file /nonexistent/proxy.yaml"));
}

TEST_CASE("bad arguments exit 2 with the usage") {
  struct Case {
    std::vector<std::string> args;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{}, "--config is required"},
      {{"--config"}, "--config needs a value"},
      {{"--config", "a", "--config=b"}, "--config given twice"},
      {{"--config", "a", "--concurrency", "0"},
       "--concurrency: takes a number from 1 to 256, got \"0\""},
      {{"--config", "a", "--concurrency", "many"}, "--concurrency: takes a number"},
      {{"--config", "a", "--log-level", "loud"}, "--log-level: "},
      {{"--config", "a", "--drain-timeout", "soon"}, "--drain-timeout: invalid duration"},
      {{"--config", "a", "--access-log="}, "--access-log: needs a file, - or off"},
      {{"--config", "a", "--verbose"}, "unknown argument \"--verbose\""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.message);
    std::vector<std::string> argv = {Binary("HOMING_PROXY")};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    Process process(argv);
    CHECK(process.Wait() == 2);
    const std::string err = process.AllStderr();
    CHECK_MESSAGE(Contains(err, c.message), err);
    CHECK(Contains(err, "usage: homing-proxy --config FILE"));
  }
  Process help({Binary("HOMING_PROXY"), "--help"});
  CHECK(help.Wait() == 0);
  CHECK(Contains(help.AllStdout(), "usage: homing-proxy"));
}

TEST_CASE("SIGHUP reloads a good config and keeps the old one on a bad one") {
  Seed seed;
  seed.StartProxy();
  CHECK(seed.Get("/static/x").body == "A GET /static/x");

  seed.config.Write(seed.Config("b"));
  seed.proxy->Signal(SIGHUP);
  seed.proxy->StderrUntil("configuration reloaded");
  CHECK(seed.Get("/static/x").body == "B GET /static/x");
  CHECK(seed.Stat("server.reload_success") == 1);

  seed.config.Write("static_resources: {clusters: [{name: x}]}\n");
  seed.proxy->Signal(SIGHUP);
  std::string err = seed.proxy->StderrUntil("missing required field");
  CHECK(Contains(err, "reload failed, keeping the running configuration: "
                      "static_resources.clusters[0]"));
  CHECK(seed.Get("/static/x").body == "B GET /static/x");

  seed.config.Write(seed.Config("a", "127.0.1.239"));
  seed.proxy->Signal(SIGHUP);
  err = seed.proxy->StderrUntil("which needs a restart");
  CHECK(Contains(err, "listener \"listener_0\" address changes from 127.0.1.230:0 to "
                      "127.0.1.239:0, which needs a restart"));
  CHECK(seed.Get("/static/x").body == "B GET /static/x");
  CHECK(seed.Stat("server.reload_failure") == 2);
  CHECK(seed.Stat("server.reload_success") == 1);
}

TEST_CASE("SIGTERM lets an in-flight request finish, refuses new ones, exits 0") {
  Seed seed;
  seed.StartProxy();
  RawClient in_flight(seed.address);
  REQUIRE(in_flight.Send(GetRequest("/static/wait")));
  for (int i = 0; i < 1000 && seed.a.held() == 0; ++i) usleep(10000);
  REQUIRE(seed.a.held() == 1);

  seed.proxy->Signal(SIGTERM);
  seed.proxy->StderrUntil("SIGTERM: draining");
  CHECK(seed.AdminGet("/ready").body == "DRAINING\n");
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(connect(fd, seed.address.sockaddr_ptr(), seed.address.sockaddr_len()) != 0);
  close(fd);

  seed.a.Release();
  std::optional<HttpResponse> finished = in_flight.ReadResponse();
  REQUIRE(finished);
  CHECK(finished->status == 200);
  CHECK(finished->body == "A released");
  CHECK(seed.proxy->Wait() == 0);
  CHECK(Contains(seed.proxy->AllStderr(), "drained, exiting"));
}

TEST_CASE("malformed, oversized and slow requests get 400, 431 and 408") {
  Seed seed;
  seed.StartProxy();
  std::optional<HttpResponse> malformed = Exchange(seed.address, "GARBAGE\r\n\r\n");
  REQUIRE(malformed);
  CHECK(malformed->status == 400);
  CHECK(malformed->body.find(R"({"error":"bad_request","detail":")") == 0);

  std::optional<HttpResponse> oversized = Exchange(
      seed.address, GetRequest("/where", "x-big: " + std::string(2048, 'x') + "\r\n"));
  REQUIRE(oversized);
  CHECK(oversized->status == 431);
  CHECK(oversized->body.find(R"({"error":"request_header_fields_too_large")") == 0);

  RawClient slow(seed.address);
  REQUIRE(slow.Send("GET /where HTTP/1.1\r\nHost: proxy.test\r\n"));
  std::optional<HttpResponse> timed_out = slow.ReadResponse();
  REQUIRE(timed_out);
  CHECK(timed_out->status == 408);
  CHECK(timed_out->body.find(R"({"error":"request_timeout")") == 0);
  CHECK(seed.Stat("http.ingress_http.downstream_rq_header_timeout") == 1);
}

TEST_CASE("an Upgrade through an affinity route becomes a tunnel to the owner") {
  Seed seed;
  // The owner of this key is an in-process server that answers 101 and echoes.
  TestLoop loop;
  TestUpstream owner(loop, "ws", "127.0.1.238", seed.port);
  seed.StartProxy();
  // server-2 is not a member, so ask the servers for a key they place on
  // server-0 and point server-0's name at the echo server instead.
  REQUIRE(seed.dns.SetRecords({{"server.poc-routing.svc.cluster.local", "127.0.1.234"},
                               {"server.poc-routing.svc.cluster.local", "127.0.1.235"},
                               {OwnerName(0), "127.0.1.238"},
                               {OwnerName(1), "127.0.1.238"}})
              .ok());
  RawClient client(seed.address);
  REQUIRE(client.Send("GET /join/ws?client_id=ws HTTP/1.1\r\nHost: proxy.test\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"));
  std::optional<HttpResponse> switching = client.ReadResponse();
  REQUIRE(switching);
  CHECK(switching->status == 101);
  CHECK(switching->Header("upgrade") == "echo");
  REQUIRE(client.Send("hello through the proxy"));
  CHECK(client.ReadExactly(23) == "hello through the proxy");
  CHECK(owner.requests() == 1);
}

TEST_CASE("--concurrency 2 serves on one address and sums both workers' stats") {
  Seed seed;
  seed.StartProxy({"--concurrency", "2", "--log-level", "info"});
  CHECK(seed.Stat("server.concurrency") == 2);
  constexpr int kRequests = 40;
  for (int i = 0; i < kRequests; ++i) {
    CHECK(seed.Get(absl::StrCat("/static/", i)).status == 200);
  }
  CHECK(seed.Stat("http.ingress_http.downstream_rq_2xx") == kRequests);
  CHECK(seed.Stat("cluster.a.upstream_rq_total") == kRequests);
  CHECK(seed.a.requests() == kRequests);
  CHECK(Contains(seed.AdminGet("/clusters").body,
                 absl::StrCat("a::127.0.1.236:", seed.a.address.port(), "::rq_total::",
                              kRequests, "\n")));
  int lines = 0;
  while (lines < kRequests && seed.proxy->StdoutLine()) ++lines;
  CHECK(lines == kRequests);
}

TEST_CASE("--access-log sends the access log to a file, or nowhere") {
  SUBCASE("a file, appended to; stdout stays empty") {
    Seed seed;
    TempFile log("access.log");
    log.Write("earlier line\n");
    seed.StartProxy({"--access-log", log.path()});
    CHECK(seed.Get("/static/x").status == 200);
    seed.proxy->Signal(SIGTERM);
    CHECK(seed.proxy->Wait() == 0);
    std::ifstream file(log.path());
    std::string first, second;
    REQUIRE(std::getline(file, first));
    REQUIRE(std::getline(file, second));
    CHECK(first == "earlier line");
    CHECK_MESSAGE(Contains(second, "\"GET /static/x HTTP/1.1\" 200 route="), second);
    CHECK(seed.proxy->AllStdout().empty());
  }
  SUBCASE("off") {
    Seed seed;
    seed.StartProxy({"--access-log", "off"});
    CHECK(seed.Get("/static/x").status == 200);
    seed.proxy->Signal(SIGTERM);
    CHECK(seed.proxy->Wait() == 0);
    CHECK(seed.proxy->AllStdout().empty());
  }
  SUBCASE("a file that cannot be opened exits 1 and says why") {
    Seed seed;
    seed.config.Write(seed.Config());
    Process proxy({Binary("HOMING_PROXY"), "--config", seed.config.path(),
                   "--access-log", "/nonexistent/access.log"});
    CHECK(proxy.Wait() == 1);
    CHECK_MESSAGE(Contains(proxy.AllStderr(),
                           "cannot open access log /nonexistent/access.log: "
                           "No such file or directory"),
                  proxy.AllStderr());
  }
}

}  // namespace
}  // namespace homing
