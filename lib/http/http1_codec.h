// File: lib/http/http1_codec.h
//
// The HTTP/1.1 codec without I/O, in the spirit of nghttp2's mem_recv and
// mem_send: `Http1Decoder` takes bytes and calls back with message events;
// the Encode*() functions append heads and body framing to a buffer. No
// sockets, timers or event loop: ServerConnection and
// UpstreamConnectionImpl are the shells that move the bytes.
//
// The decoder drives llhttp with every lenient flag off, and adds what
// llhttp 8.1 lets through (see HeadLineScanner and the request rules in
// http1_codec.cc): a message is either framed by these rules or refused with
// an `Http1Error` a server can send as its 400/431/405/505 reply.
//
// Pausing: a callback that returns kPause stops Decode() after that event
// with the rest of the input unconsumed ("the next message waits"); the
// caller passes the unconsumed bytes again, first, when it calls Decode()
// next (with nothing new, pending() says whether there is work left).
//
// Example:
//   Http1Decoder decoder(Http1Decoder::Type::kRequest, limits, callbacks);
//   size_t used = 0;
//   switch (decoder.Decode(bytes, &used)) { ... }  // bytes.substr(used) wait
//
// Thread safety: none; one decoder per connection.

#ifndef HOMING_LIB_HTTP_HTTP1_CODEC_H_
#define HOMING_LIB_HTTP_HTTP1_CODEC_H_

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "homing/http_message.h"
#include "homing/http_upstream.h"
#include "http/head_line_scanner.h"
#include "http/header_collector.h"

namespace homing::internal {

// A decoded message head. Views stay valid until the next message begins.
struct Http1Head {
  // Requests. `path` and `authority` come from an absolute-form target
  // ("http://a/b") when there is one, else the target and the Host header.
  std::string_view method;
  std::string_view target;
  std::string_view path;
  std::string_view authority;
  // Responses.
  int status = 0;

  int http_minor = 1;
  std::span<const HttpHeader> headers;
  // Set when the body is framed by Content-Length (not with chunked).
  std::optional<uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = false;
  // A request asking to switch protocols (Connection: upgrade + Upgrade),
  // or a 101 response.
  bool upgrade = false;
};

// Why the decoder refused the input: what a server replies with.
struct Http1Error {
  int status = 400;
  std::string_view code = "bad_request";
  std::string detail;
  // The head was complete and broke a request rule (version, method, Host,
  // header names, Transfer-Encoding); Http1Decoder::head() describes it.
  bool in_head_rules = false;
};

enum class Http1Action {
  kContinue,
  kPause,  // Decode() returns kPaused after this event
  kStop,   // the caller is done with the input: Decode() returns kStopped
};

class Http1DecoderCallbacks {
 public:
  virtual ~Http1DecoderCallbacks() = default;
  virtual void OnMessageBegin() {}
  virtual Http1Action OnHead(const Http1Head& head) = 0;
  virtual Http1Action OnBody(std::string_view data) = 0;
  virtual Http1Action OnMessageComplete() = 0;
};

class Http1Decoder {
 public:
  enum class Type { kRequest, kResponse };
  enum class Status {
    kOk,       // every byte consumed; give more
    kPaused,   // a callback paused
    kUpgrade,  // the message asked to switch protocols and ended; the rest
               // is the other protocol unless ResumeAfterUpgrade()
    kError,    // see error(); nothing more is decoded
    kStopped,  // a callback returned kStop; nothing more is decoded
  };

  struct Limits {
    size_t max_head_bytes = 60 * 1024;  // the target plus header lines
    uint32_t max_headers = 100;
    // Chunk extensions are parsed and dropped; 0 leaves them unbounded.
    uint64_t max_chunk_extension_bytes = 0;
    // Refuse a bare LF or an obs-fold in heads and trailers (HeadLineScanner).
    bool strict_head_lines = false;
  };

  Http1Decoder(Type type, const Limits& limits, Http1DecoderCallbacks& callbacks);
  Http1Decoder(const Http1Decoder&) = delete;
  Http1Decoder& operator=(const Http1Decoder&) = delete;

  // Decodes from the front of `data`; `*consumed` bytes were used.
  Status Decode(std::string_view data, size_t* consumed);
  // Decoding has work left even without new bytes (after a pause).
  bool pending() const { return pending_; }

  // The peer closed its side: true when that ends the message in progress
  // (a response body read until the connection closes), after
  // OnMessageComplete().
  bool FinishAtEof();

  // After kUpgrade: the switch did not happen; what follows is the next
  // message.
  void ResumeAfterUpgrade();

