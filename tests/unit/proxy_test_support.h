// File: tests/unit/proxy_test_support.h
//
// Helpers for lib/proxy's and lib/admin's tests (unit and integration):
//  - TestUpstream: a real HttpServer on a TestLoop whose answers tests
//    script by path (421 on demand, held requests released by the test,
//    101 + echo for Upgrade requests);
//  - LogPipe: a pipe an AccessLog writes to, read line by line;
//  - Exchange(): one request on a fresh RawClient connection.
//
// Every wait is bounded (10 s); no test asserts elapsed time.

#ifndef HOMING_TESTS_UNIT_PROXY_TEST_SUPPORT_H_
#define HOMING_TESTS_UNIT_PROXY_TEST_SUPPORT_H_

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "homing/http_server.h"
#include "homing/libuv_dispatcher.h"
#include "homing/loop_thread.h"
#include "http_test_support.h"

namespace homing::testing {

// MainLoop
//
// A LoopThread standing in for a program's main thread: ProxyService and
// AdminServer are created, used and destroyed on it through Run().
using MainLoop = TestLoop;

// TestUpstream
//
// Answers, by the path's end (the query is ignored):
//   …/hold          never
//   …/wait          200 "<name> released" once Release() is called
//   …/status/NNN    NNN "<name>"
//   …/where         200 {"hostport":"<where_answer>"} (a resolver)
//   anything        200 "<name> <method> <path>"; or 421 while `misdirect`
//                   is set (or `misdirect_once` not yet spent); or
//                   `fail_status` when set
// and a request with is_upgrade() gets 101, then its bytes echoed back.
class TestUpstream {
 public:
  TestUpstream(TestLoop& loop, std::string name, std::string_view ip,
               uint16_t port = 0)
      : loop_(loop), state_(std::make_shared<State>()) {
    state_->name = std::move(name);
    loop_.Run([&] {
      HttpServerOptions options;
      options.listen_address = Loopback(ip, port);
      options.reuse_port = false;
      auto server = HttpServer::Create(
          loop_.dispatcher(), options,
          [state = state_] { return std::make_unique<Handler>(state); });
      REQUIRE_MESSAGE(server.ok(), server.status().ToString());
      server_ = *std::move(server);
    });
    address = server_->local_address();
  }
  ~TestUpstream() {
    loop_.Run([&] { server_.reset(); });
  }

  // Answers every /wait request held so far.
  void Release() {
    loop_.Run([&] {
      std::vector<ServerStream*> held = std::move(state_->held);
      state_->held.clear();
      for (ServerStream* stream : held) {
        stream->SendResponse(200, {}, state_->name + " released");
      }
    });
  }
  size_t held() {
    size_t n = 0;
    loop_.Run([&] { n = state_->held.size(); });
    return n;
  }
  size_t connections() {
    size_t n = 0;
    loop_.Run([&] { n = server_->connection_count(); });
    return n;
  }
  int requests() const { return state_->requests.load(); }
  void set_misdirect(bool on) { state_->misdirect.store(on); }
  void set_misdirect_once() { state_->misdirect_once.store(true); }
  void set_fail_status(int status) { state_->fail_status.store(status); }
  // The next request's connection is closed without an answer.
  void set_drop_next() { state_->drop_next.store(true); }
  // What …/where answers; set before requests arrive.
  void set_where_answer(std::string hostport) {
    loop_.Run([&] { state_->where_answer = std::move(hostport); });
  }

  SocketAddress address;

 private:
  struct State {
    std::string name;
    std::atomic<int> requests{0};
    std::atomic<bool> misdirect{false};
    std::atomic<bool> misdirect_once{false};
    std::atomic<int> fail_status{0};
    std::atomic<bool> drop_next{false};
    std::vector<ServerStream*> held;  // loop thread only
    std::string where_answer;         // loop thread only
  };

  class Handler : public RequestHandler {
   public:
    explicit Handler(std::shared_ptr<State> state) : state_(std::move(state)) {}
    ~Handler() override { Forget(); }

