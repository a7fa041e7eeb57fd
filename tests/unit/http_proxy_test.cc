// Tests for ProxyStream: a client (raw socket) → a proxy (HttpServer whose
// handler forwards with a ProxyStream through UpstreamPools) → an upstream
// (HttpServer, or a raw socket for misbehaving ones), all on 127.0.1.x.

#include "homing/http_proxy.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <atomic>
#include <cctype>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "homing/http_server.h"
#include "homing/http_upstream.h"
#include "homing/stats.h"
#include "http_test_support.h"

namespace homing {
namespace {

using testing::Get;
using testing::HttpResponse;
using testing::Loopback;
using testing::PatternBody;
using testing::RawClient;
using testing::RawServer;
using testing::TestLoop;

// The upstream: by path
//   /headers  answers with the request head it received, one header a line
//   /echo     streams the body back, with backpressure
//   /421      421 Misdirected Request from A (after the body)
//   /hold     never answers
//   /ws       101, then echoes tunnel bytes upper-cased
//   anything  "<name> <method> <path> body=<body>" after the body
class UpstreamHandler : public RequestHandler {
 public:
  UpstreamHandler(std::string name, int* resets)
      : name_(std::move(name)), resets_(resets) {}

  void OnRequestHeaders(ServerStream& stream) override {
    stream_ = &stream;
    body_.clear();
    const RequestView& request = stream.request();
    path_ = std::string(request.path);
    if (path_ == "/headers") {
      std::string text = "host=" + std::string(request.authority) + "\n";
      for (const HttpHeader& header : request.headers) {
        text += std::string(header.name) + ": " + std::string(header.value) +
                "\n";
      }
      stream.SendResponse(200, {}, text);
    } else if (path_ == "/echo") {
      stream.SendResponseHead(200, {});
    } else if (path_ == "/ws") {
      const HttpHeader headers[] = {{"upgrade", "shout"}};
      stream.SendResponseHead(101, headers);
    }
  }
  void OnRequestBody(std::string_view data) override {
    if (path_ == "/echo") {
      stream_->SendResponseBody(data);
    } else if (path_ == "/ws") {
      std::string upper(data);
      for (char& c : upper) c = static_cast<char>(std::toupper(c));
      stream_->SendResponseBody(upper);
    } else {
      body_.append(data);
    }
  }
  void OnRequestEnd() override {
    if (path_ == "/echo" || path_ == "/ws") {
      stream_->SendResponseEnd();
    } else if (path_ == "/421" && name_ == "A") {
      stream_->SendLocalReply(421, "misdirected", name_);
    } else if (path_ != "/hold" && path_ != "/headers") {
      stream_->SendResponse(200, {},
                            name_ + " " + std::string(stream_->request().method) +
                                " " + path_ + " body=" + body_);
    }
  }
  void OnStreamReset(StreamResetReason) override { ++*resets_; }
  void OnWriteBufferHigh() override { stream_->ReadDisable(); }
  void OnWriteBufferLow() override { stream_->ReadEnable(); }

 private:
  std::string name_;
  int* resets_;
  ServerStream* stream_ = nullptr;
  std::string path_;
  std::string body_;
};

// What the proxy's handlers share (loop thread only).
struct Router {
  UpstreamPools* pools = nullptr;
  SocketAddress target;
  std::optional<SocketAddress> retry_target;  // for a 421
  std::optional<SocketAddress> failover;      // after a connect failure
  std::vector<HttpHeader> extra_headers;
  std::string authority = "backend.test:8081";
  ProxyOptions options;
  std::vector<ProxyOutcome> outcomes;
  std::vector<bool> replayable_at_head;
};

class ProxyHandler : public RequestHandler, public ProxyCallbacks {
 public:
  explicit ProxyHandler(Router& router) : router_(router) {}

  void OnRequestHeaders(ServerStream& stream) override {
    retried_ = false;
    failed_over_ = false;
    proxy_.emplace(stream, *this, router_.options);
    proxy_->Start(router_.pools->Get(router_.target),
                  {.authority = router_.authority,
                   .extra_headers = router_.extra_headers});
  }

  ProxyHeadAction OnResponseHead(ProxyStream& proxy,
                                 const ResponseHeadView& head) override {
    router_.replayable_at_head.push_back(proxy.replayable());
    if (head.status == 421 && router_.retry_target && !retried_) {
      retried_ = true;
      if (proxy.Retry(router_.pools->Get(*router_.retry_target),
                      {.authority = "retry.test"})) {
        return ProxyHeadAction::kIntercept;
      }
    }
    return ProxyHeadAction::kForward;
  }

