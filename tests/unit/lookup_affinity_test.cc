// AffinityLookup's cache state machine, on a ManualDispatcher, with a
// scripted transport and a real STATIC cluster.

#include <doctest/doctest.h>

#include <deque>
#include <string>
#include <vector>

#include "homing/affinity_lookup.h"
#include "homing/manual_dispatcher.h"
#include "homing/stats.h"
#include "homing/upstream.h"

namespace homing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Failure = LookupOutcome::Failure;
using Source = LookupOutcome::Source;
using Response = LookupTransport::Response;

// ScriptedTransport
//
// Records each Get(); the test answers calls by index.
class ScriptedTransport final : public LookupTransport {
 public:
  struct Call {
    std::string host;  // "ip:port"
    std::string path_and_query;
    Duration timeout{};
    Callback callback;
    bool answered = false;
    bool cancelled = false;
  };

  std::unique_ptr<Cancelable> Get(const Host& host,
                                  std::string_view path_and_query,
                                  Duration timeout, Callback callback) override {
    calls_.push_back(Call{host.address_string(), std::string(path_and_query),
                          timeout, std::move(callback)});
    return std::make_unique<Handle>(this, calls_.size() - 1);
  }

  size_t size() const { return calls_.size(); }
  const Call& call(size_t i) const { return calls_.at(i); }

  void Reply(size_t i, Response response) {
    Call& call = calls_.at(i);
    REQUIRE_FALSE(call.answered);
    REQUIRE_FALSE(call.cancelled);
    call.answered = true;
    Callback callback = std::move(call.callback);
    callback(std::move(response));
  }

 private:
  struct Handle final : Cancelable {
    Handle(ScriptedTransport* t, size_t i) : transport(t), index(i) {}
    ~Handle() override {
      Call& call = transport->calls_[index];
      if (!call.answered) call.cancelled = true;
    }
    ScriptedTransport* transport;
    size_t index;
  };
  std::deque<Call> calls_;
};

std::string Owner(int n) {
  return "server-" + std::to_string(n) +
         ".server-headless.poc-routing.svc.cluster.local:8081";
}

