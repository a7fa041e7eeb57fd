// File: homing/http_upstream.h
//
// HTTP/1.1 connections to upstream servers, pooled per resolved address, on
// any `homing::Dispatcher` (homing/dispatcher.h): sockets are non-blocking and
// watched through it, and the connect, request and idle timeouts run on its
// `Now()` clock and timers, so a `ManualDispatcher` tests them in virtual
// time.
// `UpstreamPools` owns one `ConnectionPool` per `SocketAddress` (the address
// the DNS cache or a cluster picked); a pool hands out `UpstreamConnection`s
// for one request/response exchange at a time and takes them back afterwards.
//
// Pool rules:
//  - keep-alive reuse, most recently used connection first;
//  - at most `max_connections` connections; a request beyond that waits in a
//    queue of at most `max_pending_requests`, beyond which it fails at once
//    with `kOverflow`;
//  - a connection attempt that does not complete within `connect_timeout`
//    fails with `kTimeout`; a refused or unreachable one with
//    `kConnectFailure`. Each failed attempt fails the oldest waiting request;
//  - a connection is reused only after a clean exchange: request fully sent,
//    response fully read, both sides keep-alive. A connection that failed, was
//    closed or sent anything while idle is closed, never reused;
//  - idle connections are closed after `idle_timeout`;
//  - `Drain()` stops reusing the pool's connections (idle ones close now, busy
//    ones after their exchange); new requests get new connections. Use it when
//    DNS says the name behind the address moved.
//
// Stats (Envoy's cluster names, under the scope given to `Create()`, e.g.
// "cluster.dynamic_forward_proxy_cluster."): counters upstream_cx_total,
// upstream_cx_connect_fail, upstream_cx_connect_timeout,
// upstream_cx_idle_timeout, upstream_cx_destroy_remote,
// upstream_cx_protocol_error, upstream_cx_rx_bytes_total,
// upstream_cx_tx_bytes_total, upstream_rq_total, upstream_rq_1xx …
// upstream_rq_5xx, upstream_rq_pending_total, upstream_rq_pending_overflow,
// upstream_rq_timeout, upstream_flow_control_paused_reading_total,
// upstream_flow_control_resumed_reading_total,
// upstream_flow_control_backed_up_total, upstream_flow_control_drained_total;
// gauges upstream_cx_active,
// upstream_rq_active, upstream_rq_pending_active; histogram upstream_rq_time
// (microseconds, request head sent to response end).
//
// Example:
//
//   auto pools = homing::UpstreamPools::Create(dispatcher, {}, &scope);
//   homing::ConnectionPool& pool = pools->Get(address);
//   pending_ = pool.NewStream(*this);  // calls OnPoolReady() or OnPoolFailure()
//   ...
//   void OnPoolReady(homing::UpstreamConnection& connection) override {
//     connection.SendRequestHead({.method = "GET", .path = "/where?client_id=1",
//                                 .authority = "server:8081"}, *this);
//     connection.SendRequestEnd();
//   }
//
// Thread safety: pools and connections belong to their dispatcher's loop
// thread; create, use and destroy them there.

#ifndef HOMING_HTTP_UPSTREAM_H_
#define HOMING_HTTP_UPSTREAM_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "homing/address.h"
#include "homing/clock.h"
#include "homing/dispatcher.h"
#include "homing/http_message.h"
#include "homing/stats.h"

namespace homing {

// ResponseHeadView
//
// An upstream response head, viewing buffers owned by the connection; valid
// during `OnResponseHead()` only.
struct ResponseHeadView {
  int status = 0;
  int http_minor = 1;
  std::span<const HttpHeader> headers;  // as received, hop-by-hop included

  // ResponseHeadView::FindHeader()
  //
  // The first value of header `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> FindHeader(std::string_view name) const;
};

// UpstreamResetReason
enum class UpstreamResetReason {
  kConnectionClosed,  // the upstream closed or reset the connection early
  kProtocolError,     // the response was malformed
  kTimeout,           // `SetResponseTimeout()` expired
  kWriteError,        // sending the request failed
};

// UpstreamResetReasonName()
//
// "connection_closed", "protocol_error", "timeout", "write_error".
std::string_view UpstreamResetReasonName(UpstreamResetReason reason);

// IsKeepAliveRace()
//
// The one resend rule for idle keep-alive connections: an exchange that
// failed with `reason` on a reused connection (UpstreamConnection::reused())
// before any byte of a response may be sent once more, on a fresh
// connection. The upstream closed the idle connection as the request
// arrived, so it cannot have processed it (RFC 9112 section 9.3.1). A
// timeout or a malformed response never qualifies: the upstream got the
// request. That the request is safe to send twice (idempotent, body kept)
// and is resent only once is the caller's to ensure.
bool IsKeepAliveRace(bool reused_connection, UpstreamResetReason reason,
                     bool response_started);

// UpstreamResponseCallbacks
//
// Events of one exchange on an `UpstreamConnection`. Exactly one of
// `OnResponseEnd()` and `OnUpstreamReset()` ends it; after either the
// connection is no longer yours.
class UpstreamResponseCallbacks {
 public:
  virtual ~UpstreamResponseCallbacks() = default;

