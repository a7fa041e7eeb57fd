#include "homing/log.h"

#include <atomic>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/string_util.h"

namespace homing {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};

absl::Mutex& SinkMutex() {
  static absl::Mutex mutex;
  return mutex;
}

// Guarded by SinkMutex(); shared_ptr so a sink swap never destroys a sink
// another thread is calling.
std::shared_ptr<LogSink>& Sink() {
  static std::shared_ptr<LogSink> sink;
  return sink;
}

void WriteToStderr(LogLevel level, std::string_view message) {
  std::string line = absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
      " [", internal::ToAbsl(LogLevelName(level)), "] ",
      internal::ToAbsl(message), "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(level); }
LogLevel GetLogLevel() { return g_level.load(); }

bool LogEnabled(LogLevel level) {
  return level != LogLevel::kOff && level >= g_level.load(std::memory_order_relaxed);
}

void SetLogSink(LogSink sink) {
  absl::MutexLock lock(&SinkMutex());
  Sink() = sink ? std::make_shared<LogSink>(std::move(sink)) : nullptr;
}

void Log(LogLevel level, std::string_view message) {
  if (!LogEnabled(level)) return;
  std::shared_ptr<LogSink> sink;
  {
    absl::MutexLock lock(&SinkMutex());
    sink = Sink();
  }
  if (sink) {
    (*sink)(level, message);
  } else {
    WriteToStderr(level, message);
  }
}

absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name) {
  for (LogLevel level : {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo,
                         LogLevel::kWarn, LogLevel::kError, LogLevel::kOff}) {
    if (LogLevelName(level) == name) return level;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown log level \"", internal::ToAbsl(name),
      "\" (expected trace, debug, info, warn, error or off)"));
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return "trace";
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
    case LogLevel::kOff: return "off";
  }
  return "unknown";
}

}  // namespace homing
