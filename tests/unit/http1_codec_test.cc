// Tests for lib/http/http1_codec.h: byte-level tables of raw messages and
// the events (or the error) the decoder gives for them. Every row is also
// fed split at every offset, byte by byte, and with a pause after every
// event, and must give the same events (body pieces joined).

#include "http/http1_codec.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

namespace homing::internal {
namespace {

using Events = std::vector<std::string>;
using Type = Http1Decoder::Type;

Http1Decoder::Limits TestLimits(Type type) {
  Http1Decoder::Limits limits;
  limits.max_head_bytes = 1024;
  limits.max_headers = 10;
  if (type == Type::kRequest) {
    // As ServerConnection configures it.
    limits.max_chunk_extension_bytes = 4096;
    limits.strict_head_lines = true;
  }
  return limits;
}

// One event a line: "GET /p a.test [flags] {headers but Host}", "200 ...",
// "body:<bytes>" (consecutive pieces joined), "complete", "upgrade",
// "error <status> <code>: <detail>", "truncated", "tunnel:<bytes>".
class Recorder final : public Http1DecoderCallbacks {
 public:
  explicit Recorder(bool pause) : pause_(pause) {}

  Http1Action OnHead(const Http1Head& head) override {
    std::string line = head.status != 0
                           ? std::to_string(head.status)
                           : std::string(head.method) + " " +
                                 std::string(head.path) + " " +
                                 std::string(head.authority);
    if (head.http_minor == 0) line += " 1.0";
    if (head.content_length) line += " cl=" + std::to_string(*head.content_length);
    if (head.chunked) line += " chunked";
    if (!head.keep_alive) line += " close";
    if (head.upgrade) line += " upgrade";
    for (const HttpHeader& header : head.headers) {
      if (header.name == "Host") continue;
      line += " {" + std::string(header.name) + ":" + std::string(header.value) + "}";
    }
    events.push_back(line);
    open = true;
    return Next();
  }
  Http1Action OnBody(std::string_view data) override {
    if (events.empty() || events.back().rfind("body:", 0) != 0) {
      events.push_back("body:");
    }
    events.back().append(data);
    return Next();
  }
  Http1Action OnMessageComplete() override {
    open = false;
    events.push_back("complete");
    return Next();
  }

  Events events;
  bool open = false;  // a head came, its message is not complete