  // UpstreamResponseCallbacks::OnResponseHead()
  //
  // The final response head (interim 1xx responses other than 101 are
  // skipped).
  virtual void OnResponseHead(const ResponseHeadView& head) = 0;

  // UpstreamResponseCallbacks::OnResponseBody()
  //
  // Response body bytes (decoded from chunked framing), or raw bytes after a
  // 101. Valid only during the call.
  virtual void OnResponseBody(std::string_view data) = 0;

  // UpstreamResponseCallbacks::OnResponseEnd()
  //
  // The response is complete (after a 101: the upstream closed). The
  // connection goes back to the pool or closes once this returns.
  virtual void OnResponseEnd() = 0;

  // UpstreamResponseCallbacks::OnUpstreamReset()
  //
  // The exchange failed; `response_started` tells whether `OnResponseHead()`
  // was called. The connection is closed.
  virtual void OnUpstreamReset(UpstreamResetReason reason,
                               bool response_started) = 0;

  // UpstreamResponseCallbacks::OnUpstreamWriteBufferHigh() / …Low()
  //
  // Request bytes queued for the upstream went above the pool's high
  // watermark / back below its low watermark.
  virtual void OnUpstreamWriteBufferHigh() {}
  virtual void OnUpstreamWriteBufferLow() {}
};

// UpstreamRequestHead
//
// What `SendRequestHead()` writes. `headers` are usually the client's
// (`RequestView::headers`): hop-by-hop headers and those named in their
// Connection header, Host, Content-Length, Transfer-Encoding and Expect are
// left out, and the framing is written from `content_length` / `chunked`.
// Views need to live only during the call.
struct UpstreamRequestHead {
  std::string_view method = "GET";
  std::string_view path = "/";
  std::string_view authority = {};  // sent as Host
  std::span<const HttpHeader> headers = {};
  std::span<const HttpHeader> extra_headers = {};  // sent as they are, after
  std::optional<uint64_t> content_length = {};  // a body of exactly this size
  bool chunked = false;  // a body of unknown size (ignored with a length)
  // Ask to switch protocols: Upgrade (from `headers`) and `Connection:
  // upgrade` are sent; after a 101 the connection is a raw pipe. Any other
  // answer is an ordinary response, its body framed as usual, and the
  // connection is not reused after it. (The server side holds back what a
  // client sent after its upgrade request until a 101, so a proxy sends no
  // raw bytes before one.)
  bool upgrade = false;
  // When not empty: x-forwarded-for is sent as the client's value(s) with
  // ", <forwarded_for>" appended (or just this address).
  std::string_view forwarded_for = {};
  // Send a random UUIDv4 x-request-id when `headers` have none.
  bool add_request_id = false;
};

// UpstreamConnection
//
// A connection lent by a pool for one exchange: send the head, the body (if
// any) and the end; the response comes to the callbacks given with the head.
class UpstreamConnection {
 public:
  // UpstreamConnection::SendRequestHead()
  //
  // Starts the exchange; call it once, first.
  virtual void SendRequestHead(const UpstreamRequestHead& head,
                               UpstreamResponseCallbacks& callbacks) = 0;

  // UpstreamConnection::SendRequestBody()
  //
  // Queues body bytes (chunk-framed when the head said `chunked`; raw after a
  // 101).
  virtual void SendRequestBody(std::string_view data) = 0;

  // UpstreamConnection::SendRequestEnd()
  //
  // Ends the request (after a 101: shuts down the sending side).
  virtual void SendRequestEnd() = 0;

  // UpstreamConnection::SetResponseTimeout()
  //
  // Fails the exchange with `kTimeout` unless the response ends within
  // `timeout` from now; zero cancels.
  virtual void SetResponseTimeout(Duration timeout) = 0;

  // UpstreamConnection::ReadDisable() / ReadEnable()
  //
  // Stops / resumes reading the response (counted).
  virtual void ReadDisable() = 0;
  virtual void ReadEnable() = 0;

