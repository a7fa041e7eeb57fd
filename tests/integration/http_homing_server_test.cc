// homing-server, the real binary ($HOMING_SERVER), on 127.0.1.x: every
// endpoint, 421 for keys it does not own, the /join log line, SIGHUP reload of
// --members-file, bad arguments. A libcurl client; every process is stopped
// by the test, even when it fails.

#include <curl/curl.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "dnsmasq.h"
#include "homing/placement.h"

extern char** environ;

namespace homing {
namespace {

const char* ServerBinary() {
  const char* path = std::getenv("HOMING_SERVER");
  REQUIRE_MESSAGE(path != nullptr, "HOMING_SERVER is not set");
  return path;
}

// A child process with its stdout and stderr on pipes.
class Process {
 public:
  Process(const std::vector<std::string>& args,
          const std::vector<std::string>& extra_env) {
    int out[2];
    int err[2];
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(pipe2(err, O_CLOEXEC) == 0);
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      bool overridden = false;
      for (const std::string& extra : extra_env) {
        if (entry.substr(0, entry.find('=')) == extra.substr(0, extra.find('='))) {
          overridden = true;
        }
      }
      if (!overridden) env.push_back(entry);
    }
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> argv;
    std::string binary = ServerBinary();
    argv.push_back(binary.data());
    std::vector<std::string> args_copy = args;
    for (std::string& arg : args_copy) argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (std::string& entry : env) envp.push_back(entry.data());
    envp.push_back(nullptr);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      dup2(out[1], 1);
      dup2(err[1], 2);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    stdout_ = out[0];
    stderr_ = err[0];
  }

  ~Process() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(stdout_);
    close(stderr_);
  }

  void Signal(int signum) { kill(pid_, signum); }

  // The exit code (10 s at most; -1 on timeout or a signal death).
  int Wait() {
    for (int i = 0; i < 1000; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

  // Reads stderr until it contains `needle` (10 s at most); returns all of it
  // read so far.
  std::string ReadStderrUntil(const std::string& needle) {
    ReadUntil(stderr_, &err_, needle);
    return err_;
  }
  std::string ReadAllStderr() {
    ReadUntil(stderr_, &err_, std::string(1, '\0'));
    return err_;
  }
  // The next complete stdout line, without the newline.
  std::optional<std::string> ReadStdoutLine() {
    if (!ReadUntil(stdout_, &out_, "\n")) return std::nullopt;
    const size_t newline = out_.find('\n');
    std::string line = out_.substr(0, newline);
    out_.erase(0, newline + 1);
    return line;
  }

 private:
  static bool ReadUntil(int fd, std::string* buffer, const std::string& needle) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (buffer->find(needle) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char chunk[4096];
      const ssize_t n = read(fd, chunk, sizeof(chunk));
      if (n <= 0) return false;
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

// A started server and its address.
struct RunningServer {
  std::unique_ptr<Process> process;
  std::string address;  // ip:port
};

RunningServer StartServer(std::vector<std::string> args,
                          std::vector<std::string> env = {}) {
  RunningServer server;
  server.process = std::make_unique<Process>(args, env);
  const std::string err = server.process->ReadStderrUntil(" as member ");
  std::smatch match;
  REQUIRE_MESSAGE(std::regex_search(err, match,
                                    std::regex("listening on ([0-9.]+:[0-9]+)")),
                  err);
  server.address = match[1];
  return server;
}

struct Reply {
  long status = 0;
  std::string body;
  std::string content_type;
};

Reply Fetch(const std::string& address, const std::string& target) {
  CURL* curl = curl_easy_init();
  Reply reply;
  const std::string url = "http://" + address + target;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION,
      +[](char* data, size_t size, size_t n, void* user) {
        static_cast<std::string*>(user)->append(data, size * n);
        return size * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  REQUIRE(curl_easy_perform(curl) == CURLE_OK);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  char* type = nullptr;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
  if (type != nullptr) reply.content_type = type;
  curl_easy_cleanup(curl);
  return reply;
}

std::vector<std::string> Members(int n) {
  std::vector<std::string> members;
  for (int i = 0; i < n; ++i) {
    members.push_back("server-" + std::to_string(i) +
                      ".server-headless.poc-routing.svc.cluster.local:8081");
  }
  return members;
}

std::string Join(const std::vector<std::string>& members) {
  std::string text;
  for (const std::string& m : members) text += (text.empty() ? "" : ",") + m;
  return text;
}

std::unique_ptr<Placement> Jump(const std::vector<std::string>& members) {
  auto placement = Placement::Create(PlacementStrategy::kJump, members);
  REQUIRE(placement.ok());
  return *std::move(placement);
}

// The first key "k0", "k1", … whose owner satisfies `wanted`.
template <typename Predicate>
std::string FindKey(Predicate wanted) {
  for (int i = 0; i < 10000; ++i) {
    const std::string key = "k" + std::to_string(i);
    if (wanted(key)) return key;
  }
  FAIL("no such key");
  return {};
}

TEST_CASE("homing-server answers every endpoint as the seed's server does") {
  const std::vector<std::string> members = Members(3);
  auto placement = Jump(members);
  RunningServer server = StartServer(
      {"--listen", "127.0.1.50:0", "--members", Join(members)},
      {"HOSTNAME=server-1"});
  const std::string own =
      FindKey([&](const std::string& k) { return placement->OwnerIndex(k) == 1; });
  const std::string other =
      FindKey([&](const std::string& k) { return placement->OwnerIndex(k) == 2; });

  Reply health = Fetch(server.address, "/health");
  CHECK(health.status == 200);
  CHECK(health.body == R"({"status":"ok"})");
  CHECK(health.content_type == "application/json");

  Reply where = Fetch(server.address, "/where?client_id=" + other);
  CHECK(where.status == 200);
  CHECK(where.body == R"({"client_id":")" + other + R"(","hostport":")" +
                          members[2] + R"("})");

  Reply join = Fetch(server.address, "/join?client_id=" + own);
  CHECK(join.status == 200);
  CHECK(join.body == R"({"assigned":"server-1:8081","client_id":")" + own +
                         R"(","status":"ok"})");
  std::optional<std::string> line = server.process->ReadStdoutLine();
  REQUIRE(line);
  CHECK_MESSAGE(std::regex_match(*line,
                                 std::regex("[0-9]{4}/[0-9]{2}/[0-9]{2} "
                                            "[0-9]{2}:[0-9]{2}:[0-9]{2} "
                                            "/join: client_id=" + own +
                                            " assigned to server-1:8081")),
                *line);

  Reply misdirected = Fetch(server.address, "/join?client_id=" + other);
  CHECK(misdirected.status == 421);
  CHECK(misdirected.body == R"({"status":"misdirected","client_id":")" +
                                other + R"(","owner":")" + members[2] +
                                R"("})");

  Reply missing = Fetch(server.address, "/where?other=1");
  CHECK(missing.status == 400);
  CHECK(missing.body ==
        R"({"error":"bad_request","detail":"missing client_id query parameter"})");
  CHECK(Fetch(server.address, "/join?client_id=").status == 400);

  Reply unknown = Fetch(server.address, "/nowhere");
  CHECK(unknown.status == 404);
  CHECK(unknown.body == R"({"error":"not_found","detail":"no endpoint /nowhere"})");

  // Keys are percent-decoded and escaped for JSON.
  Reply odd = Fetch(server.address, "/where?client_id=a%22b%5Cc%0A");
  CHECK(odd.status == 200);
  CHECK(odd.body == R"({"client_id":"a\"b\\c\n","hostport":")" +
                        placement->Owner("a\"b\\c\n") + R"("})");

  server.process->Signal(SIGTERM);
  CHECK(server.process->Wait() == 0);
}

