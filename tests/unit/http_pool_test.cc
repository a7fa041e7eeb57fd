// Tests for UpstreamPools / ConnectionPool / UpstreamConnection against real
// upstreams on 127.0.1.x: an HttpServer for well-behaved ones, raw sockets
// for misbehaving ones.

#include "homing/http_upstream.h"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>

#include "homing/http_server.h"
#include "homing/stats.h"
#include "http_test_support.h"

namespace homing {
namespace {

using testing::Loopback;
using testing::RawServer;
using testing::TestLoop;

// Upstream behaviour by path: /hold waits for the test, /close answers with
// Connection: close, /chunked streams a chunked body, anything else answers
// "ok <path>".
class UpstreamHandler : public RequestHandler {
 public:
  explicit UpstreamHandler(ServerStream** held) : held_(held) {}
  void OnRequestHeaders(ServerStream& stream) override {
    const std::string path(stream.request().path);
    if (path == "/hold") {
      *held_ = &stream;
    } else if (path == "/close") {
      const HttpHeader headers[] = {{"connection", "close"}};
      stream.SendResponse(200, headers, "bye");
    } else if (path == "/chunked") {
      stream.SendResponseHead(200, {});
      stream.SendResponseBody("part1,");
      stream.SendResponseBody("part2");
      stream.SendResponseEnd();
    } else {
      stream.SendResponse(200, {}, "ok " + path);
    }
  }
  void OnStreamReset(StreamResetReason) override { *held_ = nullptr; }

 private:
  ServerStream** held_;
};

// One request through a pool, recording everything.
class Exchange : public PoolCallbacks, public UpstreamResponseCallbacks {
 public:
  explicit Exchange(std::string path = "/", std::string method = "GET")
      : path_(std::move(path)), method_(std::move(method)) {}

  void Start(ConnectionPool& pool) { pending = pool.NewStream(*this); }

  void OnPoolReady(UpstreamConnection& connection) override {
    ready = true;
    reused = connection.reused();
    this->connection = &connection;
    UpstreamRequestHead head;
    head.method = method_;
    head.path = path_;
    head.authority = "upstream.test";
    connection.SendRequestHead(head, *this);
    connection.SendRequestEnd();
  }
  void OnPoolFailure(PoolFailureReason reason,
                     std::string_view detail) override {
    failure = reason;
    failure_detail = std::string(detail);
  }
  void OnResponseHead(const ResponseHeadView& head) override {
    status = head.status;
  }
  void OnResponseBody(std::string_view data) override { body.append(data); }
  void OnResponseEnd() override {
    ended = true;
    connection = nullptr;
  }
  void OnUpstreamReset(UpstreamResetReason reason,
                       bool response_started) override {
    reset = reason;
    reset_after_head = response_started;
    connection = nullptr;
  }

  bool finished() const {
    return ended || reset.has_value() || failure.has_value();
  }

  std::unique_ptr<PendingStream> pending;
  UpstreamConnection* connection = nullptr;
  bool ready = false;
  bool reused = false;
  std::optional<PoolFailureReason> failure;
  std::string failure_detail;
  int status = 0;
  std::string body;
  bool ended = false;
  std::optional<UpstreamResetReason> reset;
  bool reset_after_head = false;

 private:
  std::string path_;
  std::string method_;
};

class PoolFixture {
 public:
  explicit PoolFixture(ConnectionPoolOptions pool_options = {},
                       HttpServerOptions server_options = {}) {
    server_options.listen_address = Loopback("127.0.1.20");
    loop.Run([&] {
      StatsScope upstream_scope = store.Scope("upstream.");
      auto server = HttpServer::Create(
          loop.dispatcher(), server_options,
          [this] { return std::make_unique<UpstreamHandler>(&held); },
          &upstream_scope);
      REQUIRE(server.ok());
      server_ = *std::move(server);
      StatsScope scope = store.Scope("cluster.test.");
      pools = UpstreamPools::Create(loop.dispatcher(), pool_options, &scope);
    });
    address = server_->local_address();
  }
  ~PoolFixture() {
    loop.Run([&] {
      pools.reset();
      server_.reset();
    });
  }

