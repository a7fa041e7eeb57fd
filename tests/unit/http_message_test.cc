// Tests for homing/http_message.h: local reply bodies, JSON escaping,
// hop-by-hop headers, request ids.

#include "homing/http_message.h"

#include <doctest/doctest.h>

#include <set>
#include <string>

namespace homing {
namespace {

std::string Json(std::string_view value) {
  std::string out;
  AppendJsonString(&out, value);
  return out;
}

TEST_CASE("LocalReplyBody builds the error JSON with both fields escaped") {
  CHECK(LocalReplyBody("bad_request", "Invalid method encountered") ==
        R"({"error":"bad_request","detail":"Invalid method encountered"})");
  CHECK(LocalReplyBody("x", "say \"hi\"\\n") ==
        R"({"error":"x","detail":"say \"hi\"\\n"})");
}

TEST_CASE("AppendJsonString escapes quotes, backslashes and control bytes") {
  CHECK(Json("plain") == "\"plain\"");
  CHECK(Json("a\"b\\c") == R"("a\"b\\c")");
  CHECK(Json("line\nbreak\r\ttab") == R"("line\nbreak\r\ttab")");
  CHECK(Json(std::string_view("\x01\x1f", 2)) == R"("\u0001\u001f")");
  CHECK(Json(std::string_view("nul\0byte", 8)) == R"("nul\u0000byte")");
}

TEST_CASE("AppendJsonString keeps valid UTF-8 and replaces invalid bytes") {
  CHECK(Json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  CHECK(Json("\xff") == R"("\ufffd")");
  CHECK(Json("a\xc3") == R"("a\ufffd")");           // truncated sequence
  CHECK(Json("\xc0\xaf") == R"("\ufffd\ufffd")");    // overlong '/'
  CHECK(Json("\xed\xa0\x80") == R"("\ufffd\ufffd\ufffd")");  // surrogate
  CHECK(Json("\xf4\x90\x80\x80") ==
        R"("\ufffd\ufffd\ufffd\ufffd")");  // beyond U+10FFFF
}

TEST_CASE("IsHopByHopHeader knows the RFC 9110 list, case-insensitively") {
  for (const char* name : {"Connection", "keep-alive", "Proxy-Connection", "TE",
                           "trailer", "Transfer-Encoding", "UPGRADE"}) {
    CAPTURE(name);
    CHECK(IsHopByHopHeader(name));
  }
  for (const char* name : {"content-length", "host", "x-forwarded-for",
                           "tee", "connections", "upgrade-insecure-requests"}) {
    CAPTURE(name);
    CHECK_FALSE(IsHopByHopHeader(name));
  }
}

TEST_CASE("ConnectionNominates reads the comma-separated token list") {
  CHECK(ConnectionNominates("keep-alive, X-Secret", "x-secret"));
  CHECK(ConnectionNominates(" close ,\tfoo", "foo"));
  CHECK_FALSE(ConnectionNominates("x-secret-2", "x-secret"));
  CHECK_FALSE(ConnectionNominates("", "x"));
}

TEST_CASE("StatusReasonPhrase covers the replies homing makes") {
  CHECK(StatusReasonPhrase(421) == "Misdirected Request");
  CHECK(StatusReasonPhrase(431) == "Request Header Fields Too Large");
  CHECK(StatusReasonPhrase(504) == "Gateway Timeout");
  CHECK(StatusReasonPhrase(299) == "Unknown");
}

TEST_CASE("FormatRequestId produces distinct version-4 UUIDs") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    char id[kRequestIdLength];
    FormatRequestId(id);
    const std::string text(id, sizeof(id));
    CAPTURE(text);
    REQUIRE(text.size() == 36);
    CHECK(text[8] == '-');
    CHECK(text[13] == '-');
    CHECK(text[18] == '-');
    CHECK(text[23] == '-');
    CHECK(text[14] == '4');
    CHECK(std::string("89ab").find(text[19]) != std::string::npos);
    for (size_t k = 0; k < text.size(); ++k) {
      if (k == 8 || k == 13 || k == 18 || k == 23) continue;
      CHECK(std::string("0123456789abcdef").find(text[k]) != std::string::npos);
    }
    seen.insert(text);
  }
  CHECK(seen.size() == 100);
}

}  // namespace
}  // namespace homing