Response Answer(std::string body, long status = 200) {
  Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

Response Hostport(std::string_view hostport) {
  return Answer(R"({"client_id":"k","hostport":")" + std::string(hostport) + R"("})");
}

Response Error(Response::Error error, std::string detail) {
  Response response;
  response.error = error;
  response.error_detail = std::move(detail);
  return response;
}

AffinityPolicy DefaultPolicy() {
  AffinityPolicy policy;
  policy.lookup_cluster = "resolver";
  policy.allowed_hostports = {"*.server-headless.poc-routing.svc.cluster.local:8081"};
  return policy;
}

std::vector<EndpointSpec> TwoHosts() {
  return {{"127.0.1.10", 8081, 1}, {"127.0.1.11", 8081, 1}};
}

struct Recorder {
  std::vector<LookupOutcome> outcomes;
  AffinityLookup::Callback Callback() {
    return [this](const LookupOutcome& outcome) { outcomes.push_back(outcome); };
  }
};

struct Fixture {
  explicit Fixture(AffinityPolicy p = DefaultPolicy(),
                   std::vector<EndpointSpec> endpoints = TwoHosts(),
                   ClusterType type = ClusterType::kStatic)
      : policy(std::move(p)) {
    ClusterSpec spec;
    spec.name = "resolver";
    spec.type = type;
    spec.endpoints = std::move(endpoints);
    auto created = Cluster::Create(spec, dispatcher, store.Scope("cluster.resolver."));
    REQUIRE_MESSAGE(created.ok(), created.status().ToString());
    cluster = std::move(*created);
    auto scripted = std::make_unique<ScriptedTransport>();
    transport = scripted.get();
    auto made = AffinityLookup::Create(dispatcher, policy, *cluster,
                                       store.Scope("affinity.resolver."),
                                       std::move(scripted));
    REQUIRE_MESSAGE(made.ok(), made.status().ToString());
    lookup = std::move(*made);
  }

  uint64_t Count(std::string_view name) {
    return store.Counter("affinity.resolver." + std::string(name)).value();
  }
  int64_t Entries() { return store.Gauge("affinity.resolver.cache_entries").value(); }

  // Looks `key` up expecting a synchronous outcome.
  LookupOutcome Now(std::string_view key) {
    AffinityLookup::Result result = lookup->Lookup(key, [](const LookupOutcome&) {
      FAIL("a synchronous lookup called back");
    });
    REQUIRE(result.outcome.has_value());
    CHECK(result.handle == nullptr);
    return *result.outcome;
  }

  // Looks `key` up expecting it to wait; returns the handle.
  std::unique_ptr<Cancelable> Wait(std::string_view key, Recorder& recorder) {
    AffinityLookup::Result result = lookup->Lookup(key, recorder.Callback());
    REQUIRE_FALSE(result.outcome.has_value());
    REQUIRE(result.handle != nullptr);
    return std::move(result.handle);
  }

  // A cached answer for `key`: one lookup answered with `hostport`.
  void Prime(std::string_view key, std::string_view hostport) {
    Recorder recorder;
    auto handle = Wait(key, recorder);
    transport->Reply(transport->size() - 1, Hostport(hostport));
    REQUIRE(recorder.outcomes.size() == 1);
    REQUIRE(recorder.outcomes[0].ok());
  }

  AffinityPolicy policy;
  ManualDispatcher dispatcher;
  StatsStore store;
  std::unique_ptr<Cluster> cluster;
  ScriptedTransport* transport = nullptr;
  std::unique_ptr<AffinityLookup> lookup;
};

TEST_CASE("AffinityLookup::Create rejects an invalid policy with a message") {
  struct Case {
    void (*mutate)(AffinityPolicy&);
    std::string message;
  };
  const Case cases[] = {
      {[](AffinityPolicy& p) { p.lookup_path = "where"; },
       "affinity policy: lookup_path \"where\" must start with '/'"},
      {[](AffinityPolicy& p) { p.key.name = ""; }, "affinity policy: key name is empty"},
      {[](AffinityPolicy& p) { p.hostport_field = ""; },
       "affinity policy: hostport_field is empty"},
      {[](AffinityPolicy& p) { p.lookup_timeout = Duration::zero(); },
       "affinity policy: lookup_timeout must be positive"},
      {[](AffinityPolicy& p) { p.max_age = -seconds(1); },
       "affinity policy: max_age must not be negative"},
      {[](AffinityPolicy& p) {
         p.max_age = Duration::zero();
         p.stale_age = seconds(10);
       },
       "affinity policy: stale_age must be 0 when max_age is 0 (caching off)"},
      {[](AffinityPolicy& p) { p.stale_age = seconds(10); },
       "affinity policy: stale_age (10s) is below max_age (30s)"},
      {[](AffinityPolicy& p) { p.max_entries = 0; },
       "affinity policy: max_entries must be at least 1"},
      {[](AffinityPolicy& p) { p.max_key_length = 0; },
       "affinity policy: max_key_length must be at least 1"},
      {[](AffinityPolicy& p) { p.max_pending_lookups = 0; },
       "affinity policy: max_pending_lookups must be at least 1"},
      {[](AffinityPolicy& p) { p.max_waiters_per_key = 0; },
       "affinity policy: max_waiters_per_key must be at least 1"},
      {[](AffinityPolicy& p) { p.allowed_hostports = {"*x.com:1"}; },
       "affinity policy: allowed_hostports[0] \"*x.com:1\": '*' must be followed "
       "by '.' and a domain suffix"},
      {[](AffinityPolicy& p) { p.default_target = "fallback"; },
       "affinity policy: default_target: invalid hostport \"fallback\": missing port"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.message);
    ManualDispatcher dispatcher;
    StatsStore store;
    ClusterSpec spec;
    spec.name = "resolver";
    spec.endpoints = TwoHosts();
    auto cluster = Cluster::Create(spec, dispatcher, store.Scope("c."));
    REQUIRE(cluster.ok());
    AffinityPolicy policy = DefaultPolicy();
    c.mutate(policy);
    auto lookup = AffinityLookup::Create(dispatcher, policy, **cluster, store.Scope("a."),
                                         std::make_unique<ScriptedTransport>());
    REQUIRE_FALSE(lookup.ok());
    CHECK(lookup.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(lookup.status().message()) == c.message);
  }
}

TEST_CASE("AffinityLookup::Create needs a transport") {
  ManualDispatcher dispatcher;
  StatsStore store;
  ClusterSpec spec;
  spec.name = "resolver";
  spec.endpoints = TwoHosts();
  auto cluster = Cluster::Create(spec, dispatcher, store.Scope("c."));
  REQUIRE(cluster.ok());
  auto lookup = AffinityLookup::Create(dispatcher, DefaultPolicy(), **cluster,
                                       store.Scope("a."), nullptr);
  REQUIRE_FALSE(lookup.ok());
  CHECK(lookup.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(lookup.status().message()) ==
        "AffinityLookup::Create: no transport");
}

TEST_CASE("A miss asks the resolver, then the answer is served from cache") {
  Fixture f;
  Recorder recorder;
  auto handle = f.Wait("123", recorder);
  REQUIRE(f.transport->size() == 1);
  const ScriptedTransport::Call& call = f.transport->call(0);
  CHECK(call.path_and_query == "/where?client_id=123");
  CHECK((call.host == "127.0.1.10:8081" || call.host == "127.0.1.11:8081"));
  CHECK(call.timeout == seconds(1));
  CHECK(recorder.outcomes.empty());

  f.transport->Reply(0, Hostport(Owner(1)));
  REQUIRE(recorder.outcomes.size() == 1);
  const LookupOutcome& answered = recorder.outcomes[0];
  REQUIRE(answered.ok());
  CHECK(answered.source == Source::kResolver);
  CHECK(answered.failure == Failure::kNone);
  CHECK(answered.target->hostport == Owner(1));
  CHECK(answered.target->parsed ==
        HostPort{"server-1.server-headless.poc-routing.svc.cluster.local", 8081});

  LookupOutcome hit = f.Now("123");
  CHECK(hit.source == Source::kCache);
  CHECK(hit.target == answered.target);
  CHECK(f.transport->size() == 1);

  CHECK(f.Count("cache_miss") == 1);
  CHECK(f.Count("cache_hit") == 1);
  CHECK(f.Count("lookup_attempt") == 1);
  CHECK(f.Count("lookup_success") == 1);
  CHECK(f.Count("lookup_failure") == 0);
  CHECK(f.Entries() == 1);
  CHECK(f.lookup->size() == 1);
}

TEST_CASE("Lookups sharing a store (one per proxy worker) add up in cache_entries") {
  Fixture f;
  f.Prime("a", Owner(0));
  f.Prime("b", Owner(1));
  auto transport = std::make_unique<ScriptedTransport>();
  ScriptedTransport* second_transport = transport.get();
  auto second = AffinityLookup::Create(f.dispatcher, f.policy, *f.cluster,
                                       f.store.Scope("affinity.resolver."),
                                       std::move(transport));
  REQUIRE(second.ok());
  Recorder recorder;
  auto handle = (*second)->Lookup("c", recorder.Callback()).handle;
  second_transport->Reply(0, Hostport(Owner(2)));
  REQUIRE(recorder.outcomes.size() == 1);
  CHECK(f.Entries() == 3);
  second->reset();
  CHECK(f.Entries() == 2);
  f.lookup->Invalidate("a");
  CHECK(f.Entries() == 1);
}

TEST_CASE("Keys owned by the same instance share one target") {
  Fixture f;
  f.Prime("a", Owner(2));
  f.Prime("b", Owner(2));
  f.Prime("c", Owner(0));
  CHECK(f.Now("a").target == f.Now("b").target);
  CHECK(f.Now("a").target != f.Now("c").target);
}

TEST_CASE("The resolver request percent-encodes the key under its parameter name") {
  SUBCASE("query parameter") {
    Fixture f;
    Recorder recorder;
    auto handle = f.Wait("a&b=c d/\xC3\xA9", recorder);
    CHECK(f.transport->call(0).path_and_query == "/where?client_id=a%26b%3Dc%20d%2F%C3%A9");
  }
  SUBCASE("header, lower-cased, appended to a lookup_path with a query") {
    AffinityPolicy policy = DefaultPolicy();
    policy.key = {KeySource::Kind::kHeader, "X-Client-Id"};
    policy.lookup_path = "/v1/where?format=json";
    Fixture f(policy);
    Recorder recorder;
    auto handle = f.Wait("7", recorder);
    CHECK(f.transport->call(0).path_and_query == "/v1/where?format=json&x-client-id=7");
  }
}

TEST_CASE("An answer expires at max_age when stale serving is off") {
  Fixture f;  // max_age = stale_age = 30s
  f.Prime("123", Owner(1));
  f.dispatcher.AdvanceBy(seconds(30) - milliseconds(1));
  CHECK(f.Now("123").source == Source::kCache);
  f.dispatcher.AdvanceBy(milliseconds(1));
  Recorder recorder;
  auto handle = f.Wait("123", recorder);
  CHECK(f.transport->size() == 2);
  CHECK(f.Count("cache_stale_hit") == 0);
}

// max_age 0: the cache off, as the seed's Lua script asked on every request.
AffinityPolicy CacheOffPolicy() {
  AffinityPolicy policy = DefaultPolicy();
  policy.max_age = Duration::zero();
  policy.stale_age = Duration::zero();
  return policy;
}

TEST_CASE("max_age 0 asks the resolver for every request and keeps no answer") {
  Fixture f(CacheOffPolicy());
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    Recorder recorder;
    auto handle = f.Wait("123", recorder);
    REQUIRE(f.transport->size() == static_cast<size_t>(i + 1));
    f.transport->Reply(i, Hostport(Owner(i)));
    REQUIRE(recorder.outcomes.size() == 1);
    REQUIRE(recorder.outcomes[0].ok());
    CHECK(recorder.outcomes[0].source == Source::kResolver);
    CHECK(recorder.outcomes[0].target->hostport == Owner(i));
  }
  CHECK(f.Count("cache_miss") == 3);
  CHECK(f.Count("cache_hit") == 0);
  CHECK(f.Count("lookup_success") == 3);
  CHECK(f.Entries() == 0);
  CHECK(f.lookup->size() == 0);
}

