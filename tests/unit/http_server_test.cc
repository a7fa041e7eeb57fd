// Tests for HttpServer / ServerStream over real sockets on 127.0.1.x: a raw
// socket client for malformed input, pipelining and slow clients, libcurl for
// ordinary requests. No test asserts elapsed time; timeouts are made small
// and waited for.

#include "homing/http_server.h"

#include <curl/curl.h>
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "homing/stats.h"
#include "http_test_support.h"

namespace homing {
namespace {

using testing::Get;
using testing::HttpResponse;
using testing::Loopback;
using testing::PatternBody;
using testing::RawClient;
using testing::TestLoop;

// What the handlers saw; touched on the loop thread only.
struct ServerLog {
  std::vector<std::string> targets;
  std::vector<std::string> authorities;
  ServerStream* held = nullptr;  // a /hold request awaiting the test
  std::vector<StreamResetReason> resets;
  size_t body_chunks = 0;
  size_t body_bytes = 0;
  std::string body;
  int ends = 0;
  // OnRequestRejected(): "status|code|method|path".
  std::vector<std::string> rejections;
  // Per request, its header names lower-cased and joined with ","; and the
  // last request's is_upgrade().
  std::vector<std::string> header_names;
  bool upgrade = false;
};

// Answers by path:
//   /hold          nothing until the test answers `log.held`
//   /paused        holds the body back (ReadDisable) until the test calls
//                  ReadEnable() on `log.held`, then answers like /body
//   /body          after the body: 200 "<bytes> bytes in <chunks> chunks"
//   /echo          streams the body back (chunked), pausing the request while
//                  the client does not read (backpressure)
//   /limit         sets a 100-byte body limit, answers after the body
//   /upgrade       101, then echoes tunnel bytes upper-cased
//   /hop           a response with hop-by-hop headers that must not go out
//   /refuse        400 "refused"
//   anything else  200 "hello <target>"
class TestHandler : public RequestHandler {
 public:
  explicit TestHandler(ServerLog& log) : log_(log) {}

  void OnRequestHeaders(ServerStream& stream) override {
    stream_ = &stream;
    const RequestView& request = stream.request();
    log_.targets.emplace_back(request.path);
    log_.authorities.emplace_back(request.authority);
    std::string names;
    for (const HttpHeader& header : request.headers) {
      if (!names.empty()) names.push_back(',');
      for (char c : header.name) names.push_back(static_cast<char>(std::tolower(c)));
    }
    log_.header_names.push_back(names);
    log_.upgrade = stream.is_upgrade();
    path_ = std::string(request.PathWithoutQuery());
    if (path_ == "/hold") {
      log_.held = &stream;
    } else if (path_ == "/paused") {
      stream.ReadDisable();
      log_.held = &stream;
    } else if (path_ == "/echo") {
      const HttpHeader headers[] = {{"content-type", "application/octet-stream"}};
      stream.SendResponseHead(200, headers);
    } else if (path_ == "/limit") {
      stream.SetBodyLimit(100);
    } else if (path_ == "/upgrade") {
      const HttpHeader headers[] = {{"upgrade", "shout"}};
      stream.SendResponseHead(101, headers);
    } else if (path_ == "/hop") {
      const HttpHeader headers[] = {{"connection", "x-private"},
                                    {"x-private", "secret"},
                                    {"keep-alive", "timeout=5"},
                                    {"transfer-encoding", "gzip"},
                                    {"x-public", "yes"}};
      stream.SendResponse(200, headers, "hop");
    } else if (path_ == "/refuse") {
      stream.SendResponse(400, {}, "refused");
    } else if (path_ != "/body") {
      const HttpHeader headers[] = {{"content-type", "text/plain"}};
      stream.SendResponse(200, headers, "hello " + std::string(request.path));
    }
  }

  void OnRequestBody(std::string_view data) override {
    ++log_.body_chunks;
    log_.body_bytes += data.size();
    if (path_ == "/echo") {
      stream_->SendResponseBody(data);
    } else if (path_ == "/upgrade") {
      std::string upper(data);
      for (char& c : upper) c = static_cast<char>(std::toupper(c));
      stream_->SendResponseBody(upper);
    } else if (log_.body.size() < 4096) {
      log_.body.append(data);
    }
  }

  void OnRequestEnd() override {
    ++log_.ends;
    if (path_ == "/echo" || path_ == "/upgrade") {
      stream_->SendResponseEnd();
    } else if (path_ == "/body" || path_ == "/limit" || path_ == "/paused") {
      stream_->SendResponse(200, {},
                            std::to_string(log_.body_bytes) + " bytes in " +
                                std::to_string(log_.body_chunks) + " chunks");
    }
  }

