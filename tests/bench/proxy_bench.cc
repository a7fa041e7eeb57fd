// What the proxy's access log costs: formatting a line, writing lines to a
// file one write() each versus one write() per batch (what a worker does per
// loop iteration), and a whole keep-alive request through a ProxyWorker with
// and without an access log going to a regular file.

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "homing/http_server.h"
#include "homing/loop_thread.h"
#include "homing/proxy.h"

namespace homing {
namespace {

AccessLogRecord SampleRecord(const SocketAddress& address) {
  AccessLogRecord record;
  record.start = std::chrono::system_clock::now();
  record.method = "GET";
  record.path = "/join?client_id=123";
  record.status = 200;
  record.route = "backend/0";
  record.key = "123";
  record.lookup = "hit";
  record.upstream = "server-1.server-headless.poc-routing.svc.cluster.local:8081";
  record.address = &address;
  record.duration = std::chrono::microseconds(412);
  return record;
}

// A temporary regular file, as `homing-proxy > access.log` writes to.
struct TempFile {
  TempFile() {
    char path[] = "/tmp/homing-proxy-bench-XXXXXX";
    fd = mkstemp(path);
    if (fd < 0) std::abort();
    unlink(path);
  }
  ~TempFile() { close(fd); }
  int fd = -1;
};

void BM_FormatAccessLogLine(benchmark::State& state) {
  const SocketAddress address = *SocketAddress::Parse("127.0.1.11:8081");
  const AccessLogRecord record = SampleRecord(address);
  std::string buffer;
  buffer.reserve(4096);
  for (auto _ : state) {
    buffer.clear();
    AppendAccessLogLine(&buffer, record);
    benchmark::DoNotOptimize(buffer.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FormatAccessLogLine);

// Lines per write(): 1 (a write per request) or 64 (a loop iteration's batch).
void BM_WriteAccessLog(benchmark::State& state) {
  const int64_t lines_per_write = state.range(0);
  const SocketAddress address = *SocketAddress::Parse("127.0.1.11:8081");
  const AccessLogRecord record = SampleRecord(address);
  TempFile file;
  AccessLog log(file.fd);
  std::string buffer;
  for (auto _ : state) {
    for (int64_t i = 0; i < 64; i += lines_per_write) {
      buffer.clear();
      for (int64_t j = 0; j < lines_per_write; ++j) AppendAccessLogLine(&buffer, record);
      log.Write(buffer);
    }
    if (lseek(file.fd, 0, SEEK_END) > (64 << 20)) ftruncate(file.fd, 0);
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_WriteAccessLog)->Arg(1)->Arg(64);

// The upstream: 200 "ok" to everything.
class OkHandler : public RequestHandler {
 public:
  void OnRequestHeaders(ServerStream& stream) override { stream_ = &stream; }
  void OnRequestEnd() override { stream_->SendResponse(200, {}, "ok"); }

 private:
  ServerStream* stream_ = nullptr;
};

// A blocking keep-alive client that expects `HTTP/1.1 200 … content-length: 2`.
class Client {
 public:
  explicit Client(const SocketAddress& address) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd_, address.sockaddr_ptr(), address.sockaddr_len()) != 0) std::abort();
  }
  ~Client() { close(fd_); }
  bool Get(std::string_view request) {
    if (send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      return false;
    }
    std::string response;
    char chunk[4096];
    while (true) {
      const size_t head_end = response.find("\r\n\r\n");
      if (head_end != std::string::npos && response.size() >= head_end + 6) {
        return response.compare(9, 3, "200") == 0;
      }
      const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) return false;
      response.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
};

// A keep-alive GET through a ProxyWorker (one STATIC cluster), access log
// off (0) or to a regular file (1).
void BM_ProxyRequest(benchmark::State& state) {
  auto upstream_loop = LoopThread::Start();
  auto worker_loop = LoopThread::Start();
  if (!upstream_loop.ok() || !worker_loop.ok()) std::abort();
  std::unique_ptr<HttpServer> upstream;
  (void)(*upstream_loop)->RunSync([&] {
    HttpServerOptions options;
    options.listen_address = *SocketAddress::FromIp("127.0.1.201", 0);
    upstream = *HttpServer::Create((*upstream_loop)->dispatcher(), options,
                                   [] { return std::make_unique<OkHandler>(); });
  });
  const std::string yaml = absl::StrCat(R"(
static_resources:
  clusters:
  - name: backend
    type: STATIC
    load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.1.201, port_value: )",
                                        upstream->local_address().port(), R"(}}}}]}]}
  listeners:
  - name: main
    address: {socket_address: {address: 127.0.1.200, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - name: local
              domains: ["*"]
              routes: [{match: {prefix: /}, route: {cluster: backend}}]
          http_filters: [{name: envoy.filters.http.router}]
)");
  auto config = std::make_shared<const Bootstrap>(*ParseConfig(yaml, "bench"));
  TempFile file;
  AccessLog access_log(file.fd);
  StatsStore stats;
  std::unique_ptr<ProxyWorker> worker;
  (void)(*worker_loop)->RunSync([&] {
    worker = *ProxyWorker::Create(
        (*worker_loop)->dispatcher(), config, stats,
        {.access_log = state.range(0) != 0 ? &access_log : nullptr});
    worker->Start();
  });
  {
    Client client(worker->listen_addresses()[0]);
    const std::string request = "GET /where?client_id=123 HTTP/1.1\r\nHost: bench\r\n\r\n";
    for (auto _ : state) {
      if (!client.Get(request)) {
        state.SkipWithError("request failed");
        break;
      }
    }
  }
  state.SetItemsProcessed(state.iterations());
  (void)(*worker_loop)->RunSync([&] { worker.reset(); });
  (void)(*upstream_loop)->RunSync([&] { upstream.reset(); });
}
BENCHMARK(BM_ProxyRequest)->Arg(0)->Arg(1)->UseRealTime();

}  // namespace
}  // namespace homing

BENCHMARK_MAIN();
