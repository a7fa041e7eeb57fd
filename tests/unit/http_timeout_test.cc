// The HTTP layer on dispatchers other than libuv's: its timeouts in virtual
// time (servers and pools on a ManualDispatcher over real loopback sockets),
// and a server on a host-driven loop (ExternalDispatcher). The clock moves only in AdvanceBy(), so each
// test checks that a timeout has not fired one millisecond before its
// deadline and has fired at it, with no wall-clock wait.

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "homing/external_dispatcher.h"
#include "homing/http_server.h"
#include "homing/http_upstream.h"
#include "homing/manual_dispatcher.h"
#include "homing/stats.h"
#include "http_test_support.h"

namespace homing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Loopback;
using testing::RawClient;
using testing::RawServer;

constexpr milliseconds kOneTick(1);

// True when `fd` has bytes or an end of stream to read.
bool Readable(int fd) {
  pollfd entry{fd, POLLIN, 0};
  return poll(&entry, 1, 0) == 1;
}

class OkHandler : public RequestHandler {
 public:
  void OnRequestHeaders(ServerStream& stream) override {
    stream.SendResponse(200, {}, "ok");
  }
  void OnStreamReset(StreamResetReason) override {}
};

// A server on a ManualDispatcher, with its stats under "t.".
struct VirtualTimeServer {
  explicit VirtualTimeServer(HttpServerOptions options) {
    options.listen_address = Loopback("127.0.1.91");
    StatsScope scope = store.Scope("t.");
    auto created = HttpServer::Create(
        dispatcher, options, [] { return std::make_unique<OkHandler>(); },
        &scope);
    REQUIRE(created.ok());
    server = *std::move(created);
  }

  uint64_t Counter(const std::string& name) {
    return store.Counter("t." + name).value();
  }

  ManualDispatcher dispatcher;  // first: outlives the server
  StatsStore store;
  std::unique_ptr<HttpServer> server;
};

TEST_CASE("server: request_headers_timeout answers 408 exactly at its deadline") {
  HttpServerOptions options;
  options.request_headers_timeout = seconds(5);
  VirtualTimeServer fixture(options);
  RawClient client(fixture.server->local_address());
  REQUIRE(client.Send("GET / HTTP/1.1\r\nhost: a\r\n"));  // head unfinished
  fixture.dispatcher.RunUntilIdle();
  REQUIRE(fixture.server->connection_count() == 1);

  fixture.dispatcher.AdvanceBy(seconds(5) - kOneTick);
  fixture.dispatcher.RunUntilIdle();
  CHECK_FALSE(Readable(client.fd()));
  CHECK(fixture.Counter("downstream_rq_header_timeout") == 0);
  CHECK(fixture.server->connection_count() == 1);

  fixture.dispatcher.AdvanceBy(kOneTick);
  fixture.dispatcher.RunUntilIdle();
  CHECK(fixture.Counter("downstream_rq_header_timeout") == 1);
  CHECK(fixture.server->connection_count() == 0);
  const std::optional<testing::HttpResponse> response = client.ReadResponse();
  REQUIRE(response.has_value());
  CHECK(response->status == 408);
}

TEST_CASE("server: a keep-alive connection closes exactly at idle_timeout") {
  HttpServerOptions options;
  options.idle_timeout = seconds(30);
  VirtualTimeServer fixture(options);
  RawClient client(fixture.server->local_address());
  REQUIRE(client.Send("GET / HTTP/1.1\r\nhost: a\r\n\r\n"));
  fixture.dispatcher.RunUntilIdle();
  const std::optional<testing::HttpResponse> response = client.ReadResponse();
  REQUIRE(response.has_value());
  CHECK(response->status == 200);

  fixture.dispatcher.AdvanceBy(seconds(30) - kOneTick);
  fixture.dispatcher.RunUntilIdle();
  CHECK_FALSE(Readable(client.fd()));
  CHECK(fixture.server->connection_count() == 1);

  fixture.dispatcher.AdvanceBy(kOneTick);
  fixture.dispatcher.RunUntilIdle();
  CHECK(fixture.Counter("downstream_cx_idle_timeout") == 1);
  CHECK(fixture.server->connection_count() == 0);
  CHECK(Readable(client.fd()));  // the close
}

