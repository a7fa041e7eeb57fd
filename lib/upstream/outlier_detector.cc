#include "upstream/outlier_detector.h"

#include <algorithm>

namespace homing::internal {

OutlierDetector::OutlierDetector(const OutlierDetectionSpec& spec,
                                 const TimeSource& time,
                                 const StatsScope& scope)
    : spec_(spec),
      time_(time),
      ejections_enforced_total_(
          scope.Counter("outlier_detection.ejections_enforced_total")),
      ejections_overflow_(scope.Counter("outlier_detection.ejections_overflow")),
      ejections_active_(scope.Gauge("outlier_detection.ejections_active")) {}

void OutlierDetector::SetHosts(const HostVector& hosts) {
  absl::flat_hash_map<const Host*, HostState> next;
  next.reserve(hosts.size());
  ejected_count_ = 0;
  next_return_ = MonotonicTime::max();
  for (const HostSharedPtr& host : hosts) {
    auto it = states_.find(host.get());
    HostState state = it != states_.end() ? std::move(it->second)
                                          : HostState{.host = host};
    if (!host->healthy()) {
      ++ejected_count_;
      next_return_ = std::min(next_return_, state.ejected_until);
    }
    next.emplace(host.get(), std::move(state));
  }
  states_ = std::move(next);
  ejections_active_.Set(static_cast<int64_t>(ejected_count_));
}

bool OutlierDetector::ReportOutcome(const Host& host, RequestOutcome outcome) {
  auto it = states_.find(&host);
  if (it == states_.end()) return false;
  HostState& state = it->second;
  bool tripped = false;
  switch (outcome) {
    case RequestOutcome::kSuccess:
      state.consecutive_5xx = 0;
      state.consecutive_local_origin = 0;
      return false;
    case RequestOutcome::kServerError:
      // The host answered: its connection works, its application does not.
      state.consecutive_local_origin = 0;
      ++state.consecutive_5xx;
      tripped = spec_.consecutive_5xx > 0 &&
                state.consecutive_5xx >= spec_.consecutive_5xx;
      break;
    case RequestOutcome::kConnectFailure:
    case RequestOutcome::kReset:
    case RequestOutcome::kTimeout:
      ++state.consecutive_local_origin;
      tripped = spec_.consecutive_local_origin_failure > 0 &&
                state.consecutive_local_origin >=
                    spec_.consecutive_local_origin_failure;
      break;
  }
  // Failures of requests still in flight when the host was ejected change
  // nothing more.
  if (!tripped || !state.host->healthy()) return false;
  if (!MayEject()) {
    // The count stays at the threshold: the next failure tries again.
    ejections_overflow_.Inc();
    return false;
  }
  Eject(state);
  return true;
}

bool OutlierDetector::ReturnExpired() {
  if (ejected_count_ == 0) return false;
  const MonotonicTime now = time_.Now();
  if (now < next_return_) return false;
  bool returned = false;
  next_return_ = MonotonicTime::max();
  for (auto& [host, state] : states_) {
    if (state.host->healthy()) continue;
    if (state.ejected_until <= now) {
      SetEjected(*state.host, false);
      state.returned_at = now;
      returned = true;
    } else {
      next_return_ = std::min(next_return_, state.ejected_until);
    }
  }
  return returned;
}

bool OutlierDetector::MayEject() const {
  // One host may always go; beyond that, the ejected share after this
  // ejection must stay within max_ejection_percent.
  return ejected_count_ == 0 ||
         100 * (ejected_count_ + 1) <= spec_.max_ejection_percent * states_.size();
}

void OutlierDetector::Eject(HostState& state) {
  const MonotonicTime now = time_.Now();
  if (state.ejections > 0) {
    // Forgive one ejection per base_ejection_time served since the return.
    const auto forgiven = static_cast<uint64_t>(
        (now - state.returned_at) / spec_.base_ejection_time);
    state.ejections -= static_cast<uint32_t>(
        std::min<uint64_t>(state.ejections, forgiven));
  }
  ++state.ejections;
  state.ejected_until = now + EjectionTime(state.ejections);
  state.consecutive_5xx = 0;
  state.consecutive_local_origin = 0;
  SetEjected(*state.host, true);
  ejections_enforced_total_.Inc();
  next_return_ = std::min(next_return_, state.ejected_until);
}

Duration OutlierDetector::EjectionTime(uint32_t ejections) const {
  Duration time = spec_.base_ejection_time;
  for (uint32_t i = 1; i < ejections && time < spec_.max_ejection_time; ++i) {
    time *= 2;
  }
  return std::min(time, spec_.max_ejection_time);
}

void OutlierDetector::SetEjected(Host& host, bool ejected) {
  host.ejected_.store(ejected, std::memory_order_relaxed);
  if (ejected) {
    ++ejected_count_;
    ejections_active_.Inc();
  } else {
    --ejected_count_;
    ejections_active_.Dec();
  }
}

}  // namespace homing::internal