  ConnectionPool& pool() { return pools->Get(address); }

  // Runs `exchange` to its end.
  void Complete(Exchange& exchange) {
    loop.Run([&] { exchange.Start(pool()); });
    REQUIRE(loop.WaitFor([&] { return exchange.finished(); }));
  }

  uint64_t Counter(const std::string& name) {
    return store.Counter(name).value();
  }

  TestLoop loop;
  StatsStore store;
  std::unique_ptr<UpstreamPools> pools;
  ServerStream* held = nullptr;
  SocketAddress address;

 private:
  std::unique_ptr<HttpServer> server_;
};

TEST_CASE("a keep-alive connection is reused for the next exchange") {
  PoolFixture fixture;
  Exchange first("/a");
  fixture.Complete(first);
  CHECK(first.status == 200);
  CHECK(first.body == "ok /a");
  CHECK_FALSE(first.reused);
  fixture.loop.Run([&] { CHECK(fixture.pool().idle_count() == 1); });
  Exchange second("/b");
  fixture.Complete(second);
  CHECK(second.body == "ok /b");
  CHECK(second.reused);
  CHECK(fixture.Counter("cluster.test.upstream_cx_total") == 1);
  CHECK(fixture.Counter("cluster.test.upstream_rq_total") == 2);
  CHECK(fixture.Counter("cluster.test.upstream_rq_2xx") == 2);
  CHECK(fixture.Counter("upstream.downstream_cx_total") == 1);
  fixture.loop.Run([&] { CHECK(fixture.pools->pool_count() == 1); });
}

TEST_CASE("a chunked response is decoded") {
  PoolFixture fixture;
  Exchange exchange("/chunked");
  fixture.Complete(exchange);
  CHECK(exchange.ended);
  CHECK(exchange.body == "part1,part2");
}

TEST_CASE("a connection the upstream asked to close is not reused") {
  PoolFixture fixture;
  Exchange first("/close");
  fixture.Complete(first);
  CHECK(first.body == "bye");
  fixture.loop.Run([&] { CHECK(fixture.pool().idle_count() == 0); });
  Exchange second("/again");
  fixture.Complete(second);
  CHECK(second.body == "ok /again");
  CHECK_FALSE(second.reused);
  CHECK(fixture.Counter("cluster.test.upstream_cx_total") == 2);
}

TEST_CASE("a refused connection fails the request with connect_failure") {
  TestLoop loop;
  StatsStore store;
  // A port nobody listens on: bound, then released.
  SocketAddress closed_port;
  {
    RawServer probe("127.0.1.21");
    closed_port = probe.address;
  }
  std::unique_ptr<UpstreamPools> pools;
  Exchange exchange;
  loop.Run([&] {
    StatsScope scope = store.Scope("c.");
    pools = UpstreamPools::Create(loop.dispatcher(), {}, &scope);
    exchange.Start(pools->Get(closed_port));
  });
  REQUIRE(loop.WaitFor([&] { return exchange.finished(); }));
  REQUIRE(exchange.failure);
  CHECK(*exchange.failure == PoolFailureReason::kConnectFailure);
  CHECK(exchange.failure_detail == "connection refused");
  CHECK(store.Counter("c.upstream_cx_connect_fail").value() == 1);
  loop.Run([&] {
    CHECK(pools->Get(closed_port).connection_count() == 0);
    pools.reset();
  });
}

TEST_CASE("a connection attempt that hangs fails with the connect timeout") {
  // A listener whose accept queue is full drops further SYNs, so a connect
  // to it stays pending.
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const SocketAddress bind_address = Loopback("127.0.1.22");
  REQUIRE(bind(listener, bind_address.sockaddr_ptr(),
               bind_address.sockaddr_len()) == 0);
  REQUIRE(listen(listener, 0) == 0);
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  getsockname(listener, reinterpret_cast<sockaddr*>(&storage), &length);
  const SocketAddress full =
      *SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage));
  std::vector<int> fillers;
  for (int i = 0; i < 3; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    connect(fd, full.sockaddr_ptr(), full.sockaddr_len());
    fillers.push_back(fd);
  }

