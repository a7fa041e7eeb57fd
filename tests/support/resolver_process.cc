// ResolverProcess: resolver_server.py as a child process.

#include "resolver_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simdjson.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace homing::testing {
namespace {

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : std::move(fallback);
}

absl::Status Errno(std::string_view what) {
  return absl::InternalError(
      absl::StrCat(absl::string_view(what.data(), what.size()), ": ",
                   std::strerror(errno)));
}

// Reads the first line the child prints, waiting at most `timeout`.
absl::StatusOr<std::string> ReadFirstLine(int fd,
                                          std::chrono::milliseconds timeout) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return absl::DeadlineExceededError("no port printed");
    pollfd pfd{fd, POLLIN, 0};
    int ready = poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buffer[64];
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) return absl::InternalError("resolver exited before printing its port");
    line.append(buffer, static_cast<size_t>(n));
  }
  return line.substr(0, line.find('\n'));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ResolverProcess>> ResolverProcess::Start(
    Options options) {
  const std::string python = EnvOr("PYTHON3", "python3");
  const std::string script =
      EnvOr("HOMING_SOURCE_ROOT", ".") + "/tests/support/resolver_server.py";
  std::vector<std::string> args = {python, script, "--address", options.address,
                                   "--port", std::to_string(options.port)};
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Errno("pipe2");
  pid_t pid = fork();
  if (pid < 0) return Errno("fork");
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  absl::StatusOr<std::string> line = ReadFirstLine(out[0], std::chrono::seconds(10));
  close(out[0]);
  // From here on the destructor stops the child, whatever happens.
  auto process = std::unique_ptr<ResolverProcess>(
      new ResolverProcess(pid, options.address, 0));
  if (!line.ok()) return line.status();
  uint32_t port = 0;
  if (!absl::SimpleAtoi(*line, &port) || port == 0 || port > 65535) {
    return absl::InternalError(absl::StrCat("resolver printed \"", *line,
                                            "\" instead of a port"));
  }
  process->port_ = static_cast<uint16_t>(port);
  return process;
}

ResolverProcess::~ResolverProcess() {
  kill(pid_, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

std::string ResolverProcess::hostport() const {
  return absl::StrCat(address_, ":", port_);
}

absl::StatusOr<std::string> ResolverProcess::Exchange(std::string_view method,
                                                      std::string_view path,
                                                      std::string_view body) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  inet_pton(AF_INET, address_.c_str(), &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    absl::Status status = Errno("connect to resolver");
    close(fd);
    return status;
  }
  std::string request = absl::StrCat(
      absl::string_view(method.data(), method.size()), " ",
      absl::string_view(path.data(), path.size()),
      " HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: ",
      body.size(), "\r\n\r\n", absl::string_view(body.data(), body.size()));
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      close(fd);
      return absl::InternalError("send to resolver failed");
    }
    sent += static_cast<size_t>(n);
  }
  std::string reply;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
    reply.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  size_t header_end = reply.find("\r\n\r\n");
  // "HTTP/1.x 200 ..."
  if (reply.size() < 12 || reply.compare(9, 3, "200") != 0 ||
      header_end == std::string::npos) {
    return absl::InternalError(absl::StrCat("resolver control answered: ", reply));
  }
  return reply.substr(header_end + 4);
}

absl::Status ResolverProcess::Control(std::string_view json) {
  return Exchange("POST", "/_control", json).status();
}

absl::StatusOr<ResolverProcess::Stats> ResolverProcess::GetStats() {
  absl::StatusOr<std::string> body = Exchange("GET", "/_stats", "");
  if (!body.ok()) return body.status();
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(*body).get(root) != simdjson::SUCCESS) {
    return absl::InternalError(absl::StrCat("bad /_stats body: ", *body));
  }
  Stats stats;
  simdjson::dom::object per_key;
  simdjson::dom::array queries;
  if (root["total"].get(stats.total) != simdjson::SUCCESS ||
      root["connections"].get(stats.connections) != simdjson::SUCCESS ||
      root["per_key"].get(per_key) != simdjson::SUCCESS ||
      root["queries"].get(queries) != simdjson::SUCCESS) {
    return absl::InternalError(absl::StrCat("bad /_stats body: ", *body));
  }
  for (auto field : per_key) {
    int64_t count = 0;
    if (field.value.get(count) == simdjson::SUCCESS) {
      stats.per_key[std::string(field.key)] = count;
    }
  }
  for (auto query : queries) {
    std::string_view text;
    if (query.get(text) == simdjson::SUCCESS) stats.queries.emplace_back(text);
  }
  return stats;
}

}  // namespace homing::testing