  void OnStreamReset(StreamResetReason reason) override {
    log_.resets.push_back(reason);
    if (log_.held == stream_) log_.held = nullptr;
  }

  void OnRequestRejected(const RejectedRequest& rejected) override {
    log_.rejections.push_back(std::to_string(rejected.status) + "|" +
                              std::string(rejected.code) + "|" +
                              std::string(rejected.method) + "|" +
                              std::string(rejected.path));
  }

  void OnWriteBufferHigh() override {
    if (path_ == "/echo") stream_->ReadDisable();
  }
  void OnWriteBufferLow() override {
    if (path_ == "/echo") stream_->ReadEnable();
  }

 private:
  ServerLog& log_;
  ServerStream* stream_ = nullptr;
  std::string path_;
};

// A server on its own loop thread, with its stats in `store`.
class ServerFixture {
 public:
  explicit ServerFixture(HttpServerOptions options = {},
                         std::string_view ip = "127.0.1.1") {
    options.listen_address = Loopback(ip);
    loop.Run([&] {
      StatsScope scope = store.Scope("http.test.");
      auto server = HttpServer::Create(
          loop.dispatcher(), options,
          [this] { return std::make_unique<TestHandler>(log); }, &scope);
      REQUIRE(server.ok());
      server_ = *std::move(server);
    });
    address = server_->local_address();
  }
  ~ServerFixture() { DestroyServer(); }

  void DestroyServer() {
    loop.Run([&] { server_.reset(); });
  }

  uint64_t Counter(std::string_view name) {
    return store.Counter(absl_name(name)).value();
  }
  int64_t Gauge(std::string_view name) {
    return store.Gauge(absl_name(name)).value();
  }
  HttpServer& server() { return *server_; }

  TestLoop loop;
  StatsStore store;
  ServerLog log;
  SocketAddress address;

 private:
  static std::string absl_name(std::string_view name) {
    return "http.test." + std::string(name);
  }
  std::unique_ptr<HttpServer> server_;
};

std::string BodyOf(const std::optional<HttpResponse>& response) {
  return response ? response->body : "<no response>";
}

// libcurl: one easy handle, so keep-alive is reused between Perform()s.
class CurlClient {
 public:
  CurlClient() { curl_ = curl_easy_init(); }
  ~CurlClient() { curl_easy_cleanup(curl_); }

  long Perform(const std::string& url, std::string* body,
               const std::string& post = {}) {
    body->clear();
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &CurlClient::Write);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT, 10L);
    if (!post.empty()) {
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, post.data());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(post.size()));
    } else {
      curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
    }
    if (curl_easy_perform(curl_) != CURLE_OK) return -1;
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    return status;
  }
  long new_connections() {
    long count = 0;
    curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &count);
    return count;
  }

 private:
  static size_t Write(char* data, size_t size, size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
  }
  CURL* curl_;
};

std::string Url(const SocketAddress& address, std::string_view path) {
  return "http://" + address.ToString() + std::string(path);
}

TEST_CASE("a keep-alive connection serves several requests (curl)") {
  ServerFixture fixture;
  CurlClient curl;
  std::string body;
  REQUIRE(curl.Perform(Url(fixture.address, "/a?x=1"), &body) == 200);
  CHECK(body == "hello /a?x=1");
  CHECK(curl.new_connections() == 1);
  REQUIRE(curl.Perform(Url(fixture.address, "/b"), &body) == 200);
  CHECK(body == "hello /b");
  CHECK(curl.new_connections() == 0);  // reused
  CHECK(fixture.Counter("downstream_cx_total") == 1);
  CHECK(fixture.Counter("downstream_rq_total") == 2);
  CHECK(fixture.Counter("downstream_rq_2xx") == 2);
  fixture.loop.Run([&] {
    CHECK(fixture.log.authorities.back() == fixture.address.ToString());
  });
  CHECK(fixture.store.Histogram("http.test.downstream_rq_time")
            .Summarize()
            .count == 2);
}

TEST_CASE("pipelined requests are answered in order, one at a time") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/hold") + Get("/second") + Get("/third")));
  REQUIRE(fixture.loop.WaitFor([&] { return fixture.log.held != nullptr; }));
  fixture.loop.Run([&] {
    // The next request is not parsed before /hold is answered.
    CHECK(fixture.log.targets.size() == 1);
    fixture.log.held->SendResponse(200, {}, "first");
  });
  auto first = client.ReadResponse();
  auto second = client.ReadResponse();
  auto third = client.ReadResponse();
  CHECK(BodyOf(first) == "first");
  CHECK(BodyOf(second) == "hello /second");
  CHECK(BodyOf(third) == "hello /third");
  CHECK(fixture.Counter("downstream_cx_total") == 1);
}