// One exchange with a response timeout; the test decides whether the upstream
// answers.
class TimedExchange : public PoolCallbacks,
                               public UpstreamResponseCallbacks {
 public:
  explicit TimedExchange(Duration response_timeout)
      : response_timeout_(response_timeout) {}

  void OnPoolReady(UpstreamConnection& connection) override {
    UpstreamRequestHead head;
    head.authority = "upstream.test";
    connection.SendRequestHead(head, *this);
    connection.SendRequestEnd();
    connection.SetResponseTimeout(response_timeout_);
  }
  void OnPoolFailure(PoolFailureReason reason, std::string_view) override {
    failure = reason;
  }
  void OnResponseHead(const ResponseHeadView&) override {}
  void OnResponseBody(std::string_view) override {}
  void OnResponseEnd() override {}
  void OnUpstreamReset(UpstreamResetReason reason,
                       bool response_started) override {
    reset = reason;
    reset_after_head = response_started;
  }

  std::unique_ptr<PendingStream> pending;
  std::optional<PoolFailureReason> failure;
  std::optional<UpstreamResetReason> reset;
  bool reset_after_head = false;

 private:
  Duration response_timeout_;
};

TEST_CASE("pool: a response timeout fails the exchange exactly at its deadline") {
  RawServer upstream("127.0.1.92");
  ManualDispatcher dispatcher;
  StatsStore store;
  StatsScope scope = store.Scope("u.");
  std::unique_ptr<UpstreamPools> pools =
      UpstreamPools::Create(dispatcher, {}, &scope);
  TimedExchange exchange(seconds(2));
  exchange.pending = pools->Get(upstream.address).NewStream(exchange);
  dispatcher.RunUntilIdle();  // connected, request sent
  REQUIRE(upstream.Accept() >= 0);
  REQUIRE_FALSE(exchange.failure.has_value());

  dispatcher.AdvanceBy(seconds(2) - kOneTick);
  dispatcher.RunUntilIdle();
  CHECK_FALSE(exchange.reset.has_value());
  CHECK(store.Counter("u.upstream_rq_timeout").value() == 0);

  dispatcher.AdvanceBy(kOneTick);
  dispatcher.RunUntilIdle();
  REQUIRE(exchange.reset.has_value());
  CHECK(*exchange.reset == UpstreamResetReason::kTimeout);
  CHECK_FALSE(exchange.reset_after_head);
  CHECK(store.Counter("u.upstream_rq_timeout").value() == 1);
}

// A listener whose accept queue is full: Linux drops further SYNs, so a
// connection attempt to it stays in progress.
class FullListener {
 public:
  FullListener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    const SocketAddress bind_address = Loopback("127.0.1.94");
    REQUIRE(bind(fd_, bind_address.sockaddr_ptr(),
                 bind_address.sockaddr_len()) == 0);
    REQUIRE(listen(fd_, 0) == 0);
    sockaddr_storage storage{};
    socklen_t length = sizeof(storage);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&storage), &length);
    address =
        *SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage));
    filler_ = std::make_unique<RawClient>(address);  // the one queue slot
  }
  ~FullListener() {
    filler_.reset();
    close(fd_);
  }

  SocketAddress address;

 private:
  int fd_ = -1;
  std::unique_ptr<RawClient> filler_;
};

TEST_CASE("pool: connect_timeout fails a connection attempt exactly at its deadline") {
  FullListener upstream;
  ManualDispatcher dispatcher;
  StatsStore store;
  StatsScope scope = store.Scope("u.");
  ConnectionPoolOptions options;
  options.connect_timeout = seconds(3);
  std::unique_ptr<UpstreamPools> pools =
      UpstreamPools::Create(dispatcher, options, &scope);
  TimedExchange exchange(seconds(60));
  exchange.pending = pools->Get(upstream.address).NewStream(exchange);
  dispatcher.RunUntilIdle();

  dispatcher.AdvanceBy(seconds(3) - kOneTick);
  dispatcher.RunUntilIdle();
  CHECK_FALSE(exchange.failure.has_value());
  CHECK(store.Counter("u.upstream_cx_connect_timeout").value() == 0);

  dispatcher.AdvanceBy(kOneTick);
  dispatcher.RunUntilIdle();
  REQUIRE(exchange.failure.has_value());
  CHECK(*exchange.failure == PoolFailureReason::kTimeout);
  CHECK(store.Counter("u.upstream_cx_connect_timeout").value() == 1);
}

