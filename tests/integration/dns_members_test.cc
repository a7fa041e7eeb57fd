// DnsMembers against dnsmasq: a StatefulSet's members from the SRV records
// of its headless service, or from its A records and their PTR names, and
// how the list follows the records.

#include "homing/dns_members.h"

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dnsmasq.h"
#include "homing/libuv_dispatcher.h"
#include "homing/stats.h"

namespace homing {
namespace {

using std::chrono::milliseconds;
using testing::DnsRecord;
using testing::Dnsmasq;
using Members = std::vector<std::string>;

constexpr char kService[] = "server-headless.members.svc.cluster.local";

std::string Pod(int ordinal) {
  return absl::StrCat("server-", ordinal, ".", kService);
}

// Pods first: dnsmasq answers an address's PTR with the first name the
// hosts file gives it, as Kubernetes' DNS names the pod.
std::vector<DnsRecord> Records(const std::vector<int>& ordinals) {
  std::vector<DnsRecord> records;
  for (int ordinal : ordinals) {
    records.push_back({Pod(ordinal), absl::StrCat("127.0.1.", 230 + ordinal)});
  }
  for (int ordinal : ordinals) {
    records.push_back({kService, absl::StrCat("127.0.1.", 230 + ordinal)});
  }
  return records;
}

struct Fixture {
  explicit Fixture(Dnsmasq::Options dns_options = {}) : dns(std::move(dns_options)) {
    REQUIRE(dns.Start().ok());
    auto created = LibuvDispatcher::Create();
    REQUIRE(created.ok());
    dispatcher = *std::move(created);
  }

  void Create(DnsMembers::Options options) {
    auto resolver = DnsResolver::CreateAres(*dispatcher, {.resolvers = {dns.address()}},
                                            std::chrono::seconds(2));
    REQUIRE(resolver.ok());
    auto made = DnsMembers::Create(*dispatcher, std::move(options), *std::move(resolver),
                                   stats.Scope("membership."),
                                   [this](const Members& now) { seen.push_back(now); });
    REQUIRE_MESSAGE(made.ok(), made.status().ToString());
    members = *std::move(made);
    members->Start();
  }

  bool RunUntil(const std::function<bool()>& done) {
    return dispatcher->RunUntil(done, std::chrono::seconds(10));
  }
  uint64_t Counter(const std::string& name) {
    return stats.Counter("membership." + name).value();
  }

  Dnsmasq dns;
  std::unique_ptr<LibuvDispatcher> dispatcher;
  StatsStore stats;
  std::unique_ptr<DnsMembers> members;
  std::vector<Members> seen;
};

DnsMembers::Options Options(std::string service, uint16_t port,
                            Duration refresh = milliseconds(200)) {
  DnsMembers::Options options;
  options.service = std::move(service);
  options.port = port;
  options.refresh = refresh;
  options.min_refresh = milliseconds(100);
  return options;
}

DnsMembers::Options Fast() { return Options(kService, 8081); }

TEST_CASE("without SRV records the members are the service's addresses, named by PTR") {
  Fixture f;
  REQUIRE(f.dns.SetRecords(Records({1, 0})).ok());
  f.Create(Fast());
  REQUIRE(f.RunUntil([&] { return !f.seen.empty(); }));
  CHECK(f.seen.back() == Members{Pod(0) + ":8081", Pod(1) + ":8081"});
  CHECK(f.stats.Gauge("membership.members").value() == 2);

  // kubectl scale --replicas 3: server-2 joins, in its ordinal's place.
  REQUIRE(f.dns.SetRecords(Records({0, 1, 2})).ok());
  REQUIRE(f.RunUntil([&] { return f.seen.size() == 2; }));
  CHECK(f.seen.back() == Members{Pod(0) + ":8081", Pod(1) + ":8081", Pod(2) + ":8081"});

  // server-1 leaves; the others keep their ordinals.
  REQUIRE(f.dns.SetRecords(Records({0, 2})).ok());
  REQUIRE(f.RunUntil([&] { return f.seen.size() == 3; }));
  CHECK(f.seen.back() == Members{Pod(0) + ":8081", Pod(2) + ":8081"});
  CHECK(f.Counter("membership_change") == 3);
  CHECK(f.members->members() == f.seen.back());
}

TEST_CASE("SRV records give the members and their port") {
  Dnsmasq::Options options;
  options.extra_args = {
      absl::StrCat("--srv-host=_http._tcp.", kService, ",", Pod(10), ",9000"),
      absl::StrCat("--srv-host=_http._tcp.", kService, ",", Pod(2), ",9000"),
  };
  Fixture f(options);
  REQUIRE(f.dns.SetRecords(Records({0})).ok());  // A records are not used
  f.Create(Fast());
  REQUIRE(f.RunUntil([&] { return !f.seen.empty(); }));
  CHECK(f.seen.back() == Members{Pod(2) + ":9000", Pod(10) + ":9000"});
}

TEST_CASE("a DNS server that stops answering leaves the members as they were") {
  Fixture f;
  REQUIRE(f.dns.SetRecords(Records({0, 1})).ok());
  f.Create(Fast());
  REQUIRE(f.RunUntil([&] { return !f.seen.empty(); }));
  f.dns.Stop();
  REQUIRE(f.RunUntil([&] { return f.Counter("resolve_failure") > 0; }));
  CHECK(f.seen.size() == 1);
  CHECK(f.members->members() == Members{Pod(0) + ":8081", Pod(1) + ":8081"});
}

TEST_CASE("options are checked") {
  auto dispatcher = LibuvDispatcher::Create();
  REQUIRE(dispatcher.ok());
  StatsStore stats;
  auto make = [&](DnsMembers::Options options) {
    auto resolver = DnsResolver::CreateAres(**dispatcher, {}, std::chrono::seconds(1));
    return DnsMembers::Create(**dispatcher, std::move(options), *std::move(resolver),
                              stats.Scope(""), [](const Members&) {});
  };
  CHECK(make(Options("", 80)).status().message() == "DnsMembers: service is required");
  CHECK(make(Options("s", 0)).status().message() == "DnsMembers: port is required");
  CHECK_FALSE(make(Options("s", 80, milliseconds(10))).ok());
  CHECK(make(Options("s", 80)).ok());
}

TEST_CASE("a pod's ordinal is the number ending its first label") {
  CHECK(PodOrdinal("server-2.server-headless.ns.svc.cluster.local:8081") == 2u);
  CHECK(PodOrdinal("web-api-17") == 17u);
  CHECK(PodOrdinal("server-12:80") == 12u);
  CHECK_FALSE(PodOrdinal("server.cluster.local:80").has_value());
  CHECK_FALSE(PodOrdinal("server-:80").has_value());
  CHECK_FALSE(PodOrdinal("server-x1").has_value());
  CHECK_FALSE(PodOrdinal("127.0.1.5:80").has_value());
  CHECK_FALSE(PodOrdinal("10-1-2-3.server-headless.ns.svc.cluster.local:80").has_value());
}

}  // namespace
}  // namespace homing
