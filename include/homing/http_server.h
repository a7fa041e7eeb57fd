// File: homing/http_server.h
//
// An HTTP/1.1 server on any `homing::Dispatcher` (homing/dispatcher.h: a
// `LibuvDispatcher`, a host's own loop, or a `ManualDispatcher` whose virtual
// clock drives the timeouts in tests), parsed with llhttp. Sockets are
// non-blocking and watched through the dispatcher; every timeout runs on its
// `Now()` clock and timers. `HttpServer` listens on one address (SO_REUSEPORT,
// so N workers can each run a server with a dispatcher of their own on the
// same address) and gives every accepted connection a
// `RequestHandler` from a factory. The handler sees one `ServerStream` at a
// time: requests on a keep-alive connection, pipelined or not, are handed out
// one after another and answered in order; the next request is parsed only
// once the current one has been answered.
//
// Bodies stream in both directions, never buffered whole: request bytes reach
// `OnRequestBody()` as they are parsed, response bytes go out as the handler
// sends them, framed with Content-Length when the handler gives one and
// chunked (HTTP/1.1) or close-delimited (HTTP/1.0) otherwise.
//
// The server enforces the limits itself and answers with JSON local replies
// (`{"error":"<code>","detail":"…"}`, see homing/http_message.h), closing the
// connection afterwards:
//   400 bad_request        malformed request (the detail is llhttp's reason),
//                          or HTTP/1.1 without Host; see "Strictness"
//   405 method_not_allowed CONNECT
//   408 request_timeout    request headers not complete within
//                          `request_headers_timeout`, or a stream idle for
//                          `stream_idle_timeout` before its response started
//   413 payload_too_large  body beyond the stream's limit
//   431 request_header_fields_too_large  headers beyond
//                          `max_request_headers_bytes` / `_count`
// A keep-alive connection idle for `idle_timeout` is closed without a reply.
//
// Responses: hop-by-hop headers the handler passes (Connection, Keep-Alive,
// Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade and those named in
// Connection) are dropped and the server writes its own framing and
// Connection headers. The connection closes after a response when the client
// asked for it (`Connection: close`, HTTP/1.0 without keep-alive), when the
// handler did (`Connection: close` among its headers), when the response
// started while more than 64 KiB (or a chunked rest) of the request body was
// unread (a smaller rest is read and dropped after the response), when the
// server is draining, or after a response to an Upgrade request other than
// 101.
//
// Strictness (RFC 9112; no llhttp lenient flag is on): besides what llhttp
// refuses (Content-Length with Transfer-Encoding, differing or repeated
// Content-Length, a Transfer-Encoding not ending in chunked, a chunk size
// overflow, CR/LF/NUL/CTL bytes in header values), these get 400 before the
// handler sees the request: a bare LF ending a line of the head or the
// trailers, a header line starting with SP/HTAB (obs-fold, never folded), a
// header name that is not a token ("X Y", "X ", empty), two Host headers, a
// Host differing from an absolute-form target's authority, and more than
// 4 KiB of chunk extensions on one chunk line. A Transfer-Encoding in an
// HTTP/1.0 request closes the connection after the response.
//
// A client that closes its side of the connection (shutdown(SHUT_WR)) after
// a complete request still gets its response, as with HAProxy; the
// connection closes after it. (nginx and Envoy by default take any EOF as
// the client gone; a client that really left is noticed when the response
// is written.) A client whose EOF arrives before its request is complete is
// taken to have gone: the stream is reset with `kConnectionClosed`.
//
// Upgrade (WebSocket): a request with `Upgrade` + `Connection: upgrade` is
// handed out with `is_upgrade()`. Whatever the client sends after the
// request is held unread (reading stops; at most one read buffer) until the
// handler sends the response head. If that is 101, the connection becomes a
// raw pipe: the held bytes and all that follow arrive as `OnRequestBody()`,
// the client's EOF as `OnRequestEnd()`, `SendResponseBody()` writes raw
// bytes and `SendResponseEnd()` closes the connection once they are written.
// Any other status is sent as an ordinary response and the connection then
// closes: the held bytes are never parsed, delivered or forwarded, so they
// cannot pass as a request nobody routed (request smuggling). A 101 for a
// request that did not ask to upgrade closes the connection at once.
// `Upgrade: h2c` is not an upgrade here (as in Envoy): the request is served
// as plain HTTP/1.1 (`is_upgrade()` false), its Upgrade and HTTP2-Settings
// headers are removed from `request().headers`, what follows it is the next
// request, and it counts in downstream_rq_h2c_upgrade_ignored.
//
// Stats (Envoy's names, under the scope passed to `Create()`, e.g.
// "http.ingress_http."): counters downstream_cx_total,
// downstream_cx_protocol_error, downstream_cx_idle_timeout,
// downstream_cx_rx_bytes_total, downstream_cx_tx_bytes_total,
// downstream_rq_total, downstream_rq_1xx … downstream_rq_5xx,
// downstream_rq_timeout, downstream_rq_header_timeout, downstream_rq_too_large,
// downstream_rq_h2c_upgrade_ignored,
// downstream_flow_control_paused_reading_total,
// downstream_flow_control_resumed_reading_total; gauges downstream_cx_active,
// downstream_rq_active; histogram downstream_rq_time in microseconds (Envoy
// uses milliseconds; homing records every duration in microseconds).
//
// Example:
//
//   class Hello : public homing::RequestHandler {
//     void OnRequestHeaders(homing::ServerStream& stream) override {
//       const homing::HttpHeader headers[] = {{"content-type", "text/plain"}};
//       stream.SendResponse(200, headers, "hello\n");
//     }
//   };
//   homing::HttpServerOptions options;
//   options.listen_address = *homing::SocketAddress::Parse("127.0.0.1:8081");
//   auto server = homing::HttpServer::Create(
//       dispatcher, options, [] { return std::make_unique<Hello>(); });
//
// Thread safety: a server, its connections and streams belong to their
// dispatcher's loop thread; create, use and destroy them there. Never destroy
// the server from inside one of its callbacks.