TEST_CASE("max_age 0 still shares one lookup among concurrent requests") {
  Fixture f(CacheOffPolicy());
  Recorder first, second;
  auto handle1 = f.Wait("123", first);
  auto handle2 = f.Wait("123", second);
  REQUIRE(f.transport->size() == 1);
  f.transport->Reply(0, Hostport(Owner(1)));
  REQUIRE(first.outcomes.size() == 1);
  REQUIRE(second.outcomes.size() == 1);
  CHECK(second.outcomes[0].target == first.outcomes[0].target);
  CHECK(f.Count("lookup_coalesced") == 1);
  CHECK(f.lookup->size() == 0);
}

TEST_CASE("max_age 0 keeps failure backoff, and a success ends it") {
  Fixture f(CacheOffPolicy());
  Recorder failed;
  auto handle = f.Wait("123", failed);
  f.transport->Reply(0, Answer("{}", 503));
  REQUIRE(failed.outcomes.size() == 1);
  CHECK(failed.outcomes[0].failure == Failure::kResolverUnavailable);
  CHECK(f.Entries() == 1);  // the backoff
  CHECK(f.Now("123").failure == Failure::kResolverUnavailable);
  CHECK(f.transport->size() == 1);

  f.dispatcher.AdvanceBy(seconds(2));  // past the first backoff (1s ±20%)
  Recorder answered;
  auto retry = f.Wait("123", answered);
  REQUIRE(f.transport->size() == 2);
  f.transport->Reply(1, Hostport(Owner(1)));
  REQUIRE(answered.outcomes.size() == 1);
  CHECK(answered.outcomes[0].ok());
  CHECK(f.Entries() == 0);
  CHECK(f.lookup->size() == 0);
}