TEST_CASE("homing-server builds members from --replicas and a template") {
  RunningServer server = StartServer(
      {"--listen", "127.0.1.51:0", "--replicas", "3", "--member-template",
       "server-{i}.server-headless.poc-routing.svc.cluster.local:8081",
       "--placement", "rendezvous"},
      {"HOSTNAME=server-2"});
  auto placement = Placement::Create(PlacementStrategy::kRendezvous, Members(3));
  REQUIRE(placement.ok());
  const std::string own = FindKey(
      [&](const std::string& k) { return (*placement)->OwnerIndex(k) == 2; });
  Reply join = Fetch(server.address, "/join?client_id=" + own);
  CHECK(join.status == 200);
  CHECK(join.body.find(R"("assigned":"server-2:8081")") != std::string::npos);
}

TEST_CASE("SIGHUP re-reads the members file; a bad file keeps the old one") {
  const std::string path = "/tmp/homing-server-members-" +
                           std::to_string(getpid()) + ".txt";
  auto write = [&](const std::string& contents) {
    std::ofstream(path, std::ios::trunc) << contents;
  };
  const std::vector<std::string> three = Members(3);
  const std::vector<std::string> two(three.begin(), three.begin() + 2);
  write("# two instances\n" + two[0] + "\n" + two[1] + "\n\n");
  RunningServer server = StartServer(
      {"--listen", "127.0.1.52:0", "--members-file", path, "--self", "0"});
  auto before = Jump(two);
  auto after = Jump(three);
  // A key that moves to the new member when the set grows.
  const std::string moving =
      FindKey([&](const std::string& k) { return after->OwnerIndex(k) == 2; });
  const std::string where = "/where?client_id=" + moving;
  CHECK(Fetch(server.address, where).body.find(before->Owner(moving)) !=
        std::string::npos);

  write(three[0] + "\n" + three[1] + "\n" + three[2] + "\n");
  server.process->Signal(SIGHUP);
  server.process->ReadStderrUntil("membership reloaded: 3 members");
  CHECK(Fetch(server.address, where).body.find(three[2]) != std::string::npos);

  write("server-0:8081\nnot a hostport\n");
  server.process->Signal(SIGHUP);
  const std::string err = server.process->ReadStderrUntil("keeping 3 members");
  CHECK(err.find("members file reload failed, keeping 3 members") !=
        std::string::npos);
  CHECK(Fetch(server.address, where).body.find(three[2]) != std::string::npos);
  std::remove(path.c_str());
}