TEST_CASE("a fixed-length body bigger than the buffers arrives in pieces") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  const std::string body = PatternBody(1 << 20);
  REQUIRE(client.Send("POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 200);
  fixture.loop.Run([&] {
    CHECK(fixture.log.body_bytes == body.size());
    CHECK(fixture.log.body_chunks > 1);  // streamed, not buffered whole
    CHECK(fixture.log.body == body.substr(0, fixture.log.body.size()));
  });
}

TEST_CASE("ReadDisable holds the request back until ReadEnable") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(
      "POST /paused HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc" +
      Get("/next")));
  REQUIRE(fixture.loop.WaitFor([&] { return fixture.log.held != nullptr; }));
  // Give the loop a few turns: nothing of the body may arrive meanwhile.
  for (int i = 0; i < 3; ++i) {
    fixture.loop.Run([&] {
      CHECK(fixture.log.body_bytes == 0);
      CHECK(fixture.log.ends == 0);
    });
  }
  fixture.loop.Run([&] { fixture.log.held->ReadEnable(); });
  CHECK(BodyOf(client.ReadResponse()) == "3 bytes in 1 chunks");
  CHECK(BodyOf(client.ReadResponse()) == "hello /next");
  CHECK(fixture.Counter("downstream_flow_control_paused_reading_total") == 1);
  CHECK(fixture.Counter("downstream_flow_control_resumed_reading_total") == 1);
}

TEST_CASE("a body-less request held back completes after ReadEnable") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/paused")));
  REQUIRE(fixture.loop.WaitFor([&] { return fixture.log.held != nullptr; }));
  fixture.loop.Run([&] {
    CHECK(fixture.log.ends == 0);
    fixture.log.held->ReadEnable();
  });
  CHECK(BodyOf(client.ReadResponse()) == "0 bytes in 0 chunks");
}

TEST_CASE("a chunked request body is decoded and streamed") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(
      "POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n"));
  REQUIRE(fixture.loop.WaitFor([&] { return fixture.log.body_bytes == 5; }));
  fixture.loop.Run([&] { CHECK(fixture.log.ends == 0); });
  REQUIRE(client.Send("6\r\n world\r\n0\r\n\r\n"));
  auto response = client.ReadResponse();
  CHECK(BodyOf(response) == "11 bytes in 2 chunks");
  fixture.loop.Run([&] { CHECK(fixture.log.body == "hello world"); });
}

TEST_CASE("a streamed echo applies backpressure to a client that reads late") {
  HttpServerOptions options;
  options.write_buffer_high_watermark = 64 * 1024;
  options.write_buffer_low_watermark = 16 * 1024;
  ServerFixture fixture(options);
  RawClient client(fixture.address);
  const std::string body = PatternBody(32 << 20);
  std::atomic<bool> sent{false};
  std::thread sender([&] {
    sent = client.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body);
  });
  // Read nothing until the server had to stop reading the request (or the
  // whole body went through without that: the check below then fails).
  REQUIRE(fixture.loop.WaitFor([&] {
    return fixture.Counter("downstream_flow_control_paused_reading_total") >
               0 ||
           sent;
  }));
  CHECK(fixture.Counter("downstream_flow_control_paused_reading_total") > 0);
  auto response = client.ReadResponse();
  sender.join();
  CHECK(sent);
  REQUIRE(response);
  CHECK(response->status == 200);
  CHECK(response->body.size() == body.size());
  CHECK(response->body == body);
  CHECK(fixture.Counter("downstream_flow_control_resumed_reading_total") > 0);
}

TEST_CASE("61 KiB of request headers get 431 and a closed connection") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  std::string headers;
  for (int i = 0; i < 61; ++i) {
    headers += "x-filler-" + std::to_string(i) + ": " + std::string(1000, 'v') +
               "\r\n";
  }
  REQUIRE(client.Send(Get("/", headers)));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 431);
  CHECK(response->Header("content-type") == "application/json");
  CHECK(response->body.find(R"("error":"request_header_fields_too_large")") !=
        std::string::npos);
  CHECK(response->Header("connection") == "close");
  CHECK(client.WaitClosed());
  fixture.loop.Run([&] {
    CHECK(fixture.log.targets.empty());
    CHECK(fixture.log.rejections ==
          std::vector<std::string>{"431|request_header_fields_too_large||"});
  });
}

TEST_CASE("too many request headers get 431") {
  HttpServerOptions options;
  options.max_request_headers_count = 5;
  ServerFixture fixture(options);
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/", "a: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\ne: 5\r\n")));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 431);
}

