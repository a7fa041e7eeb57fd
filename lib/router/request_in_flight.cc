#include <utility>

#include "homing/router.h"
#include "router/cluster_load.h"

namespace homing {
namespace {

bool EndSlot(internal::InFlightSlot& slot) {
  if (slot.ended.exchange(true, std::memory_order_acq_rel)) return false;
  slot.host->stats().rq_active.fetch_sub(1, std::memory_order_relaxed);
  slot.load->active.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

// The last handle let go: end the count and give the slot back.
void Unref(internal::InFlightSlot* slot) {
  if (slot == nullptr || slot->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) {
    return;
  }
  EndSlot(*slot);
  slot->host.reset();
  std::shared_ptr<internal::ClusterLoad> load = std::move(slot->load);
  std::lock_guard<std::mutex> lock(load->mu);
  load->free.push_back(slot);  // never grows: capacity follows slots
}

}  // namespace

RequestInFlight::RequestInFlight(const RequestInFlight& other) : slot_(other.slot_) {
  if (slot_ != nullptr) slot_->refs.fetch_add(1, std::memory_order_relaxed);
}

RequestInFlight::RequestInFlight(RequestInFlight&& other) noexcept
    : slot_(std::exchange(other.slot_, nullptr)) {}

RequestInFlight& RequestInFlight::operator=(RequestInFlight other) noexcept {
  std::swap(slot_, other.slot_);
  return *this;
}

RequestInFlight::~RequestInFlight() { Unref(slot_); }

bool RequestInFlight::active() const {
  return slot_ != nullptr && !slot_->ended.load(std::memory_order_acquire);
}

bool RequestInFlight::End() const {
  return slot_ != nullptr && EndSlot(*slot_);
}

HostSharedPtr RequestInFlight::host() const {
  return active() ? slot_->host : nullptr;
}

void RequestInFlight::MoveTo(HostSharedPtr host) const {
  if (!active()) return;
  slot_->host->stats().rq_active.fetch_sub(1, std::memory_order_relaxed);
  slot_->host = std::move(host);
  slot_->host->stats().rq_active.fetch_add(1, std::memory_order_relaxed);
}

namespace internal {

RequestInFlight Admit(const std::shared_ptr<ClusterLoad>& load, HostSharedPtr host) {
  if (load->active.load(std::memory_order_relaxed) >= load->max) {
    load->overflow->Inc();
    return RequestInFlight();
  }
  InFlightSlot* slot;
  {
    std::lock_guard<std::mutex> lock(load->mu);
    if (load->free.empty()) {
      load->slots.push_back(std::make_unique<InFlightSlot>());
      load->free.reserve(load->slots.size());
      slot = load->slots.back().get();
    } else {
      slot = load->free.back();
      load->free.pop_back();
    }
  }
  load->active.fetch_add(1, std::memory_order_relaxed);
  host->stats().rq_active.fetch_add(1, std::memory_order_relaxed);
  slot->host = std::move(host);
  slot->load = load;
  slot->refs.store(1, std::memory_order_relaxed);
  slot->ended.store(false, std::memory_order_release);
  return RequestInFlight(slot);
}

}  // namespace internal
}  // namespace homing