  void OnProxyComplete(ProxyStream& proxy,
                       const ProxyOutcome& outcome) override {
    router_.outcomes.push_back(outcome);
    if (outcome.result == ProxyResult::kConnectFailure && router_.failover &&
        !failed_over_) {
      failed_over_ = true;
      if (proxy.Retry(router_.pools->Get(*router_.failover),
                      {.authority = "failover.test"})) {
        return;
      }
    }
    proxy_.reset();
  }

 private:
  Router& router_;
  std::optional<ProxyStream> proxy_;
  bool retried_ = false;
  bool failed_over_ = false;
};

struct FixtureOptions {
  HttpServerOptions proxy;
  ConnectionPoolOptions pool;
  HttpServerOptions upstream;
  ProxyOptions proxy_stream;
};

class ProxyFixture {
 public:
  explicit ProxyFixture(const FixtureOptions& options = {}) {
    loop.Run([&] {
      upstream_a_ = StartUpstream("A", "127.0.1.31", options.upstream);
      upstream_b_ = StartUpstream("B", "127.0.1.32", options.upstream);
      StatsScope pool_scope = store.Scope("cluster.");
      pools = UpstreamPools::Create(loop.dispatcher(), options.pool, &pool_scope);
      router.pools = pools.get();
      router.target = upstream_a_->local_address();
      router.options = options.proxy_stream;
      HttpServerOptions proxy_options = options.proxy;
      proxy_options.listen_address = Loopback("127.0.1.30");
      StatsScope proxy_scope = store.Scope("proxy.");
      auto proxy = HttpServer::Create(
          loop.dispatcher(), proxy_options,
          [this] { return std::make_unique<ProxyHandler>(router); },
          &proxy_scope);
      REQUIRE(proxy.ok());
      proxy_ = *std::move(proxy);
    });
    address = proxy_->local_address();
    upstream_a = upstream_a_->local_address();
    upstream_b = upstream_b_->local_address();
  }
  ~ProxyFixture() {
    loop.Run([&] {
      proxy_.reset();
      pools.reset();
      upstream_a_.reset();
      upstream_b_.reset();
    });
  }

  uint64_t Counter(const std::string& name) {
    return store.Counter(name).value();
  }
  std::vector<ProxyOutcome> Outcomes() {
    std::vector<ProxyOutcome> outcomes;
    loop.Run([&] { outcomes = router.outcomes; });
    return outcomes;
  }
  HttpServer& proxy() { return *proxy_; }

  TestLoop loop;
  StatsStore store;
  Router router;
  std::unique_ptr<UpstreamPools> pools;
  SocketAddress address;
  SocketAddress upstream_a;
  SocketAddress upstream_b;
  int upstream_resets = 0;

 private:
  std::unique_ptr<HttpServer> StartUpstream(const std::string& name,
                                            std::string_view ip,
                                            HttpServerOptions options) {
    options.listen_address = Loopback(ip);
    StatsScope scope = store.Scope("upstream_" + name + ".");
    auto server = HttpServer::Create(
        loop.dispatcher(), options,
        [this, name] {
          return std::make_unique<UpstreamHandler>(name, &upstream_resets);
        },
        &scope);
    REQUIRE(server.ok());
    return *std::move(server);
  }