TEST_CASE("--members-dns follows the headless service's records, no restart") {
  testing::Dnsmasq dns;
  REQUIRE(dns.Start().ok());
  const std::string service = "server-headless.poc-routing.svc.cluster.local";
  // Pods first: dnsmasq names an address (PTR) by its first name, as
  // Kubernetes' DNS names a pod.
  auto records = [&](int pods) {
    std::vector<testing::DnsRecord> list;
    for (int i = 0; i < pods; ++i) {
      list.push_back({"server-" + std::to_string(i) + "." + service,
                      "127.0.1." + std::to_string(55 + i)});
    }
    for (int i = 0; i < pods; ++i) {
      list.push_back({service, "127.0.1." + std::to_string(55 + i)});
    }
    return list;
  };
  REQUIRE(dns.SetRecords(records(2)).ok());
  RunningServer server = StartServer(
      {"--listen", "127.0.1.54:0", "--members-dns", service, "--members-port", "8081",
       "--dns-server", dns.address(), "--members-refresh-ms", "200", "--self", "0"});
  auto two = Jump(Members(2));
  auto three = Jump(Members(3));
  const std::string moving =
      FindKey([&](const std::string& k) { return three->OwnerIndex(k) == 2; });
  const std::string where = "/where?client_id=" + moving;
  CHECK(Fetch(server.address, where).body.find(two->Owner(moving)) != std::string::npos);

  // kubectl scale statefulset server --replicas 3
  REQUIRE(dns.SetRecords(records(3)).ok());
  server.process->ReadStderrUntil("membership changed (DNS): 3 members");
  CHECK(Fetch(server.address, where).body.find(Members(3)[2]) != std::string::npos);
}

TEST_CASE("homing-server refuses bad arguments with exit code 2") {
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> env;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{"--members", "a:1"}, {}, "--listen is required"},
      {{"--listen", "127.0.1.53:0"}, {},
       "give exactly one of --members, --members-file, --replicas and --members-dns"},
      {{"--listen", "127.0.1.53:0", "--members", "a:1", "--dns-server", "127.0.0.1"}, {},
       "--members-port, --dns-server and --members-refresh-ms go with --members-dns"},
      {{"--listen", "127.0.1.53:0", "--members-dns", "svc.cluster.local", "--self", "0"},
       {}, "--members-dns with --listen port 0 needs --members-port"},
      {{"--listen", "nowhere", "--members", "a:1", "--self", "0"}, {},
       "--listen: "},
      {{"--listen", "127.0.1.53:0", "--members", "a:1,b", "--self", "0"}, {},
       "--members: member \"b\""},
      {{"--listen", "127.0.1.53:0", "--members", "a:1,a:1", "--self", "0"}, {},
       "member \"a:1\" is listed twice"},
      {{"--listen", "127.0.1.53:0", "--members", "a:1", "--self", "1"}, {},
       "self ordinal 1 is not a member (1 members)"},
      {{"--listen", "127.0.1.53:0", "--members", "a:1"}, {"HOSTNAME=laptop"},
       "HOSTNAME \"laptop\" does not end in -<ordinal>; pass --self"},
      {{"--listen", "127.0.1.53:0", "--members", "a:1", "--self", "0",
        "--placement", "random"},
       {}, "--placement: "},
      {{"--listen", "127.0.1.53:0", "--replicas", "2"}, {},
       "--replicas and --member-template go together"},
      {{"--listen", "127.0.1.53:0", "--replicas", "2", "--member-template",
        "server.svc:80", "--self", "0"},
       {}, "has no {i} placeholder"},
      {{"--listen", "127.0.1.53:0", "--members-file", "/nonexistent/members",
        "--self", "0"},
       {}, "cannot read /nonexistent/members"},
      {{"--listen", "127.0.1.53:0", "--members", "a:1", "--bogus", "x"}, {},
       "unknown argument \"--bogus\""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.message);
    Process process(c.args, c.env);
    CHECK(process.Wait() == 2);
    const std::string err = process.ReadAllStderr();
    CHECK_MESSAGE(err.find(c.message) != std::string::npos, err);
    CHECK(err.find("usage: homing-server") != std::string::npos);
  }
}

}  // namespace
}  // namespace homing