    void OnRequestHeaders(ServerStream& stream) override {
      stream_ = &stream;
      ++state_->requests;
      const RequestView& request = stream.request();
      path_ = std::string(request.PathWithoutQuery());
      upgrade_ = stream.is_upgrade();
      if (upgrade_) {
        const HttpHeader headers[] = {{"upgrade", "echo"}};
        stream.SendResponseHead(101, headers);
      }
    }
    void OnRequestBody(std::string_view data) override {
      if (upgrade_) stream_->SendResponseBody(data);
    }
    void OnRequestEnd() override {
      if (upgrade_) {
        stream_->SendResponseEnd();
        return;
      }
      bool drop = true;
      if (state_->drop_next.compare_exchange_strong(drop, false)) {
        stream_->Reset();
        return;
      }
      const HttpHeader text[] = {{"content-type", "text/plain"}};
      if (EndsWith(path_, "/hold")) return;
      if (EndsWith(path_, "/wait")) {
        state_->held.push_back(stream_);
        return;
      }
      if (EndsWith(path_, "/where")) {
        const HttpHeader json[] = {{"content-type", "application/json"}};
        stream_->SendResponse(200, json,
                              "{\"hostport\":\"" + state_->where_answer + "\"}");
        return;
      }
      if (const size_t at = path_.find("/status/"); at != std::string::npos) {
        stream_->SendResponse(std::stoi(path_.substr(at + 8)), text, state_->name);
        return;
      }
      if (const int status = state_->fail_status.load(); status != 0) {
        stream_->SendResponse(status, text, state_->name + " failing");
        return;
      }
      bool once = true;
      if (state_->misdirect.load() ||
          state_->misdirect_once.compare_exchange_strong(once, false)) {
        stream_->SendLocalReply(421, "misdirected", state_->name);
        return;
      }
      stream_->SendResponse(
          200, text,
          state_->name + " " + std::string(stream_->request().method) + " " +
              std::string(stream_->request().path));
    }
    void OnStreamReset(StreamResetReason) override { Forget(); }

   private:
    static bool EndsWith(std::string_view text, std::string_view suffix) {
      return text.size() >= suffix.size() &&
             text.substr(text.size() - suffix.size()) == suffix;
    }
    void Forget() {
      auto& held = state_->held;
      for (size_t i = 0; i < held.size(); ++i) {
        if (held[i] == stream_) held.erase(held.begin() + static_cast<long>(i));
      }
    }
    std::shared_ptr<State> state_;
    ServerStream* stream_ = nullptr;
    std::string path_;
    bool upgrade_ = false;
  };

  TestLoop& loop_;
  std::shared_ptr<State> state_;
  std::unique_ptr<HttpServer> server_;
};

// LogPipe
//
// The write end goes to an AccessLog; ReadLine() returns the next line.
class LogPipe {
 public:
  LogPipe() {
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    read_ = fds[0];
    write_ = fds[1];
    fcntl(read_, F_SETFL, O_NONBLOCK);
  }
  ~LogPipe() {
    close(read_);
    close(write_);
  }
  int write_fd() const { return write_; }

  // The next complete line (10 s at most), without its newline.
  std::optional<std::string> ReadLine() {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    size_t newline;
    while ((newline = buffer_.find('\n')) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{read_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      const ssize_t n = read(read_, chunk, sizeof(chunk));
      if (n > 0) buffer_.append(chunk, static_cast<size_t>(n));
    }
    std::string line = buffer_.substr(0, newline);
    buffer_.erase(0, newline + 1);
    return line;
  }

 private:
  int read_ = -1;
  int write_ = -1;
  std::string buffer_;
};

// One request on a new connection; nullopt when the connection ended first.
inline std::optional<HttpResponse> Exchange(const SocketAddress& address,
                                            std::string_view request) {
  RawClient client(address);
  if (!client.Send(request)) return std::nullopt;
  return client.ReadResponse();
}

// A request for `target` with Host: proxy.test.
inline std::string GetRequest(std::string_view target,
                              std::string_view extra_headers = {}) {
  return std::string("GET ") + std::string(target) +
         " HTTP/1.1\r\nHost: proxy.test\r\n" + std::string(extra_headers) +
         "\r\n";
}

}  // namespace homing::testing

#endif  // HOMING_TESTS_UNIT_PROXY_TEST_SUPPORT_H_
