// The access log line (AppendAccessLogLine) and the shared writer
// (AccessLog).

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "homing/proxy.h"

namespace homing {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// 2026-11-26T10:00:00.123Z
std::chrono::system_clock::time_point Start() {
  using namespace std::chrono;
  return sys_days{year{2026} / November / 26} + hours(10) + milliseconds(123);
}

TEST_CASE("an affinity request's line carries every field") {
  const SocketAddress address = *SocketAddress::Parse("127.0.1.11:8081");
  AccessLogRecord record;
  record.start = Start();
  record.method = "GET";
  record.path = "/join?client_id=123";
  record.status = 200;
  record.route = "local/0";
  record.key = "123";
  record.lookup = "hit";
  record.upstream = "server-1.server-headless.poc-routing.svc.cluster.local:8081";
  record.address = &address;
  record.duration = std::chrono::microseconds(412);
  std::string line;
  AppendAccessLogLine(&line, record);
  CHECK(line ==
        "2026-11-26T10:00:00.123Z \"GET /join?client_id=123 HTTP/1.1\" 200 "
        "route=local/0 key=123 lookup=hit "
        "upstream=server-1.server-headless.poc-routing.svc.cluster.local:8081 "
        "addr=127.0.1.11:8081 dur_ms=0.412 error=-\n");
}

TEST_CASE("a load-balanced request names the host's DNS name and port") {
  const SocketAddress address = *SocketAddress::Parse("127.0.1.10:8081");
  AccessLogRecord record;
  record.start = Start() + minutes(61) + seconds(7);
  record.method = "GET";
  record.path = "/where?client_id=9";
  record.http_minor = 0;
  record.status = 503;
  record.route = "resolver-route";
  record.upstream = "server";
  record.upstream_port = 8081;
  record.address = &address;
  record.duration = std::chrono::microseconds(1234567);
  record.error = "upstream_connect_failure";
  std::string line;
  AppendAccessLogLine(&line, record);
  CHECK(line ==
        "2026-11-26T11:01:07.123Z \"GET /where?client_id=9 HTTP/1.0\" 503 "
        "route=resolver-route key=- lookup=- upstream=server:8081 "
        "addr=127.0.1.10:8081 dur_ms=1234.567 error=upstream_connect_failure\n");
}

TEST_CASE("a local reply without a route prints dashes") {
  AccessLogRecord record;
  record.start = Start();
  record.method = "DELETE";
  record.path = "/nowhere";
  record.status = 404;
  record.error = "no_route";
  std::string line;
  AppendAccessLogLine(&line, record);
  CHECK(line ==
        "2026-11-26T10:00:00.123Z \"DELETE /nowhere HTTP/1.1\" 404 route=- "
        "key=- lookup=- upstream=- addr=- dur_ms=0.000 error=no_route\n");
}

TEST_CASE("keys and paths cannot split a line or a quoted field") {
  AccessLogRecord record;
  record.start = Start();
  record.method = "GET";
  record.path = "/join?client_id=a\"b";
  record.status = 0;
  record.key = "a b\"c\\d\n\xff";
  record.lookup = "miss";
  record.error = "downstream_reset";
  std::string line;
  AppendAccessLogLine(&line, record);
  CHECK(line ==
        "2026-11-26T10:00:00.123Z \"GET /join?client_id=a\\x22b HTTP/1.1\" 0 "
        "route=- key=a\\x20b\\x22c\\x5cd\\x0a\\xff lookup=miss upstream=- "
        "addr=- dur_ms=0.000 error=downstream_reset\n");
}

TEST_CASE("IPv6 upstream addresses are bracketed") {
  const SocketAddress address = *SocketAddress::Parse("[::1]:8081");
  AccessLogRecord record;
  record.start = Start();
  record.method = "GET";
  record.path = "/";
  record.status = 200;
  record.address = &address;
  std::string line;
  AppendAccessLogLine(&line, record);
  CHECK(line.find(" addr=[::1]:8081 ") != std::string::npos);
}

TEST_CASE("lines append to the caller's buffer without reallocating it") {
  AccessLogRecord record;
  record.start = Start();
  record.method = "GET";
  record.path = "/where";
  record.status = 200;
  std::string buffer;
  buffer.reserve(4096);
  const char* data = buffer.data();
  for (int i = 0; i < 10; ++i) AppendAccessLogLine(&buffer, record);
  CHECK(buffer.data() == data);
  CHECK(std::count(buffer.begin(), buffer.end(), '\n') == 10);
}

TEST_CASE("AccessLog writes everything, waiting out a full non-blocking pipe") {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  fcntl(fds[1], F_SETFL, O_NONBLOCK);
  const std::string lines(1 << 20, 'x');  // far beyond the pipe's buffer
  std::string received;
  std::thread reader([&] {
    char chunk[65536];
    ssize_t n;
    while ((n = read(fds[0], chunk, sizeof(chunk))) > 0) {
      received.append(chunk, static_cast<size_t>(n));
    }
  });
  AccessLog log(fds[1]);
  CHECK(log.fd() == fds[1]);
  log.Write(lines);
  close(fds[1]);
  reader.join();
  close(fds[0]);
  CHECK(received == lines);
}

}  // namespace
}  // namespace homing