TEST_CASE("A stale answer is served while exactly one background refresh runs") {
  AffinityPolicy policy = DefaultPolicy();
  policy.max_age = seconds(10);
  policy.stale_age = seconds(30);
  Fixture f(policy);
  f.Prime("123", Owner(1));
  f.dispatcher.AdvanceBy(seconds(15));

  LookupOutcome stale = f.Now("123");
  CHECK(stale.source == Source::kStale);
  CHECK(stale.target->hostport == Owner(1));
  REQUIRE(f.transport->size() == 2);  // the refresh
  CHECK(f.transport->call(1).path_and_query == "/where?client_id=123");
  for (int i = 0; i < 5; ++i) CHECK(f.Now("123").source == Source::kStale);
  CHECK(f.transport->size() == 2);
  CHECK(f.Count("cache_stale_hit") == 6);
  CHECK(f.Count("lookup_coalesced") == 0);

  f.transport->Reply(1, Hostport(Owner(2)));  // nobody waits on a refresh
  LookupOutcome fresh = f.Now("123");
  CHECK(fresh.source == Source::kCache);
  CHECK(fresh.target->hostport == Owner(2));

  // Untouched past stale_age, the answer is not served at all.
  f.dispatcher.AdvanceBy(seconds(30));
  Recorder recorder;
  auto handle = f.Wait("123", recorder);
  CHECK(f.transport->size() == 3);
  CHECK(f.Count("cache_miss") == 2);
}

TEST_CASE("A failed refresh keeps the stale answer and waits out its backoff") {
  AffinityPolicy policy = DefaultPolicy();
  policy.max_age = seconds(10);
  policy.stale_age = seconds(60);
  Fixture f(policy);
  f.Prime("123", Owner(1));
  f.dispatcher.AdvanceBy(seconds(15));
  CHECK(f.Now("123").source == Source::kStale);
  f.transport->Reply(1, Answer("{}", 503));
  CHECK(f.Count("lookup_failure") == 1);

  LookupOutcome still = f.Now("123");
  CHECK(still.source == Source::kStale);
  CHECK(still.target->hostport == Owner(1));
  CHECK(f.transport->size() == 2);  // in backoff: no new refresh

  f.dispatcher.AdvanceBy(milliseconds(1201));
  CHECK(f.Now("123").source == Source::kStale);
  CHECK(f.transport->size() == 3);  // backoff over: one new refresh
}

TEST_CASE("Concurrent lookups of one key share one resolver request") {
  Fixture f;
  std::vector<int> order;
  std::vector<AffinityTargetSharedPtr> targets;
  std::vector<std::unique_ptr<Cancelable>> handles;
  for (int i = 0; i < 100; ++i) {
    AffinityLookup::Result result =
        f.lookup->Lookup("hot", [&, i](const LookupOutcome& outcome) {
          order.push_back(i);
          targets.push_back(outcome.target);
        });
    REQUIRE(result.handle != nullptr);
    handles.push_back(std::move(result.handle));
  }
  CHECK(f.transport->size() == 1);
  CHECK(f.Count("lookup_coalesced") == 99);
  CHECK(f.Count("cache_miss") == 100);
  CHECK(f.Count("lookup_attempt") == 1);

  f.transport->Reply(0, Hostport(Owner(1)));
  REQUIRE(order.size() == 100);
  for (int i = 0; i < 100; ++i) {
    CHECK(order[i] == i);
    CHECK(targets[i] == targets[0]);
  }
  CHECK(targets[0]->hostport == Owner(1));
  CHECK(f.Count("lookup_success") == 1);
}

TEST_CASE("Waiters on one key are bounded by max_waiters_per_key") {
  AffinityPolicy policy = DefaultPolicy();
  policy.max_waiters_per_key = 3;
  Fixture f(policy);
  Recorder recorder;
  auto a = f.Wait("k", recorder);
  auto b = f.Wait("k", recorder);
  auto c = f.Wait("k", recorder);
  LookupOutcome overflow = f.Now("k");
  CHECK_FALSE(overflow.ok());
  CHECK(overflow.failure == Failure::kOverflow);
  CHECK(overflow.error.code() == absl::StatusCode::kResourceExhausted);
  CHECK(std::string(overflow.error.message()) ==
        "too many lookups waiting on one key (max_waiters_per_key 3)");
  CHECK(f.Count("lookup_overflow") == 1);
  CHECK(f.transport->size() == 1);

  // A cancelled waiter frees its place.
  b.reset();
  auto d = f.Wait("k", recorder);
  f.transport->Reply(0, Hostport(Owner(1)));
  CHECK(recorder.outcomes.size() == 3);
  CHECK(f.Now("k").source == Source::kCache);
}