  std::unique_ptr<HttpServer> upstream_a_;
  std::unique_ptr<HttpServer> upstream_b_;
  std::unique_ptr<HttpServer> proxy_;
};

std::string LocalIp(const RawClient& client) {
  sockaddr_in local{};
  socklen_t length = sizeof(local);
  getsockname(client.fd(), reinterpret_cast<sockaddr*>(&local), &length);
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &local.sin_addr, text, sizeof(text));
  return text;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

bool HasLine(const std::string& text, const std::string& line) {
  for (const std::string& l : Lines(text)) {
    if (l == line) return true;
  }
  return false;
}

bool HasLinePrefix(const std::string& text, const std::string& prefix) {
  for (const std::string& l : Lines(text)) {
    if (l.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

TEST_CASE("a request is forwarded with the rewritten authority") {
  ProxyFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/plain?q=1")));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 200);
  CHECK(response->body == "A GET /plain?q=1 body=");
  auto outcomes = fixture.Outcomes();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].result == ProxyResult::kSuccess);
  CHECK(outcomes[0].status == 200);
  CHECK_FALSE(outcomes[0].local_reply_sent);
}

TEST_CASE("hop-by-hop headers stay behind; x-forwarded-for and x-request-id") {
  ProxyFixture fixture;
  fixture.loop.Run([&] {
    fixture.router.extra_headers = {{"x-routed-by", "homing"}};
  });
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/headers",
                          "Connection: keep-alive, x-secret\r\n"
                          "x-secret: s\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
                          "Proxy-Connection: keep-alive\r\nUpgrade: nope\r\n"
                          "x-visible: v\r\nx-forwarded-for: 10.0.0.1\r\n")));
  auto response = client.ReadResponse();
  REQUIRE(response);
  const std::string& seen = response->body;
  CAPTURE(seen);
  CHECK(HasLine(seen, "host=backend.test:8081"));
  CHECK(HasLine(seen, "x-visible: v"));
  CHECK(HasLine(seen, "x-routed-by: homing"));
  CHECK(HasLine(seen, "x-forwarded-for: 10.0.0.1, " + LocalIp(client)));
  CHECK(HasLinePrefix(seen, "x-request-id: "));
  for (const char* name : {"connection", "x-secret", "keep-alive", "te",
                           "proxy-connection", "upgrade"}) {
    CAPTURE(name);
    CHECK_FALSE(HasLinePrefix(seen, std::string(name) + ":"));
  }
  for (const std::string& line : Lines(seen)) {
    if (line.rfind("x-request-id: ", 0) == 0) CHECK(line.size() == 14 + 36);
  }

  REQUIRE(client.Send(Get("/headers", "x-request-id: mine\r\n")));
  auto second = client.ReadResponse();
  REQUIRE(second);
  CHECK(HasLine(second->body, "x-request-id: mine"));
  CHECK(HasLine(second->body, "x-forwarded-for: " + LocalIp(client)));
}

TEST_CASE("hop-by-hop headers of the upstream's response stay behind") {
  RawServer upstream("127.0.1.33");
  upstream.Run([](RawServer& server) {
    const int fd = server.Accept();
    RawServer::ReadHead(fd);
    RawServer::SendAll(fd,
                       "HTTP/1.1 200 OK\r\nConnection: x-priv\r\nx-priv: 1\r\n"
                       "Keep-Alive: timeout=5\r\nx-pub: 2\r\n"
                       "Content-Length: 2\r\n\r\nok");
  });
  ProxyFixture fixture;
  fixture.loop.Run([&] { fixture.router.target = upstream.address; });
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/")));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->body == "ok");
  CHECK(response->Header("x-pub") == "2");
  CHECK_FALSE(response->HasHeader("x-priv"));
  CHECK_FALSE(response->HasHeader("keep-alive"));
  CHECK_FALSE(response->HasHeader("connection"));
}

TEST_CASE("upstream connections are reused across client requests") {
  ProxyFixture fixture;
  RawClient client(fixture.address);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(client.Send(Get("/r" + std::to_string(i))));
    auto response = client.ReadResponse();
    REQUIRE(response);
    CHECK(response->body == "A GET /r" + std::to_string(i) + " body=");
  }
  RawClient other(fixture.address);
  REQUIRE(other.Send(Get("/other")));
  REQUIRE(other.ReadResponse());
  CHECK(fixture.Counter("cluster.upstream_cx_total") == 1);
  CHECK(fixture.Counter("upstream_A.downstream_cx_total") == 1);
  CHECK(fixture.Counter("cluster.upstream_rq_total") == 4);
}

TEST_CASE("fixed and chunked request bodies are forwarded") {
  ProxyFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(
      "POST /fixed HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"));
  auto fixed = client.ReadResponse();
  REQUIRE(fixed);
  CHECK(fixed->body == "A POST /fixed body=hello");
  REQUIRE(client.Send(
      "POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"));
  auto chunked = client.ReadResponse();
  REQUIRE(chunked);
  CHECK(chunked->body == "A POST /chunked body=abcdefg");
}

