#include "homing/http_upstream.h"

namespace homing {

bool IsKeepAliveRace(bool reused_connection, UpstreamResetReason reason,
                     bool response_started) {
  if (!reused_connection || response_started) return false;
  return reason == UpstreamResetReason::kConnectionClosed ||
         reason == UpstreamResetReason::kWriteError;
}

}  // namespace homing
