// File: capi/internal.h
//
// What the C ABI's translation units share: the one status mapping
// (`absl::StatusCode` → `homing_status`), the one error saver (`SaveError()`),
// the guard that keeps C++ exceptions from crossing the boundary, and string
// helpers for (pointer, length) arguments.
//
// Every entry point follows one shape: validate the C arguments, then run the
// C++ work inside `Guard()` (or `OnLoop()`, capi/loop.h, for objects on a
// loop), which turns both `absl::Status` failures and exceptions into a
// `homing_status` plus an optional message.

#ifndef HOMING_CAPI_INTERNAL_H_
#define HOMING_CAPI_INTERNAL_H_

#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "homing/homing.h"

namespace homing::capi {

// ToHomingStatus()
//
// The one mapping from Abseil's codes to the C status codes.
homing_status ToHomingStatus(absl::StatusCode code);

// CopyToMalloc()
//
// A malloc()ed, NUL-terminated copy of `text` (what homing_free() releases),
// or nullptr when out of memory.
char* CopyToMalloc(std::string_view text);

// SaveError()
//
// Sets an output pointer to NULL before a call does anything else, so that
// it is NULL whenever the call fails (leveldb's rule: a caller never frees
// or uses a stale value). `out` may itself be NULL.
template <typename T>
void ClearOutput(T** out) {
  if (out != nullptr) *out = nullptr;
}

// Stores `message` in `*errmsg` (freeing what was there, leveldb's rule) when
// `errmsg` is non-null, and returns `status`.
homing_status SaveError(char** errmsg, homing_status status,
                        std::string_view message);

// SaveError(absl::Status)
//
// HOMING_OK for an ok status (leaving `*errmsg` alone); otherwise the mapped
// code and the status message.
homing_status SaveError(char** errmsg, const absl::Status& status);

// LogFailure()
//
// Logs an error that an entry point without a status could not report.
void LogFailure(const char* where, homing_status status);

// Guard()
//
// Runs `fn` (returning homing_status or absl::Status) and converts any
// exception: std::bad_alloc → HOMING_ERR_NO_MEMORY, anything else →
// HOMING_ERR_INTERNAL with what() when there is one.
template <typename Fn>
homing_status Guard(char** errmsg, Fn&& fn) {
  try {
    if constexpr (std::is_same_v<decltype(fn()), absl::Status>) {
      return SaveError(errmsg, fn());
    } else {
      return fn();
    }
  } catch (const std::bad_alloc&) {
    return SaveError(errmsg, HOMING_ERR_NO_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return SaveError(errmsg, HOMING_ERR_INTERNAL, e.what());
  } catch (...) {
    return SaveError(errmsg, HOMING_ERR_INTERNAL, "unknown C++ exception");
  }
}

// GuardVoid()
//
// For entry points that cannot report (frees, setters of process state):
// swallows exceptions after logging them.
template <typename Fn>
void GuardVoid(const char* where, Fn&& fn) {
  homing_status status = Guard(nullptr, [&] {
    fn();
    return HOMING_OK;
  });
  if (status != HOMING_OK) LogFailure(where, status);
}

// Text()
//
// A (pointer, length) argument as a string_view; HOMING_NUL_TERMINATED means
// strlen(). `false` for a null pointer with a non-zero length.
inline bool Text(const char* data, size_t len, std::string_view* out) {
  if (data == nullptr) {
    if (len != 0 && len != HOMING_NUL_TERMINATED) return false;
    *out = {};
    return true;
  }
  *out = std::string_view(
      data, len == HOMING_NUL_TERMINATED ? std::strlen(data) : len);
  return true;
}

// InvalidArgument()
//
// The common early return for bad C arguments.
inline homing_status InvalidArgument(char** errmsg, std::string_view message) {
  return SaveError(errmsg, HOMING_ERR_INVALID_ARGUMENT, message);
}

}  // namespace homing::capi

#endif  // HOMING_CAPI_INTERNAL_H_
