// ValidateConfig() (--check) and CheckReloadable() (what SIGHUP may change).

#include <doctest/doctest.h>

#include <string>

#include "homing/proxy.h"

namespace homing {
namespace {

Bootstrap Seed() {
  absl::StatusOr<Bootstrap> seed = LoadConfigFile(HOMING_SEED_CONFIG);
  REQUIRE_MESSAGE(seed.ok(), seed.status().ToString());
  return *std::move(seed);
}

TEST_CASE("the seed's config validates without resolving or binding") {
  CHECK(ValidateConfig(Seed()).ok());
}

TEST_CASE("ValidateConfig finds what only building the components finds") {
  struct Case {
    const char* name;
    void (*edit)(Bootstrap&);
    const char* error;
  };
  const Case cases[] = {
      {"a STATIC endpoint that is not an IP address",
       [](Bootstrap& b) {
         b.clusters.push_back({.name = "static",
                               .type = ClusterType::kStatic,
                               .endpoints = {{"server.local", 80}}});
       },
       "cluster \"static\": "},
      {"a route to a cluster that does not exist",
       [](Bootstrap& b) {
         b.listeners[0].http_connection_manager.route_config.virtual_hosts[0]
             .routes[1].action.cluster = "gone";
       },
       "listener \"listener_0\": route \"backend/1\": unknown cluster \"gone\""},
      {"a listener address that is not an IP literal",
       [](Bootstrap& b) { b.listeners[0].address.address = "localhost"; },
       "listener \"listener_0\" address: "},
      {"an admin address that is not an IP literal",
       [](Bootstrap& b) { b.admin.address.address = "admin.local"; },
       "admin.address: "},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Bootstrap config = Seed();
    c.edit(config);
    const absl::Status status = ValidateConfig(config);
    CHECK_FALSE(status.ok());
    CHECK_MESSAGE(std::string(status.message()).find(c.error) != std::string::npos,
                  status.ToString());
  }
}

TEST_CASE("a reload may change clusters and routes, not sockets") {
  const Bootstrap running = Seed();
  Bootstrap routes = running;
  routes.clusters[0].connect_timeout = std::chrono::seconds(3);
  routes.listeners[0].http_connection_manager.route_config.virtual_hosts[0]
      .routes.pop_back();
  routes.listeners[0].http_connection_manager.max_request_bytes = 10;
  CHECK(CheckReloadable(running, routes).ok());

  struct Case {
    void (*edit)(Bootstrap&);
    const char* error;
  };
  const Case cases[] = {
      {[](Bootstrap& b) { b.admin.address.port = 9902; },
       "admin.address changes from 127.0.0.1:9901 to 127.0.0.1:9902, which "
       "needs a restart"},
      {[](Bootstrap& b) { b.listeners.clear(); },
       "the number of listeners changes from 1 to 0, which needs a restart"},
      {[](Bootstrap& b) { b.listeners[0].address.address = "127.0.0.1"; },
       "listener \"listener_0\" address changes from 0.0.0.0:10000 to "
       "127.0.0.1:10000, which needs a restart"},
      {[](Bootstrap& b) { b.listeners[0].http_connection_manager.stat_prefix = "x"; },
       "listener \"listener_0\" stat_prefix changes from ingress_http to x"},
      {[](Bootstrap& b) {
         b.listeners[0].http_connection_manager.max_request_headers_kb = 8;
       },
       "listener \"listener_0\" max_request_headers_kb changes from 60 to 8"},
      {[](Bootstrap& b) {
         b.listeners[0].http_connection_manager.request_headers_timeout =
             std::chrono::seconds(1);
       },
       "request_headers_timeout changes from 10000ms to 1000ms"},
      {[](Bootstrap& b) {
         b.listeners[0].http_connection_manager.stream_idle_timeout =
             std::chrono::seconds(1);
       },
       "stream_idle_timeout changes from 300000ms to 1000ms"},
      {[](Bootstrap& b) {
         b.listeners[0].http_connection_manager.idle_timeout = std::chrono::seconds(1);
       },
       "idle_timeout changes from 3600000ms to 1000ms"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.error);
    Bootstrap next = running;
    c.edit(next);
    const absl::Status status = CheckReloadable(running, next);
    CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
    CHECK_MESSAGE(std::string(status.message()).find(c.error) != std::string::npos,
                  status.ToString());
  }
}

}  // namespace
}  // namespace homing
