#include "command_line.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace homing::examples {
namespace {

bool Contains(std::initializer_list<std::string_view> names,
              std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

absl::Status Invalid(std::string_view name, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(name), " ", std::string(what)));
}

}  // namespace

absl::StatusOr<CommandLine> CommandLine::Parse(
    int argc, char** argv, std::initializer_list<std::string_view> valued,
    std::initializer_list<std::string_view> switches) {
  CommandLine line;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || Contains(switches, arg)) {
      if (!line.switches_.emplace(arg).second) return Invalid(arg, "given twice");
      continue;
    }
    std::optional<std::string_view> inline_value;
    if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    if (!Contains(valued, arg)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown argument \"", argv[i], "\""));
    }
    if (line.values_.contains(arg)) return Invalid(arg, "given twice");
    if (inline_value) {
      line.values_.emplace(arg, *inline_value);
    } else if (i + 1 < argc) {
      line.values_.emplace(arg, argv[++i]);
    } else {
      return Invalid(arg, "needs a value");
    }
  }
  return line;
}

std::optional<std::string> CommandLine::value(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

bool CommandLine::has(std::string_view name) const {
  return switches_.contains(name);
}

}  // namespace homing::examples