TEST_CASE("request headers not complete in time get 408") {
  HttpServerOptions options;
  options.request_headers_timeout = std::chrono::milliseconds(100);
  ServerFixture fixture(options);
  RawClient client(fixture.address);
  REQUIRE(client.Send("GET /slow HTTP/1.1\r\nHost: t\r\n"));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 408);
  CHECK(response->body ==
        R"({"error":"request_timeout","detail":"request headers not received in time"})");
  CHECK(client.WaitClosed());
  CHECK(fixture.Counter("downstream_rq_header_timeout") == 1);
}

TEST_CASE("an idle keep-alive connection is closed after the idle timeout") {
  HttpServerOptions options;
  options.idle_timeout = std::chrono::milliseconds(100);
  ServerFixture fixture(options);
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/one")));
  CHECK(BodyOf(client.ReadResponse()) == "hello /one");
  CHECK(client.WaitClosed());
  CHECK(fixture.Counter("downstream_cx_idle_timeout") == 1);
  REQUIRE(fixture.loop.WaitFor(
      [&] { return fixture.server().connection_count() == 0; }));
}

TEST_CASE("a stream whose handler never answers gets 408 after idling") {
  HttpServerOptions options;
  options.stream_idle_timeout = std::chrono::milliseconds(100);
  ServerFixture fixture(options);
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/hold")));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 408);
  CHECK(response->body.find("stream idle timeout") != std::string::npos);
  fixture.loop.Run([&] {
    REQUIRE(fixture.log.resets.size() == 1);
    CHECK(fixture.log.resets[0] == StreamResetReason::kTimeout);
  });
  CHECK(fixture.Counter("downstream_rq_timeout") == 1);
}

TEST_CASE("a body over the server limit gets 413 before the handler runs") {
  HttpServerOptions options;
  options.max_request_body_bytes = 1000;
  ServerFixture fixture(options);
  RawClient client(fixture.address);
  REQUIRE(client.Send(
      "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n"));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 413);
  CHECK(response->body ==
        R"({"error":"payload_too_large","detail":"request body of 2000 bytes exceeds the limit of 1000"})");
  CHECK(client.WaitClosed());
  fixture.loop.Run([&] { CHECK(fixture.log.targets.empty()); });
  CHECK(fixture.Counter("downstream_rq_too_large") == 1);
}

TEST_CASE("a per-stream body limit stops a chunked body with 413") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(
      "POST /limit HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "50\r\n" + std::string(80, 'a') + "\r\n"
      "50\r\n" + std::string(80, 'b') + "\r\n0\r\n\r\n"));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 413);
  CHECK(response->body.find("exceeds the limit of 100 bytes") !=
        std::string::npos);
  fixture.loop.Run([&] {
    REQUIRE(fixture.log.resets.size() == 1);
    CHECK(fixture.log.resets[0] == StreamResetReason::kBodyTooLarge);
  });
}

TEST_CASE("a declared length over the per-stream limit gets 413") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(
      "POST /limit HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n"));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 413);
  CHECK(response->body.find("request body of 101 bytes") != std::string::npos);
}

TEST_CASE("malformed requests get 400 with llhttp's reason, then close") {
  struct Case {
    const char* request;
    const char* detail;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n",
       "Invalid header token"},
      {"FETCH / HTTP/1.1\r\nHost: t\r\n\r\n", "Invalid method encountered"},
      {"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
       "Transfer-Encoding: chunked\r\n\r\n",
       "Content-Length can't be present with Transfer-Encoding"},
      {"GET / HTTP/1.1\r\n\r\n", "missing Host header"},
  };
  ServerFixture fixture;
  for (const Case& c : cases) {
    CAPTURE(c.request);
    RawClient client(fixture.address);
    REQUIRE(client.Send(c.request));
    auto response = client.ReadResponse();
    REQUIRE(response);
    CHECK(response->status == 400);
    CHECK(response->Header("content-type") == "application/json");
    CHECK(response->body == std::string(R"({"error":"bad_request","detail":")") +
                                c.detail + "\"}");
    CHECK(client.WaitClosed());
  }
  CHECK(fixture.Counter("downstream_cx_protocol_error") == 4);
  fixture.loop.Run([&] {
    CHECK(fixture.log.targets.empty());
    // The handler hears of each; a request with a complete head is named.
    CHECK(fixture.log.rejections ==
          std::vector<std::string>{"400|bad_request||", "400|bad_request||",
                                   "400|bad_request||", "400|bad_request|GET|/"});
  });
}

TEST_CASE("a malformed chunk in an open stream resets it and answers 400") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(
      "POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "zz\r\n"));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 400);
  CHECK(response->body.find("bad_request") != std::string::npos);
  fixture.loop.Run([&] {
    REQUIRE(fixture.log.resets.size() == 1);
    CHECK(fixture.log.resets[0] == StreamResetReason::kProtocolError);
  });
}

TEST_CASE("CONNECT is refused with 405") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 405);
  CHECK(response->body ==
        R"({"error":"method_not_allowed","detail":"CONNECT is not supported"})");
}