 private:
  Http1Action Next() const {
    return pause_ ? Http1Action::kPause : Http1Action::kContinue;
  }
  const bool pause_;
};

struct Row {
  std::string_view name;
  Type type;
  std::string_view input;
  Events expected;
  bool head_request = false;      // responses: the request was HEAD
  bool resume_upgrade = false;    // the upgrade is refused: parse on
};

// Feeds `input` in pieces ending at `cuts`, as a connection would: bytes not
// consumed are given again, first, with the next piece.
Events Run(const Row& row, const std::vector<size_t>& cuts, bool pause) {
  Recorder recorder(pause);
  Http1Decoder decoder(row.type, TestLimits(row.type), recorder);
  decoder.set_head_request(row.head_request);
  std::string buffered;
  std::string tunnel;
  bool tunneling = false;
  bool done = false;
  int idle_pauses = 0;
  auto feed = [&](std::string_view piece) {
    if (tunneling) {
      tunnel.append(piece);
      return;
    }
    buffered.append(piece);
    while (!done && !tunneling) {
      size_t used = 0;
      const Http1Decoder::Status status = decoder.Decode(buffered, &used);
      REQUIRE(used <= buffered.size());
      if (status != Http1Decoder::Status::kPaused || used != 0) idle_pauses = 0;
      buffered.erase(0, used);
      switch (status) {
        case Http1Decoder::Status::kOk:
          CHECK(buffered.empty());
          return;
        case Http1Decoder::Status::kPaused:
          // A pause always follows an event, so progress is made.
          if (used == 0 && ++idle_pauses > 2) {
            FAIL_CHECK("paused without progress");
            done = true;
          }
          continue;
        case Http1Decoder::Status::kUpgrade:
          recorder.events.push_back("upgrade");
          if (row.resume_upgrade) {
            decoder.ResumeAfterUpgrade();
            continue;
          }
          tunneling = true;
          tunnel.append(buffered);
          buffered.clear();
          return;
        case Http1Decoder::Status::kError: {
          const Http1Error& error = decoder.error();
          recorder.events.push_back("error " + std::to_string(error.status) +
                                    " " + std::string(error.code) + ": " +
                                    error.detail);
          done = true;
          return;
        }
        case Http1Decoder::Status::kStopped:
          done = true;
          return;
      }
    }
  };
  size_t start = 0;
  for (size_t cut : cuts) {
    feed(row.input.substr(start, cut - start));
    start = cut;
  }
  feed(row.input.substr(start));
  if (!done && !tunneling && recorder.open && !decoder.FinishAtEof()) {
    recorder.events.push_back("truncated");
  }
  if (!tunnel.empty()) recorder.events.push_back("tunnel:" + tunnel);
  return recorder.events;
}

// An expected "error ..." entry matches an actual one that starts with it.
bool Matches(const Events& expected, const Events& actual) {
  if (expected.size() != actual.size()) return false;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (expected[i].rfind("error", 0) == 0
            ? actual[i].rfind(expected[i], 0) != 0
            : actual[i] != expected[i]) {
      return false;
    }
  }
  return true;
}

std::string Show(const Events& events) {
  std::string out;
  for (const std::string& event : events) out += "\n  " + event;
  return out;
}

void CheckRow(const Row& row) {
  CAPTURE(row.name);
  const Events whole = Run(row, {}, false);
  INFO("whole input gave:", Show(whole));
  CHECK(Matches(row.expected, whole));
  for (size_t cut = 1; cut < row.input.size(); ++cut) {
    CAPTURE(cut);
    CHECK(Show(Run(row, {cut}, false)) == Show(whole));
  }
  std::vector<size_t> every_byte;
  for (size_t i = 1; i < row.input.size(); ++i) every_byte.push_back(i);
  CHECK(Show(Run(row, every_byte, false)) == Show(whole));
  CHECK(Show(Run(row, {}, true)) == Show(whole));
  CHECK(Show(Run(row, every_byte, true)) == Show(whole));
}

TEST_CASE("Http1Decoder frames requests by the RFC 9112 rules") {
  const std::string long_extension =
      "POST /c HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;" + std::string(4100, 'a') + "\r\nhello\r\n0\r\n\r\n";
  const std::string long_header = "GET / HTTP/1.1\r\nHost: a.test\r\nX-Big: " +
                                  std::string(1100, 'b') + "\r\n\r\n";
  const Row rows[] = {
      {"content-length", Type::kRequest,
       "POST /p HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello",
       {"POST /p a.test cl=5 {Content-Length:5}", "body:hello", "complete"}},
      {"empty body", Type::kRequest,
       "POST /p HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\n\r\n",
       {"POST /p a.test cl=0 {Content-Length:0}", "complete"}},
      {"chunked", Type::kRequest,
       "POST /c HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
       {"POST /c a.test chunked {Transfer-Encoding:chunked}",
        "body:hello world", "complete"}},
      {"chunk extensions and trailers dropped", Type::kRequest,
       "POST /c HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5;name=value\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
       {"POST /c a.test chunked {Transfer-Encoding:chunked}", "body:hello",
        "complete"}},
      {"chunk extensions over 4 KiB", Type::kRequest,
       long_extension,
       {"POST /c a.test chunked {Transfer-Encoding:chunked}",
        "error 400 bad_request: Chunk extensions exceed 4096 bytes"}},
      {"bad chunk size", Type::kRequest,
       "POST /c HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
       "3\r\nabc\r\nzz\r\n",
       {"POST /c a.test chunked {Transfer-Encoding:chunked}", "body:abc",
        "error 400 bad_request"}},
      {"bare LF in trailers", Type::kRequest,
       "POST /c HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
       "1\r\na\r\n0\r\nX: y\n\r\n",
       {"POST /c a.test chunked {Transfer-Encoding:chunked}", "body:a",
        "error 400 bad_request: Bare LF in message head"}},
      {"content-length with transfer-encoding", Type::kRequest,
       "POST /p HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n"
       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       {"error 400 bad_request"}},
      {"duplicate content-length", Type::kRequest,
       "POST /p HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n"
       "Content-Length: 3\r\n\r\nabc",
       {"error 400 bad_request"}},
      {"transfer-encoding without chunked", Type::kRequest,
       "POST /p HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip\r\n\r\n",
       {"error 400 bad_request: Request has invalid `Transfer-Encoding`"}},
      {"bare LF after the request line", Type::kRequest,
       "GET / HTTP/1.1\nHost: a.test\r\n\r\n",
       {"error 400 bad_request: Bare LF in message head"}},
      {"bare LF ending the head", Type::kRequest,
       "GET / HTTP/1.1\r\nHost: a.test\r\n\n",
       {"error 400 bad_request: Bare LF in message head"}},
      {"bare CR ending the head (llhttp would end it there)", Type::kRequest,
       "GET / HTTP/1.1\r\nHost: a.test\r\n\rGET /smuggled HTTP/1.1\r\n\r\n",
       {"error 400 bad_request: Bare CR in message head"}},
      {"bare CR inside a header line", Type::kRequest,
       "GET / HTTP/1.1\r\nHost: a.test\r\nX-A: 1\r2\r\n\r\n",
       {"error 400 bad_request: Bare CR in message head"}},
      {"obs-fold", Type::kRequest,
       "GET / HTTP/1.1\r\nHost: a.test\r\nX-A: 1\r\n 2\r\n\r\n",
       {"error 400 bad_request: Header line folded (obs-fold)"}},
      {"space in a header name", Type::kRequest,
       "GET / HTTP/1.1\r\nHost: a.test\r\nX Y: z\r\n\r\n",
       {"error 400 bad_request: Invalid character in header name"}},
      {"two Host headers", Type::kRequest,
       "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
       {"error 400 bad_request: Multiple Host headers"}},
      {"Host disagreeing with the absolute form", Type::kRequest,
       "GET http://a.test/x HTTP/1.1\r\nHost: b.test\r\n\r\n",
       {"error 400 bad_request: Host header does not match the request target"}},
      {"absolute form", Type::kRequest,
       "GET http://a.test/x?q HTTP/1.1\r\nHost: a.test\r\n\r\n",
       {"GET /x?q a.test", "complete"}},
      {"missing Host", Type::kRequest, "GET / HTTP/1.1\r\n\r\n",
       {"error 400 bad_request: missing Host header"}},
      {"NUL in a header value", Type::kRequest,
       std::string_view("GET / HTTP/1.1\r\nHost: a.test\r\nX: a\0b\r\n\r\n", 40),
       {"error 400 bad_request"}},
      {"NUL in the target", Type::kRequest,
       std::string_view("GET /a\0b HTTP/1.1\r\nHost: a.test\r\n\r\n", 36),
       {"error 400 bad_request"}},
      {"HTTP/2.0 request line", Type::kRequest,
       "GET / HTTP/2.0\r\nHost: a.test\r\n\r\n", {"error 505"}},
      {"garbage version", Type::kRequest,
       "GET / HTTP/x.1\r\nHost: a.test\r\n\r\n", {"error 400 bad_request"}},
      {"CONNECT", Type::kRequest,
       "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n",
       {"error 405 method_not_allowed"}},
      {"head too large", Type::kRequest,
       long_header,
       {"error 431 request_header_fields_too_large"}},
      {"pipelined", Type::kRequest,
       "POST /a HTTP/1.1\r\nHost: a.test\r\nContent-Length: 2\r\n\r\nab"
       "GET /b HTTP/1.1\r\nHost: a.test\r\n\r\n"
       "GET /c HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
       {"POST /a a.test cl=2 {Content-Length:2}", "body:ab", "complete",
        "GET /b a.test", "complete", "GET /c a.test close {Connection:close}",
        "complete"}},
      {"pipelined after an error", Type::kRequest,
       "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n"
       "GET /smuggled HTTP/1.1\r\nHost: a.test\r\n\r\n",
       {"error 400 bad_request: Multiple Host headers"}},
      {"upgrade pauses with the rest unread", Type::kRequest,
       "GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: upgrade\r\n"
       "Upgrade: websocket\r\n\r\nGET /x HTTP/1.1\r\n\r\n",
       {"GET /ws a.test upgrade {Connection:upgrade} {Upgrade:websocket}",
        "complete", "upgrade", "tunnel:GET /x HTTP/1.1\r\n\r\n"}},
      {"bytes after an upgrade are no head until it is refused", Type::kRequest,
       "GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: upgrade\r\n"
       "Upgrade: websocket\r\n\r\nGET /\nbare LF\r\n\r\n",
       {"GET /ws a.test upgrade {Connection:upgrade} {Upgrade:websocket}",
        "complete", "upgrade", "tunnel:GET /\nbare LF\r\n\r\n"}},
      {"a refused upgrade parses on", Type::kRequest,
       "GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: upgrade\r\n"
       "Upgrade: h2c\r\n\r\nGET /x HTTP/1.1\r\nHost: a.test\r\n\r\n",
       {"GET /ws a.test upgrade {Connection:upgrade} {Upgrade:h2c}",
        "complete", "upgrade", "GET /x a.test", "complete"},
       false, true},
      {"HTTP/1.0 keep-alive", Type::kRequest,
       "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
       {"GET /  1.0 {Connection:keep-alive}", "complete", "GET /2  1.0 close",
        "complete"}},
      {"HTTP/1.0 with transfer-encoding closes", Type::kRequest,
       "POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked"
       "\r\n\r\n1\r\nx\r\n0\r\n\r\n",
       {"POST /  1.0 chunked close {Connection:keep-alive} "
        "{Transfer-Encoding:chunked}",
        "body:x", "complete"}},
      {"empty lines before the request line", Type::kRequest,
       "\r\n\r\nGET / HTTP/1.1\r\nHost: a.test\r\n\r\n",
       {"GET / a.test", "complete"}},
      {"truncated body", Type::kRequest,
       "POST /p HTTP/1.1\r\nHost: a.test\r\nContent-Length: 9\r\n\r\nabc",
       {"POST /p a.test cl=9 {Content-Length:9}", "body:abc", "truncated"}},
  };
  for (const Row& row : rows) CheckRow(row);
}

TEST_CASE("Http1Decoder frames responses by status, method and headers") {
  const Row rows[] = {
      {"content-length", Type::kResponse,
       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
       {"200 cl=2 {Content-Length:2}", "body:hi", "complete"}},
      {"chunked with trailers", Type::kResponse,
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "2\r\nhi\r\n0\r\nX-T: 1\r\n\r\n",
       {"200 chunked {Transfer-Encoding:chunked}", "body:hi", "complete"}},
      {"204 and 304 have no body", Type::kResponse,
       "HTTP/1.1 204 No Content\r\n\r\n"
       "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"
       "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
       {"204", "complete", "304 cl=10 {Content-Length:10}", "complete",
        "200 cl=1 {Content-Length:1}", "body:x", "complete"}},
      {"HEAD has no body", Type::kResponse,
       "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
       {"200 cl=10 {Content-Length:10}", "complete"}, true},
      {"interim then final", Type::kResponse,
       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
       {"100", "complete", "200 cl=0 {Content-Length:0}", "complete"}},
      {"read until the connection closes", Type::kResponse,
       "HTTP/1.1 200 OK\r\n\r\nabcdef",
       {"200 close", "body:abcdef", "complete"}},
      {"HTTP/1.0 read until close", Type::kResponse,
       "HTTP/1.0 200 OK\r\n\r\nabc", {"200 1.0 close", "body:abc", "complete"}},
      {"truncated body", Type::kResponse,
       "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
       {"200 cl=10 {Content-Length:10}", "body:abc", "truncated"}},
      {"truncated chunked body", Type::kResponse,
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
       {"200 chunked {Transfer-Encoding:chunked}", "body:ab", "truncated"}},
      {"101 switches protocols", Type::kResponse,
       "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
       "Upgrade: websocket\r\n\r\n\x81\x02hi",
       {"101 upgrade {Connection:upgrade} {Upgrade:websocket}", "complete",
        "upgrade", "tunnel:\x81\x02hi"}},
      {"duplicate content-length", Type::kResponse,
       "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
       {"error 400"}},
      {"bad status line", Type::kResponse, "HTTP/1.1 2x0 OK\r\n\r\n",
       {"error 400"}},
      {"not HTTP", Type::kResponse, "SSH-2.0-OpenSSH\r\n", {"error 400"}},
  };
  for (const Row& row : rows) CheckRow(row);
}

TEST_CASE("Http1Decoder delivers nothing after an error") {
  Recorder recorder(false);
  Http1Decoder decoder(Type::kRequest, TestLimits(Type::kRequest), recorder);
  size_t used = 0;
  CHECK(decoder.Decode("GET / HTTP/1.1\nHost: a\r\n\r\n", &used) ==
        Http1Decoder::Status::kError);
  CHECK(decoder.Decode("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &used) ==
        Http1Decoder::Status::kError);
  CHECK(used == 0);
  CHECK(recorder.events.empty());
}

TEST_CASE("Http1Decoder stops for good when a callback says kStop") {
  class Stopper final : public Http1DecoderCallbacks {
   public:
    Http1Action OnHead(const Http1Head&) override {
      ++heads;
      return Http1Action::kStop;
    }
    Http1Action OnBody(std::string_view) override { return Http1Action::kContinue; }
    Http1Action OnMessageComplete() override { return Http1Action::kContinue; }
    int heads = 0;
  } stopper;
  Http1Decoder decoder(Type::kRequest, TestLimits(Type::kRequest), stopper);
  const std::string_view two =
      "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
  size_t used = 0;
  CHECK(decoder.Decode(two, &used) == Http1Decoder::Status::kStopped);
  CHECK(decoder.Decode(two.substr(used), &used) ==
        Http1Decoder::Status::kStopped);
  CHECK(stopper.heads == 1);
}

TEST_CASE("EncodeResponseHead chooses the body framing") {
  const HttpHeader type[] = {{"content-type", "text/plain"},
                             {"Connection", "x-hop"},
                             {"x-hop", "dropped"}};
  std::string out;
  Http1ResponseHead head;
  head.headers = type;
  Http1BodyFraming framing = EncodeResponseHead(head, &out);
  CHECK(framing.kind == Http1BodyFraming::Kind::kChunked);
  CHECK_FALSE(framing.close);
  CHECK(out ==
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
        "transfer-encoding: chunked\r\n\r\n");

  out.clear();
  head.request_http_minor = 0;
  framing = EncodeResponseHead(head, &out);
  CHECK(framing.kind == Http1BodyFraming::Kind::kCloseDelimited);
  CHECK(framing.close);
  CHECK(out == "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n");

  out.clear();
  head.content_length = 3;
  framing = EncodeResponseHead(head, &out);
  CHECK(framing.kind == Http1BodyFraming::Kind::kLength);
  CHECK(framing.length == 3);
  CHECK(out ==
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n"
        "connection: keep-alive\r\n\r\n");

  out.clear();
  head.status = 204;
  CHECK(EncodeResponseHead(head, &out).kind == Http1BodyFraming::Kind::kNone);
  CHECK(out.find("content-length") == std::string::npos);

  out.clear();
  const HttpHeader upgrade[] = {{"Upgrade", "websocket"}};
  head = Http1ResponseHead();
  head.status = 101;
  head.headers = upgrade;
  head.close = true;
  framing = EncodeResponseHead(head, &out);
  CHECK(framing.kind == Http1BodyFraming::Kind::kTunnel);
  CHECK(out ==
        "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\n"
        "upgrade: websocket\r\n\r\n");
}

TEST_CASE("EncodeChunk and EncodeLastChunk frame a chunked body") {
  std::string out;
  EncodeChunk(std::string(26, 'x'), &out);
  EncodeLastChunk(&out);
  CHECK(out == "1a\r\n" + std::string(26, 'x') + "\r\n0\r\n\r\n");
}

TEST_CASE("EncodeRequestHead sends Host and the framing, drops hop-by-hop") {
  const HttpHeader headers[] = {{"Host", "client.test"},
                                {"Connection", "keep-alive, x-private"},
                                {"x-private", "1"},
                                {"Content-Length", "99"},
                                {"accept", "*/*"},
                                {"bad", "a\r\nInjected: 1"}};
  UpstreamRequestHead head;
  head.method = "POST";
  head.path = "/p";
  head.authority = "backend.test";
  head.headers = headers;
  head.content_length = 4;
  std::string out;
  EncodeRequestHead(head, false, &out);
  CHECK(out ==
        "POST /p HTTP/1.1\r\nhost: backend.test\r\naccept: */*\r\n"
        "content-length: 4\r\n\r\n");
  out.clear();
  head.content_length.reset();
  EncodeRequestHead(head, true, &out);
  CHECK(out.ends_with("transfer-encoding: chunked\r\n\r\n"));
}

}  // namespace
}  // namespace homing::internal