  TestLoop loop;
  StatsStore store;
  std::unique_ptr<UpstreamPools> pools;
  Exchange exchange;
  loop.Run([&] {
    ConnectionPoolOptions options;
    options.connect_timeout = std::chrono::milliseconds(100);
    StatsScope scope = store.Scope("c.");
    pools = UpstreamPools::Create(loop.dispatcher(), options, &scope);
    exchange.Start(pools->Get(full));
  });
  REQUIRE(loop.WaitFor([&] { return exchange.finished(); }));
  REQUIRE(exchange.failure);
  CHECK(*exchange.failure == PoolFailureReason::kTimeout);
  CHECK(exchange.failure_detail == "connect timeout");
  CHECK(store.Counter("c.upstream_cx_connect_timeout").value() == 1);
  CHECK(store.Counter("c.upstream_cx_connect_fail").value() == 1);
  loop.Run([&] { pools.reset(); });
  for (int fd : fillers) close(fd);
  close(listener);
}

TEST_CASE("requests beyond max_connections wait, beyond max_pending overflow") {
  ConnectionPoolOptions options;
  options.max_connections = 1;
  options.max_pending_requests = 1;
  PoolFixture fixture(options);
  Exchange holder("/hold");
  Exchange waiter("/next");
  Exchange overflow("/over");
  fixture.loop.Run([&] { holder.Start(fixture.pool()); });
  REQUIRE(fixture.loop.WaitFor([&] { return fixture.held != nullptr; }));
  fixture.loop.Run([&] {
    waiter.Start(fixture.pool());
    CHECK(waiter.pending != nullptr);
    CHECK(fixture.pool().pending_count() == 1);
    overflow.Start(fixture.pool());
    CHECK(overflow.pending == nullptr);
    REQUIRE(overflow.failure);
    CHECK(*overflow.failure == PoolFailureReason::kOverflow);
    CHECK(fixture.pool().connection_count() == 1);
    fixture.held->SendResponse(200, {}, "held");
  });
  REQUIRE(fixture.loop.WaitFor([&] { return waiter.finished(); }));
  CHECK(holder.body == "held");
  CHECK(waiter.body == "ok /next");
  CHECK(waiter.reused);
  CHECK(fixture.Counter("cluster.test.upstream_rq_pending_overflow") == 1);
  CHECK(fixture.Counter("cluster.test.upstream_cx_total") == 1);
}

TEST_CASE("cancelling a waiting request means no callback") {
  ConnectionPoolOptions options;
  options.max_connections = 1;
  PoolFixture fixture(options);
  Exchange holder("/hold");
  Exchange cancelled("/never");
  fixture.loop.Run([&] { holder.Start(fixture.pool()); });
  REQUIRE(fixture.loop.WaitFor([&] { return fixture.held != nullptr; }));
  fixture.loop.Run([&] {
    cancelled.Start(fixture.pool());
    cancelled.pending.reset();
    CHECK(fixture.pool().pending_count() == 0);
    fixture.held->SendResponse(200, {}, "done");
  });
  REQUIRE(fixture.loop.WaitFor([&] { return holder.finished(); }));
  fixture.loop.Run([&] {
    CHECK_FALSE(cancelled.ready);
    CHECK(fixture.pool().idle_count() == 1);
  });
}

TEST_CASE("a connection that failed is never reused") {
  PoolFixture fixture;
  Exchange failed("/hold");
  fixture.loop.Run([&] { failed.Start(fixture.pool()); });
  REQUIRE(fixture.loop.WaitFor([&] { return fixture.held != nullptr; }));
  fixture.loop.Run([&] { fixture.held->Reset(); });
  REQUIRE(fixture.loop.WaitFor([&] { return failed.finished(); }));
  REQUIRE(failed.reset);
  CHECK(*failed.reset == UpstreamResetReason::kConnectionClosed);
  CHECK_FALSE(failed.reset_after_head);
  Exchange next("/next");
  fixture.Complete(next);
  CHECK(next.body == "ok /next");
  CHECK_FALSE(next.reused);
  CHECK(fixture.Counter("cluster.test.upstream_cx_total") == 2);
}

