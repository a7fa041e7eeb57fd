#include "homing/log.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "common/log.h"

namespace homing {
namespace {

TEST_CASE("log level filters what reaches the sink, and formats lazily") {
  std::vector<std::string> lines;
  SetLogSink([&lines](LogLevel level, std::string_view message) {
    lines.push_back(std::string(LogLevelName(level)) + " " + std::string(message));
  });
  SetLogLevel(LogLevel::kWarn);
  int formatted = 0;
  auto expensive = [&formatted] {
    ++formatted;
    return "x";
  };
  HOMING_LOG(kInfo, "dropped ", expensive());
  HOMING_LOG(kWarn, "kept ", 42);
  HOMING_LOG(kError, "also kept");
  CHECK(formatted == 0);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "warn kept 42");
  CHECK(lines[1] == "error also kept");

  SetLogLevel(LogLevel::kOff);
  HOMING_LOG(kError, "silenced");
  CHECK(lines.size() == 2);

  SetLogSink(nullptr);
  SetLogLevel(LogLevel::kInfo);
}

TEST_CASE("ParseLogLevel names every level and rejects others") {
  for (LogLevel level : {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo,
                         LogLevel::kWarn, LogLevel::kError, LogLevel::kOff}) {
    auto parsed = ParseLogLevel(LogLevelName(level));
    REQUIRE(parsed.ok());
    CHECK(*parsed == level);
  }
  auto bad = ParseLogLevel("verbose");
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("verbose") != std::string::npos);
}

}  // namespace
}  // namespace homing
