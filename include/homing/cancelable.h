// File: homing/cancelable.h
//
// `Cancelable` is the handle of an asynchronous operation (a DNS query, a
// cache load, an affinity lookup, a routing decision): destroying it cancels
// the operation, and no callback follows. Every component that starts work
// and calls back later returns one.
//
// Example:
//
//   homing::DnsCache::LoadResult result = cache.Load(host, port, on_loaded);
//   result.handle.reset();  // on_loaded will not run
//
// Thread safety: destroy it on the thread of the component that made it.

#ifndef HOMING_CANCELABLE_H_
#define HOMING_CANCELABLE_H_

namespace homing {

// Cancelable
//
// Destroying it cancels the operation it stands for; no callback follows.
class Cancelable {
 public:
  virtual ~Cancelable() = default;
};

}  // namespace homing

#endif  // HOMING_CANCELABLE_H_
