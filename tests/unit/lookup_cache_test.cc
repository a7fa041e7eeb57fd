// LookupCache: LRU order, eviction, and interned targets.

#include "lookup/lookup_cache.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace homing::lookup_internal {
namespace {

InternedTarget* Intern(LookupCache& cache, std::string_view hostport) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(hostport);
  REQUIRE(parsed.ok());
  return cache.targets().Intern(hostport, *parsed);
}

// Keys from least to most recently used.
std::vector<std::string> LruOrder(LookupCache& cache) {
  std::vector<std::string> keys;
  std::vector<CacheEntry*> taken;
  // Marking the oldest entry used, once per entry, walks the whole list and
  // leaves it in the order it had.
  while (CacheEntry* oldest = cache.LeastRecentlyUsed()) {
    if (!taken.empty() && oldest == taken.front()) break;
    keys.push_back(oldest->key);
    taken.push_back(oldest);
    cache.MarkUsed(oldest);
  }
  return keys;
}

TEST_CASE("LookupCache finds entries by key and inserts each key once") {
  LookupCache cache(10);
  CHECK(cache.Find("a") == nullptr);
  CacheEntry* a = cache.FindOrInsert("a");
  CHECK(a->key == "a");
  CHECK(a->target == nullptr);
  CHECK(cache.FindOrInsert("a") == a);
  CHECK(cache.Find("a") == a);
  CHECK(cache.size() == 1);
  std::string long_key(300, 'k');
  CacheEntry* big = cache.FindOrInsert(long_key);
  CHECK(cache.Find(long_key) == big);
  CHECK(cache.size() == 2);
}

TEST_CASE("LookupCache keeps entries in recency order") {
  LookupCache cache(10);
  for (const char* key : {"a", "b", "c", "d"}) cache.FindOrInsert(key);
  CHECK(cache.LeastRecentlyUsed()->key == "a");
  cache.MarkUsed(cache.Find("b"));
  cache.MarkUsed(cache.Find("a"));
  cache.FindOrInsert("c");  // an existing key counts as used
  CHECK(LruOrder(cache) == std::vector<std::string>{"d", "b", "a", "c"});
  // Walking the order re-marked every entry in it, keeping the order.
  CHECK(LruOrder(cache) == std::vector<std::string>{"d", "b", "a", "c"});
}

TEST_CASE("LookupCache evicts the least recently used beyond max_entries") {
  LookupCache cache(3);
  for (const char* key : {"a", "b", "c"}) cache.FindOrInsert(key);
  cache.MarkUsed(cache.Find("a"));
  cache.FindOrInsert("d");
  CHECK(cache.size() == 4);  // inserting never evicts by itself
  cache.EvictBeyondCapacity();
  CHECK(cache.size() == 3);
  CHECK(cache.Find("b") == nullptr);
  cache.FindOrInsert("e");
  cache.EvictBeyondCapacity();
  CHECK(cache.Find("c") == nullptr);
  CHECK(LruOrder(cache) == std::vector<std::string>{"a", "d", "e"});
}

TEST_CASE("LookupCache::Erase removes one entry") {
  LookupCache cache(3);
  for (const char* key : {"a", "b", "c"}) cache.FindOrInsert(key);
  cache.Erase(cache.Find("b"));
  CHECK(cache.Find("b") == nullptr);
  CHECK(cache.size() == 2);
  CHECK(LruOrder(cache) == std::vector<std::string>{"a", "c"});
  cache.Erase(cache.Find("a"));
  cache.Erase(cache.Find("c"));
  CHECK(cache.LeastRecentlyUsed() == nullptr);
  CHECK(cache.size() == 0);
}

TEST_CASE("TargetInterner shares one target per hostport and drops unused ones") {
  LookupCache cache(10);
  InternedTarget* one = Intern(cache, "server-1.example:8081");
  CHECK(Intern(cache, "server-1.example:8081") == one);
  CHECK(one->target->hostport == "server-1.example:8081");
  CHECK(one->target->parsed == HostPort{"server-1.example", 8081});

  for (const char* key : {"a", "b", "c"}) cache.SetTarget(cache.FindOrInsert(key), one);
  CHECK(one->entries == 3);
  CHECK(cache.Find("a")->target->target == cache.Find("c")->target->target);
  CHECK(cache.targets().size() == 1);

  AffinityTargetSharedPtr snapshot = one->target;
  InternedTarget* two = Intern(cache, "server-2.example:8081");
  cache.SetTarget(cache.Find("a"), two);
  cache.Erase(cache.Find("b"));
  CHECK(one->entries == 1);
  CHECK(cache.targets().size() == 2);
  cache.SetTarget(cache.Find("c"), nullptr);
  // The last entry let go: the interner forgot it, the snapshot lives on.
  CHECK(cache.targets().Find("server-1.example:8081") == nullptr);
  CHECK(cache.targets().size() == 1);
  CHECK(snapshot->hostport == "server-1.example:8081");

  cache.Erase(cache.Find("a"));  // eviction and erasure release too
  CHECK(cache.targets().size() == 0);
}

TEST_CASE("A cache entry stays small") {
  // The per-entry budget (200 bytes at 1M entries) leaves room for the hash
  // table slot and allocator overhead only if the entry itself stays compact.
  CHECK(sizeof(CacheEntry) <= 96);
}

}  // namespace
}  // namespace homing::lookup_internal