  // Responses: the next one answers a HEAD request, so it has no body.
  void set_head_request(bool head_request) { head_request_ = head_request; }

  // Drops every header named `name` from the current head (from inside
  // OnHead(), the span given there is stale; use head()).
  void RemoveHeader(std::string_view name);

  // Starts over for a new exchange on the same connection (responses).
  void Reset();

  // True between the first byte of a head and its end.
  bool in_head() const { return in_head_; }
  const Http1Head& head() const { return head_; }
  const Http1Error& error() const { return error_; }

 private:
  static const llhttp_settings_t* Settings();
  static int OnMessageBeginCb(llhttp_t* parser);
  static int OnUrlCb(llhttp_t* parser, const char* at, size_t length);
  static int OnHeaderFieldCb(llhttp_t* parser, const char* at, size_t length);
  static int OnHeaderValueCb(llhttp_t* parser, const char* at, size_t length);
  static int OnHeadersCompleteCb(llhttp_t* parser);
  static int OnBodyCb(llhttp_t* parser, const char* at, size_t length);
  static int OnMessageCompleteCb(llhttp_t* parser);
  static int OnChunkHeaderCb(llhttp_t* parser);
  static int OnChunkExtensionCb(llhttp_t* parser, const char* at, size_t length);
  static int OnChunkExtensionCompleteCb(llhttp_t* parser);

  int HandleHeadersComplete();
  int HandleMessageComplete();
  int AddChunkExtensionBytes(size_t length);
  int HeadTooLarge();
  // Fills `head_` from llhttp; for requests, the rule the head breaks (as
  // `error_`) or true.
  bool BuildHead();
  int ToLlhttp(Http1Action action);
  // Scans the unscanned front of `data`; false on a broken line.
  bool ScanHead(std::string_view data);
  Status Fail(llhttp_errno_t error);

  const Type type_;
  const Limits limits_;
  Http1DecoderCallbacks& callbacks_;
  llhttp_t parser_;
  HeaderCollector collector_;
  HeadLineScanner scanner_;
  Http1Head head_;
  Http1Error error_;
  // The first `scanned_` bytes of the next input went through `scanner_`.
  size_t scanned_ = 0;
  uint64_t chunk_extension_bytes_ = 0;  // on the current chunk line
  // The reason for an HPE_USER that is neither a limit nor a kStop.
  const char* error_detail_ = nullptr;
  bool head_too_large_ = false;
  bool pause_requested_ = false;
  bool stop_requested_ = false;
  bool pending_ = false;
  bool in_head_ = false;
  bool in_message_ = false;  // a head was delivered, the message not complete
  bool head_request_ = false;
  Status final_ = Status::kOk;  // kError or kStopped once decoding ended
};

// Encoding. Each appends to `out`.

// A request head as homing sends it upstream: Host from `authority`,
// hop-by-hop headers and what Connection nominates dropped, x-forwarded-for
// merged, framing from `content_length` / `chunked`, Upgrade kept only when
// `head.upgrade`.
void EncodeRequestHead(const UpstreamRequestHead& head, bool chunked,
                       std::string* out);

// How a response body goes on the wire.
struct Http1BodyFraming {
  enum class Kind { kNone, kLength, kChunked, kCloseDelimited, kTunnel };
  Kind kind = Kind::kNone;
  uint64_t length = 0;  // kLength
  bool close = false;   // the connection closes after the response
};

struct Http1ResponseHead {
  int status = 200;
  std::span<const HttpHeader> headers;
  // The body's size when known up front; else a Content-Length in `headers`.
  std::optional<uint64_t> content_length;
  int request_http_minor = 1;
  bool head_request = false;
  // The connection closes after this response (ignored for a 101).
  bool close = false;
};

// A response head: hop-by-hop headers and what Connection nominates dropped,
// framing chosen (no body for HEAD/1xx/204/304, Content-Length, chunked for
// HTTP/1.1, else close-delimited), `connection: close` / `keep-alive` as
// needed; a 101 opens a tunnel. A `Connection: close` in `headers` closes.
Http1BodyFraming EncodeResponseHead(const Http1ResponseHead& head,
                                    std::string* out);

// One chunk of a chunked body ("<hex>\r\n<data>\r\n"); `data` not empty.
void EncodeChunk(std::string_view data, std::string* out);
// The last chunk, no trailers.
void EncodeLastChunk(std::string* out);

}  // namespace homing::internal

#endif  // HOMING_LIB_HTTP_HTTP1_CODEC_H_