TEST_CASE("Keys in flight are bounded by max_pending_lookups") {
  AffinityPolicy policy = DefaultPolicy();
  policy.max_pending_lookups = 2;
  policy.max_age = seconds(10);
  policy.stale_age = seconds(60);
  Fixture f(policy);
  f.Prime("stale", Owner(1));
  f.dispatcher.AdvanceBy(seconds(20));

  Recorder recorder;
  auto a = f.Wait("a", recorder);
  auto b = f.Wait("b", recorder);
  LookupOutcome overflow = f.Now("c");
  CHECK(overflow.failure == Failure::kOverflow);
  CHECK(std::string(overflow.error.message()) ==
        "too many keys being looked up (max_pending_lookups 2)");
  auto joined = f.Wait("a", recorder);  // joining needs no new slot
  // A stale answer is still served; its refresh waits for a free slot.
  CHECK(f.Now("stale").source == Source::kStale);
  CHECK(f.transport->size() == 3);
  CHECK(f.Count("lookup_overflow") == 1);

  f.transport->Reply(1, Hostport(Owner(2)));
  CHECK(f.Now("stale").source == Source::kStale);
  CHECK(f.transport->size() == 4);
  CHECK(f.transport->call(3).path_and_query == "/where?client_id=stale");
}

TEST_CASE("Destroying a handle cancels its callback only") {
  Fixture f;
  Recorder first, second, third;
  auto a = f.Wait("k", first);
  auto b = f.Wait("k", second);
  auto c = f.Wait("k", third);
  b.reset();
  f.transport->Reply(0, Hostport(Owner(1)));
  CHECK(first.outcomes.size() == 1);
  CHECK(second.outcomes.empty());
  CHECK(third.outcomes.size() == 1);
  a.reset();  // after the callback: nothing left to cancel
  c.reset();
}

TEST_CASE("A callback may cancel a waiter that has not been called yet") {
  Fixture f;
  Recorder later;
  std::unique_ptr<Cancelable> victim;
  int first_calls = 0;
  auto first = f.lookup->Lookup("k", [&](const LookupOutcome&) {
    ++first_calls;
    victim.reset();
  });
  victim = f.Wait("k", later);
  f.transport->Reply(0, Hostport(Owner(1)));
  CHECK(first_calls == 1);
  CHECK(later.outcomes.empty());
}

TEST_CASE("Cancelling every waiter leaves the resolver request running") {
  Fixture f;
  Recorder recorder;
  f.Wait("k", recorder).reset();
  CHECK_FALSE(f.transport->call(0).cancelled);
  f.transport->Reply(0, Hostport(Owner(1)));
  CHECK(recorder.outcomes.empty());
  CHECK(f.Now("k").source == Source::kCache);
}

TEST_CASE("A callback may look its key up again and hits the cache") {
  Fixture f;
  std::optional<LookupOutcome> nested;
  auto handle = f.lookup->Lookup("k", [&](const LookupOutcome&) {
    nested = f.lookup->Lookup("k", nullptr).outcome;
  });
  f.transport->Reply(0, Hostport(Owner(1)));
  REQUIRE(nested.has_value());
  CHECK(nested->source == Source::kCache);
}

struct FailureCase {
  std::string name;
  Response response;
  Failure failure;
  absl::StatusCode code;
  std::string message;  // after "resolver <host>"
};

TEST_CASE("Every kind of resolver failure is reported with its reason") {
  const FailureCase cases[] = {
      {"5xx", Answer(R"({"error":"x"})", 500), Failure::kResolverUnavailable,
       absl::StatusCode::kUnavailable, " answered 500"},
      {"4xx", Answer(R"({"error":"x"})", 404), Failure::kBadAnswer,
       absl::StatusCode::kInvalidArgument, " answered 404"},
      {"garbage", Answer("<html>oops</html>"), Failure::kBadAnswer,
       absl::StatusCode::kInvalidArgument, ": resolver answer is not JSON ("},
      {"missing field", Answer(R"({"client_id":"k"})"), Failure::kBadAnswer,
       absl::StatusCode::kInvalidArgument, ": resolver answer has no \"hostport\" field"},
      {"non-object", Answer(R"(["k","x:1"])"), Failure::kBadAnswer,
       absl::StatusCode::kInvalidArgument, ": resolver answer is not a JSON object"},
      {"outside the allow-list", Hostport("evil.example.com:8081"),
       Failure::kHostportRejected, absl::StatusCode::kPermissionDenied,
       ": hostport \"evil.example.com:8081\" is not in allowed_hostports"},
      {"allowed name, other port", Hostport("server-1.server-headless.poc-routing.svc.cluster.local:22"),
       Failure::kHostportRejected, absl::StatusCode::kPermissionDenied,
       ": hostport \"server-1.server-headless.poc-routing.svc.cluster.local:22\" "
       "is not in allowed_hostports"},
      {"userinfo", Hostport("u@" + Owner(1)), Failure::kHostportRejected,
       absl::StatusCode::kInvalidArgument,
       ": invalid hostport \"u@" + Owner(1) + "\": userinfo is not allowed"},
      {"path", Hostport(Owner(1) + "/admin"), Failure::kHostportRejected,
       absl::StatusCode::kInvalidArgument,
       ": invalid hostport \"" + Owner(1) + "/admin\": a path, query or fragment is not allowed"},
      {"timeout", Error(Response::Error::kTimeout, "Operation timed out"),
       Failure::kResolverTimeout, absl::StatusCode::kDeadlineExceeded,
       ": no answer within lookup_timeout (1s)"},
      {"reset", Error(Response::Error::kOther, "Recv failure: Connection reset by peer"),
       Failure::kResolverUnavailable, absl::StatusCode::kUnavailable,
       ": Recv failure: Connection reset by peer"},
  };
  for (const FailureCase& c : cases) {
    CAPTURE(c.name);
    Fixture f;
    Recorder recorder;
    auto handle = f.Wait("k", recorder);
    const std::string host = f.transport->call(0).host;
    f.transport->Reply(0, c.response);
    REQUIRE(recorder.outcomes.size() == 1);
    const LookupOutcome& outcome = recorder.outcomes[0];
    CHECK_FALSE(outcome.ok());
    CHECK(outcome.failure == c.failure);
    CHECK(outcome.error.code() == c.code);
    const std::string expected = "resolver " + host + c.message;
    CHECK(std::string(outcome.error.message()).substr(0, expected.size()) == expected);

    // The key is now in backoff: the same failure, without asking again.
    LookupOutcome again = f.Now("k");
    CHECK(again.failure == c.failure);
    CHECK(again.error == outcome.error);
    CHECK(f.transport->size() == 1);

    CHECK(f.Count("lookup_failure") == 1);
    CHECK(f.Count("lookup_success") == 0);
    CHECK(f.Count("cache_miss") == 2);
    CHECK(f.Count("hostport_rejected") == (c.failure == Failure::kHostportRejected ? 1u : 0u));
    CHECK(f.Count("lookup_timeout") == (c.failure == Failure::kResolverTimeout ? 1u : 0u));
  }
}

