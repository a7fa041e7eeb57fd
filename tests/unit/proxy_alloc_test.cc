// The proxy's hot path: a keep-alive client, a cached routing decision and a
// keep-alive upstream connection. This file replaces the program's global
// operator new/delete with versions that count the allocations made on the
// worker's loop thread while a test holds the counter open, and checks what
// one request costs there.

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "homing/proxy.h"
#include "proxy_test_support.h"

// AddressSanitizer brings its own allocator, and memory that a shared
// library (simdjson) allocates with it would come back to the replacement
// below: the count is only taken in builds without it.
#if !defined(__SANITIZE_ADDRESS__)

namespace {

thread_local bool counting = false;
std::atomic<size_t> allocations{0};

void* CountedAllocate(size_t size) {
  if (counting) allocations.fetch_add(1, std::memory_order_relaxed);
  void* memory = std::malloc(size == 0 ? 1 : size);
  if (memory == nullptr) throw std::bad_alloc();
  return memory;
}

}  // namespace

void* operator new(size_t size) { return CountedAllocate(size); }
void* operator new[](size_t size) { return CountedAllocate(size); }
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete[](void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, size_t) noexcept { std::free(memory); }
void operator delete[](void* memory, size_t) noexcept { std::free(memory); }

namespace homing {
namespace {

using testing::GetRequest;
using testing::LogPipe;
using testing::MainLoop;
using testing::RawClient;
using testing::TestLoop;
using testing::TestUpstream;

// A resolver cluster (an in-process /where), an owner named by IP literal
// (so the DNS cache answers without DNS) and a load-balanced route.
constexpr char kConfig[] = R"(
static_resources:
  clusters:
  - name: resolver
    type: STATIC
    load_assignment: {endpoints: [{lb_endpoints: [
      {endpoint: {address: {socket_address: {address: 127.0.1.74, port_value: {R}}}}}]}]}
  - name: backend
    type: STATIC
    load_assignment: {endpoints: [{lb_endpoints: [
      {endpoint: {address: {socket_address: {address: 127.0.1.75, port_value: {O}}}}}]}]}
  - name: dfp
    lb_policy: CLUSTER_PROVIDED
    cluster_type:
      name: envoy.clusters.dynamic_forward_proxy
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig
        dns_cache_config: {name: cache}
  listeners:
  - name: main
    address: {socket_address: {address: 127.0.1.73, port_value: 0}}
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
              routes:
              - match: {prefix: /join}
                route: {cluster: dfp}
                typed_per_filter_config:
                  homing.filters.http.affinity:
                    lookup_cluster: resolver
                    allowed_hostports: ["127.0.1.75:{O}"]
              - match: {prefix: /where}
                route: {cluster: backend}
          http_filters:
          - name: homing.filters.http.affinity
          - name: envoy.filters.http.dynamic_forward_proxy
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig
              dns_cache_config: {name: cache}
          - name: envoy.filters.http.router
)";

struct HotPath {
  TestLoop upstream_loop;
  TestUpstream resolver{upstream_loop, "resolver", "127.0.1.74"};
  TestUpstream owner{upstream_loop, "owner", "127.0.1.75"};
  MainLoop worker_loop;  // the worker's loop thread
  StatsStore stats;
  LogPipe log;
  AccessLog access_log{log.write_fd()};
  std::unique_ptr<ProxyWorker> worker;

  HotPath() {
    const std::string owner_hostport = owner.address.ToString();
    resolver.set_where_answer(owner_hostport);
    absl::StatusOr<Bootstrap> config = ParseConfig(
        absl::StrReplaceAll(kConfig, {{"{R}", absl::StrCat(resolver.address.port())},
                                      {"{O}", absl::StrCat(owner.address.port())}}),
        "hot");
    REQUIRE_MESSAGE(config.ok(), config.status().ToString());
    worker_loop.Run([&] {
      auto created = ProxyWorker::Create(worker_loop.dispatcher(),
                                         std::make_shared<const Bootstrap>(*config),
                                         stats, {.access_log = &access_log});
      REQUIRE_MESSAGE(created.ok(), created.status().ToString());
      worker = *std::move(created);
      worker->Start();
    });
  }
  ~HotPath() {
    worker_loop.Run([&] { worker.reset(); });
  }

  // Allocations on the worker's thread per request, over `n` requests on
  // one keep-alive connection (after warming it up).
  double AllocationsPerRequest(std::string_view target, int n) {
    RawClient client(worker->listen_addresses()[0]);
    for (int i = 0; i < 3; ++i) {
      REQUIRE(client.Send(GetRequest(target)));
      REQUIRE(client.ReadResponse().has_value());
    }
    worker_loop.Run([] {
      allocations = 0;
      counting = true;
    });
    for (int i = 0; i < n; ++i) {
      REQUIRE(client.Send(GetRequest(target)));
      std::optional<testing::HttpResponse> response = client.ReadResponse();
      REQUIRE(response.has_value());
      REQUIRE(response->status == 200);
    }
    size_t counted = 0;
    worker_loop.Run([&] {
      counting = false;
      counted = allocations;
    });
    return static_cast<double>(counted) / n;
  }
};

TEST_CASE("a cached affinity request allocates only the forwarded authority") {
  HotPath path;
  const double per_request = path.AllocationsPerRequest("/join?client_id=123", 200);
  // The ProxyStream keeps its own copy of the rewritten Host (the owner's
  // hostport, longer than the small-string buffer); routing, the logical
  // host, rq_active, passive health and the access log add nothing.
  CHECK(per_request <= 1.0);
  CHECK(path.resolver.requests() == 1);
}

TEST_CASE("a load-balanced request allocates nothing on the worker") {
  HotPath path;
  CHECK(path.AllocationsPerRequest("/where", 200) == 0.0);
}

}  // namespace
}  // namespace homing

#endif  // !defined(__SANITIZE_ADDRESS__)
