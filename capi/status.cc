// File: capi/status.cc
//
// Version, status codes, memory and logging: the parts of the C ABI every
// other part relies on.

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "homing/log.h"
#include "internal.h"

namespace homing::capi {

homing_status ToHomingStatus(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return HOMING_OK;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAlreadyExists:
      return HOMING_ERR_INVALID_ARGUMENT;
    case absl::StatusCode::kNotFound:
      return HOMING_ERR_NOT_FOUND;
    case absl::StatusCode::kUnavailable:
      return HOMING_ERR_UNAVAILABLE;
    case absl::StatusCode::kDeadlineExceeded:
      return HOMING_ERR_TIMEOUT;
    case absl::StatusCode::kResourceExhausted:
      return HOMING_ERR_OVERFLOW;
    case absl::StatusCode::kCancelled:
      return HOMING_ERR_CANCELLED;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return HOMING_ERR_PERMISSION_DENIED;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return HOMING_ERR_FAILED_PRECONDITION;
    default:
      return HOMING_ERR_INTERNAL;
  }
}

char* CopyToMalloc(std::string_view text) {
  char* copy = static_cast<char*>(std::malloc(text.size() + 1));
  if (copy == nullptr) return nullptr;
  if (!text.empty()) std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  return copy;
}

homing_status SaveError(char** errmsg, homing_status status,
                        std::string_view message) {
  if (errmsg != nullptr) {
    std::free(*errmsg);
    *errmsg = CopyToMalloc(message);
  }
  return status;
}

homing_status SaveError(char** errmsg, const absl::Status& status) {
  if (status.ok()) return HOMING_OK;
  return SaveError(
      errmsg, ToHomingStatus(status.code()),
      std::string_view(status.message().data(), status.message().size()));
}

void LogFailure(const char* where, homing_status status) {
  HOMING_LOG(kError, where, ": ", homing_strerror(status));
}

}  // namespace homing::capi

extern "C" {

const char* homing_version(void) { return HOMING_VERSION_STRING; }

uint32_t homing_version_num(void) { return HOMING_VERSION_NUM; }

const char* homing_strerror(int status) {
  switch (status) {
    case HOMING_OK:
      return "ok";
    case HOMING_ERR_INVALID_ARGUMENT:
      return "invalid argument";
    case HOMING_ERR_NOT_FOUND:
      return "not found";
    case HOMING_ERR_UNAVAILABLE:
      return "unavailable";
    case HOMING_ERR_TIMEOUT:
      return "timed out";
    case HOMING_ERR_OVERFLOW:
      return "limit reached";
    case HOMING_ERR_CANCELLED:
      return "cancelled";
    case HOMING_ERR_PERMISSION_DENIED:
      return "permission denied";
    case HOMING_ERR_FAILED_PRECONDITION:
      return "failed precondition";
    case HOMING_ERR_WRONG_THREAD:
      return "called from the wrong thread";
    case HOMING_ERR_REENTRANT:
      return "re-entrant call from a callback";
    case HOMING_ERR_NO_MEMORY:
      return "out of memory";
    case HOMING_ERR_INTERNAL:
      return "internal error";
    default:
      return "unknown status";
  }
}

void homing_free(void* ptr) { std::free(ptr); }

homing_status homing_set_log_level(int level) {
  if (level < HOMING_LOG_TRACE || level > HOMING_LOG_OFF) {
    return HOMING_ERR_INVALID_ARGUMENT;
  }
  homing::SetLogLevel(static_cast<homing::LogLevel>(level));
  return HOMING_OK;
}

int homing_log_level(void) { return static_cast<int>(homing::GetLogLevel()); }

void homing_set_log_callback(homing_log_cb cb, void* user_data) {
  homing::capi::GuardVoid("homing_set_log_callback", [&] {
    if (cb == nullptr) {
      homing::SetLogSink(nullptr);
      return;
    }
    homing::SetLogSink(
        [cb, user_data](homing::LogLevel level, std::string_view message) {
          // The sink gets a view; C wants a terminated string. A line that
          // cannot be copied (out of memory) is dropped: logging never throws.
          try {
            const std::string text(message);
            cb(static_cast<int>(level), text.c_str(), text.size(), user_data);
          } catch (const std::bad_alloc&) {
          }
        });
  });
}

}  // extern "C"
