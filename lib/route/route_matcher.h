// File: lib/route/route_matcher.h
//
// The compiled form of one `RouteMatchSpec`: its path specifier plus every
// header and query-parameter matcher, all of which must accept a request.
//
// Example:
//
//   absl::StatusOr<RouteMatcher> matcher = RouteMatcher::Compile(spec.match);
//   if (matcher->Matches(request)) { ... }
//
// Thread safety: immutable once compiled; `Matches()` may run concurrently.

#ifndef HOMING_LIB_ROUTE_ROUTE_MATCHER_H_
#define HOMING_LIB_ROUTE_ROUTE_MATCHER_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "homing/request.h"
#include "homing/route.h"
#include "re2/re2.h"
#include "route/string_matcher.h"

namespace homing::route_internal {

// DescribeField()
//
// `field[index] "name"` (without the name part when it is empty), the way
// compile errors locate a repeated config field.
std::string DescribeField(std::string_view field, size_t index,
                          std::string_view name);

// HeaderMatcher
//
// Envoy's HeaderMatcher. A missing header fails every `string_match`, even an
// inverted one, unless `treat_missing_header_as_empty` makes it an empty
// (present) header; `present_match` compares presence with the expected
// presence, then `invert_match` flips the outcome.
class HeaderMatcher {
 public:
  static absl::StatusOr<HeaderMatcher> Compile(const HeaderMatcherSpec& spec);
  bool Matches(const RequestView& request) const;

 private:
  HeaderMatcher(const HeaderMatcherSpec& spec,
                std::optional<StringMatcher> string_match)
      : name_(spec.name),
        string_match_(std::move(string_match)),
        present_match_(spec.present_match),
        invert_match_(spec.invert_match),
        treat_missing_header_as_empty_(spec.treat_missing_header_as_empty) {}

  std::string name_;
  std::optional<StringMatcher> string_match_;
  bool present_match_;
  bool invert_match_;
  bool treat_missing_header_as_empty_;
};

// QueryParameterMatcher
//
// Envoy's QueryParameterMatcher: the parameter's first value, percent-decoded,
// against `string_match`; without one, presence alone matches.
class QueryParameterMatcher {
 public:
  static absl::StatusOr<QueryParameterMatcher> Compile(
      const QueryParameterMatcherSpec& spec);
  bool Matches(std::string_view query) const;

 private:
  QueryParameterMatcher(std::string name,
                        std::optional<StringMatcher> string_match)
      : name_(std::move(name)), string_match_(std::move(string_match)) {}

  std::string name_;
  std::optional<StringMatcher> string_match_;
};

// RouteMatcher
class RouteMatcher {
 public:
  // RouteMatcher::Compile()
  //
  // Fails (InvalidArgument) on a bad regex, a bad `path_separated_prefix`, an
  // empty header or parameter name, or an empty prefix/suffix/contains
  // value; the message names the field, e.g. `headers[1] "x-user": prefix
  // must not be empty`.
  static absl::StatusOr<RouteMatcher> Compile(const RouteMatchSpec& spec);

  // RouteMatcher::Matches()
  //
  // The path specifier first (the cheap, usually decisive test), then the
  // headers, then the query parameters.
  bool Matches(const RequestView& request) const;

  // RouteMatcher::required_path_prefix()
  //
  // A string every path this route accepts starts with, compared after ASCII
  // lower-casing (the full `:path`, query included); empty when the route
  // constrains no leading bytes (a regex). Feeds the candidate index.
  std::string_view required_path_prefix() const {
    return kind_ == PathMatchKind::kSafeRegex ? std::string_view()
                                              : std::string_view(path_);
  }

 private:
  RouteMatcher(const RouteMatchSpec& spec, std::string path,
               std::unique_ptr<const re2::RE2> regex,
               std::vector<HeaderMatcher> headers,
               std::vector<QueryParameterMatcher> query_parameters)
      : kind_(spec.path_specifier),
        case_sensitive_(spec.case_sensitive),
        path_(std::move(path)),
        regex_(std::move(regex)),
        headers_(std::move(headers)),
        query_parameters_(std::move(query_parameters)) {}

  bool PathMatches(const RequestView& request) const;
  bool HasPrefix(std::string_view text) const;

  PathMatchKind kind_;
  bool case_sensitive_;
  std::string path_;  // lower-cased unless case_sensitive_; unused for regex
  std::unique_ptr<const re2::RE2> regex_;
  std::vector<HeaderMatcher> headers_;
  std::vector<QueryParameterMatcher> query_parameters_;
};

}  // namespace homing::route_internal

#endif  // HOMING_LIB_ROUTE_ROUTE_MATCHER_H_
