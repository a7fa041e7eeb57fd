// File: lib/http/server_connection.h
//
// The HTTP/1.1 server side of one client connection: an Http1Decoder in
// request mode over a TcpConnection, implementing `ServerStream` for the one request in
// progress. See homing/http_server.h for the behaviour; the notes here are
// about mechanics.
//
// Pipelining: when a request is complete but its response is not,
// OnMessageComplete() pauses the decoder; undecoded bytes stay in the
// connection's read buffer and reading stops until the response ends, so
// responses go out in request order and a client cannot make the server
// buffer without bound.
//
// Re-entrancy: handler calls (SendResponseEnd(), ReadEnable(), Reset()) never
// parse or delete synchronously when they arrive from outside the
// connection's own dispatch; the work is deferred until the current
// dispatcher callback has returned (IoContext). A closed connection is deleted the same way, so a
// handler on the stack never sees itself destroyed.
//
// Thread safety: loop thread only.

#ifndef HOMING_LIB_HTTP_SERVER_CONNECTION_H_
#define HOMING_LIB_HTTP_SERVER_CONNECTION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "homing/http_server.h"
#include "homing/stats.h"
#include "http/http1_codec.h"
#include "http/io_context.h"
#include "http/status_counters.h"
#include "http/tcp_connection.h"

namespace homing::internal {

struct ServerStats {
  explicit ServerStats(const StatsScope& scope);

  Counter& cx_total;
  Gauge& cx_active;
  Counter& cx_protocol_error;
  Counter& cx_idle_timeout;
  Counter& cx_rx_bytes_total;
  Counter& cx_tx_bytes_total;
  Counter& rq_total;
  Gauge& rq_active;
  StatusClassCounters rq_status;  // downstream_rq_1xx … _5xx
  Counter& rq_timeout;
  Counter& rq_header_timeout;
  Counter& rq_too_large;
  Counter& rq_h2c_upgrade_ignored;
  Counter& flow_control_paused_reading_total;
  Counter& flow_control_resumed_reading_total;
  Histogram& rq_time;
};

class ServerConnection;

// ServerContext
//
// What a server's connections share. Owned by HttpServer::Impl.
class ServerContext {
 public:
  ServerContext(Dispatcher& dispatcher, const HttpServerOptions& options,
                HttpServer::HandlerFactory factory, const StatsScope& scope);
  // Resets open streams (kServerShutdown), closes and deletes every
  // connection.
  ~ServerContext();

  // Takes over `fd`, a connection the server's listener accepted.
  void Accept(int fd);
  void Drain(std::function<void()> on_drained);
  size_t open_connections() const { return open_connections_; }

  const HttpServerOptions& options() const { return options_; }
  ServerStats& stats() { return stats_; }
  IoContext& io() { return io_; }

  // Called by a connection when it closes, and when it deletes itself.
  void OnConnectionClosed();
  void Forget(ServerConnection* connection);