TEST_CASE("Failure backoff starts at 1s and grows 1.6x per failure") {
  Fixture f;
  Recorder recorder;
  auto handle = f.Wait("k", recorder);
  f.transport->Reply(0, Answer("", 500));

  // First backoff: 1s ±20%.
  f.dispatcher.AdvanceBy(milliseconds(799));
  CHECK(f.Now("k").failure == Failure::kResolverUnavailable);
  f.dispatcher.AdvanceBy(milliseconds(402));
  handle = f.Wait("k", recorder);
  REQUIRE(f.transport->size() == 2);
  f.transport->Reply(1, Answer("", 500));

  // Second: 1.6s ±20%, so still waiting after 1.279s.
  f.dispatcher.AdvanceBy(milliseconds(1279));
  CHECK(f.Now("k").failure == Failure::kResolverUnavailable);
  f.dispatcher.AdvanceBy(milliseconds(1921 - 1279));
  handle = f.Wait("k", recorder);
  REQUIRE(f.transport->size() == 3);

  // Success forgets the failures: the next failure waits 1s ±20% again.
  f.transport->Reply(2, Hostport(Owner(1)));
  f.dispatcher.AdvanceBy(seconds(30));
  handle = f.Wait("k", recorder);
  f.transport->Reply(3, Answer("", 500));
  f.dispatcher.AdvanceBy(milliseconds(1201));
  handle = f.Wait("k", recorder);
  CHECK(f.transport->size() == 5);
}

TEST_CASE("Failure backoff is capped at 120s") {
  Fixture f;
  Recorder recorder;
  for (int failure = 0; failure < 15; ++failure) {
    auto handle = f.Wait("k", recorder);
    f.transport->Reply(f.transport->size() - 1, Answer("", 500));
    if (failure < 14) f.dispatcher.AdvanceBy(seconds(121));
  }
  f.dispatcher.AdvanceBy(milliseconds(95999));
  CHECK_FALSE(f.Now("k").ok());
  f.dispatcher.AdvanceBy(milliseconds(120001 - 95999));
  auto handle = f.Wait("k", recorder);
  CHECK(f.transport->size() == 16);
}

TEST_CASE("default_target stands in while a key has no usable answer") {
  AffinityPolicy policy = DefaultPolicy();
  policy.default_target = "fallback.example:8081";
  policy.max_waiters_per_key = 2;
  Fixture f(policy);
  Recorder recorder;
  auto a = f.Wait("k", recorder);
  auto b = f.Wait("k", recorder);
  f.transport->Reply(0, Answer("", 502));
  REQUIRE(recorder.outcomes.size() == 2);
  for (const LookupOutcome& outcome : recorder.outcomes) {
    REQUIRE(outcome.ok());
    CHECK(outcome.source == Source::kDefaultTarget);
    CHECK(outcome.target->hostport == "fallback.example:8081");
    CHECK(outcome.target->parsed == HostPort{"fallback.example", 8081});
    CHECK(outcome.failure == Failure::kResolverUnavailable);
    CHECK(std::string(outcome.error.message()).find("answered 502") != std::string::npos);
  }
  LookupOutcome during_backoff = f.Now("k");
  CHECK(during_backoff.source == Source::kDefaultTarget);
  CHECK(during_backoff.target == recorder.outcomes[0].target);

  // Overflow is load shedding, not a resolver failure: no default target.
  f.dispatcher.AdvanceBy(seconds(2));
  auto c = f.Wait("k", recorder);
  auto d = f.Wait("k", recorder);
  LookupOutcome overflow = f.Now("k");
  CHECK_FALSE(overflow.ok());
  CHECK(overflow.failure == Failure::kOverflow);

  // A good answer replaces the default.
  f.transport->Reply(1, Hostport(Owner(1)));
  CHECK(f.Now("k").target->hostport == Owner(1));
}