TEST_CASE("a large body streams both ways with backpressure") {
  FixtureOptions options;
  options.proxy.write_buffer_high_watermark = 64 * 1024;
  options.proxy.write_buffer_low_watermark = 16 * 1024;
  options.pool.write_buffer_high_watermark = 64 * 1024;
  options.pool.write_buffer_low_watermark = 16 * 1024;
  options.upstream.write_buffer_high_watermark = 64 * 1024;
  options.upstream.write_buffer_low_watermark = 16 * 1024;
  ProxyFixture fixture(options);
  RawClient client(fixture.address);
  const std::string body = PatternBody(48 << 20);
  std::atomic<bool> sent{false};
  std::thread sender([&] {
    sent = client.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body);
  });
  // The client reads nothing until the proxy has stopped reading both the
  // upstream (the client is slow) and the client (the upstream is full).
  REQUIRE(fixture.loop.WaitFor([&] {
    return (fixture.Counter("cluster.upstream_flow_control_paused_reading_total") >
                0 &&
            fixture.Counter("proxy.downstream_flow_control_paused_reading_total") >
                0) ||
           sent;
  }));
  CHECK(fixture.Counter("cluster.upstream_flow_control_paused_reading_total") >
        0);
  CHECK(fixture.Counter("proxy.downstream_flow_control_paused_reading_total") >
        0);
  auto response = client.ReadResponse();
  sender.join();
  REQUIRE(response);
  CHECK(response->status == 200);
  CHECK(response->body.size() == body.size());
  CHECK(response->body == body);
  auto outcomes = fixture.Outcomes();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].result == ProxyResult::kSuccess);
}

TEST_CASE("a refused upstream gets 503 upstream_connect_failure") {
  SocketAddress closed_port;
  {
    RawServer probe("127.0.1.34");
    closed_port = probe.address;
  }
  ProxyFixture fixture;
  fixture.loop.Run([&] { fixture.router.target = closed_port; });
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/x")));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 503);
  CHECK(response->body == R"({"error":"upstream_connect_failure","detail":")" +
                              closed_port.ToString() +
                              R"(: connection refused"})");
  auto outcomes = fixture.Outcomes();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].result == ProxyResult::kConnectFailure);
  CHECK(outcomes[0].local_reply_sent);
  // The client connection is still usable.
  fixture.loop.Run([&] { fixture.router.target = fixture.upstream_a; });
  REQUIRE(client.Send(Get("/y")));
  CHECK(client.ReadResponse()->body == "A GET /y body=");
}

TEST_CASE("without local replies the caller may retry after a failure") {
  SocketAddress closed_port;
  {
    RawServer probe("127.0.1.38");
    closed_port = probe.address;
  }
  FixtureOptions options;
  options.proxy_stream.local_reply_on_failure = false;
  ProxyFixture fixture(options);
  fixture.loop.Run([&] {
    fixture.router.target = closed_port;
    fixture.router.failover = fixture.upstream_b;
  });
  RawClient client(fixture.address);
  REQUIRE(client.Send(
      "PUT /f HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->body == "B PUT /f body=abc");
  auto outcomes = fixture.Outcomes();
  REQUIRE(outcomes.size() == 2);
  CHECK(outcomes[0].result == ProxyResult::kConnectFailure);
  CHECK_FALSE(outcomes[0].local_reply_sent);
  CHECK(outcomes[1].result == ProxyResult::kSuccess);
}

TEST_CASE("an upstream closing before the response gets 503 upstream_reset") {
  RawServer upstream("127.0.1.35");
  upstream.Run([](RawServer& server) {
    const int fd = server.Accept();
    RawServer::ReadHead(fd);
    server.Close(fd);
  });
  ProxyFixture fixture;
  fixture.loop.Run([&] { fixture.router.target = upstream.address; });
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/x")));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 503);
  CHECK(response->body.find(R"("error":"upstream_reset")") != std::string::npos);
  CHECK(response->body.find("connection_closed") != std::string::npos);
  auto outcomes = fixture.Outcomes();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].result == ProxyResult::kResetBeforeResponse);
}

TEST_CASE("a hostile upstream response is never relayed: the client gets 503") {
  struct Case {
    std::string what;
    std::string response;
  };
  const Case cases[] = {
      {"a status line that is not HTTP", "HTTP/1.1 abc nonsense\r\n\r\n"},
      {"a 101 to a request that asked for no upgrade",
       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"
       "GET /smuggled HTTP/1.1\r\n\r\n"},
      {"Content-Length beside Transfer-Encoding",
       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"a head over 60 KiB",
       "HTTP/1.1 200 OK\r\nx-big: " + std::string(70 * 1024, 'a') + "\r\nContent-Length: 0\r\n\r\n"},
      {"more than 100 header fields",
       [] {
         std::string head = "HTTP/1.1 200 OK\r\n";
         for (int i = 0; i < 150; ++i) head += "x-h" + std::to_string(i) + ": v\r\n";
         return head + "Content-Length: 0\r\n\r\n";
       }()},
      {"a NUL in a header value", std::string("HTTP/1.1 200 OK\r\nx-a: b\0c\r\nContent-Length: 0\r\n\r\n", 48)},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    RawServer upstream("127.0.1.35");
    upstream.Run([&c](RawServer& server) {
      const int fd = server.Accept();
      RawServer::ReadHead(fd);
      RawServer::SendAll(fd, c.response);
      server.Close(fd);
    });
    ProxyFixture fixture;
    fixture.loop.Run([&] { fixture.router.target = upstream.address; });
    RawClient client(fixture.address);
    REQUIRE(client.Send(Get("/x")));
    auto response = client.ReadResponse();
    REQUIRE(response);
    CHECK(response->status == 503);
    CHECK(response->body.find(R"("error":"upstream_reset")") != std::string::npos);
    CHECK(response->body.find("smuggled") == std::string::npos);
  }
}