TEST_CASE("an idle connection closed by the upstream is dropped") {
  HttpServerOptions server_options;
  server_options.idle_timeout = std::chrono::milliseconds(50);
  PoolFixture fixture({}, server_options);
  Exchange first("/a");
  fixture.Complete(first);
  REQUIRE(fixture.loop.WaitFor(
      [&] { return fixture.pool().connection_count() == 0; }));
  CHECK(fixture.Counter("cluster.test.upstream_cx_destroy_remote") == 1);
  Exchange second("/b");
  fixture.Complete(second);
  CHECK(second.body == "ok /b");
  CHECK_FALSE(second.reused);
}

TEST_CASE("idle connections are closed after the pool's idle timeout") {
  ConnectionPoolOptions options;
  options.idle_timeout = std::chrono::milliseconds(50);
  PoolFixture fixture(options);
  Exchange first("/a");
  fixture.Complete(first);
  REQUIRE(fixture.loop.WaitFor(
      [&] { return fixture.pool().connection_count() == 0; }));
  CHECK(fixture.Counter("cluster.test.upstream_cx_idle_timeout") == 1);
}

TEST_CASE("Drain stops reusing the pool's connections") {
  PoolFixture fixture;
  Exchange first("/a");
  fixture.Complete(first);
  Exchange busy("/hold");
  fixture.loop.Run([&] {
    fixture.pools->Get(fixture.address);  // same pool
    busy.Start(fixture.pool());
    CHECK(busy.reused);
  });
  REQUIRE(fixture.loop.WaitFor([&] { return fixture.held != nullptr; }));
  fixture.loop.Run([&] {
    fixture.pools->Drain(fixture.address);
    fixture.held->SendResponse(200, {}, "after drain");
  });
  REQUIRE(fixture.loop.WaitFor([&] { return busy.finished(); }));
  CHECK(busy.body == "after drain");
  fixture.loop.Run([&] { CHECK(fixture.pool().connection_count() == 0); });
  Exchange next("/b");
  fixture.Complete(next);
  CHECK_FALSE(next.reused);
  CHECK(fixture.Counter("cluster.test.upstream_cx_total") == 2);
}

TEST_CASE("the response timeout fails a slow exchange") {
  PoolFixture fixture;
  Exchange slow("/hold");
  fixture.loop.Run([&] { slow.Start(fixture.pool()); });
  REQUIRE(fixture.loop.WaitFor([&] { return slow.connection != nullptr; }));
  fixture.loop.Run([&] {
    slow.connection->SetResponseTimeout(std::chrono::milliseconds(50));
  });
  REQUIRE(fixture.loop.WaitFor([&] { return slow.finished(); }));
  REQUIRE(slow.reset);
  CHECK(*slow.reset == UpstreamResetReason::kTimeout);
  CHECK(fixture.Counter("cluster.test.upstream_rq_timeout") == 1);
}