TEST_CASE("pool: an idle connection closes exactly at idle_timeout") {
  HttpServerOptions server_options;
  server_options.listen_address = Loopback("127.0.1.93");
  ManualDispatcher dispatcher;
  StatsStore store;
  StatsScope scope = store.Scope("u.");
  auto upstream = HttpServer::Create(
      dispatcher, server_options, [] { return std::make_unique<OkHandler>(); });
  REQUIRE(upstream.ok());
  ConnectionPoolOptions pool_options;
  pool_options.idle_timeout = seconds(10);
  std::unique_ptr<UpstreamPools> pools =
      UpstreamPools::Create(dispatcher, pool_options, &scope);
  // The response comes at once, so the response timeout never fires.
  TimedExchange exchange(seconds(60));
  exchange.pending =
      pools->Get((*upstream)->local_address()).NewStream(exchange);
  dispatcher.RunUntilIdle();  // both ends on one dispatcher: the exchange ends
  REQUIRE_FALSE(exchange.reset.has_value());
  REQUIRE(store.Gauge("u.upstream_cx_active").value() == 1);

  dispatcher.AdvanceBy(seconds(10) - kOneTick);
  dispatcher.RunUntilIdle();
  CHECK(store.Counter("u.upstream_cx_idle_timeout").value() == 0);
  CHECK(store.Gauge("u.upstream_cx_active").value() == 1);

  dispatcher.AdvanceBy(kOneTick);
  dispatcher.RunUntilIdle();
  CHECK(store.Counter("u.upstream_cx_idle_timeout").value() == 1);
  CHECK(store.Gauge("u.upstream_cx_active").value() == 0);
}

}  // namespace
}  // namespace homing

namespace homing {
namespace {

// A host's loop in miniature: poll(2) over what the dispatcher asked to
// watch, with its timer as the poll timeout.
struct PollHost {
  std::map<int, uint32_t> interest;
  std::optional<Duration> timer;

  ExternalDispatcher::Host Callbacks() {
    ExternalDispatcher::Host host;
    host.watch = [this](int fd, uint32_t events, void**) {
      if (events == 0) {
        interest.erase(fd);
      } else {
        interest[fd] = events;
      }
    };
    host.set_timer = [this](std::optional<Duration> timeout) { timer = timeout; };
    return host;
  }

  void Turn(ExternalDispatcher& dispatcher) {
    std::vector<pollfd> fds;
    for (const auto& [fd, events] : interest) {
      fds.push_back({fd, static_cast<short>(((events & kFdRead) ? POLLIN : 0) |
                                            ((events & kFdWrite) ? POLLOUT : 0)),
                     0});
    }
    const int wait_ms =
        timer ? static_cast<int>(std::chrono::ceil<milliseconds>(*timer).count()) : 50;
    REQUIRE(poll(fds.data(), fds.size(), std::min(wait_ms, 50)) >= 0);
    for (const pollfd& p : fds) {
      const uint32_t ready = ((p.revents & POLLIN) ? kFdRead : 0) |
                             ((p.revents & POLLOUT) ? kFdWrite : 0) |
                             ((p.revents & (POLLERR | POLLHUP)) ? kFdError : 0);
      if (ready != 0) dispatcher.ProcessFd(p.fd, ready);
    }
    if (std::optional<Duration> next = dispatcher.NextTimeout();
        next && *next <= Duration::zero()) {
      dispatcher.ProcessTimers();
    }
  }
};

TEST_CASE("server: an HttpServer runs on a host-driven loop (ExternalDispatcher)") {
  PollHost host;
  auto dispatcher = ExternalDispatcher::Create(host.Callbacks());
  REQUIRE(dispatcher.ok());
  HttpServerOptions options;
  options.listen_address = Loopback("127.0.1.92");
  auto server = HttpServer::Create(**dispatcher, options,
                                   [] { return std::make_unique<OkHandler>(); });
  REQUIRE(server.ok());

  RawClient client((*server)->local_address());
  REQUIRE(client.Send("GET / HTTP/1.1\r\nhost: a\r\n\r\n"));
  for (int turn = 0; turn < 200 && !Readable(client.fd()); ++turn) {
    host.Turn(**dispatcher);
  }
  const std::optional<testing::HttpResponse> response = client.ReadResponse();
  REQUIRE(response.has_value());
  CHECK(response->status == 200);
  CHECK(response->body == "ok");
  server->reset();  // before its dispatcher
}

}  // namespace
}  // namespace homing