#ifndef HOMING_HTTP_SERVER_H_
#define HOMING_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "homing/address.h"
#include "homing/clock.h"
#include "homing/dispatcher.h"
#include "homing/http_message.h"
#include "homing/request.h"
#include "homing/stats.h"

namespace homing {

class ServerStream;

// StreamResetReason
//
// Why a stream ended before its response was complete.
enum class StreamResetReason {
  kConnectionClosed,  // the client closed or reset the connection
  kTimeout,           // stream idle timeout (408 sent if nothing was yet)
  kBodyTooLarge,      // body beyond the stream's limit (413 sent likewise)
  kProtocolError,     // malformed body (400 sent likewise)
  kWriteError,        // writing to the client failed
  kServerShutdown,    // the server was destroyed with the stream open
};

// StreamResetReasonName()
//
// "connection_closed", "timeout", "body_too_large", "protocol_error",
// "write_error", "server_shutdown".
std::string_view StreamResetReasonName(StreamResetReason reason);

// RejectedRequest
//
// A request the server answered itself, without a stream (see
// `RequestHandler::OnRequestRejected()`). The views are valid only during
// the call.
struct RejectedRequest {
  int status = 0;             // the local reply's status
  std::string_view code;      // and its error code ("bad_request", ...)
  std::string_view detail;
  std::string_view method;    // empty when the head was not complete
  std::string_view path;      // likewise
  int http_minor = 1;
};

// ServerStreamCallbacks
//
// Events of one stream after its request head. By default they go to the
// connection's `RequestHandler`; `ServerStream::SetCallbacks()` redirects them
// (a `ProxyStream` does, to forward the body). None of them is called after
// the handler finished the response with `SendResponseEnd()` (or
// `SendResponse()`), nor after `Reset()`.
class ServerStreamCallbacks {
 public:
  virtual ~ServerStreamCallbacks() = default;

  // ServerStreamCallbacks::OnRequestBody()
  //
  // A piece of the request body (decoded from chunked framing), or raw bytes
  // of an upgraded connection. `data` is valid only during the call.
  virtual void OnRequestBody(std::string_view data) { (void)data; }

  // ServerStreamCallbacks::OnRequestEnd()
  //
  // The request is complete (for a tunnel: the client closed its side).
  virtual void OnRequestEnd() {}

  // ServerStreamCallbacks::OnStreamReset()
  //
  // The stream ended early; the last event of the stream. Do not touch the
  // stream during or after this call.
  virtual void OnStreamReset(StreamResetReason reason) { (void)reason; }

