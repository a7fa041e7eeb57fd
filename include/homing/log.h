// File: homing/log.h
//
// homing's diagnostics go through one process-wide sink: stderr by default
// ("2026-11-26T09:45:05.123Z [warn] message"), or whatever an embedder
// installs. Messages below the current level are not even formatted.
//
// Example:
//
//   homing::SetLogLevel(homing::LogLevel::kDebug);
//   homing::SetLogSink([](homing::LogLevel level, std::string_view message) {
//     my_logger.Write(static_cast<int>(level), message);
//   });
//
// Thread safety: all functions are thread-safe; the sink may be called from
// any thread that logs, concurrently.

#ifndef HOMING_LOG_H_
#define HOMING_LOG_H_

#include <functional>
#include <string_view>

#include "absl/status/statusor.h"

namespace homing {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };

using LogSink = std::function<void(LogLevel level, std::string_view message)>;

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();

// SetLogSink()
//
// Replaces the sink; nullptr restores the stderr sink.
void SetLogSink(LogSink sink);

// LogEnabled()
//
// `true` when a message at `level` would be written.
bool LogEnabled(LogLevel level);

// Log()
//
// Writes `message` at `level` if enabled.
void Log(LogLevel level, std::string_view message);

// ParseLogLevel() / LogLevelName()
//
// "trace", "debug", "info", "warn", "error", "off".
absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name);
std::string_view LogLevelName(LogLevel level);

}  // namespace homing

#endif  // HOMING_LOG_H_
