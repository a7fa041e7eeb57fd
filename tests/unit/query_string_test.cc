#include "homing/query_string.h"

#include <doctest/doctest.h>

#include <string>

namespace homing {
namespace {

std::string Find(std::string_view query, std::string_view name) {
  std::string_view raw;
  if (!FindQueryParameter(query, name, &raw)) return "<absent>";
  return std::string(raw);
}

TEST_CASE("FindQueryParameter returns the first raw value") {
  CHECK(Find("client_id=123", "client_id") == "123");
  CHECK(Find("a=1&client_id=x%20y&client_id=2", "client_id") == "x%20y");
  CHECK(Find("a=1&b=2", "client_id") == "<absent>");
  CHECK(Find("", "client_id") == "<absent>");
  CHECK(Find("client_id", "client_id") == "");
  CHECK(Find("client_id=&x=1", "client_id") == "");
  CHECK(Find("&&client_id=7&", "client_id") == "7");
  CHECK(Find("client_idx=1&client_id=2", "client_id") == "2");
  CHECK(Find("value=a=b", "value") == "a=b");
}

TEST_CASE("FindQueryParameter compares decoded names") {
  CHECK(Find("client%5Fid=5", "client_id") == "5");
  CHECK(Find("my+key=5", "my key") == "5");
}

TEST_CASE("PercentDecode handles escapes, plus and malformed escapes") {
  CHECK(PercentDecode("a%26b%3Dc%20d%2F%C3%A9") == "a&b=c d/\xC3\xA9");
  CHECK(PercentDecode("a+b") == "a b");
  CHECK(PercentDecode("%41%4a%4A") == "AJJ");
  CHECK(PercentDecode("100%") == "100%");
  CHECK(PercentDecode("%4") == "%4");
  CHECK(PercentDecode("%zz") == "%zz");
  CHECK(PercentDecode("%%41") == "%A");
  CHECK(PercentDecode("%00").size() == 1);
}

TEST_CASE("PercentDecodedEquals agrees with PercentDecode") {
  const char* raws[] = {"abc", "a%20b", "a+b", "%zz", "100%", "", "%41%42"};
  const char* candidates[] = {"abc", "a b", "%zz", "100%", "", "AB", "ab"};
  for (const char* raw : raws) {
    for (const char* candidate : candidates) {
      CAPTURE(raw);
      CAPTURE(candidate);
      CHECK(PercentDecodedEquals(raw, candidate) ==
            (PercentDecode(raw) == candidate));
    }
  }
}

TEST_CASE("PercentEncode round-trips any key") {
  const std::string key = "a&b=c d/\xC3\xA9~._-";
  std::string encoded = PercentEncode(key);
  CHECK(encoded == "a%26b%3Dc%20d%2F%C3%A9~._-");
  CHECK(PercentDecode(encoded) == key);
  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes.push_back(static_cast<char>(c));
  CHECK(PercentDecode(PercentEncode(all_bytes)) == all_bytes);
}

}  // namespace
}  // namespace homing