  // ServerStreamCallbacks::OnWriteBufferHigh() / OnWriteBufferLow()
  //
  // Response bytes queued for the client went above the server's high
  // watermark / back below its low watermark. A handler relaying a large
  // response pauses its source on High and resumes it on Low.
  virtual void OnWriteBufferHigh() {}
  virtual void OnWriteBufferLow() {}
};

// RequestHandler
//
// Created once per connection by the server's factory and destroyed with the
// connection; it receives that connection's streams one at a time. Keep
// per-request state in members and reset it in `OnRequestHeaders()`: no
// allocation per request is needed.
class RequestHandler : public ServerStreamCallbacks {
 public:
  // RequestHandler::OnRequestHeaders()
  //
  // A request head arrived. Answer now or later (keep `stream` until the
  // response ends or `OnStreamReset()`). To answer later while the body is
  // still arriving, call `stream.ReadDisable()` to hold the body back (it is
  // then neither read nor delivered) or consume it in `OnRequestBody()`.
  virtual void OnRequestHeaders(ServerStream& stream) = 0;

  // RequestHandler::OnRequestRejected()
  //
  // The server answered a request on this connection itself, before any
  // stream (and closes the connection after the reply): 400 for a malformed
  // head or no Host, 405 CONNECT, 408 head not received in time, 413 a
  // declared body over `max_request_body_bytes`, 431 head too large, 505 not
  // HTTP/1.x. For logging: the reply is already written.
  virtual void OnRequestRejected(const RejectedRequest& rejected) { (void)rejected; }
};

// ServerStream
//
// One request and its response on a server connection. Valid from
// `OnRequestHeaders()` until the response has ended (`SendResponseEnd()` or
// `SendResponse()` returned) or `OnStreamReset()` was called. Response calls
// out of order (a second head, a body before the head) are ignored.
class ServerStream {
 public:
  // ServerStream::request()
  //
  // Method, authority (Host, or the authority of an absolute-form target),
  // path with query, and headers, viewing buffers owned by the stream. Header
  // values have surrounding whitespace removed; trailers are not kept.
  virtual const RequestView& request() const = 0;

  // ServerStream::http_minor()
  //
  // 1 for HTTP/1.1, 0 for HTTP/1.0.
  virtual int http_minor() const = 0;

  // ServerStream::content_length()
  //
  // The request's Content-Length, or nullopt when absent (chunked or no body).
  virtual std::optional<uint64_t> content_length() const = 0;

  // ServerStream::has_body()
  //
  // `true` for a chunked request or one with Content-Length > 0.
  virtual bool has_body() const = 0;

  // ServerStream::is_upgrade()
  //
  // `true` for a request asking to switch protocols (Upgrade + Connection:
  // upgrade; never for h2c). Answer 101 to turn the connection into a
  // tunnel, anything else to refuse (the connection then closes after the
  // response, without reading what the client sent after the request).
  virtual bool is_upgrade() const = 0;

  // ServerStream::peer_address() / local_address()
  virtual const SocketAddress& peer_address() const = 0;
  virtual const SocketAddress& local_address() const = 0;

  // ServerStream::SendResponseHead()
  //
  // Starts the response. With a Content-Length among `headers` the body must
  // have exactly that many bytes (a short body closes the connection, extra
  // bytes are dropped). Hop-by-hop headers in `headers` are not sent. The
  // views need to live only during the call.
  virtual void SendResponseHead(int status,
                                std::span<const HttpHeader> headers) = 0;

  // ServerStream::SendResponseBody()
  //
  // Queues response bytes. Writes made during one callback batch of the
  // dispatcher go out together in one system call.
  virtual void SendResponseBody(std::string_view data) = 0;

  // ServerStream::SendResponseEnd()
  //
  // Ends the response. The stream is finished once the request has been read
  // too; the connection then goes on with the next request or closes.
  virtual void SendResponseEnd() = 0;

  // ServerStream::SendResponse()
  //
  // Head with a Content-Length for `body`, the body and the end, in one go.
  // Any Content-Length in `headers` is replaced.
  virtual void SendResponse(int status, std::span<const HttpHeader> headers,
                            std::string_view body) = 0;