TEST_CASE("Connection: close is honoured") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/bye", "Connection: close\r\n")));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->body == "hello /bye");
  CHECK(response->Header("connection") == "close");
  CHECK(client.WaitClosed());
}

TEST_CASE("HTTP/1.0 closes unless keep-alive is asked for") {
  ServerFixture fixture;
  {
    RawClient client(fixture.address);
    REQUIRE(client.Send("GET /old HTTP/1.0\r\n\r\n"));
    auto response = client.ReadResponse();
    REQUIRE(response);
    CHECK(response->body == "hello /old");
    CHECK(response->Header("connection") == "close");
    CHECK(client.WaitClosed());
  }
  {
    RawClient client(fixture.address);
    REQUIRE(client.Send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto first = client.ReadResponse();
    REQUIRE(first);
    CHECK(first->Header("connection") == "keep-alive");
    REQUIRE(client.Send("GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    CHECK(BodyOf(client.ReadResponse()) == "hello /b");
  }
  {
    // No length and no chunked encoding for 1.0: the body ends with the
    // connection.
    RawClient client(fixture.address);
    REQUIRE(client.Send(
        "POST /echo HTTP/1.0\r\nConnection: keep-alive\r\n"
        "Content-Length: 4\r\n\r\nping"));
    auto response = client.ReadResponse();
    REQUIRE(response);
    CHECK(response->body == "ping");
    CHECK(response->Header("connection") == "close");
    CHECK_FALSE(response->HasHeader("transfer-encoding"));
  }
}

TEST_CASE("an absolute-form target gives authority and path") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(
      "GET http://server-1:8081/where?client_id=7 HTTP/1.1\r\n"
      "Host: Server-1:8081\r\n\r\n"));
  CHECK(BodyOf(client.ReadResponse()) == "hello /where?client_id=7");
  fixture.loop.Run([&] {
    CHECK(fixture.log.authorities.back() == "server-1:8081");
  });
}

TEST_CASE("hop-by-hop headers from the handler are not sent") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/hop")));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->body == "hop");
  CHECK(response->Header("x-public") == "yes");
  CHECK_FALSE(response->HasHeader("x-private"));
  CHECK_FALSE(response->HasHeader("keep-alive"));
  CHECK_FALSE(response->HasHeader("transfer-encoding"));
  CHECK_FALSE(response->HasHeader("connection"));
  CHECK(response->Header("content-length") == "3");
}

TEST_CASE("HEAD gets the head only, and the connection stays usable") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send("HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n" + Get("/next")));
  auto head = client.ReadResponse(/*head_request=*/true);
  REQUIRE(head);
  CHECK(head->Header("content-length") == std::to_string(std::string("hello /h").size()));
  CHECK(BodyOf(client.ReadResponse()) == "hello /next");
}

TEST_CASE("Expect: 100-continue gets an interim response") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(
      "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
      "Expect: 100-continue\r\n\r\n"));
  auto interim = client.ReadResponse();
  REQUIRE(interim);
  CHECK(interim->status == 100);
  REQUIRE(client.Send("data"));
  CHECK(BodyOf(client.ReadResponse()) == "4 bytes in 1 chunks");
}

TEST_CASE("a 101 answer turns the connection into a raw tunnel") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(
      "GET /upgrade HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
      "Upgrade: shout\r\n\r\nearly"));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 101);
  CHECK(response->Header("upgrade") == "shout");
  CHECK(response->Header("connection") == "upgrade");
  CHECK(client.ReadExactly(5) == "EARLY");
  REQUIRE(client.Send("hello"));
  CHECK(client.ReadExactly(5) == "HELLO");
  client.ShutdownWrite();  // the handler ends the tunnel on the client's EOF
  CHECK(client.WaitClosed());
}

TEST_CASE("a refused upgrade closes the connection after the response") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/plain", "Connection: Upgrade\r\nUpgrade: shout\r\n")));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->status == 200);
  CHECK(response->Header("connection") == "close");
  CHECK(client.WaitClosed());
}

// Upgrade smuggling: bytes sent after an upgrade request in the same write
// are the other protocol only if the answer is 101. Until then they wait
// unread; after any other answer the connection closes without parsing them.
constexpr std::string_view kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";

std::string UpgradeRequest(std::string_view path) {
  return "GET " + std::string(path) +
         " HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\n";
}