TEST_CASE("Invalidate forgets an answer") {
  Fixture f;
  f.Prime("k", Owner(1));
  f.Prime("other", Owner(1));
  f.lookup->Invalidate("k");
  f.lookup->Invalidate("never-seen");
  CHECK(f.lookup->size() == 1);
  CHECK(f.Entries() == 1);
  Recorder recorder;
  auto handle = f.Wait("k", recorder);
  CHECK(f.transport->size() == 3);
  f.transport->Reply(2, Hostport(Owner(2)));
  CHECK(f.Now("k").target->hostport == Owner(2));
  CHECK(f.Now("other").target->hostport == Owner(1));
}

TEST_CASE("Redirect takes the owner a 421 names, if the allow-list does") {
  Fixture f;
  f.Prime("k", Owner(1));
  const size_t asked = f.transport->size();

  CHECK(f.lookup->Redirect("k", Owner(2)));
  LookupOutcome moved = f.Now("k");
  CHECK(moved.source == LookupOutcome::Source::kCache);
  CHECK(moved.target->hostport == Owner(2));
  CHECK(f.transport->size() == asked);  // no resolver request
  CHECK(f.Count("owner_redirect_accepted") == 1);

  // A key not cached yet is cached by it too.
  CHECK(f.lookup->Redirect("new", Owner(0)));
  CHECK(f.Now("new").target->hostport == Owner(0));

  // Outside the allow-list, or not a hostport: forgotten, asked again.
  CHECK_FALSE(f.lookup->Redirect("k", "evil.example.com:8081"));
  CHECK(f.Count("owner_redirect_rejected") == 1);
  CHECK(f.Count("hostport_rejected") == 1);
  CHECK_FALSE(f.lookup->Redirect("new", "no-port"));
  CHECK(f.Count("owner_redirect_rejected") == 2);
  Recorder recorder;
  auto handle = f.Wait("k", recorder);
  CHECK(f.transport->size() == asked + 1);
}

TEST_CASE("Redirect with the cache off is Invalidate") {
  AffinityPolicy policy = DefaultPolicy();
  policy.max_age = Duration::zero();
  policy.stale_age = Duration::zero();
  Fixture f(policy);
  CHECK_FALSE(f.lookup->Redirect("k", Owner(2)));
  CHECK(f.lookup->size() == 0);
  CHECK(f.Count("owner_redirect_accepted") == 0);
}

TEST_CASE("Invalidate forgets failure backoff too") {
  Fixture f;
  Recorder recorder;
  auto handle = f.Wait("k", recorder);
  f.transport->Reply(0, Answer("", 500));
  f.lookup->Invalidate("k");
  handle = f.Wait("k", recorder);
  CHECK(f.transport->size() == 2);
}

TEST_CASE("Invalidate does not cancel a lookup in flight; its answer is fresh") {
  Fixture f;
  Recorder recorder;
  auto handle = f.Wait("k", recorder);
  f.lookup->Invalidate("k");
  CHECK_FALSE(f.transport->call(0).cancelled);
  f.transport->Reply(0, Hostport(Owner(1)));
  REQUIRE(recorder.outcomes.size() == 1);
  CHECK(recorder.outcomes[0].ok());
  CHECK(f.Now("k").source == Source::kCache);
}

TEST_CASE("Invalidating a stale key makes requests wait for its refresh") {
  AffinityPolicy policy = DefaultPolicy();
  policy.max_age = seconds(10);
  policy.stale_age = seconds(60);
  Fixture f(policy);
  f.Prime("k", Owner(1));
  f.dispatcher.AdvanceBy(seconds(15));
  CHECK(f.Now("k").source == Source::kStale);  // starts the refresh
  f.lookup->Invalidate("k");                   // the target said 421
  Recorder recorder;
  auto handle = f.Wait("k", recorder);         // joins the refresh
  CHECK(f.transport->size() == 2);
  CHECK(f.Count("lookup_coalesced") == 1);
  f.transport->Reply(1, Hostport(Owner(2)));
  REQUIRE(recorder.outcomes.size() == 1);
  CHECK(recorder.outcomes[0].target->hostport == Owner(2));
}

const Host& HostNamed(Cluster& cluster, std::string_view address) {
  for (const HostSharedPtr& host : cluster.hosts()) {
    if (host->address_string() == address) return *host;
  }
  FAIL("no host " << address);
  return *cluster.hosts().front();
}

TEST_CASE("A connect failure is retried once on another host") {
  Fixture f;
  Recorder recorder;
  auto handle = f.Wait("k", recorder);
  const std::string first = f.transport->call(0).host;
  CHECK(HostNamed(*f.cluster, first).stats().rq_active.load() == 1);
  f.transport->Reply(0, Error(Response::Error::kConnectFailure, "Connection refused"));
  REQUIRE(f.transport->size() == 2);
  const std::string second = f.transport->call(1).host;
  CHECK(second != first);
  CHECK(f.transport->call(1).path_and_query == "/where?client_id=k");
  CHECK(recorder.outcomes.empty());
  f.transport->Reply(1, Hostport(Owner(1)));
  REQUIRE(recorder.outcomes.size() == 1);
  CHECK(recorder.outcomes[0].ok());
  CHECK(f.Count("lookup_attempt") == 2);
  CHECK(f.Count("lookup_failure") == 0);
  CHECK(HostNamed(*f.cluster, first).stats().cx_connect_fail.load() == 1);
  CHECK(HostNamed(*f.cluster, second).stats().rq_total.load() == 1);
  for (const HostSharedPtr& host : f.cluster->hosts()) CHECK(host->stats().rq_active == 0);
}