TEST_CASE("an upstream that resets mid-response fails the exchange") {
  RawServer upstream;
  upstream.Run([](RawServer& server) {
    const int fd = server.Accept();
    RawServer::ReadHead(fd);
    RawServer::SendAll(fd,
                       "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    server.Close(fd);
  });
  TestLoop loop;
  std::unique_ptr<UpstreamPools> pools;
  Exchange exchange;
  loop.Run([&] {
    pools = UpstreamPools::Create(loop.dispatcher(), {});
    exchange.Start(pools->Get(upstream.address));
  });
  REQUIRE(loop.WaitFor([&] { return exchange.finished(); }));
  CHECK(exchange.status == 200);
  CHECK(exchange.body == "0123456789");
  REQUIRE(exchange.reset);
  CHECK(*exchange.reset == UpstreamResetReason::kConnectionClosed);
  CHECK(exchange.reset_after_head);
  loop.Run([&] { pools.reset(); });
}

TEST_CASE("interim responses are skipped and a close-delimited body ends") {
  RawServer upstream;
  upstream.Run([](RawServer& server) {
    const int fd = server.Accept();
    RawServer::ReadHead(fd);
    RawServer::SendAll(fd,
                       "HTTP/1.1 100 Continue\r\n\r\n"
                       "HTTP/1.0 200 OK\r\nx-a: b\r\n\r\nuntil close");
    server.Close(fd);
  });
  TestLoop loop;
  std::unique_ptr<UpstreamPools> pools;
  Exchange exchange;
  loop.Run([&] {
    pools = UpstreamPools::Create(loop.dispatcher(), {});
    exchange.Start(pools->Get(upstream.address));
  });
  REQUIRE(loop.WaitFor([&] { return exchange.finished(); }));
  CHECK(exchange.status == 200);
  CHECK(exchange.ended);
  CHECK(exchange.body == "until close");
  loop.Run([&] {
    CHECK(pools->Get(upstream.address).connection_count() == 0);
    pools.reset();
  });
}

TEST_CASE("a HEAD response has no body and the connection is reused") {
  PoolFixture fixture;
  Exchange head("/h", "HEAD");
  fixture.Complete(head);
  CHECK(head.ended);
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  Exchange next("/n");
  fixture.Complete(next);
  CHECK(next.reused);
  CHECK(next.body == "ok /n");
}

TEST_CASE("a malformed response is a protocol error") {
  RawServer upstream;
  upstream.Run([](RawServer& server) {
    const int fd = server.Accept();
    RawServer::ReadHead(fd);
    RawServer::SendAll(fd, "HTTP/1.1 abc nonsense\r\n\r\n");
  });
  TestLoop loop;
  StatsStore store;
  std::unique_ptr<UpstreamPools> pools;
  Exchange exchange;
  loop.Run([&] {
    StatsScope scope = store.Scope("c.");
    pools = UpstreamPools::Create(loop.dispatcher(), {}, &scope);
    exchange.Start(pools->Get(upstream.address));
  });
  REQUIRE(loop.WaitFor([&] { return exchange.finished(); }));
  REQUIRE(exchange.reset);
  CHECK(*exchange.reset == UpstreamResetReason::kProtocolError);
  CHECK(store.Counter("c.upstream_cx_protocol_error").value() == 1);
  loop.Run([&] { pools.reset(); });
}

TEST_CASE("destroying the pools fails waiting requests and open exchanges") {
  ConnectionPoolOptions options;
  options.max_connections = 1;
  auto fixture = std::make_unique<PoolFixture>(options);
  Exchange holder("/hold");
  Exchange waiter("/w");
  fixture->loop.Run([&] { holder.Start(fixture->pool()); });
  REQUIRE(fixture->loop.WaitFor([&] { return fixture->held != nullptr; }));
  fixture->loop.Run([&] {
    waiter.Start(fixture->pool());
    fixture->pools.reset();
    REQUIRE(holder.reset);
    CHECK(*holder.reset == UpstreamResetReason::kConnectionClosed);
    REQUIRE(waiter.failure);
    CHECK(waiter.failure_detail == "connection pool destroyed");
  });
}

}  // namespace
}  // namespace homing

namespace homing {
namespace {

TEST_CASE("only a reused connection closed before any response is a keep-alive race") {
  using Reason = UpstreamResetReason;
  CHECK(IsKeepAliveRace(true, Reason::kConnectionClosed, false));
  CHECK(IsKeepAliveRace(true, Reason::kWriteError, false));
  // The upstream got the request: it may be working on it, or answered.
  CHECK_FALSE(IsKeepAliveRace(true, Reason::kTimeout, false));
  CHECK_FALSE(IsKeepAliveRace(true, Reason::kProtocolError, false));
  CHECK_FALSE(IsKeepAliveRace(true, Reason::kConnectionClosed, true));
  // A fresh connection that fails says something about the upstream.
  CHECK_FALSE(IsKeepAliveRace(false, Reason::kConnectionClosed, false));
}

}  // namespace
}  // namespace homing
