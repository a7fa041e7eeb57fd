// ResolverAnswerParser and ParseResolverAnswer(): simdjson DOM over the
// resolver's answer.

#include "lookup/resolver_answer.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "homing/affinity_lookup.h"

namespace homing {
namespace lookup_internal {
namespace {

using internal::ToAbsl;

absl::Status BadAnswer(std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("resolver answer ", ToAbsl(why)));
}

}  // namespace

ResolverAnswerParser::ResolverAnswerParser()
    : parser_(kMaxResolverBody) {}

absl::StatusOr<std::string_view> ResolverAnswerParser::Parse(
    std::string_view body, std::string_view field) {
  if (body.size() > kMaxResolverBody) {
    return BadAnswer(absl::StrCat("is larger than ", kMaxResolverBody, " bytes"));
  }
  // resize() keeps the capacity, so after the first answers this is a copy.
  padded_.resize(body.size() + simdjson::SIMDJSON_PADDING);
  std::memcpy(padded_.data(), body.data(), body.size());

  simdjson::dom::element root;
  if (auto error = parser_.parse(padded_.data(), body.size(), false).get(root)) {
    return BadAnswer(absl::StrCat("is not JSON (",
                                  simdjson::error_message(error), ")"));
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    return BadAnswer("is not a JSON object");
  }
  simdjson::dom::element value;
  if (object.at_key(field).get(value) != simdjson::SUCCESS) {
    return BadAnswer(absl::StrCat("has no \"", ToAbsl(field), "\" field"));
  }
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) {
    return BadAnswer(absl::StrCat("field \"", ToAbsl(field), "\" is not a string"));
  }
  return text;
}

}  // namespace lookup_internal

absl::StatusOr<std::string> ParseResolverAnswer(std::string_view body,
                                                std::string_view field) {
  thread_local lookup_internal::ResolverAnswerParser parser;
  absl::StatusOr<std::string_view> text = parser.Parse(body, field);
  if (!text.ok()) return text.status();
  return std::string(*text);
}

}  // namespace homing
