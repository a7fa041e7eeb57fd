// File: lib/common/log.h
//
// HOMING_LOG(kWarn, "resolver ", host, " failed: ", status) formats its
// arguments with absl::StrCat only when the level is enabled.

#ifndef HOMING_LIB_COMMON_LOG_H_
#define HOMING_LIB_COMMON_LOG_H_

#include "absl/strings/str_cat.h"
#include "homing/log.h"

#define HOMING_LOG(level, ...)                                        \
  do {                                                                \
    if (::homing::LogEnabled(::homing::LogLevel::level)) {            \
      ::homing::Log(::homing::LogLevel::level, absl::StrCat(__VA_ARGS__)); \
    }                                                                 \
  } while (false)

#endif  // HOMING_LIB_COMMON_LOG_H_
