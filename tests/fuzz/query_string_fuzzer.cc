// Fuzz target: the query-string decoder and the affinity key extraction.
// Input: the first line is a parameter name, the rest a request path (with
// its query string) and, after the path's line, a header value.
// Properties:
//  - decoding never yields more bytes than it reads;
//  - PercentDecodedEquals(raw, PercentDecode(raw)) holds, and fails for a
//    different string;
//  - PercentEncode emits only unreserved characters and %XX, and decodes
//    back to its input;
//  - FindQueryParameter's raw value is a piece of the query;
//  - ExtractAffinityKey agrees with FindQueryParameter + PercentDecode and
//    with max_key_length, for a query key and a header key.

#include <optional>
#include <string>
#include <string_view>

#include "fuzz_target.h"
#include "homing/affinity_lookup.h"
#include "homing/query_string.h"

namespace {

using homing::fuzz::Require;

bool IsEncodedOutput(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
         c == '~' || c == '%';
}

void CheckDecoding(std::string_view raw) {
  std::string decoded = homing::PercentDecode(raw);
  Require(decoded.size() <= raw.size(), "decoding never grows");
  Require(homing::PercentDecodedEquals(raw, decoded),
          "PercentDecodedEquals agrees with PercentDecode");
  Require(!homing::PercentDecodedEquals(raw, decoded + "x"),
          "PercentDecodedEquals rejects a longer string");
  if (!decoded.empty()) {
    Require(!homing::PercentDecodedEquals(raw, decoded.substr(1)),
            "PercentDecodedEquals rejects a shorter string");
  }

  std::string encoded = homing::PercentEncode(raw);
  for (char c : encoded) Require(IsEncodedOutput(c), "encoding emits URL-safe bytes");
  Require(homing::PercentDecode(encoded) == raw, "decode(encode(x)) == x");
}

void CheckAffinityKey(std::string_view name, std::string_view path,
                      std::string_view header_value) {
  homing::AffinityPolicy policy;
  policy.key.name = std::string(name);
  policy.max_key_length = 16;
  const homing::RequestHeader headers[] = {{"x-other", "1"},
                                           {name, header_value}};
  homing::RequestView request{
      .method = "GET", .authority = "fuzz", .path = path, .headers = headers};

  std::string_view raw;
  bool found = homing::FindQueryParameter(request.Query(), name, &raw);
  if (found && !raw.empty()) {
    const char* query_begin = request.Query().data();
    Require(raw.data() >= query_begin &&
                raw.data() + raw.size() <= query_begin + request.Query().size(),
            "the raw value lies inside the query");
  }
  std::string key = "unset";
  homing::KeyStatus status = homing::ExtractAffinityKey(policy, request, &key);
  if (!found) {
    Require(status == homing::KeyStatus::kMissing, "no parameter: kMissing");
  } else if (raw.empty()) {
    Require(status == homing::KeyStatus::kEmpty, "empty parameter: kEmpty");
  } else {
    std::string decoded = homing::PercentDecode(raw);
    if (decoded.size() > policy.max_key_length) {
      Require(status == homing::KeyStatus::kTooLong, "long key: kTooLong");
    } else {
      Require(status == homing::KeyStatus::kOk && key == decoded,
              "the key is the decoded parameter");
    }
  }
  if (status != homing::KeyStatus::kOk) Require(key == "unset", "only kOk writes");

  // A header key is the first value of the header, as sent (not decoded).
  policy.key.kind = homing::KeySource::Kind::kHeader;
  std::optional<std::string_view> value = request.FindHeader(name);
  Require(value.has_value(), "the request carries the header");
  key = "unset";
  status = homing::ExtractAffinityKey(policy, request, &key);
  if (value->empty()) {
    Require(status == homing::KeyStatus::kEmpty, "empty header: kEmpty");
  } else if (value->size() > policy.max_key_length) {
    Require(status == homing::KeyStatus::kTooLong, "long header: kTooLong");
  } else {
    Require(status == homing::KeyStatus::kOk && key == *value,
            "the key is the header value");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = homing::fuzz::AsText(data, size);
  std::string_view name = homing::fuzz::NextLine(&input);
  std::string_view path = homing::fuzz::NextLine(&input);
  std::string_view header_value = input;

  CheckDecoding(name);
  CheckDecoding(path);
  CheckAffinityKey(name, path, header_value);
  return 0;
}
