#include "dnsmasq.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace homing::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeAaaa = 28;
constexpr int kPortAttempts = 20;
constexpr auto kStartTimeout = std::chrono::seconds(5);
constexpr auto kReloadTimeout = std::chrono::seconds(5);
constexpr auto kStopGrace = std::chrono::seconds(2);
constexpr auto kRestartTimeout = std::chrono::seconds(3);

std::string DnsmasqBinary() {
  const char* env = std::getenv("DNSMASQ");
  return env != nullptr && *env != '\0' ? env : "/usr/sbin/dnsmasq";
}

// A UDP port on 127.0.0.1 that was free a moment ago.
absl::StatusOr<uint16_t> PickFreeUdpPort() {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int error = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("bind: ", std::strerror(error)));
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// The canonical text of an IP address ("::0001" -> "::1"), or "" if invalid.
std::string NormalizeIp(const std::string& ip) {
  unsigned char buffer[sizeof(in6_addr)];
  char text[INET6_ADDRSTRLEN] = {};
  for (int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, ip.c_str(), buffer) == 1 &&
        inet_ntop(family, buffer, text, sizeof(text)) != nullptr) {
      return text;
    }
  }
  return "";
}

std::string BuildQuery(uint16_t id, std::string_view name, uint16_t type) {
  std::string packet;
  auto put16 = [&](uint16_t v) {
    packet.push_back(static_cast<char>(v >> 8));
    packet.push_back(static_cast<char>(v & 0xff));
  };
  put16(id);
  put16(0x0100);  // standard query, recursion desired
  put16(1);       // one question
  put16(0);
  put16(0);
  put16(0);
  for (absl::string_view label : absl::StrSplit(absl::string_view(name.data(), name.size()), '.',
                                                absl::SkipEmpty())) {
    packet.push_back(static_cast<char>(label.size()));
    packet.append(label.data(), label.size());
  }
  packet.push_back('\0');
  put16(type);
  put16(1);  // class IN
  return packet;
}

// Parses a response: the addresses of the answer records of `type`, empty
// for an error rcode. nullopt when the packet is malformed.
std::optional<std::vector<std::string>> ParseResponse(const unsigned char* p, size_t n,
                                                      uint16_t id, uint16_t type) {
  auto get16 = [&](size_t at) { return static_cast<uint16_t>((p[at] << 8) | p[at + 1]); };
  auto skip_name = [&](size_t at) -> std::optional<size_t> {
    while (at < n) {
      const unsigned char len = p[at];
      if (len == 0) return at + 1;
      if ((len & 0xC0) == 0xC0) return at + 2;
      at += 1 + len;
    }
    return std::nullopt;
  };
  // A response to our query: its id and the QR bit. (Right after the server
  // starts, the query socket may even have been given the server's port and
  // be talking to itself.)
  if (n < 12 || get16(0) != id || (get16(2) & 0x8000) == 0) return std::nullopt;
  std::vector<std::string> addresses;
  if ((get16(2) & 0x000F) != 0) return addresses;
  const uint16_t questions = get16(4);
  const uint16_t answers = get16(6);
  size_t at = 12;
  for (uint16_t i = 0; i < questions; ++i) {
    std::optional<size_t> next = skip_name(at);
    if (!next || *next + 4 > n) return std::nullopt;
    at = *next + 4;
  }
  for (uint16_t i = 0; i < answers; ++i) {
    std::optional<size_t> next = skip_name(at);
    if (!next || *next + 10 > n) return std::nullopt;
    at = *next;
    const uint16_t record_type = get16(at);
    const uint16_t length = get16(at + 8);
    at += 10;
    if (at + length > n) return std::nullopt;
    char text[INET6_ADDRSTRLEN] = {};
    if (record_type == type && type == kTypeA && length == 4) {
      inet_ntop(AF_INET, p + at, text, sizeof(text));
      addresses.push_back(text);
    } else if (record_type == type && type == kTypeAaaa && length == 16) {
      inet_ntop(AF_INET6, p + at, text, sizeof(text));
      addresses.push_back(text);
    }
    at += length;
  }
  std::sort(addresses.begin(), addresses.end());
  return addresses;
}

}  // namespace

