// File: lookup/lookup_cache.h
//
// The affinity lookup's storage: one small `CacheEntry` per key, found by
// string_view without allocating, kept in an intrusive LRU list, and bounded
// by `max_entries`. Answers are interned: every entry whose resolver named the
// same hostport shares one `AffinityTarget` (many keys, few owners), counted
// by `TargetInterner` and dropped when its last entry lets go.
//
// The policy (ages, backoff) lives in AffinityLookup; this is the bookkeeping.
// An entry is about 88 bytes plus its key when longer than 15 bytes.
//
// Example:
//
//   LookupCache cache(/*max_entries=*/100000);
//   CacheEntry* entry = cache.FindOrInsert("123");
//   cache.SetTarget(entry, cache.targets().Intern(hostport_text, parsed));
//   cache.EvictBeyondCapacity();
//   if (CacheEntry* hit = cache.Find("123")) cache.MarkUsed(hit);
//
// Thread safety: none; the owning AffinityLookup's dispatcher thread only.

#ifndef HOMING_LIB_LOOKUP_LOOKUP_CACHE_H_
#define HOMING_LIB_LOOKUP_LOOKUP_CACHE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/string_util.h"
#include "homing/affinity_lookup.h"

namespace homing::lookup_internal {

// InternedTarget
//
// The one shared target of a hostport and the number of entries holding it.
struct InternedTarget {
  AffinityTargetSharedPtr target;
  uint32_t entries = 0;
};

// TargetInterner
class TargetInterner {
 public:
  // TargetInterner::Find()
  //
  // The interned target for `hostport` text, or nullptr. Anything interned
  // was validated when it was first seen, so a hit skips validation.
  InternedTarget* Find(std::string_view hostport) const;

  // TargetInterner::Intern()
  //
  // Returns the interned target for `hostport`, creating it from `parsed`.
  // A new target starts with no entries: attach it with
  // LookupCache::SetTarget() before anything else can release targets.
  InternedTarget* Intern(std::string_view hostport, HostPort parsed);

  void Acquire(InternedTarget* target) { ++target->entries; }

  // TargetInterner::Release()
  //
  // Drops one entry's hold; the last one erases the target (snapshots handed
  // out as shared_ptr copies stay valid).
  void Release(InternedTarget* target);

  size_t size() const { return targets_.size(); }

 private:
  // Keys view the target's own hostport string, which never moves.
  absl::flat_hash_map<absl::string_view, std::unique_ptr<InternedTarget>>
      targets_;
};

// LruLinks
//
// The intrusive list node, in recency order: `prev` is used more recently,
// `next` less.
struct LruLinks {
  LruLinks* prev = this;
  LruLinks* next = this;
};

// CacheEntry
//
// What the cache knows about one key. Times are steady-clock nanoseconds.
struct CacheEntry : LruLinks {
  explicit CacheEntry(std::string_view k) : key(k) {}

  std::string key;
  InternedTarget* target = nullptr;  // the last good answer, if any
  int64_t fetched_at = 0;            // when `target` arrived
  int64_t backoff_until = 0;         // no new lookup before this
  absl::Status last_error;           // why the last lookup failed
  uint8_t failures = 0;              // consecutive failed lookups
  LookupOutcome::Failure last_failure = LookupOutcome::Failure::kNone;
};

// LookupCache
class LookupCache {
 public:
  explicit LookupCache(size_t max_entries);
  ~LookupCache();
  LookupCache(const LookupCache&) = delete;
  LookupCache& operator=(const LookupCache&) = delete;

  // LookupCache::Find()
  //
  // The entry for `key`, or nullptr. Does not count as a use.
  CacheEntry* Find(std::string_view key) const {
    auto it = entries_.find(internal::ToAbsl(key));
    return it == entries_.end() ? nullptr : *it;
  }

  // LookupCache::MarkUsed()
  //
  // Makes `entry` the most recently used.
  void MarkUsed(CacheEntry* entry) {
    if (head_.next == entry) return;
    Unlink(entry);
    LinkFront(entry);
  }

  // LookupCache::FindOrInsert()
  //
  // The entry for `key`, created if absent, marked most recently used. Never
  // evicts: call EvictBeyondCapacity() once the entry is filled in.
  CacheEntry* FindOrInsert(std::string_view key);

  // LookupCache::EvictBeyondCapacity()
  //
  // Erases least recently used entries while more than `max_entries` remain.
  void EvictBeyondCapacity();

  // LookupCache::Erase()
  void Erase(CacheEntry* entry);

  // LookupCache::SetTarget()
  //
  // Points `entry` at `target` (nullptr to forget), moving the holds.
  void SetTarget(CacheEntry* entry, InternedTarget* target);

  // LookupCache::LeastRecentlyUsed()
  //
  // The entry eviction takes next, or nullptr when empty.
  CacheEntry* LeastRecentlyUsed() const {
    return head_.prev == &head_ ? nullptr : static_cast<CacheEntry*>(head_.prev);
  }

  size_t size() const { return entries_.size(); }
  size_t max_entries() const { return max_entries_; }
  TargetInterner& targets() { return targets_; }

 private:
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(absl::string_view key) const {
      return absl::Hash<absl::string_view>{}(key);
    }
    size_t operator()(const CacheEntry* entry) const {
      return (*this)(absl::string_view(entry->key));
    }
  };
  struct KeyEq {
    using is_transparent = void;
    static absl::string_view KeyOf(absl::string_view key) { return key; }
    static absl::string_view KeyOf(const CacheEntry* entry) {
      return entry->key;
    }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return KeyOf(a) == KeyOf(b);
    }
  };

  void LinkFront(LruLinks* entry) {
    entry->next = head_.next;
    entry->prev = &head_;
    head_.next->prev = entry;
    head_.next = entry;
  }
  static void Unlink(LruLinks* entry) {
    entry->prev->next = entry->next;
    entry->next->prev = entry->prev;
  }

  const size_t max_entries_;
  TargetInterner targets_;
  // The list's sentinel: `head_.next` is the most recently used entry,
  // `head_.prev` the least.
  LruLinks head_;
  absl::flat_hash_set<CacheEntry*, KeyHash, KeyEq> entries_;
};

}  // namespace homing::lookup_internal

#endif  // HOMING_LIB_LOOKUP_LOOKUP_CACHE_H_