TEST_CASE("bytes after a refused upgrade are never parsed as a request") {
  ServerFixture fixture;
  for (const char* path : {"/plain", "/refuse"}) {
    CAPTURE(path);
    RawClient client(fixture.address);
    REQUIRE(client.Send(UpgradeRequest(path) + std::string(kSmuggled)));
    auto response = client.ReadResponse();
    REQUIRE(response);
    CHECK(response->status == (std::string_view(path) == "/refuse" ? 400 : 200));
    CHECK(response->Header("connection") == "close");
    CHECK(client.WaitClosed());
  }
  fixture.loop.Run([&] {
    CHECK(fixture.log.targets == std::vector<std::string>{"/plain", "/refuse"});
    CHECK(fixture.log.body_bytes == 0);
  });
}

TEST_CASE("bytes after an upgrade request wait for the response head") {
  for (const int status : {400, 101}) {
    CAPTURE(status);
    ServerFixture fixture;
    RawClient client(fixture.address);
    REQUIRE(client.Send(UpgradeRequest("/hold") + std::string(kSmuggled)));
    REQUIRE(fixture.loop.WaitFor([&] { return fixture.log.held != nullptr; }));
    fixture.loop.Run([&] {
      CHECK(fixture.log.upgrade);
      CHECK(fixture.log.body_bytes == 0);  // held, not delivered
      fixture.log.held->SendResponseHead(status, {});
      if (status != 101) fixture.log.held->SendResponseEnd();
    });
    auto response = client.ReadResponse(/*head_request=*/status == 101);
    REQUIRE(response);
    CHECK(response->status == status);
    if (status == 101) {
      // Only now do they arrive, as tunnel bytes.
      REQUIRE(fixture.loop.WaitFor(
          [&] { return fixture.log.body_bytes == kSmuggled.size(); }));
      fixture.loop.Run([&] {
        CHECK(fixture.log.body == kSmuggled);
        fixture.log.held->SendResponseEnd();
      });
    }
    CHECK(client.WaitClosed());
    fixture.loop.Run([&] {
      CHECK(fixture.log.targets == std::vector<std::string>{"/hold"});
      if (status != 101) CHECK(fixture.log.body_bytes == 0);
    });
  }
}

TEST_CASE("bytes after an upgrade answered 101 at once are tunnel bytes") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(UpgradeRequest("/upgrade") + std::string(kSmuggled)));
  auto response = client.ReadResponse(/*head_request=*/true);
  REQUIRE(response);
  CHECK(response->status == 101);
  std::string upper(kSmuggled);
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  CHECK(client.ReadExactly(upper.size()) == upper);
  fixture.loop.Run([&] {
    CHECK(fixture.log.targets == std::vector<std::string>{"/upgrade"});
  });
}

TEST_CASE("an h2c upgrade is ignored and the request served as HTTP/1.1") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(
      "GET /h2c HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n"
      "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n" +
      Get("/next")));
  auto first = client.ReadResponse();
  REQUIRE(first);
  CHECK(first->status == 200);
  CHECK(first->body == "hello /h2c");
  CHECK_FALSE(first->HasHeader("connection"));  // the connection stays open
  CHECK(BodyOf(client.ReadResponse()) == "hello /next");
  fixture.loop.Run([&] {
    CHECK_FALSE(fixture.log.upgrade);
    CHECK(fixture.log.header_names[0] == "host,connection");
  });

  // With a body: framed as a body, and what follows is the next request.
  REQUIRE(client.Send(
      "POST /body HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
      "Upgrade: h2c\r\nContent-Length: 5\r\n\r\nhello" + Get("/last")));
  CHECK(BodyOf(client.ReadResponse()) == "5 bytes in 1 chunks");
  CHECK(BodyOf(client.ReadResponse()) == "hello /last");
  CHECK(fixture.Counter("downstream_rq_h2c_upgrade_ignored") == 2);
  fixture.loop.Run([&] {
    CHECK(fixture.log.targets ==
          std::vector<std::string>{"/h2c", "/next", "/body", "/last"});
  });
}

