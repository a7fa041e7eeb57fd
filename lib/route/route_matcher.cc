#include "route/route_matcher.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "route/match_input.h"

namespace homing::route_internal {
namespace {

using internal::ToAbsl;

absl::Status Prefixed(std::string_view field, size_t index,
                      std::string_view name, const absl::Status& status) {
  return absl::InvalidArgumentError(
      absl::StrCat(DescribeField(field, index, name), ": ", status.message()));
}

absl::Status ValidatePathSeparatedPrefix(std::string_view prefix) {
  std::string_view why;
  if (prefix.empty()) {
    why = "must not be empty";
  } else if (prefix.find_first_of("?#") != std::string_view::npos) {
    why = "must not contain '?' or '#'";
  } else if (prefix.back() == '/') {
    why = "must not end with '/'";
  } else {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "path_separated_prefix \"", ToAbsl(prefix), "\": ", ToAbsl(why)));
}

// Compiles `spec` when set (a matcher without one tests presence).
absl::StatusOr<std::optional<StringMatcher>> CompileIfSet(
    const std::optional<StringMatcherSpec>& spec) {
  if (!spec) return std::optional<StringMatcher>();
  auto compiled = StringMatcher::Compile(*spec);
  if (!compiled.ok()) return compiled.status();
  return std::optional<StringMatcher>(*std::move(compiled));
}

}  // namespace

std::string DescribeField(std::string_view field, size_t index,
                          std::string_view name) {
  std::string text = absl::StrCat(ToAbsl(field), "[", index, "]");
  if (!name.empty()) absl::StrAppend(&text, " \"", ToAbsl(name), "\"");
  return text;
}

absl::StatusOr<HeaderMatcher> HeaderMatcher::Compile(
    const HeaderMatcherSpec& spec) {
  if (spec.name.empty()) {
    return absl::InvalidArgumentError("name must not be empty");
  }
  auto string_match = CompileIfSet(spec.string_match);
  if (!string_match.ok()) return string_match.status();
  return HeaderMatcher(spec, *std::move(string_match));
}

bool HeaderMatcher::Matches(const RequestView& request) const {
  AssembledValue scratch;
  std::optional<std::string_view> value =
      FindHeaderValue(request, name_, scratch);
  if (!value && treat_missing_header_as_empty_) value = std::string_view();
  if (!string_match_) {
    return (value.has_value() == present_match_) != invert_match_;
  }
  if (!value) return false;
  return string_match_->Matches(*value) != invert_match_;
}

absl::StatusOr<QueryParameterMatcher> QueryParameterMatcher::Compile(
    const QueryParameterMatcherSpec& spec) {
  if (spec.name.empty()) {
    return absl::InvalidArgumentError("name must not be empty");
  }
  auto string_match = CompileIfSet(spec.string_match);
  if (!string_match.ok()) return string_match.status();
  return QueryParameterMatcher(spec.name, *std::move(string_match));
}

bool QueryParameterMatcher::Matches(std::string_view query) const {
  AssembledValue scratch;
  std::optional<std::string_view> value = FindQueryValue(query, name_, scratch);
  if (!value) return false;
  return !string_match_ || string_match_->Matches(*value);
}

absl::StatusOr<RouteMatcher> RouteMatcher::Compile(const RouteMatchSpec& spec) {
  std::unique_ptr<const re2::RE2> regex;
  if (spec.path_specifier == PathMatchKind::kSafeRegex) {
    auto compiled = CompileRegex(spec.path);
    if (!compiled.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "safe_regex \"", spec.path, "\": ", compiled.status().message()));
    }
    regex = *std::move(compiled);
  }
  if (spec.path_specifier == PathMatchKind::kPathSeparatedPrefix) {
    absl::Status status = ValidatePathSeparatedPrefix(spec.path);
    if (!status.ok()) return status;
  }
  std::vector<HeaderMatcher> headers;
  for (size_t i = 0; i < spec.headers.size(); ++i) {
    auto compiled = HeaderMatcher::Compile(spec.headers[i]);
    if (!compiled.ok()) {
      return Prefixed("headers", i, spec.headers[i].name, compiled.status());
    }
    headers.push_back(*std::move(compiled));
  }
  std::vector<QueryParameterMatcher> query_parameters;
  for (size_t i = 0; i < spec.query_parameters.size(); ++i) {
    auto compiled = QueryParameterMatcher::Compile(spec.query_parameters[i]);
    if (!compiled.ok()) {
      return Prefixed("query_parameters", i, spec.query_parameters[i].name,
                      compiled.status());
    }
    query_parameters.push_back(*std::move(compiled));
  }
  std::string path =
      spec.case_sensitive || regex ? spec.path : LowerAscii(spec.path);
  return RouteMatcher(spec, std::move(path), std::move(regex),
                      std::move(headers), std::move(query_parameters));
}

bool RouteMatcher::Matches(const RequestView& request) const {
  if (!PathMatches(request)) return false;
  for (const HeaderMatcher& header : headers_) {
    if (!header.Matches(request)) return false;
  }
  if (!query_parameters_.empty()) {
    std::string_view query = request.Query();
    for (const QueryParameterMatcher& parameter : query_parameters_) {
      if (!parameter.Matches(query)) return false;
    }
  }
  return true;
}

bool RouteMatcher::HasPrefix(std::string_view text) const {
  return case_sensitive_ ? text.starts_with(path_)
                         : StartsWithLowered(text, path_);
}

bool RouteMatcher::PathMatches(const RequestView& request) const {
  switch (kind_) {
    case PathMatchKind::kPrefix:
      return HasPrefix(request.path);
    case PathMatchKind::kPath: {
      std::string_view without_query = request.PathWithoutQuery();
      return without_query.size() == path_.size() && HasPrefix(without_query);
    }
    case PathMatchKind::kSafeRegex:
      return RegexFullMatch(request.PathWithoutQuery(), *regex_);
    case PathMatchKind::kPathSeparatedPrefix: {
      std::string_view without_query = request.PathWithoutQuery();
      return HasPrefix(without_query) &&
             (without_query.size() == path_.size() ||
              without_query[path_.size()] == '/');
    }
  }
  return false;
}

}  // namespace homing::route_internal