TEST_CASE("an upstream reset mid-response resets the client connection") {
  RawServer upstream("127.0.1.36");
  upstream.Run([](RawServer& server) {
    const int fd = server.Accept();
    RawServer::ReadHead(fd);
    RawServer::SendAll(fd,
                       "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
    server.Close(fd);
  });
  ProxyFixture fixture;
  fixture.loop.Run([&] { fixture.router.target = upstream.address; });
  RawClient client(fixture.address);
  // A pipelined second request must not get a response either: after a
  // truncated body, any byte more could be read as a second response.
  REQUIRE(client.Send(Get("/x") + Get("/y")));
  std::string received;
  char chunk[4096];
  ssize_t n;
  while ((n = recv(client.fd(), chunk, sizeof(chunk), 0)) > 0) {
    received.append(chunk, static_cast<size_t>(n));
  }
  // The head and 7 bytes, then the connection ends.
  CHECK(received.starts_with("HTTP/1.1 200 "));
  CHECK(received.find("content-length: 100\r\n") != std::string::npos);
  CHECK(received.ends_with("\r\n\r\npartial"));
  CHECK(received.find("HTTP/1.1", 1) == std::string::npos);
  auto outcomes = fixture.Outcomes();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].result == ProxyResult::kResetAfterResponse);
  CHECK(outcomes[0].status == 200);
}

TEST_CASE("an upstream that does not answer in time gets 504") {
  FixtureOptions options;
  options.proxy_stream.timeout = std::chrono::milliseconds(100);
  ProxyFixture fixture(options);
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/hold")));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 504);
  CHECK(response->body.find(R"("error":"upstream_timeout")") != std::string::npos);
  auto outcomes = fixture.Outcomes();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].result == ProxyResult::kTimeout);
  CHECK(fixture.Counter("cluster.upstream_rq_timeout") == 1);
}

TEST_CASE("a full pool gets 503 upstream_overflow") {
  FixtureOptions options;
  options.pool.max_connections = 1;
  options.pool.max_pending_requests = 0;
  ProxyFixture fixture(options);
  RawClient holder(fixture.address);
  REQUIRE(holder.Send(Get("/hold")));
  REQUIRE(fixture.loop.WaitFor([&] {
    return fixture.Counter("upstream_A.downstream_rq_total") == 1;
  }));
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/x")));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 503);
  CHECK(response->body.find(R"("error":"upstream_overflow")") !=
        std::string::npos);
  auto outcomes = fixture.Outcomes();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].result == ProxyResult::kOverflow);
}

TEST_CASE("a 421 is intercepted and the request replayed elsewhere") {
  ProxyFixture fixture;
  fixture.loop.Run([&] { fixture.router.retry_target = fixture.upstream_b; });
  RawClient client(fixture.address);
  REQUIRE(client.Send(
      "POST /421 HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\npayload"));
  auto response = client.ReadResponse();
  REQUIRE(response);
  // B does not treat /421 specially: it answers with what it received.
  CHECK(response->status == 200);
  CHECK(response->body == "B POST /421 body=payload");
  fixture.loop.Run([&] {
    REQUIRE(fixture.router.replayable_at_head.size() == 2);
    CHECK(fixture.router.replayable_at_head[0]);
  });
  auto outcomes = fixture.Outcomes();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].result == ProxyResult::kSuccess);
  CHECK(outcomes[0].status == 200);
}