// RFC 9112 framing and syntax rules, each answered with a 400 local reply
// (reset stream when the body breaks them) and a closed connection.
TEST_CASE("requests breaking RFC 9112 rules get 400 and a closed connection") {
  using namespace std::string_view_literals;
  struct Case {
    std::string_view request;
    std::string_view detail;
  };
  const std::string long_extension(4100, 'x');
  const std::string extended =
      "POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1;" + long_extension + "\r\nx\r\n0\r\n\r\n";
  const std::string empty_extensions =
      "POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1" + std::string(4100, ';');
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "Multiple Host headers"},
      {"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", "Multiple Host headers"},
      {"GET http://a/x HTTP/1.1\r\nHost: b\r\n\r\n",
       "Host header does not match the request target"},
      {"GET / HTTP/1.1\r\nHost: t\r\nX Y: z\r\n\r\n",
       "Invalid character in header name"},
      {"GET / HTTP/1.1\r\nHost: t\r\nX : z\r\n\r\n",
       "Invalid character in header name"},
      {"GET / HTTP/1.1\r\nHost: t\r\n: z\r\n\r\n",
       "Invalid character in header name"},
      {"GET / HTTP/1.1\r\nHost: t\r\nX@: z\r\n\r\n", "Invalid header token"},
      {"GET / HTTP/1.1\r\nHost: t\r\nX: y\r\n z\r\n\r\n",
       "Header line folded (obs-fold)"},
      {"GET / HTTP/1.1\r\nHost: t\r\nX: y\r\n\tz\r\n\r\n",
       "Header line folded (obs-fold)"},
      {"GET / HTTP/1.1\nHost: t\r\n\r\n", "Bare LF in message head"},
      {"GET / HTTP/1.1\r\nHost: t\n\r\n", "Bare LF in message head"},
      {"GET / HTTP/1.1\r\nHost: t\r\n\n", "Bare LF in message head"},
      {"GET / HTTP/1.1\r\nHost: t\r\nX: a\0b\r\n\r\n"sv,
       "Invalid header value char"},
      {"GET / HTTP/1.1\r\nHost: t\r\nX: a\x01b\r\n\r\n",
       "Invalid header value char"},
      {"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
       "Transfer-Encoding: chunked\r\n\r\n",
       "Content-Length can't be present with Transfer-Encoding"},
      {"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
       "Content-Length: 4\r\n\r\n",
       "Duplicate Content-Length"},
      {"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
       "Request has invalid `Transfer-Encoding`"},
      {"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
       "Invalid `Transfer-Encoding` header value"},
      {"POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "1000000000000000000\r\n",
       "Chunk size overflow"},
      {extended, "Chunk extensions exceed 4096 bytes"},
      {empty_extensions, "Chunk extensions exceed 4096 bytes"},
      {"POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\nX: y\r\n z\r\n\r\n",
       "Header line folded (obs-fold)"},
      {"POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\n\n",
       "Bare LF in message head"},
  };
  ServerFixture fixture;
  for (const Case& c : cases) {
    CAPTURE(c.request);
    RawClient client(fixture.address);
    REQUIRE(client.Send(c.request));
    auto response = client.ReadResponse();
    REQUIRE(response);
    CHECK(response->status == 400);
    CHECK(response->body == std::string(R"({"error":"bad_request","detail":")") +
                                std::string(c.detail) + "\"}");
    CHECK(client.WaitClosed());
  }
  fixture.loop.Run([&] {
    // Only the requests whose head passed reached the handler.
    for (const std::string& target : fixture.log.targets) CHECK(target == "/body");
  });
}

TEST_CASE("a client that half-closes after its request gets the response") {
  ServerFixture fixture;
  {
    RawClient client(fixture.address);
    REQUIRE(client.Send(Get("/hold")));
    client.ShutdownWrite();
    REQUIRE(fixture.loop.WaitFor([&] { return fixture.log.held != nullptr; }));
    // A request on another connection, sent after the EOF, is answered
    // after the EOF was read (in practice: loopback delivers in order).
    RawClient other(fixture.address);
    REQUIRE(other.Send(Get("/other")));
    REQUIRE(other.ReadResponse());
    fixture.loop.Run([&] { fixture.log.held->SendResponse(200, {}, "late"); });
    auto response = client.ReadResponse();
    REQUIRE(response);
    CHECK(response->body == "late");
    CHECK(client.WaitClosed());
  }
  {
    // Pipelined requests before the EOF are all answered.
    RawClient client(fixture.address);
    REQUIRE(client.Send(Get("/a") + Get("/b")));
    client.ShutdownWrite();
    CHECK(BodyOf(client.ReadResponse()) == "hello /a");
    CHECK(BodyOf(client.ReadResponse()) == "hello /b");
    CHECK(client.WaitClosed());
  }
  {
    // A response larger than the socket buffers is still draining when the
    // connection reads the client's FIN again: all of it arrives.
    const std::string large(16 << 20, 'x');
    RawClient client(fixture.address);
    REQUIRE(client.Send(Get("/hold")));
    client.ShutdownWrite();
    REQUIRE(fixture.loop.WaitFor([&] { return fixture.log.held != nullptr; }));
    fixture.loop.Run([&] { fixture.log.held->SendResponse(200, {}, large); });
    auto response = client.ReadResponse();
    REQUIRE(response);
    CHECK(response->body.size() == large.size());
    CHECK(client.WaitClosed());
  }
  fixture.loop.Run([&] { CHECK(fixture.log.resets.empty()); });
}

