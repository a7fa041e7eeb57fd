// File: lookup/resolver_answer.h
//
// ResolverAnswerParser: the resolver's JSON answer, parsed with a reused
// simdjson DOM parser and padded buffer, so parsing the steady stream of
// small answers allocates nothing once warmed up. `ParseResolverAnswer()`
// (homing/affinity_lookup.h) is the one-shot form of it.
//
// Example:
//
//   ResolverAnswerParser parser;
//   absl::StatusOr<std::string_view> hostport = parser.Parse(body, "hostport");
//   // *hostport stays valid until the next Parse()
//
// Thread safety: one parser per thread.

#ifndef HOMING_LIB_LOOKUP_RESOLVER_ANSWER_H_
#define HOMING_LIB_LOOKUP_RESOLVER_ANSWER_H_

#include <simdjson.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace homing::lookup_internal {

// Resolver answers larger than this are refused by the transport too.
inline constexpr size_t kMaxResolverBody = 64 * 1024;

class ResolverAnswerParser {
 public:
  ResolverAnswerParser();

  // ResolverAnswerParser::Parse()
  //
  // Returns the string field `field` of the JSON object in `body`. The view
  // points into the parser and is valid until the next Parse(). The whole
  // body must be valid JSON: a well-formed field followed by garbage is
  // still "not JSON".
  absl::StatusOr<std::string_view> Parse(std::string_view body,
                                         std::string_view field);

 private:
  simdjson::dom::parser parser_;
  std::string padded_;  // body copy with SIMDJSON_PADDING spare bytes
};

}  // namespace homing::lookup_internal

#endif  // HOMING_LIB_LOOKUP_RESOLVER_ANSWER_H_
