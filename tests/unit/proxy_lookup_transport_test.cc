// PoolLookupTransport: the affinity lookup's resolver requests over the
// worker's own HTTP client, against a real HttpServer on loopback.

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "homing/http_upstream.h"
#include "proxy/pool_lookup_transport.h"
#include "proxy_test_support.h"

namespace homing {
namespace {

using proxy_internal::PoolLookupTransport;
using testing::MainLoop;
using testing::TestLoop;
using testing::TestUpstream;
using Response = LookupTransport::Response;

// The transport on a worker-like loop thread, with a resolver upstream.
struct Fixture {
  TestLoop upstream_loop;
  TestUpstream resolver{upstream_loop, "resolver", "127.0.1.90"};
  MainLoop worker;
  std::unique_ptr<UpstreamPools> pools;
  std::unique_ptr<PoolLookupTransport> transport;
  std::unique_ptr<Cancelable> handle;
  std::optional<Response> response;  // the loop thread's, read after WaitFor

  Fixture() {
    resolver.set_where_answer("server-1.svc:8081");
    worker.Run([&] {
      pools = UpstreamPools::Create(worker.dispatcher(), {});
      transport = std::make_unique<PoolLookupTransport>(worker.dispatcher(), *pools);
    });
  }
  ~Fixture() {
    worker.Run([&] {
      handle.reset();
      transport.reset();
      pools.reset();
    });
  }

  // Starts a GET of `path` on `address`; checks the callback does not run
  // inside Get().
  void Get(const SocketAddress& address, std::string path,
           Duration timeout = std::chrono::seconds(5)) {
    worker.Run([&] {
      Host host(address, "resolver");
      handle = transport->Get(host, path, timeout, [this](Response answer) {
        response = std::move(answer);
      });
      CHECK_FALSE(response.has_value());
    });
  }
  Response Wait() {
    REQUIRE(worker.WaitFor([&] { return response.has_value(); }));
    Response answer;
    worker.Run([&] {
      answer = std::move(*response);
      response.reset();
      handle.reset();
    });
    return answer;
  }
};

TEST_CASE("PoolLookupTransport returns the resolver's status and body") {
  Fixture f;
  f.Get(f.resolver.address, "/where?client_id=7");
  Response answer = f.Wait();
  CHECK(answer.error == Response::Error::kNone);
  CHECK(answer.status == 200);
  CHECK(answer.body == R"({"hostport":"server-1.svc:8081"})");

  f.Get(f.resolver.address, "/status/503");
  answer = f.Wait();
  CHECK(answer.error == Response::Error::kNone);
  CHECK(answer.status == 503);
  CHECK(answer.body == "resolver");
  // Both over one keep-alive connection.
  CHECK(f.resolver.connections() == 1);
  CHECK(f.resolver.requests() == 2);
}

TEST_CASE("A request lost on a kept-alive connection is sent once more") {
  Fixture f;
  f.Get(f.resolver.address, "/where?client_id=7");
  REQUIRE(f.Wait().status == 200);
  // The resolver closes the kept-alive connection as the next request
  // arrives: it goes again on a fresh connection.
  f.resolver.set_drop_next();
  f.Get(f.resolver.address, "/where?client_id=8");
  Response answer = f.Wait();
  CHECK(answer.error == Response::Error::kNone);
  CHECK(answer.status == 200);
  CHECK(f.resolver.requests() == 3);
}

TEST_CASE("A request lost on a fresh connection is not sent again") {
  Fixture f;
  f.resolver.set_drop_next();
  f.Get(f.resolver.address, "/where?client_id=7");
  Response answer = f.Wait();
  CHECK(answer.error == Response::Error::kOther);
  CHECK_MESSAGE(answer.error_detail.find("upstream ") == 0, answer.error_detail);
  CHECK(f.resolver.requests() == 1);
}

TEST_CASE("PoolLookupTransport reports a refused connection as a connect failure") {
  SocketAddress closed;
  {
    testing::RawServer probe("127.0.1.91");
    closed = probe.address;
  }
  Fixture f;
  f.Get(closed, "/where?client_id=7");
  Response answer = f.Wait();
  CHECK(answer.error == Response::Error::kConnectFailure);
  CHECK_MESSAGE(answer.error_detail.find("connect_failure") != std::string::npos,
                answer.error_detail);
}

TEST_CASE("PoolLookupTransport times out a resolver that does not answer") {
  Fixture f;
  f.Get(f.resolver.address, "/hold", std::chrono::milliseconds(100));
  Response answer = f.Wait();
  CHECK(answer.error == Response::Error::kTimeout);
  CHECK(answer.error_detail == "no answer within the lookup timeout");
}

TEST_CASE("Destroying a PoolLookupTransport handle cancels the request") {
  Fixture f;
  f.Get(f.resolver.address, "/wait");
  REQUIRE(f.worker.WaitFor([&] { return f.resolver.held() == 1; }));
  f.worker.Run([&] { f.handle.reset(); });
  f.resolver.Release();
  // The answer (if it still arrives) reaches nobody; a later request works.
  f.Get(f.resolver.address, "/where?client_id=8");
  Response answer = f.Wait();
  CHECK(answer.status == 200);
}

}  // namespace
}  // namespace homing