 private:
  const HttpServerOptions options_;
  ServerStats stats_;
  IoContext io_;
  HttpServer::HandlerFactory factory_;
  TcpConnection::Options tcp_options_;
  absl::flat_hash_set<ServerConnection*> connections_;  // open or closing
  size_t open_connections_ = 0;
  bool draining_ = false;
  std::function<void()> on_drained_;
};

class ServerConnection final : public ServerStream,
                               private TcpConnection::Callbacks,
                               private Http1DecoderCallbacks,
                               private Deferred {
 public:
  ServerConnection(ServerContext& server, TcpConnection* tcp,
                   std::unique_ptr<RequestHandler> handler);
  ~ServerConnection();

  void Start();
  // Server destroyed: reset the open stream, close now.
  void Shutdown();
  // Graceful close after the stream in progress (now when idle).
  void Drain();

  // ServerStream
  const RequestView& request() const override { return request_; }
  int http_minor() const override { return http_minor_; }
  std::optional<uint64_t> content_length() const override {
    return content_length_;
  }
  bool has_body() const override {
    return chunked_ || content_length_.value_or(0) > 0;
  }
  bool is_upgrade() const override { return upgrade_; }
  const SocketAddress& peer_address() const override { return peer_; }
  const SocketAddress& local_address() const override { return local_; }
  void SendResponseHead(int status,
                        std::span<const HttpHeader> headers) override;
  void SendResponseBody(std::string_view data) override;
  void SendResponseEnd() override;
  void SendResponse(int status, std::span<const HttpHeader> headers,
                    std::string_view body) override;
  bool response_started() const override { return response_started_; }
  void ReadDisable() override;
  void ReadEnable() override;
  size_t write_buffered_bytes() const override;
  bool above_write_high_watermark() const override;
  void SetBodyLimit(uint64_t max_bytes) override { body_limit_ = max_bytes; }
  void SetCallbacks(ServerStreamCallbacks* callbacks) override;
  void Reset() override;

 private:
  using Framing = Http1BodyFraming::Kind;
  enum class TimerMode { kNone, kIdle, kHeaders, kStream };

  // Http1DecoderCallbacks
  void OnMessageBegin() override;
  Http1Action OnHead(const Http1Head& head) override;
  Http1Action OnBody(std::string_view data) override;
  Http1Action OnMessageComplete() override;
  // Fills the stream state from `head`; false (after replying) when the
  // request must be refused before the handler sees it.
  bool StartStream(const Http1Head& head);

  // TcpConnection::Callbacks
  void OnRead(char* data, size_t length) override;
  void OnReadEof() override;
  void OnError(int error) override;
  void OnTimer() override;
  void OnWriteBufferHigh() override;
  void OnWriteBufferLow() override;

  // Deferred: resume parsing, or delete a closed connection.
  void RunDeferred() override;

  void ProcessInput();
  // A tunnel's client closed its side, after its last bytes were delivered.
  void EndTunnelInput();
  bool CanParse() const;
  void UpdateReading();
  void ScheduleResume();
  // Replies to what the decoder refused and closes.
  void DecoderError();

  bool CanRespond() const;
  void EncodeHead(int status, std::span<const HttpHeader> headers,
                  std::optional<uint64_t> forced_length);
  bool CanDiscardRestOfRequest() const;
  void FinishStream();
  void EndStreamStats();
  // Ends the stream early: tells the callbacks (unless the response was
  // complete), sends a local reply when `status` != 0 and nothing was sent,
  // and closes the connection (gracefully when a reply was sent).
  void ResetStream(StreamResetReason reason, int status, std::string_view code,
                   std::string_view detail);
  // A reply that belongs to no stream (bad head, 431, 408 on headers), told
  // to the handler; `refused` is the request when its head was complete.
  void ConnectionReply(int status, std::string_view code, std::string_view detail,
                       const RequestView* refused = nullptr);
  void WriteLocalReply(int status, std::string_view code,
                       std::string_view detail);
  // `peer_done`: the client will send nothing more (see
  // TcpConnection::CloseAfterFlush()).
  void CloseGracefully(bool peer_done = false);
  void CloseNow();
  void MarkClosed();

  void SetTimer(TimerMode mode);
  void ArmTimerForMode();
  uint64_t ModeDeadline() const;
  uint64_t NowMs() const;

  ServerContext& server_;
  TcpConnection* tcp_;
  std::unique_ptr<RequestHandler> handler_;
  ServerStreamCallbacks* callbacks_;
  SocketAddress peer_;
  SocketAddress local_;

  Http1Decoder decoder_;
  RequestView request_;

  // Undecoded input, inside the TcpConnection's read buffer.
  char* input_ = nullptr;
  size_t input_length_ = 0;

  bool closed_ = false;
  bool processing_ = false;
  bool tunnel_ = false;
  bool peer_eof_ = false;
  bool draining_ = false;
  int read_disable_count_ = 0;
  TimerMode timer_mode_ = TimerMode::kNone;
  uint64_t last_activity_ms_ = 0;
  uint64_t head_start_ms_ = 0;
  uint64_t armed_deadline_ms_ = 0;  // 0: not armed

  // The stream in progress.
  bool stream_active_ = false;
  bool stream_reset_ = false;
  bool request_complete_ = false;
  bool response_started_ = false;
  bool response_complete_ = false;
  bool keep_alive_ = false;
  bool close_after_response_ = false;
  bool head_request_ = false;
  bool upgrade_ = false;
  // The upgrade request is parsed but its response head not sent: what the
  // client sent after it waits unread (see http_server.h).
  bool upgrade_pending_ = false;
  bool chunked_ = false;
  int http_minor_ = 1;
  std::optional<uint64_t> content_length_;
  uint64_t body_received_ = 0;
  uint64_t body_limit_ = 0;
  Framing framing_ = Framing::kNone;
  uint64_t response_remaining_ = 0;
  uint64_t stream_start_us_ = 0;
};

}  // namespace homing::internal

#endif  // HOMING_LIB_HTTP_SERVER_CONNECTION_H_