  // UpstreamConnection::write_buffered_bytes() / above_write_high_watermark()
  virtual size_t write_buffered_bytes() const = 0;
  virtual bool above_write_high_watermark() const = 0;

  // UpstreamConnection::Reset()
  //
  // Abandons the exchange and closes the connection; no more callbacks.
  virtual void Reset() = 0;

  // UpstreamConnection::reused()
  //
  // `true` when the connection served an exchange before this one: a failure
  // before the response started may then be a keep-alive race (the upstream
  // closed the idle connection just as the request went out).
  virtual bool reused() const = 0;

  // UpstreamConnection::address()
  virtual const SocketAddress& address() const = 0;

 protected:
  ~UpstreamConnection() = default;
};

// PoolFailureReason
enum class PoolFailureReason {
  kConnectFailure,  // refused, unreachable, or closed while connecting
  kTimeout,         // connect timeout
  kOverflow,        // max_connections busy and max_pending_requests waiting
};

// PoolFailureReasonName()
//
// "connect_failure", "timeout", "overflow".
std::string_view PoolFailureReasonName(PoolFailureReason reason);

// PoolCallbacks
class PoolCallbacks {
 public:
  virtual ~PoolCallbacks() = default;

  // PoolCallbacks::OnPoolReady()
  //
  // `connection` is yours for one exchange: call `SendRequestHead()` (or
  // `Reset()`) before returning.
  virtual void OnPoolReady(UpstreamConnection& connection) = 0;

  // PoolCallbacks::OnPoolFailure()
  //
  // No connection: `detail` is the system error ("connection refused").
  virtual void OnPoolFailure(PoolFailureReason reason,
                             std::string_view detail) = 0;
};

// PendingStream
//
// A request waiting for a connection. Destroying it cancels the wait: no
// callback follows.
class PendingStream {
 public:
  virtual ~PendingStream() = default;
};

// ConnectionPoolOptions
//
// Timeouts of zero are disabled.
struct ConnectionPoolOptions {
  uint32_t max_connections = 1024;
  uint32_t max_pending_requests = 1024;
  Duration connect_timeout = std::chrono::seconds(5);
  Duration idle_timeout = std::chrono::seconds(60);
  uint32_t max_requests_per_connection = 0;  // 0: unlimited
  size_t read_buffer_bytes = 16 * 1024;
  size_t write_buffer_high_watermark = 1024 * 1024;
  size_t write_buffer_low_watermark = 256 * 1024;
};

// ConnectionPool
//
// The connections to one address. Obtain it from `UpstreamPools::Get()`; it
// lives as long as the `UpstreamPools`.
class ConnectionPool {
 public:
  // ConnectionPool::NewStream()
  //
  // Asks for a connection. When one is idle, or on immediate failure
  // (overflow, a connect error reported synchronously), calls the callback
  // before returning and returns nullptr. Otherwise returns the wait's
  // handle; exactly one callback follows unless the handle is destroyed.
  virtual std::unique_ptr<PendingStream> NewStream(
      PoolCallbacks& callbacks) = 0;

  // ConnectionPool::Drain()
  //
  // Stops reusing the current connections (see the file comment).
  virtual void Drain() = 0;

  virtual const SocketAddress& address() const = 0;
  virtual size_t connection_count() const = 0;  // connecting, busy or idle
  virtual size_t idle_count() const = 0;
  virtual size_t pending_count() const = 0;

 protected:
  ~ConnectionPool() = default;
};

// UpstreamPools
class UpstreamPools {
 public:
  // UpstreamPools::Create()
  //
  // Stats go to `stats` when given, otherwise to a private store.
  static std::unique_ptr<UpstreamPools> Create(
      Dispatcher& dispatcher, const ConnectionPoolOptions& options,
      const StatsScope* stats = nullptr);

  // Closes every connection at once; exchanges in progress get
  // `OnUpstreamReset(kConnectionClosed)` and waiting requests
  // `OnPoolFailure(kConnectFailure)`.
  ~UpstreamPools();

  UpstreamPools(const UpstreamPools&) = delete;
  UpstreamPools& operator=(const UpstreamPools&) = delete;

  // UpstreamPools::Get()
  //
  // The pool for `address`, created on first use. No allocation when it
  // exists.
  ConnectionPool& Get(const SocketAddress& address);

  // UpstreamPools::Drain()
  //
  // `Drain()` on the pool for `address`, if there is one.
  void Drain(const SocketAddress& address);

  // UpstreamPools::DrainAll()
  void DrainAll();

  size_t pool_count() const;

 private:
  class Impl;
  explicit UpstreamPools(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace homing

#endif  // HOMING_HTTP_UPSTREAM_H_