TEST_CASE("A second connect failure ends the lookup") {
  Fixture f;
  Recorder recorder;
  auto handle = f.Wait("k", recorder);
  f.transport->Reply(0, Error(Response::Error::kConnectFailure, "Connection refused"));
  const std::string second = f.transport->call(1).host;
  f.transport->Reply(1, Error(Response::Error::kConnectFailure, "Connection refused"));
  CHECK(f.transport->size() == 2);
  REQUIRE(recorder.outcomes.size() == 1);
  CHECK(recorder.outcomes[0].failure == Failure::kResolverUnavailable);
  CHECK(std::string(recorder.outcomes[0].error.message()) ==
        "resolver " + second + ": connect failed: Connection refused");
  for (const HostSharedPtr& host : f.cluster->hosts()) CHECK(host->stats().rq_active == 0);
}

TEST_CASE("A connect failure is not retried on the same host, nor a timeout at all") {
  SUBCASE("one host") {
    Fixture f(DefaultPolicy(), {{"127.0.1.10", 8081, 1}});
    Recorder recorder;
    auto handle = f.Wait("k", recorder);
    f.transport->Reply(0, Error(Response::Error::kConnectFailure, "Connection refused"));
    CHECK(f.transport->size() == 1);
    REQUIRE(recorder.outcomes.size() == 1);
    CHECK(recorder.outcomes[0].failure == Failure::kResolverUnavailable);
  }
  SUBCASE("timeout") {
    Fixture f;
    Recorder recorder;
    auto handle = f.Wait("k", recorder);
    f.transport->Reply(0, Error(Response::Error::kTimeout, "timed out"));
    CHECK(f.transport->size() == 1);
  }
}

TEST_CASE("The retry gets what is left of lookup_timeout") {
  Fixture f;
  Recorder recorder;
  auto handle = f.Wait("k", recorder);
  f.dispatcher.AdvanceBy(milliseconds(300));
  f.transport->Reply(0, Error(Response::Error::kConnectFailure, "Connection refused"));
  REQUIRE(f.transport->size() == 2);
  CHECK(f.transport->call(1).timeout == milliseconds(700));
}

TEST_CASE("A lookup cluster without hosts fails at once, and the key is not held back") {
  Fixture f(DefaultPolicy(), {{"resolver.example", 8081, 1}}, ClusterType::kStrictDns);
  LookupOutcome outcome = f.Now("k");
  CHECK(outcome.failure == Failure::kResolverUnavailable);
  CHECK(outcome.error.code() == absl::StatusCode::kUnavailable);
  CHECK(std::string(outcome.error.message()) == "lookup cluster 'resolver' has no hosts");
  CHECK(f.Count("lookup_attempt") == 0);
  CHECK(f.Count("lookup_failure") == 1);
  // Nothing is cached: no backoff, no entry (a STRICT_DNS cluster before its
  // first answer says nothing about the key).
  CHECK(f.Entries() == 0);
  CHECK(f.Now("k").failure == Failure::kResolverUnavailable);
  CHECK(f.Count("lookup_failure") == 2);
  // Hosts arrive: the very next request looks the key up.
  f.cluster->SetHosts({*SocketAddress::FromIp("127.0.1.2", 8081)}, "resolver.example");
  Recorder recorder;
  auto handle = f.Wait("k", recorder);
  CHECK(f.transport->size() == 1);
  CHECK(f.Count("lookup_attempt") == 1);
}

TEST_CASE("Without resolver hosts a key gets the default target, uncached") {
  AffinityPolicy policy = DefaultPolicy();
  policy.default_target = "fallback.example:8081";
  Fixture f(policy, {{"resolver.example", 8081, 1}}, ClusterType::kStrictDns);
  LookupOutcome outcome = f.Now("k");
  CHECK(outcome.source == Source::kDefaultTarget);
  CHECK(outcome.target->hostport == "fallback.example:8081");
  CHECK(outcome.failure == Failure::kResolverUnavailable);
  CHECK(f.Entries() == 0);
}

TEST_CASE("max_entries evicts the least recently used key") {
  AffinityPolicy policy = DefaultPolicy();
  policy.max_entries = 2;
  Fixture f(policy);
  f.Prime("a", Owner(1));
  f.Prime("b", Owner(2));
  CHECK(f.Now("a").source == Source::kCache);  // b is now the oldest
  f.Prime("c", Owner(3));
  CHECK(f.lookup->size() == 2);
  CHECK(f.Entries() == 2);
  CHECK(f.Now("a").source == Source::kCache);
  CHECK(f.Now("c").source == Source::kCache);
  Recorder recorder;
  auto handle = f.Wait("b", recorder);
}

TEST_CASE("Handles that outlive the lookup are inert") {
  Fixture f;
  bool called = false;
  AffinityLookup::Result result =
      f.lookup->Lookup("k", [&](const LookupOutcome&) { called = true; });
  REQUIRE(result.handle != nullptr);
  f.lookup.reset();  // takes the transport and its request with it
  result.handle.reset();
  CHECK_FALSE(called);
}

}  // namespace
}  // namespace homing