TEST_CASE("a 421 for a body too large to replay is passed through") {
  FixtureOptions options;
  options.proxy_stream.max_replay_body_bytes = 16;
  ProxyFixture fixture(options);
  fixture.loop.Run([&] { fixture.router.retry_target = fixture.upstream_b; });
  RawClient client(fixture.address);
  const std::string body(100, 'x');
  REQUIRE(client.Send("POST /421 HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" +
                      body));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 421);
  CHECK(response->body == R"({"error":"misdirected","detail":"A"})");
  fixture.loop.Run([&] {
    REQUIRE(fixture.router.replayable_at_head.size() == 1);
    CHECK_FALSE(fixture.router.replayable_at_head[0]);
  });
}

TEST_CASE("an Upgrade is tunnelled byte for byte after the 101") {
  ProxyFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(
      "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
      "Upgrade: shout\r\n\r\n"));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 101);
  CHECK(response->Header("upgrade") == "shout");
  REQUIRE(client.Send("hello"));
  CHECK(client.ReadExactly(5) == "HELLO");
  REQUIRE(client.Send(std::string(100000, 'z')));
  CHECK(client.ReadExactly(100000) == std::string(100000, 'Z'));
  client.ShutdownWrite();  // close propagates: upstream ends, proxy closes
  CHECK(client.WaitClosed());
  REQUIRE(fixture.loop.WaitFor([&] {
    return fixture.proxy().connection_count() == 0 &&
           fixture.pools->Get(fixture.upstream_a).connection_count() == 0;
  }));
  auto outcomes = fixture.Outcomes();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].result == ProxyResult::kSuccess);
  CHECK(outcomes[0].status == 101);
}

TEST_CASE("bytes after a refused Upgrade never reach the upstream") {
  RawServer upstream("127.0.1.38");
  std::string after_head;
  upstream.Run([&after_head](RawServer& server) {
    const int fd = server.Accept();
    RawServer::ReadHead(fd);
    // A refusal with a body, framed by its length: no tunnel.
    RawServer::SendAll(
        fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 7\r\n\r\nrefused");
    char chunk[4096];
    ssize_t n;
    while ((n = recv(fd, chunk, sizeof(chunk), 0)) > 0) {
      after_head.append(chunk, static_cast<size_t>(n));
    }
  });
  ProxyFixture fixture;
  fixture.loop.Run([&] { fixture.router.target = upstream.address; });
  RawClient client(fixture.address);
  REQUIRE(client.Send(
      "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\n"
      "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 400);
  CHECK(response->body == "refused");
  CHECK(response->Header("connection") == "close");
  CHECK(client.WaitClosed());
  // The upstream connection is not reused: the script's recv() ends.
  upstream.Join();
  CHECK(after_head.empty());
  auto outcomes = fixture.Outcomes();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].status == 400);
}

TEST_CASE("a reused connection closed by the upstream is retried once") {
  RawServer upstream("127.0.1.37");
  upstream.Run([](RawServer& server) {
    const int first = server.Accept();
    RawServer::ReadHead(first);
    RawServer::SendAll(first, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none");
    // The second request arrives on the kept-alive connection: close it
    // unanswered, as an upstream's idle timeout would.
    RawServer::ReadHead(first);
    server.Close(first);
    const int second = server.Accept();
    RawServer::ReadHead(second);
    RawServer::SendAll(second, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo");
  });
  ProxyFixture fixture;
  fixture.loop.Run([&] { fixture.router.target = upstream.address; });
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/1")));
  CHECK(client.ReadResponse()->body == "one");
  REQUIRE(client.Send(Get("/2")));
  auto second = client.ReadResponse();
  REQUIRE(second);
  CHECK(second->body == "two");
  CHECK(fixture.Counter("cluster.upstream_cx_total") == 2);
  auto outcomes = fixture.Outcomes();
  REQUIRE(outcomes.size() == 2);
  CHECK(outcomes[1].result == ProxyResult::kSuccess);
}

TEST_CASE("a client leaving mid-request drops the upstream exchange") {
  ProxyFixture fixture;
  {
    // (A client that closes after a complete request is taken to have
    // half-closed: its response is still relayed, see http_server.h.)
    RawClient client(fixture.address);
    REQUIRE(client.Send(
        "POST /hold HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nabc"));
    REQUIRE(fixture.loop.WaitFor([&] {
      return fixture.Counter("upstream_A.downstream_rq_total") == 1;
    }));
  }
  REQUIRE(fixture.loop.WaitFor([&] { return fixture.upstream_resets == 1; }));
  auto outcomes = fixture.Outcomes();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].result == ProxyResult::kDownstreamReset);
  fixture.loop.Run([&] {
    CHECK(fixture.pools->Get(fixture.upstream_a).connection_count() == 0);
  });
}

}  // namespace
}  // namespace homing
