// File: examples/common/command_line.h
//
// The argument conventions both example programs share: `--name VALUE` or
// `--name=VALUE` options, bare `--switch` flags, and `--help`. Strict, like
// the config loader: an unknown argument, a repeated one, or an option
// without its value is an error the program reports with its usage (exit 2).
//
// Example:
//
//   auto line = CommandLine::Parse(argc, argv, {"--config", "--log-level"},
//                                  {"--check"});
//   if (!line.ok()) return Usage(line.status());
//   if (line->help()) return PrintUsage();
//   std::optional<std::string> config = line->value("--config");

#ifndef HOMING_EXAMPLES_COMMON_COMMAND_LINE_H_
#define HOMING_EXAMPLES_COMMON_COMMAND_LINE_H_

#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace homing::examples {

class CommandLine {
 public:
  // CommandLine::Parse()
  //
  // `valued` lists the options that take a value, `switches` those that do
  // not. `--help` is always accepted.
  static absl::StatusOr<CommandLine> Parse(
      int argc, char** argv, std::initializer_list<std::string_view> valued,
      std::initializer_list<std::string_view> switches = {});

  // The value given to option `name`, or nullopt.
  std::optional<std::string> value(std::string_view name) const;

  // Whether switch `name` was given.
  bool has(std::string_view name) const;

  bool help() const { return has("--help"); }

 private:
  std::map<std::string, std::string, std::less<>> values_;
  std::set<std::string, std::less<>> switches_;
};

}  // namespace homing::examples

#endif  // HOMING_EXAMPLES_COMMON_COMMAND_LINE_H_