Dnsmasq::Dnsmasq() : Dnsmasq(Options()) {}

Dnsmasq::Dnsmasq(Options options) : options_(std::move(options)) {
  char dir[] = "/tmp/homing-dnsmasq-XXXXXX";
  if (mkdtemp(dir) != nullptr) dir_ = dir;
}

Dnsmasq::~Dnsmasq() {
  Stop();
  if (dir_.empty()) return;
  for (const char* file : {"/hosts", "/hosts.new", "/dnsmasq.log", "/dnsmasq.pid"}) {
    unlink((dir_ + file).c_str());
  }
  rmdir(dir_.c_str());
}

std::string Dnsmasq::address() const { return absl::StrCat("127.0.0.1:", port_); }

std::string Dnsmasq::log() const {
  std::ifstream in(dir_ + "/dnsmasq.log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status Dnsmasq::Start() {
  if (dir_.empty()) return absl::InternalError("could not create a temporary directory");
  if (running()) return absl::OkStatus();
  if (absl::Status status = WriteHostsFile(); !status.ok()) return status;
  if (port_ != 0) {
    // The old server's sockets may take a moment to be released.
    const auto deadline = Clock::now() + kRestartTimeout;
    absl::Status status = StartOnPort(port_);
    while (!status.ok() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      status = StartOnPort(port_);
    }
    return status;
  }
  absl::Status last;
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    absl::StatusOr<uint16_t> port = PickFreeUdpPort();
    if (!port.ok()) return port.status();
    last = StartOnPort(*port);
    if (last.ok()) {
      port_ = *port;
      return last;
    }
  }
  return last;
}

absl::Status Dnsmasq::StartOnPort(uint16_t port) {
  std::vector<std::string> args = {
      DnsmasqBinary(),
      "--keep-in-foreground",
      "--no-resolv",
      "--no-hosts",
      absl::StrCat("--port=", port),
      "--listen-address=127.0.0.1",
      "--bind-interfaces",
      "--user=root",
      absl::StrCat("--local-ttl=", options_.local_ttl_seconds),
      absl::StrCat("--addn-hosts=", dir_, "/hosts"),
      absl::StrCat("--pid-file=", dir_, "/dnsmasq.pid"),
      "--log-facility=-",
  };
  for (const std::string& domain : options_.local_domains) {
    args.push_back(absl::StrCat("--local=/", domain, "/"));
  }
  if (options_.log_queries) args.push_back("--log-queries");
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const std::string log_path = dir_ + "/dnsmasq.log";
  const pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    // exec keeps the signal mask and ignored signals; the test framework's
    // handlers must not run in the child before exec either.
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGSEGV, SIGABRT, SIGPIPE}) {
      signal(sig, SIG_DFL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log_fd >= 0) {
      dup2(log_fd, STDOUT_FILENO);
      dup2(log_fd, STDERR_FILENO);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  paused_ = false;
  port_ = port;
  absl::Status status = WaitUntilAnswering();
  if (!status.ok()) Stop();
  return status;
}

absl::Status Dnsmasq::WaitUntilAnswering() {
  const std::string probe = absl::StrCat(
      "homing-probe.", options_.local_domains.empty() ? "invalid" : options_.local_domains[0]);
  const auto deadline = Clock::now() + kStartTimeout;
  while (Clock::now() < deadline) {
    int wstatus = 0;
    if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(absl::StrCat(
          "dnsmasq on port ", port_, " exited (status ", wstatus, "): ", log()));
    }
    if (Query(probe, false, 100).ok()) return absl::OkStatus();
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "dnsmasq on port ", port_, " did not answer within 5s: ", log()));
}

