// File: lib/common/callback_list.h
//
// CallbackList: the subscribers of one kind of event (Envoy's
// addUpdateCallbacks pattern). Add() returns a handle; destroying it
// unsubscribes, also from inside a callback, and a handle that outlives the
// list is inert. Run() calls the subscribers in subscription order.
//
// Thread safety: one thread, the owner's.

#ifndef HOMING_LIB_COMMON_CALLBACK_LIST_H_
#define HOMING_LIB_COMMON_CALLBACK_LIST_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "homing/cancelable.h"

namespace homing::internal {

template <typename... Args>
class CallbackList {
 public:
  using Callback = std::function<void(Args...)>;

  [[nodiscard]] std::unique_ptr<Cancelable> Add(Callback callback) {
    const uint64_t id = subscribers_->next_id++;
    subscribers_->callbacks.emplace(id, std::move(callback));
    return std::make_unique<Handle>(subscribers_, id);
  }

  bool empty() const { return subscribers_->callbacks.empty(); }

  // CallbackList::Run()
  //
  // Calls every subscriber still subscribed when its turn comes. Returns
  // false, having stopped, when a callback destroyed the list (its owner).
  bool Run(Args... args) {
    const std::shared_ptr<Subscribers> subscribers = subscribers_;
    const std::weak_ptr<bool> alive = alive_;
    std::vector<uint64_t> ids;
    ids.reserve(subscribers->callbacks.size());
    for (const auto& entry : subscribers->callbacks) ids.push_back(entry.first);
    for (uint64_t id : ids) {
      auto it = subscribers->callbacks.find(id);
      if (it == subscribers->callbacks.end()) continue;
      Callback callback = it->second;  // it may unsubscribe itself
      callback(args...);
      if (alive.expired()) return false;
    }
    return true;
  }

 private:
  struct Subscribers {
    std::map<uint64_t, Callback> callbacks;  // ids grow: subscription order
    uint64_t next_id = 0;
  };

  class Handle final : public Cancelable {
   public:
    Handle(std::weak_ptr<Subscribers> subscribers, uint64_t id)
        : subscribers_(std::move(subscribers)), id_(id) {}
    ~Handle() override {
      if (auto subscribers = subscribers_.lock()) subscribers->callbacks.erase(id_);
    }

   private:
    std::weak_ptr<Subscribers> subscribers_;
    uint64_t id_;
  };

  std::shared_ptr<Subscribers> subscribers_ = std::make_shared<Subscribers>();
  // Expires with the list: Run() stops when a callback destroyed it (also
  // from a nested Run()).
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace homing::internal

#endif  // HOMING_LIB_COMMON_CALLBACK_LIST_H_
