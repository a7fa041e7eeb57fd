#include "route/string_matcher.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"

namespace homing::route_internal {
namespace {

using internal::AsciiLower;
using internal::ToAbsl;

bool EqualsLowered(std::string_view text, std::string_view lowered) {
  if (text.size() != lowered.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (AsciiLower(text[i]) != lowered[i]) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<const re2::RE2>> CompileRegex(
    std::string_view pattern) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  auto regex = std::make_unique<const re2::RE2>(
      re2::StringPiece(pattern.data(), pattern.size()), options);
  if (regex->ok()) return regex;
  // RE2's error() is "<reason>: <offending part>"; when the offending part is
  // the whole pattern the caller already quotes it.
  std::string_view reason = regex->error();
  std::string suffix = absl::StrCat(": ", regex->error_arg());
  if (regex->error_arg() == pattern && reason.size() > suffix.size() &&
      reason.substr(reason.size() - suffix.size()) == suffix) {
    reason.remove_suffix(suffix.size());
  }
  return absl::InvalidArgumentError(ToAbsl(reason));
}

absl::StatusOr<StringMatcher> StringMatcher::Compile(
    const StringMatcherSpec& spec) {
  std::string_view kind = StringMatcherKindName(spec.kind);
  if (spec.kind == StringMatcherSpec::Kind::kSafeRegex) {
    auto regex = CompileRegex(spec.value);
    if (!regex.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          ToAbsl(kind), " \"", spec.value, "\": ", regex.status().message()));
    }
    return StringMatcher(spec.kind, spec.value, false, *std::move(regex));
  }
  if (spec.kind != StringMatcherSpec::Kind::kExact && spec.value.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(kind), " must not be empty"));
  }
  return StringMatcher(spec.kind,
                       spec.ignore_case ? LowerAscii(spec.value) : spec.value,
                       spec.ignore_case, nullptr);
}

bool StringMatcher::Matches(std::string_view value) const {
  std::string_view expected = value_;
  switch (kind_) {
    case StringMatcherSpec::Kind::kExact:
      return ignore_case_ ? EqualsLowered(value, expected) : value == expected;
    case StringMatcherSpec::Kind::kPrefix:
      return ignore_case_ ? StartsWithLowered(value, expected)
                          : value.starts_with(expected);
    case StringMatcherSpec::Kind::kSuffix:
      return ignore_case_ ? EndsWithLowered(value, expected)
                          : value.ends_with(expected);
    case StringMatcherSpec::Kind::kContains:
      return ignore_case_ ? ContainsLowered(value, expected)
                          : value.find(expected) != std::string_view::npos;
    case StringMatcherSpec::Kind::kSafeRegex:
      return RegexFullMatch(value, *regex_);
  }
  return false;
}

std::string_view StringMatcherKindName(StringMatcherSpec::Kind kind) {
  switch (kind) {
    case StringMatcherSpec::Kind::kExact:
      return "exact";
    case StringMatcherSpec::Kind::kPrefix:
      return "prefix";
    case StringMatcherSpec::Kind::kSuffix:
      return "suffix";
    case StringMatcherSpec::Kind::kContains:
      return "contains";
    case StringMatcherSpec::Kind::kSafeRegex:
      return "safe_regex";
  }
  return "unknown";
}

bool StartsWithLowered(std::string_view text, std::string_view lowered) {
  return text.size() >= lowered.size() &&
         EqualsLowered(text.substr(0, lowered.size()), lowered);
}

bool EndsWithLowered(std::string_view text, std::string_view lowered) {
  return text.size() >= lowered.size() &&
         EqualsLowered(text.substr(text.size() - lowered.size()), lowered);
}

bool ContainsLowered(std::string_view text, std::string_view lowered) {
  if (lowered.size() > text.size()) return false;
  for (size_t start = 0; start + lowered.size() <= text.size(); ++start) {
    if (EqualsLowered(text.substr(start, lowered.size()), lowered)) return true;
  }
  return false;
}

std::string LowerAscii(std::string_view text) {
  std::string lowered(text);
  for (char& c : lowered) c = AsciiLower(c);
  return lowered;
}

}  // namespace homing::route_internal