  // ServerStream::SendLocalReply()
  //
  // `SendResponse()` with `content-type: application/json` and the body
  // `LocalReplyBody(code, detail)`.
  void SendLocalReply(int status, std::string_view code,
                      std::string_view detail);

  // ServerStream::response_started()
  //
  // `true` once the response head was sent: from then on an error can only
  // reset the stream, not replace the response.
  virtual bool response_started() const = 0;

  // ServerStream::ReadDisable() / ReadEnable()
  //
  // Stops and resumes reading the request (counted: reading resumes when
  // every ReadDisable() has been matched). While disabled, no more body is
  // delivered, even if already received.
  virtual void ReadDisable() = 0;
  virtual void ReadEnable() = 0;

  // ServerStream::write_buffered_bytes() / above_write_high_watermark()
  //
  // Response bytes queued and not yet accepted by the kernel, and whether
  // they are above the high watermark (see `OnWriteBufferHigh()`).
  virtual size_t write_buffered_bytes() const = 0;
  virtual bool above_write_high_watermark() const = 0;

  // ServerStream::SetBodyLimit()
  //
  // Replaces the server's `max_request_body_bytes` for this stream (a route's
  // limit); 0 means unlimited. Set it in `OnRequestHeaders()`: a declared
  // Content-Length above it is refused with 413 right after that call.
  virtual void SetBodyLimit(uint64_t max_bytes) = 0;

  // ServerStream::SetCallbacks()
  //
  // Sends this stream's events to `callbacks` instead of the connection's
  // handler; nullptr restores the handler. `callbacks` must outlive the
  // stream or be replaced before it goes away.
  virtual void SetCallbacks(ServerStreamCallbacks* callbacks) = 0;

  // ServerStream::Reset()
  //
  // Abandons the stream and closes the connection at once, without calling
  // `OnStreamReset()`. For failures after the response started.
  virtual void Reset() = 0;

 protected:
  ~ServerStream() = default;
};

// HttpServerOptions
//
// Timeouts of zero are disabled.
struct HttpServerOptions {
  SocketAddress listen_address;
  bool reuse_port = true;  // SO_REUSEPORT: several servers, one address
  int backlog = 1024;

  size_t max_request_headers_bytes = 60 * 1024;  // request line + headers
  uint32_t max_request_headers_count = 100;
  uint64_t max_request_body_bytes = 0;  // default stream limit; 0: none

  Duration idle_timeout = std::chrono::seconds(60);
  Duration request_headers_timeout = std::chrono::seconds(10);
  Duration stream_idle_timeout = std::chrono::minutes(5);
  // After a closing response is written, how long the connection keeps
  // reading (and discarding) so the client gets the response instead of a
  // reset.
  Duration close_linger_timeout = std::chrono::seconds(1);

  size_t read_buffer_bytes = 16 * 1024;  // per connection
  size_t write_buffer_high_watermark = 1024 * 1024;
  size_t write_buffer_low_watermark = 256 * 1024;
};

// HttpServer
class HttpServer {
 public:
  using HandlerFactory = std::function<std::unique_ptr<RequestHandler>()>;

  // HttpServer::Create()
  //
  // Binds and listens on `options.listen_address` (port 0 picks a free port:
  // see `local_address()`). Stats go to `stats` when given, otherwise to a
  // private store. Fails with the system error when the address cannot be
  // bound (UnavailableError) or the options make no sense
  // (InvalidArgumentError).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(
      Dispatcher& dispatcher, const HttpServerOptions& options,
      HandlerFactory factory, const StatsScope* stats = nullptr);

  // Closes the listener and every connection at once; open streams get
  // `OnStreamReset(kServerShutdown)`; every socket is closed when
  // the destructor returns.
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // HttpServer::local_address()
  //
  // The address the listener is bound to.
  const SocketAddress& local_address() const;

  // HttpServer::Drain()
  //
  // Graceful close: stops accepting, closes idle connections, lets each open
  // stream finish (its response carries `Connection: close`) and then closes
  // its connection. Calls `on_drained` (if set) once no connection is left;
  // possibly before returning.
  void Drain(std::function<void()> on_drained);

  // HttpServer::connection_count()
  //
  // Open client connections.
  size_t connection_count() const;

 private:
  class Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace homing

#endif  // HOMING_HTTP_SERVER_H_
