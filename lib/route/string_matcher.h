// File: lib/route/string_matcher.h
//
// A compiled Envoy `StringMatcher` (exact, prefix, suffix, contains,
// safe_regex) as header and query-parameter matchers use it, and the RE2
// compilation every route regex goes through. Matching never allocates (RE2
// builds its DFA lazily, so only the first inputs that reach new DFA states
// do).
//
// Example:
//
//   absl::StatusOr<StringMatcher> matcher = StringMatcher::Compile(
//       {.kind = StringMatcherSpec::Kind::kPrefix, .value = "Bearer ",
//        .ignore_case = true});
//   bool ok = matcher->Matches("bearer abc");  // true
//
// Thread safety: a compiled matcher is immutable; `Matches()` may run
// concurrently (RE2 is thread-safe).

#ifndef HOMING_LIB_ROUTE_STRING_MATCHER_H_
#define HOMING_LIB_ROUTE_STRING_MATCHER_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "homing/route.h"
#include "re2/re2.h"

namespace homing::route_internal {

// CompileRegex()
//
// Compiles `pattern` with RE2's default (case-sensitive, UTF-8) options.
// Fails (InvalidArgument) with RE2's reason, e.g. `missing )`.
absl::StatusOr<std::unique_ptr<const re2::RE2>> CompileRegex(
    std::string_view pattern);

// RegexFullMatch()
//
// True when `re` matches all of `text`.
inline bool RegexFullMatch(std::string_view text, const re2::RE2& re) {
  return re2::RE2::FullMatch(re2::StringPiece(text.data(), text.size()), re);
}

// StringMatcher
class StringMatcher {
 public:
  // StringMatcher::Compile()
  //
  // Fails (InvalidArgument) on an empty prefix, suffix or contains value
  // (Envoy's `min_len: 1`) or a bad regex; the message names the kind and the
  // value, e.g. `safe_regex "(": missing )`.
  static absl::StatusOr<StringMatcher> Compile(const StringMatcherSpec& spec);

  // StringMatcher::Matches()
  //
  // `ignore_case` compares ASCII letters case-insensitively; a regex must
  // match the whole value.
  bool Matches(std::string_view value) const;

 private:
  StringMatcher(StringMatcherSpec::Kind kind, std::string value,
                bool ignore_case, std::unique_ptr<const re2::RE2> regex)
      : kind_(kind),
        value_(std::move(value)),
        ignore_case_(ignore_case),
        regex_(std::move(regex)) {}

  StringMatcherSpec::Kind kind_;
  std::string value_;  // lower-cased when ignore_case_
  bool ignore_case_;
  std::unique_ptr<const re2::RE2> regex_;  // kSafeRegex only
};

// StringMatcherKindName()
//
// The Envoy field name of `kind`: "exact", "prefix", "suffix", "contains",
// "safe_regex".
std::string_view StringMatcherKindName(StringMatcherSpec::Kind kind);

// StartsWithLowered() / EndsWithLowered() / ContainsLowered()
//
// Compare `text` folded to ASCII lower case with `lowered`, which the caller
// lower-cased once at compile time. Allocation-free.
bool StartsWithLowered(std::string_view text, std::string_view lowered);
bool EndsWithLowered(std::string_view text, std::string_view lowered);
bool ContainsLowered(std::string_view text, std::string_view lowered);

// LowerAscii()
//
// `text` with ASCII letters lower-cased (for compile time).
std::string LowerAscii(std::string_view text);

}  // namespace homing::route_internal

#endif  // HOMING_LIB_ROUTE_STRING_MATCHER_H_
