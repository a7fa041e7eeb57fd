// File: tests/unit/http_test_support.h
//
// Helpers for the http component's tests: a LibuvDispatcher on a thread of
// its own (components are created, used and destroyed there through `Run()`),
// and a blocking raw-socket HTTP/1.1 client that can send anything
// (malformed heads, pipelined requests, partial requests) and reads responses
// with Content-Length, chunked or close-delimited bodies.
//
// Every socket read has a 10 s receive timeout so a broken test fails instead
// of hanging; no test asserts elapsed time.

#ifndef HOMING_TESTS_UNIT_HTTP_TEST_SUPPORT_H_
#define HOMING_TESTS_UNIT_HTTP_TEST_SUPPORT_H_

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/string_util.h"
#include "homing/address.h"
#include "homing/loop_thread.h"

namespace homing::testing {

// A loop thread for the test's components.
class TestLoop {
 public:
  TestLoop() {
    auto thread = LoopThread::Start();
    REQUIRE(thread.ok());
    thread_ = *std::move(thread);
  }
  ~TestLoop() { thread_.reset(); }

  LibuvDispatcher& dispatcher() { return thread_->dispatcher(); }

  // Runs `fn` on the loop thread and waits for it.
  void Run(const std::function<void()>& fn) {
    REQUIRE(thread_->RunSync([&] { fn(); }).ok());
  }

  // Polls `predicate` on the loop thread until it holds (10 s at most).
  bool WaitFor(const std::function<bool()>& predicate) {
    for (int i = 0; i < 2000; ++i) {
      bool done = false;
      Run([&] { done = predicate(); });
      if (done) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

 private:
  std::unique_ptr<LoopThread> thread_;
};

inline SocketAddress Loopback(std::string_view ip = "127.0.1.1",
                              uint16_t port = 0) {
  auto address = SocketAddress::FromIp(ip, port);
  REQUIRE(address.ok());
  return *address;
}

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  std::optional<std::string> Header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (internal::EqualsIgnoreCase(key, name)) return value;
    }
    return std::nullopt;
  }
  bool HasHeader(std::string_view name) const {
    return Header(name).has_value();
  }
};

// A blocking client socket.
class RawClient {
 public:
  explicit RawClient(const SocketAddress& address) {
    fd_ = socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    timeval timeout{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    REQUIRE(connect(fd_, address.sockaddr_ptr(), address.sockaddr_len()) ==
            0);
  }
  ~RawClient() {
    if (fd_ >= 0) close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  int fd() const { return fd_; }

  // Sends everything; false when the peer is gone.
  bool Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }

  // Reads one response. `head_request`: the response has no body.
  // nullopt when the connection ended (or timed out) first.
  std::optional<HttpResponse> ReadResponse(bool head_request = false) {
    size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    HttpResponse response;
    const std::string head = buffer_.substr(0, head_end);
    buffer_.erase(0, head_end + 4);
    size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12) return std::nullopt;
    response.status = std::stoi(status_line.substr(9, 3));
    while (line_end != std::string::npos) {
      const size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line = head.substr(
          start, line_end == std::string::npos ? std::string::npos
                                               : line_end - start);
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      response.headers.emplace_back(line.substr(0, colon), value);
    }
    if (head_request || response.status < 200 || response.status == 204 ||
        response.status == 304) {
      return response;
    }
    if (auto length = response.Header("content-length")) {
      const size_t n = std::stoul(*length);
      while (buffer_.size() < n) {
        if (!Fill()) return std::nullopt;
      }
      response.body = buffer_.substr(0, n);
      buffer_.erase(0, n);
      return response;
    }
    auto encoding = response.Header("transfer-encoding");
    if (encoding && internal::EqualsIgnoreCase(*encoding, "chunked")) {
      while (true) {
        size_t size_end;
        while ((size_end = buffer_.find("\r\n")) == std::string::npos) {
          if (!Fill()) return std::nullopt;
        }
        const size_t size = std::stoul(buffer_.substr(0, size_end), nullptr, 16);
        buffer_.erase(0, size_end + 2);
        while (buffer_.size() < size + 2) {
          if (!Fill()) return std::nullopt;
        }
        response.body.append(buffer_, 0, size);
        buffer_.erase(0, size + 2);
        if (size == 0) return response;
      }
    }
    while (Fill()) {
    }
    response.body = std::move(buffer_);
    buffer_.clear();
    return response;
  }