TEST_CASE("a client leaving mid-request resets the stream") {
  ServerFixture fixture;
  {
    RawClient client(fixture.address);
    REQUIRE(client.Send(
        "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc"));
    REQUIRE(fixture.loop.WaitFor([&] { return fixture.log.body_bytes == 3; }));
  }
  REQUIRE(fixture.loop.WaitFor([&] { return !fixture.log.resets.empty(); }));
  fixture.loop.Run([&] {
    CHECK(fixture.log.resets[0] == StreamResetReason::kConnectionClosed);
  });
  REQUIRE(fixture.loop.WaitFor([&] {
    return fixture.Gauge("downstream_cx_active") == 0 &&
           fixture.Gauge("downstream_rq_active") == 0;
  }));
}

TEST_CASE("a response that ends before its small body keeps the connection") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  // "/early" answers at once; its 10-byte body is read and dropped.
  REQUIRE(client.Send(
      "POST /early HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n"));
  auto response = client.ReadResponse();
  REQUIRE(response);
  CHECK(response->body == "hello /early");
  CHECK_FALSE(response->HasHeader("connection"));
  REQUIRE(client.Send("0123456789" + Get("/after")));
  CHECK(BodyOf(client.ReadResponse()) == "hello /after");
  fixture.loop.Run([&] { CHECK(fixture.log.body_bytes == 0); });
}

TEST_CASE("Drain closes idle connections and lets open streams finish") {
  ServerFixture fixture;
  RawClient idle(fixture.address);
  REQUIRE(idle.Send(Get("/x")));
  REQUIRE(idle.ReadResponse());
  RawClient busy(fixture.address);
  REQUIRE(busy.Send(Get("/hold")));
  REQUIRE(fixture.loop.WaitFor([&] { return fixture.log.held != nullptr; }));
  bool drained = false;
  fixture.loop.Run([&] { fixture.server().Drain([&] { drained = true; }); });
  CHECK(idle.WaitClosed());
  fixture.loop.Run([&] {
    CHECK_FALSE(drained);
    fixture.log.held->SendResponse(200, {}, "last");
  });
  auto response = busy.ReadResponse();
  REQUIRE(response);
  CHECK(response->body == "last");
  CHECK(response->Header("connection") == "close");
  CHECK(busy.WaitClosed());
  REQUIRE(fixture.loop.WaitFor([&] { return drained; }));
}

TEST_CASE("destroying the server resets open streams") {
  ServerFixture fixture;
  RawClient client(fixture.address);
  REQUIRE(client.Send(Get("/hold")));
  REQUIRE(fixture.loop.WaitFor([&] { return fixture.log.held != nullptr; }));
  fixture.DestroyServer();
  CHECK(client.WaitClosed());
  fixture.loop.Run([&] {
    REQUIRE(fixture.log.resets.size() == 1);
    CHECK(fixture.log.resets[0] == StreamResetReason::kServerShutdown);
  });
}

TEST_CASE("SO_REUSEPORT lets two servers share one address") {
  TestLoop loop;
  ServerLog log;
  HttpServerOptions options;
  options.listen_address = Loopback("127.0.1.2");
  loop.Run([&] {
    auto factory = [&] { return std::make_unique<TestHandler>(log); };
    auto first = HttpServer::Create(loop.dispatcher(), options, factory);
    REQUIRE(first.ok());
    options.listen_address = (*first)->local_address();
    auto second = HttpServer::Create(loop.dispatcher(), options, factory);
    REQUIRE(second.ok());
    CHECK((*second)->local_address() == (*first)->local_address());

    HttpServerOptions exclusive = options;
    exclusive.reuse_port = false;
    auto third = HttpServer::Create(loop.dispatcher(), exclusive, factory);
    REQUIRE_FALSE(third.ok());
    CHECK(third.status().code() == absl::StatusCode::kUnavailable);
    CHECK(std::string(third.status().message()).find("Address already in use") !=
          std::string::npos);
  });
}

TEST_CASE("Create rejects bad options") {
  TestLoop loop;
  loop.Run([&] {
    HttpServerOptions options;
    auto factory = []() -> std::unique_ptr<RequestHandler> { return nullptr; };
    auto unset = HttpServer::Create(loop.dispatcher(), options, factory);
    REQUIRE_FALSE(unset.ok());
    CHECK(unset.status().message() == "listen address is not set");

    options.listen_address = Loopback();
    options.write_buffer_low_watermark = 10;
    options.write_buffer_high_watermark = 5;
    auto watermarks = HttpServer::Create(loop.dispatcher(), options, factory);
    REQUIRE_FALSE(watermarks.ok());
    CHECK(watermarks.status().message() ==
          "write_buffer_low_watermark exceeds write_buffer_high_watermark");

    auto no_factory = HttpServer::Create(loop.dispatcher(), options, nullptr);
    REQUIRE_FALSE(no_factory.ok());
    CHECK(no_factory.status().message() == "handler factory is empty");
  });
}

}  // namespace
}  // namespace homing
