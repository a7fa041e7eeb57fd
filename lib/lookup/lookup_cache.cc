// LookupCache and TargetInterner.

#include "lookup/lookup_cache.h"

#include <utility>

namespace homing::lookup_internal {

using internal::ToAbsl;

InternedTarget* TargetInterner::Find(std::string_view hostport) const {
  auto it = targets_.find(ToAbsl(hostport));
  return it == targets_.end() ? nullptr : it->second.get();
}

InternedTarget* TargetInterner::Intern(std::string_view hostport,
                                       HostPort parsed) {
  if (InternedTarget* existing = Find(hostport)) return existing;
  auto interned = std::make_unique<InternedTarget>();
  interned->target = std::make_shared<const AffinityTarget>(
      AffinityTarget{std::string(hostport), std::move(parsed)});
  InternedTarget* raw = interned.get();
  targets_.emplace(absl::string_view(raw->target->hostport), std::move(interned));
  return raw;
}

void TargetInterner::Release(InternedTarget* target) {
  if (--target->entries > 0) return;
  targets_.erase(absl::string_view(target->target->hostport));
}

LookupCache::LookupCache(size_t max_entries) : max_entries_(max_entries) {}

LookupCache::~LookupCache() {
  for (CacheEntry* entry : entries_) delete entry;
}

CacheEntry* LookupCache::FindOrInsert(std::string_view key) {
  if (CacheEntry* entry = Find(key)) {
    MarkUsed(entry);
    return entry;
  }
  auto* entry = new CacheEntry(key);
  entries_.insert(entry);
  LinkFront(entry);
  return entry;
}

void LookupCache::EvictBeyondCapacity() {
  while (entries_.size() > max_entries_) Erase(LeastRecentlyUsed());
}

void LookupCache::Erase(CacheEntry* entry) {
  SetTarget(entry, nullptr);
  Unlink(entry);
  entries_.erase(entry);
  delete entry;
}

void LookupCache::SetTarget(CacheEntry* entry, InternedTarget* target) {
  if (entry->target == target) return;
  if (target != nullptr) targets_.Acquire(target);
  if (entry->target != nullptr) targets_.Release(entry->target);
  entry->target = target;
}

}  // namespace homing::lookup_internal