  // Reads until `n` bytes are buffered; returns them.
  std::optional<std::string> ReadExactly(size_t n) {
    while (buffer_.size() < n) {
      if (!Fill()) return std::nullopt;
    }
    std::string data = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return data;
  }

  // `true` when the server closed the connection (EOF or reset) with no
  // further bytes.
  bool WaitClosed() {
    char byte;
    while (true) {
      const ssize_t n = recv(fd_, &byte, 1, 0);
      if (n == 0) return buffer_.empty();
      if (n < 0) return errno == ECONNRESET;
      buffer_.push_back(byte);
    }
  }

 private:
  bool Fill() {
    char chunk[65536];
    while (true) {
      const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n > 0) {
        buffer_.append(chunk, static_cast<size_t>(n));
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
  }

  int fd_ = -1;
  std::string buffer_;
};

// A blocking listening socket whose connections a test script (run on a
// thread of its own) handles byte by byte: for upstreams that misbehave.
class RawServer {
 public:
  explicit RawServer(std::string_view ip = "127.0.1.9") {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    const SocketAddress bind_address = Loopback(ip);
    REQUIRE(bind(fd_, bind_address.sockaddr_ptr(),
                 bind_address.sockaddr_len()) == 0);
    REQUIRE(listen(fd_, 16) == 0);
    sockaddr_storage storage{};
    socklen_t length = sizeof(storage);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&storage), &length);
    address = *SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage));
  }
  ~RawServer() {
    if (thread_.joinable()) thread_.join();
    for (int fd : accepted_) {
      if (fd >= 0) close(fd);
    }
    close(fd_);
  }

  // Runs `script` on a thread; joined by the destructor or Join().
  void Run(std::function<void(RawServer&)> script) {
    thread_ = std::thread([this, script = std::move(script)] { script(*this); });
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  // Accepts one connection (10 s at most); -1 on timeout.
  int Accept() {
    timeval timeout{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    const int fd = accept(fd_, nullptr, nullptr);
    if (fd >= 0) {
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
      accepted_.push_back(fd);
    }
    return fd;
  }

  // Reads up to and including the blank line ending a head.
  static std::string ReadHead(int fd) {
    std::string head;
    char byte;
    while (head.size() < 4 || head.compare(head.size() - 4, 4, "\r\n\r\n") != 0) {
      if (recv(fd, &byte, 1, 0) != 1) break;
      head.push_back(byte);
    }
    return head;
  }

  static void SendAll(int fd, std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Closes `fd` now (it is skipped by the destructor).
  void Close(int fd) {
    for (int& accepted : accepted_) {
      if (accepted == fd) accepted = -1;
    }
    close(fd);
  }

  SocketAddress address;

 private:
  int fd_ = -1;
  std::vector<int> accepted_;
  std::thread thread_;
};

// "GET <path> HTTP/1.1\r\nHost: test\r\n<extra>\r\n"
inline std::string Get(std::string_view path, std::string_view extra = {}) {
  std::string request = "GET ";
  request.append(path);
  request.append(" HTTP/1.1\r\nHost: test\r\n");
  request.append(extra);
  request.append("\r\n");
  return request;
}

// A body of `size` bytes whose content depends on the offset, so any loss,
// duplication or reordering shows.
inline std::string PatternBody(size_t size) {
  std::string body(size, '\0');
  for (size_t i = 0; i < size; ++i) {
    body[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  }
  return body;
}

}  // namespace homing::testing

#endif  // HOMING_TESTS_UNIT_HTTP_TEST_SUPPORT_H_
