// File: tests/unit/dns_test_resolver.h
//
// A scripted DnsResolver for unit tests of the DNS cache and STRICT_DNS
// refresh: Resolve() records the query, and the test answers it whenever it
// likes with `Answer()`, which runs the callback the way a real resolver's
// completion would (on the test's thread, outside Resolve()).
//
// Thread safety: single-threaded test use only.

#ifndef HOMING_TESTS_UNIT_DNS_TEST_RESOLVER_H_
#define HOMING_TESTS_UNIT_DNS_TEST_RESOLVER_H_

#include <doctest/doctest.h>

#include <chrono>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "homing/dns_cache.h"

namespace homing::testing {

class ScriptedResolver final : public DnsResolver {
 public:
  struct Query {
    std::string name;
    DnsLookupFamily family;
    Callback callback;
    bool cancelled = false;
    bool answered = false;
  };

  std::unique_ptr<Cancelable> Resolve(std::string_view name,
                                      DnsLookupFamily family,
                                      Callback callback) override {
    auto query = std::make_shared<Query>(
        Query{std::string(name), family, std::move(callback)});
    queries_.push_back(query);
    return std::make_unique<Handle>(query);
  }

  // Every query started, answered or not, for `name`.
  size_t started(std::string_view name) const {
    size_t n = 0;
    for (const auto& q : queries_) n += q->name == name;
    return n;
  }

  // Queries for `name` still waiting for an answer.
  size_t open(std::string_view name) const {
    size_t n = 0;
    for (const auto& q : queries_) n += q->name == name && IsOpen(*q);
    return n;
  }

  size_t total_started() const { return queries_.size(); }

  // The family the latest query for `name` asked for.
  DnsLookupFamily family(std::string_view name) const {
    for (auto it = queries_.rbegin(); it != queries_.rend(); ++it) {
      if ((*it)->name == name) return (*it)->family;
    }
    FAIL("no query for ", std::string(name));
    return DnsLookupFamily::kAuto;
  }

  // Answers the oldest open query for `name`; fails the test if none is open.
  void Answer(std::string_view name, DnsAnswer answer) {
    for (const auto& q : queries_) {
      if (q->name != name || !IsOpen(*q)) continue;
      q->answered = true;
      Callback callback = std::move(q->callback);
      callback(std::move(answer));
      return;
    }
    FAIL("no open query for ", std::string(name));
  }

  static DnsAnswer Ok(std::initializer_list<const char*> ips,
                      Duration ttl = Duration::zero()) {
    DnsAnswer answer;
    for (const char* ip : ips) answer.addresses.push_back(*SocketAddress::FromIp(ip, 0));
    answer.ttl = ttl;
    return answer;
  }

  static DnsAnswer Fail(absl::Status status) {
    DnsAnswer answer;
    answer.status = std::move(status);
    return answer;
  }

 private:
  class Handle final : public Cancelable {
   public:
    explicit Handle(std::shared_ptr<Query> query) : query_(std::move(query)) {}
    ~Handle() override { query_->cancelled = true; }

   private:
    std::shared_ptr<Query> query_;
  };

  static bool IsOpen(const Query& q) { return !q.cancelled && !q.answered; }

  std::vector<std::shared_ptr<Query>> queries_;
};

}  // namespace homing::testing

#endif  // HOMING_TESTS_UNIT_DNS_TEST_RESOLVER_H_