void Dnsmasq::Stop() {
  if (!running()) return;
  kill(pid_, SIGTERM);
  if (paused_) kill(pid_, SIGCONT);
  const auto deadline = Clock::now() + kStopGrace;
  int wstatus = 0;
  while (waitpid(pid_, &wstatus, WNOHANG) == 0) {
    if (Clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &wstatus, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pid_ = -1;
  paused_ = false;
}

void Dnsmasq::Pause() {
  if (!running() || paused_) return;
  kill(pid_, SIGSTOP);
  int wstatus = 0;
  waitpid(pid_, &wstatus, WUNTRACED);
  paused_ = true;
}

void Dnsmasq::Resume() {
  if (!running() || !paused_) return;
  kill(pid_, SIGCONT);
  paused_ = false;
}

absl::Status Dnsmasq::WriteHostsFile() const {
  if (dir_.empty()) return absl::InternalError("could not create a temporary directory");
  const std::string path = dir_ + "/hosts";
  {
    std::ofstream out(path + ".new", std::ios::trunc);
    for (const DnsRecord& record : records_) out << record.ip << ' ' << record.name << '\n';
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", path, ".new"));
  }
  if (std::rename((path + ".new").c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("rename to ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status Dnsmasq::SetRecords(std::vector<DnsRecord> records) {
  for (DnsRecord& record : records) {
    std::string ip = NormalizeIp(record.ip);
    if (ip.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("not an IP address: \"", record.ip, "\""));
    }
    record.ip = std::move(ip);
  }
  std::vector<std::string> names;
  for (const auto* list : {&records_, &records}) {
    for (const DnsRecord& record : *list) names.push_back(record.name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  records_ = std::move(records);
  if (absl::Status status = WriteHostsFile(); !status.ok()) return status;
  if (!running()) return absl::OkStatus();
  kill(pid_, SIGHUP);
  if (paused_) return absl::OkStatus();  // takes effect on Resume()
  return WaitUntilServing(names);
}

absl::Status Dnsmasq::WaitUntilServing(const std::vector<std::string>& names) const {
  const auto deadline = Clock::now() + kReloadTimeout;
  std::string mismatch;
  while (Clock::now() < deadline) {
    mismatch.clear();
    for (const std::string& name : names) {
      for (bool ipv6 : {false, true}) {
        std::vector<std::string> expected;
        for (const DnsRecord& record : records_) {
          const bool is_v6 = record.ip.find(':') != std::string::npos;
          if (record.name == name && is_v6 == ipv6) expected.push_back(record.ip);
        }
        std::sort(expected.begin(), expected.end());
        expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
        absl::StatusOr<std::vector<std::string>> got = Query(name, ipv6, 200);
        if (!got.ok() || *got != expected) {
          mismatch = absl::StrCat(name, ipv6 ? " AAAA" : " A", " is [",
                                  got.ok() ? absl::StrJoin(*got, ",") : "no answer",
                                  "], expected [", absl::StrJoin(expected, ","), "]");
        }
      }
    }
    if (mismatch.empty()) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("dnsmasq did not load the new records within 5s: ", mismatch));
}

absl::StatusOr<std::vector<std::string>> Dnsmasq::Query(std::string_view name, bool ipv6,
                                                        int timeout_ms) const {
  static uint16_t next_id = static_cast<uint16_t>(getpid());
  const uint16_t id = ++next_id;
  const uint16_t type = ipv6 ? kTypeAaaa : kTypeA;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(port_);
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string query = BuildQuery(id, name, type);
  std::optional<std::vector<std::string>> result;
  if (connect(fd, reinterpret_cast<sockaddr*>(&server), sizeof(server)) == 0 &&
      send(fd, query.data(), query.size(), 0) == static_cast<ssize_t>(query.size())) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!result && Clock::now() < deadline) {
      const int wait_ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(
                                               deadline - Clock::now()).count());
      pollfd pfd{fd, POLLIN, 0};
      if (poll(&pfd, 1, wait_ms) <= 0) break;
      unsigned char buffer[1500];
      ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
      if (n < 0) break;  // e.g. connection refused: nothing listens
      result = ParseResponse(buffer, static_cast<size_t>(n), id, type);
    }
  }
  close(fd);
  if (!result) {
    return absl::UnavailableError(absl::StrCat("no DNS answer for ", std::string(name),
                                               " from ", address()));
  }
  return *std::move(result);
}

}  // namespace homing::testing
