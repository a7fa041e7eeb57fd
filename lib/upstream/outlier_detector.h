// File: lib/upstream/outlier_detector.h
//
// Passive health for one cluster (Envoy's outlier detection, consecutive
// failure detectors only). Counts each host's consecutive local-origin
// failures and consecutive 5xx answers, ejects a host when a count reaches
// its threshold (when max_ejection_percent allows), and returns it when its
// ejection time is over. Time is read from the TimeSource only when an
// outcome ejects a host or an ejected host may be due back.
//
// Thread safety: one thread (the cluster's).

#ifndef HOMING_LIB_UPSTREAM_OUTLIER_DETECTOR_H_
#define HOMING_LIB_UPSTREAM_OUTLIER_DETECTOR_H_

#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "homing/upstream.h"

namespace homing::internal {

// OutlierDetector
class OutlierDetector {
 public:
  OutlierDetector(const OutlierDetectionSpec& spec, const TimeSource& time,
                  const StatsScope& scope);

  // OutlierDetector::SetHosts()
  //
  // Tracks `hosts`: hosts that stay keep their counts and ejection, removed
  // hosts are forgotten.
  void SetHosts(const HostVector& hosts);

  // OutlierDetector::ReportOutcome()
  //
  // Returns true when the outcome ejected `host`. Hosts not tracked are
  // ignored.
  bool ReportOutcome(const Host& host, RequestOutcome outcome);

  // OutlierDetector::ReturnExpired()
  //
  // Returns every host whose ejection is over to service; returns true when
  // any came back. Cheap when none is due.
  bool ReturnExpired();

  size_t ejected_count() const { return ejected_count_; }

 private:
  struct HostState {
    HostSharedPtr host;
    uint32_t consecutive_5xx = 0;
    uint32_t consecutive_local_origin = 0;
    uint32_t ejections = 0;  // the multiplier: 2^(ejections-1) × base
    MonotonicTime ejected_until{};
    MonotonicTime returned_at{};  // last return to service
  };

  bool MayEject() const;
  void Eject(HostState& state);
  Duration EjectionTime(uint32_t ejections) const;
  void SetEjected(Host& host, bool ejected);

  OutlierDetectionSpec spec_;
  const TimeSource& time_;
  Counter& ejections_enforced_total_;
  Counter& ejections_overflow_;
  Gauge& ejections_active_;
  absl::flat_hash_map<const Host*, HostState> states_;
  size_t ejected_count_ = 0;
  MonotonicTime next_return_ = MonotonicTime::max();
};

}  // namespace homing::internal

#endif  // HOMING_LIB_UPSTREAM_OUTLIER_DETECTOR_H_
