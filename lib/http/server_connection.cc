#include "http/server_connection.h"

#include <algorithm>
#include <cerrno>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "homing/http_message.h"
#include "http/wire.h"

namespace homing::internal {
namespace {

// A response that ends before its request may leave at most this much of a
// fixed-length body unread; the rest is read and dropped and the connection
// stays open. Larger or chunked remainders close the connection instead.
constexpr uint64_t kMaxDiscardedBodyBytes = 64 * 1024;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// Chunk extensions are parsed and dropped; a chunk line may carry this many
// bytes of them (Envoy's and HAProxy's order of magnitude).
constexpr uint64_t kMaxChunkExtensionBytes = 4096;

Http1Decoder::Limits RequestLimits(const HttpServerOptions& options) {
  Http1Decoder::Limits limits;
  limits.max_head_bytes = options.max_request_headers_bytes;
  limits.max_headers = options.max_request_headers_count;
  limits.max_chunk_extension_bytes = kMaxChunkExtensionBytes;
  limits.strict_head_lines = true;
  return limits;
}

std::string_view HeaderValue(std::span<const HttpHeader> headers,
                             std::string_view name) {
  for (const HttpHeader& header : headers) {
    if (EqualsIgnoreCase(header.name, name)) return header.value;
  }
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------
// ServerStats

ServerStats::ServerStats(const StatsScope& scope)
    : cx_total(scope.Counter("downstream_cx_total")),
      cx_active(scope.Gauge("downstream_cx_active")),
      cx_protocol_error(scope.Counter("downstream_cx_protocol_error")),
      cx_idle_timeout(scope.Counter("downstream_cx_idle_timeout")),
      cx_rx_bytes_total(scope.Counter("downstream_cx_rx_bytes_total")),
      cx_tx_bytes_total(scope.Counter("downstream_cx_tx_bytes_total")),
      rq_total(scope.Counter("downstream_rq_total")),
      rq_active(scope.Gauge("downstream_rq_active")),
      rq_status(scope, "downstream_rq"),
      rq_timeout(scope.Counter("downstream_rq_timeout")),
      rq_header_timeout(scope.Counter("downstream_rq_header_timeout")),
      rq_too_large(scope.Counter("downstream_rq_too_large")),
      rq_h2c_upgrade_ignored(scope.Counter("downstream_rq_h2c_upgrade_ignored")),
      flow_control_paused_reading_total(
          scope.Counter("downstream_flow_control_paused_reading_total")),
      flow_control_resumed_reading_total(
          scope.Counter("downstream_flow_control_resumed_reading_total")),
      rq_time(scope.Histogram("downstream_rq_time")) {}

// ---------------------------------------------------------------------------
// ServerContext

ServerContext::ServerContext(Dispatcher& dispatcher,
                             const HttpServerOptions& options,
                             HttpServer::HandlerFactory factory,
                             const StatsScope& scope)
    : options_(options),
      stats_(scope),
      io_(dispatcher),
      factory_(std::move(factory)) {
  tcp_options_.read_buffer_bytes = options.read_buffer_bytes;
  tcp_options_.high_watermark = options.write_buffer_high_watermark;
  tcp_options_.low_watermark = options.write_buffer_low_watermark;
  tcp_options_.rx_bytes = &stats_.cx_rx_bytes_total;
  tcp_options_.tx_bytes = &stats_.cx_tx_bytes_total;
}

ServerContext::~ServerContext() {
  on_drained_ = nullptr;
  std::vector<ServerConnection*> connections(connections_.begin(),
                                             connections_.end());
  for (ServerConnection* connection : connections) connection->Shutdown();
  for (ServerConnection* connection : connections) delete connection;
}

void ServerContext::Accept(int fd) {
  TcpConnection* tcp = TcpConnection::Accept(io_, fd, tcp_options_);
  std::unique_ptr<RequestHandler> handler = factory_();
  if (handler == nullptr) {
    tcp->Close();
    return;
  }
  auto* connection = new ServerConnection(*this, tcp, std::move(handler));
  connections_.insert(connection);
  ++open_connections_;
  stats_.cx_total.Inc();
  stats_.cx_active.Inc();
  connection->Start();
  if (draining_) connection->Drain();
}

void ServerContext::Drain(std::function<void()> on_drained) {
  draining_ = true;
  on_drained_ = std::move(on_drained);
  std::vector<ServerConnection*> connections(connections_.begin(),
                                             connections_.end());
  for (ServerConnection* connection : connections) connection->Drain();
  if (open_connections_ == 0 && on_drained_) {
    std::function<void()> callback = std::move(on_drained_);
    on_drained_ = nullptr;
    callback();
  }
}

void ServerContext::OnConnectionClosed() {
  --open_connections_;
  stats_.cx_active.Dec();
  if (draining_ && open_connections_ == 0 && on_drained_) {
    std::function<void()> callback = std::move(on_drained_);
    on_drained_ = nullptr;
    callback();
  }
}

void ServerContext::Forget(ServerConnection* connection) {
  connections_.erase(connection);
}

// ---------------------------------------------------------------------------
// ServerConnection: setup and teardown

ServerConnection::ServerConnection(ServerContext& server, TcpConnection* tcp,
                                   std::unique_ptr<RequestHandler> handler)
    : server_(server),
      tcp_(tcp),
      handler_(std::move(handler)),
      callbacks_(handler_.get()),
      peer_(tcp->peer_address()),
      local_(tcp->local_address()),
      decoder_(Http1Decoder::Type::kRequest, RequestLimits(server.options()), *this) {}

ServerConnection::~ServerConnection() {
  server_.io().CancelDeferred(this);
  // First, while the rest is intact: a handler (or a ProxyStream it owns)
  // may still talk to this stream from its destructor.
  handler_.reset();
}

void ServerConnection::Start() {
  tcp_->SetCallbacks(this);
  last_activity_ms_ = NowMs();
  SetTimer(TimerMode::kIdle);
  UpdateReading();
}

void ServerConnection::Shutdown() {
  if (closed_) return;
  if (stream_active_ && !stream_reset_ && !response_complete_) {
    stream_reset_ = true;
    callbacks_->OnStreamReset(StreamResetReason::kServerShutdown);
  }
  if (stream_active_) EndStreamStats();
  CloseNow();
}

void ServerConnection::Drain() {
  if (closed_) return;
  draining_ = true;
  if (!stream_active_ && !decoder_.in_head()) CloseGracefully();
}

void ServerConnection::MarkClosed() {
  closed_ = true;
  input_length_ = 0;
  server_.OnConnectionClosed();
  // Deleted once the current callback has returned, with the handler: either
  // may still be on the stack.
  server_.io().Defer(this);
}

void ServerConnection::CloseNow() {
  if (closed_) return;
  tcp_->Close();
  tcp_ = nullptr;
  MarkClosed();
}

void ServerConnection::CloseGracefully(bool peer_done) {
  if (closed_) return;
  const HttpServerOptions& options = server_.options();
  uint64_t flush_ms = TimerMilliseconds(options.stream_idle_timeout);
  if (flush_ms == 0) flush_ms = 60 * 1000;
  uint64_t linger_ms = TimerMilliseconds(options.close_linger_timeout);
  if (linger_ms == 0) linger_ms = 1;
  tcp_->CloseAfterFlush(flush_ms, linger_ms, peer_done);
  tcp_ = nullptr;
  MarkClosed();
}

void ServerConnection::RunDeferred() {
  if (closed_) {
    server_.Forget(this);
    delete this;
    return;
  }
  ProcessInput();
}

void ServerConnection::ScheduleResume() {
  if (!processing_ && !closed_) server_.io().Defer(this);
}

uint64_t ServerConnection::NowMs() const { return server_.io().NowMs(); }

// One timer serves every timeout, armed lazily: a mode change re-arms
// it only when the new deadline comes before the armed one, and a firing
// before the current mode's deadline just re-arms. In the steady state of a
// keep-alive connection that is no timer operation per request.
uint64_t ServerConnection::ModeDeadline() const {
  const HttpServerOptions& options = server_.options();
  uint64_t timeout = 0;
  uint64_t since = last_activity_ms_;
  switch (timer_mode_) {
    case TimerMode::kNone:
      return 0;
    case TimerMode::kIdle:
      timeout = TimerMilliseconds(options.idle_timeout);
      break;
    case TimerMode::kHeaders:
      timeout = TimerMilliseconds(options.request_headers_timeout);
      since = head_start_ms_;
      break;
    case TimerMode::kStream:
      timeout = TimerMilliseconds(options.stream_idle_timeout);
      break;
  }
  return timeout == 0 ? 0 : since + timeout;
}

void ServerConnection::SetTimer(TimerMode mode) {
  timer_mode_ = mode;
  ArmTimerForMode();
}

void ServerConnection::ArmTimerForMode() {
  if (closed_) return;
  const uint64_t deadline = ModeDeadline();
  if (deadline == 0) return;
  if (armed_deadline_ms_ != 0 && armed_deadline_ms_ <= deadline) return;
  const uint64_t now = NowMs();
  tcp_->ArmTimer(deadline > now ? deadline - now : 0);
  armed_deadline_ms_ = deadline;
}

// ---------------------------------------------------------------------------
// Input

void ServerConnection::OnRead(char* data, size_t length) {
  last_activity_ms_ = NowMs();
  input_ = data;
  input_length_ = length;
  ProcessInput();
}

bool ServerConnection::CanParse() const {
  if (closed_ || read_disable_count_ > 0) return false;
  if (stream_active_ && request_complete_) return false;  // awaiting response
  if (upgrade_pending_) return false;  // held until the response head
  // A client that pipelines without reading its responses waits.
  if (!stream_active_ && tcp_->above_high_watermark()) return false;
  return true;
}

void ServerConnection::UpdateReading() {
  // ProcessInput() decides once it is done.
  if (closed_ || processing_) return;
  const bool want = input_length_ == 0 && !peer_eof_ && CanParse();
  // While a response is awaited keep reading (with nothing buffered) to
  // notice the client leaving; a pipelined request read then waits.
  const bool awaiting = stream_active_ && (request_complete_ || upgrade_pending_) &&
                        input_length_ == 0 && !peer_eof_;
  if (want || awaiting) {
    tcp_->ReadStart();
  } else {
    tcp_->ReadStop();
  }
}

void ServerConnection::ProcessInput() {
  if (processing_ || closed_) return;
  processing_ = true;
  while (!closed_ && (input_length_ > 0 || decoder_.pending()) && CanParse()) {
    if (tunnel_) {
      if (input_length_ == 0) break;
      const std::string_view data(input_, input_length_);
      input_length_ = 0;
      if (!response_complete_ && !stream_reset_) {
        callbacks_->OnRequestBody(data);
      }
      continue;
    }
    size_t used = 0;
    const Http1Decoder::Status status =
        decoder_.Decode(std::string_view(input_, input_length_), &used);
    if (closed_) break;
    input_ += used;
    input_length_ -= used;
    if (status == Http1Decoder::Status::kUpgrade) {
      if (!upgrade_) {
        // An upgrade the server ignores (h2c): a plain request, and what
        // follows it is the next one.
        decoder_.ResumeAfterUpgrade();
      } else if (framing_ == Framing::kTunnel) {
        tunnel_ = true;  // 101 sent already
      } else {
        // The rest of the input is the other protocol only if the response
        // is 101: held, unread, until the response head decides.
        upgrade_pending_ = true;
      }
    } else if (status == Http1Decoder::Status::kError) {
      DecoderError();
    } else if (status == Http1Decoder::Status::kStopped) {
      break;  // a callback ended the stream or the connection
    }
  }
  if (tunnel_ && peer_eof_ && input_length_ == 0 && !closed_) EndTunnelInput();
  processing_ = false;
  if (timer_mode_ == TimerMode::kHeaders) ArmTimerForMode();
  UpdateReading();
}

void ServerConnection::EndTunnelInput() {
  if (request_complete_) return;
  request_complete_ = true;
  if (!response_complete_ && !stream_reset_) callbacks_->OnRequestEnd();
  if (!closed_ && response_complete_) FinishStream();
}

void ServerConnection::DecoderError() {
  const Http1Error& error = decoder_.error();
  if (error.in_head_rules) {
    // A complete head that breaks a request rule: a request, refused.
    const Http1Head& head = decoder_.head();
    server_.stats().rq_total.Inc();
    if (error.status == 400) server_.stats().cx_protocol_error.Inc();
    http_minor_ = head.http_minor;
    RequestView refused;
    refused.method = head.method;
    refused.path = head.path;
    ConnectionReply(error.status, error.code, error.detail,
                    error.status == 505 ? nullptr : &refused);
    return;
  }
  server_.stats().cx_protocol_error.Inc();
  if (error.status != 400) {
    ConnectionReply(error.status, error.code, error.detail);  // 431
  } else if (stream_active_) {
    ResetStream(StreamResetReason::kProtocolError, 400, error.code, error.detail);
  } else {
    ConnectionReply(400, error.code, error.detail);
  }
}

void ServerConnection::OnMessageBegin() {
  // Armed at the end of ProcessInput() only if the head is still incomplete.
  head_start_ms_ = NowMs();
  timer_mode_ = TimerMode::kHeaders;
}

Http1Action ServerConnection::OnHead(const Http1Head& head) {
  if (!StartStream(head)) return Http1Action::kStop;
  handler_->OnRequestHeaders(*this);
  if (closed_) return Http1Action::kStop;
  const Http1Action go_on =
      read_disable_count_ > 0 ? Http1Action::kPause : Http1Action::kContinue;
  if (stream_reset_ || response_complete_) return go_on;
  if (body_limit_ > 0 && content_length_.value_or(0) > body_limit_) {
    server_.stats().rq_too_large.Inc();
    ResetStream(StreamResetReason::kBodyTooLarge, 413, "payload_too_large",
                absl::StrCat("request body of ", *content_length_,
                             " bytes exceeds the limit of ", body_limit_));
    return Http1Action::kStop;
  }
  if (has_body() && http_minor_ >= 1 && !response_started_ &&
      EqualsIgnoreCase(HeaderValue(request_.headers, "expect"), "100-continue")) {
    tcp_->Write(kContinue);
  }
  return go_on;
}

bool ServerConnection::StartStream(const Http1Head& head) {
  const HttpServerOptions& options = server_.options();
  http_minor_ = head.http_minor;
  keep_alive_ = head.keep_alive;
  chunked_ = head.chunked;
  content_length_ = head.content_length;
  upgrade_ = head.upgrade;
  upgrade_pending_ = false;
  head_request_ = head.method == "HEAD";
  if (ConnectionNominates(HeaderValue(head.headers, "upgrade"), "h2c")) {
    // Like Envoy: an HTTP/2 upgrade is ignored, the request served as
    // HTTP/1.1, and the h2c offer is not passed on.
    if (upgrade_) server_.stats().rq_h2c_upgrade_ignored.Inc();
    upgrade_ = false;
    decoder_.RemoveHeader("upgrade");
    decoder_.RemoveHeader("http2-settings");
  }
  request_.method = head.method;
  request_.headers = decoder_.head().headers;
  request_.path = head.path;
  request_.authority = head.authority;

  server_.stats().rq_total.Inc();
  if (options.max_request_body_bytes > 0 &&
      content_length_.value_or(0) > options.max_request_body_bytes) {
    server_.stats().rq_too_large.Inc();
    ConnectionReply(413, "payload_too_large",
                    absl::StrCat("request body of ", *content_length_,
                                 " bytes exceeds the limit of ",
                                 options.max_request_body_bytes),
                    &request_);
    return false;
  }
  stream_active_ = true;
  stream_reset_ = false;
  request_complete_ = false;
  response_started_ = false;
  response_complete_ = false;
  close_after_response_ = !keep_alive_;
  body_received_ = 0;
  body_limit_ = options.max_request_body_bytes;
  framing_ = Framing::kNone;
  response_remaining_ = 0;
  callbacks_ = handler_.get();
  stream_start_us_ = server_.io().NowUs();
  server_.stats().rq_active.Inc();
  last_activity_ms_ = NowMs();
  SetTimer(TimerMode::kStream);
  return true;
}


Http1Action ServerConnection::OnBody(std::string_view data) {
  if (!stream_active_ || stream_reset_) return Http1Action::kContinue;
  last_activity_ms_ = NowMs();
  body_received_ += data.size();
  if (response_complete_) return Http1Action::kContinue;  // answered: dropped
  if (body_limit_ > 0 && body_received_ > body_limit_) {
    server_.stats().rq_too_large.Inc();
    ResetStream(StreamResetReason::kBodyTooLarge, 413, "payload_too_large",
                absl::StrCat("request body exceeds the limit of ", body_limit_,
                             " bytes"));
    return Http1Action::kStop;
  }
  callbacks_->OnRequestBody(data);
  if (closed_) return Http1Action::kStop;
  return read_disable_count_ > 0 ? Http1Action::kPause : Http1Action::kContinue;
}

Http1Action ServerConnection::OnMessageComplete() {
  if (!stream_active_) return Http1Action::kContinue;
  if (upgrade_) return Http1Action::kContinue;  // Decode() returns kUpgrade
  request_complete_ = true;
  if (!response_complete_ && !stream_reset_) {
    callbacks_->OnRequestEnd();
    if (closed_) return Http1Action::kStop;
  }
  if (response_complete_) {
    FinishStream();
    return closed_ ? Http1Action::kStop : Http1Action::kPause;
  }
  return Http1Action::kPause;  // the next request waits for this response
}

void ServerConnection::OnReadEof() {
  peer_eof_ = true;
  if (closed_) return;
  if (!stream_active_) {
    CloseNow();
    return;
  }
  if (tunnel_) {
    ProcessInput();  // ends the tunnel's input after what is left of it
    return;
  }
  // Like HAProxy, a client that half-closes after a complete request still
  // gets its response (an upgrade request is complete while its held bytes
  // wait). A request cut short is abandoned.
  if (request_complete_ || upgrade_pending_) return;
  ResetStream(StreamResetReason::kConnectionClosed, 0, {}, {});
}

void ServerConnection::OnError(int error) {
  if (closed_) return;
  if (stream_active_) {
    const StreamResetReason reason = error == EPIPE
                                         ? StreamResetReason::kWriteError
                                         : StreamResetReason::kConnectionClosed;
    ResetStream(reason, 0, {}, {});
  } else {
    CloseNow();
  }
}

void ServerConnection::OnTimer() {
  armed_deadline_ms_ = 0;
  if (closed_) return;
  const uint64_t deadline = ModeDeadline();
  if (deadline == 0) return;
  if (NowMs() < deadline) {
    ArmTimerForMode();
    return;
  }
  switch (timer_mode_) {
    case TimerMode::kNone:
      return;
    case TimerMode::kIdle:
      server_.stats().cx_idle_timeout.Inc();
      CloseNow();
      return;
    case TimerMode::kHeaders:
      server_.stats().rq_header_timeout.Inc();
      server_.stats().rq_total.Inc();
      ConnectionReply(408, "request_timeout",
                      "request headers not received in time");
      return;
    case TimerMode::kStream:
      server_.stats().rq_timeout.Inc();
      ResetStream(StreamResetReason::kTimeout, 408, "request_timeout",
                  "stream idle timeout");
      return;
  }
}

void ServerConnection::OnWriteBufferHigh() {
  if (stream_active_ && !stream_reset_ && !response_complete_) {
    callbacks_->OnWriteBufferHigh();
  } else {
    UpdateReading();
  }
}

void ServerConnection::OnWriteBufferLow() {
  if (stream_active_ && !stream_reset_ && !response_complete_) {
    callbacks_->OnWriteBufferLow();
  } else if (!closed_) {
    ScheduleResume();
    UpdateReading();
  }
}

// ---------------------------------------------------------------------------
// Responses

bool ServerConnection::CanRespond() const {
  return stream_active_ && !stream_reset_ && !closed_ && !response_complete_;
}

bool ServerConnection::CanDiscardRestOfRequest() const {
  if (request_complete_ || !has_body()) return true;
  if (!content_length_) return false;
  return *content_length_ - body_received_ <= kMaxDiscardedBodyBytes;
}

void ServerConnection::EncodeHead(int status,
                                  std::span<const HttpHeader> headers,
                                  std::optional<uint64_t> forced_length) {
  if (status == 101 && !upgrade_) {
    // Nothing asked to switch protocols (or the h2c offer was ignored):
    // whatever the handler would send next is no HTTP/1.1 response.
    Reset();
    return;
  }
  response_started_ = true;
  last_activity_ms_ = NowMs();
  server_.stats().rq_status.Record(status);

  Http1ResponseHead head;
  head.status = status;
  head.headers = headers;
  head.content_length = forced_length;
  head.request_http_minor = http_minor_;
  head.head_request = head_request_;
  // A refused upgrade leaves bytes of the other protocol unread.
  head.close = close_after_response_ ||
               (status != 101 && (upgrade_ || !CanDiscardRestOfRequest() || draining_));
  const Http1BodyFraming framing = EncodeResponseHead(head, &tcp_->write_buffer());
  tcp_->CommitWrite();
  framing_ = framing.kind;
  response_remaining_ = framing.length;
  close_after_response_ = framing.close;
  if (framing_ == Framing::kTunnel && upgrade_pending_) {
    // The held bytes are the tunnel's first.
    upgrade_pending_ = false;
    tunnel_ = true;
    ScheduleResume();
  }
}

void ServerConnection::SendResponseHead(int status,
                                        std::span<const HttpHeader> headers) {
  if (!CanRespond() || response_started_) return;
  EncodeHead(status, headers, std::nullopt);
}

void ServerConnection::SendResponseBody(std::string_view data) {
  if (!CanRespond() || !response_started_ || data.empty()) return;
  last_activity_ms_ = NowMs();
  std::string& out = tcp_->write_buffer();
  switch (framing_) {
    case Framing::kNone:
      return;
    case Framing::kLength: {
      const size_t n =
          static_cast<size_t>(std::min<uint64_t>(data.size(), response_remaining_));
      if (n == 0) return;
      out.append(data.data(), n);
      response_remaining_ -= n;
      break;
    }
    case Framing::kChunked:
      EncodeChunk(data, &out);
      break;
    case Framing::kCloseDelimited:
    case Framing::kTunnel:
      out.append(data);
      break;
  }
  tcp_->CommitWrite();
}

void ServerConnection::SendResponseEnd() {
  if (!CanRespond() || !response_started_) return;
  switch (framing_) {
    case Framing::kNone:
      break;
    case Framing::kLength:
      // A short body: the client can only tell from the connection closing.
      if (response_remaining_ > 0) close_after_response_ = true;
      break;
    case Framing::kChunked:
      EncodeLastChunk(&tcp_->write_buffer());
      tcp_->CommitWrite();
      break;
    case Framing::kCloseDelimited:
    case Framing::kTunnel:
      close_after_response_ = true;
      break;
  }
  response_complete_ = true;
  // The handler is done with this stream: a ReadDisable() it left behind no
  // longer applies to the rest of the request.
  read_disable_count_ = 0;
  if (request_complete_ || close_after_response_ || tunnel_ || upgrade_) {
    FinishStream();
  } else {
    // Read and drop the rest of the body; the stream ends with it.
    ScheduleResume();
    UpdateReading();
  }
}

void ServerConnection::SendResponse(int status,
                                    std::span<const HttpHeader> headers,
                                    std::string_view body) {
  if (!CanRespond() || response_started_) return;
  EncodeHead(status, headers, body.size());
  SendResponseBody(body);
  SendResponseEnd();
}

void ServerConnection::EndStreamStats() {
  stream_active_ = false;
  server_.stats().rq_active.Dec();
  server_.stats().rq_time.Record(server_.io().NowUs() - stream_start_us_);
}

void ServerConnection::FinishStream() {
  if (!stream_active_) return;
  EndStreamStats();
  callbacks_ = handler_.get();
  read_disable_count_ = 0;
  if (close_after_response_ || peer_eof_ || draining_ || tunnel_ || upgrade_) {
    // A client that closed its side, or whose complete request asked to
    // close, sends nothing more; otherwise (an early answer, draining) more
    // may be on its way and the close lingers.
    CloseGracefully(peer_eof_ ||
                    (request_complete_ && !keep_alive_ && !tunnel_ && !upgrade_));
    return;
  }
  last_activity_ms_ = NowMs();
  SetTimer(TimerMode::kIdle);
  ScheduleResume();
  UpdateReading();
}

void ServerConnection::ResetStream(StreamResetReason reason, int status,
                                   std::string_view code,
                                   std::string_view detail) {
  if (closed_) return;
  if (stream_active_ && !stream_reset_ && !response_complete_) {
    stream_reset_ = true;
    callbacks_->OnStreamReset(reason);
    if (closed_) return;
  }
  stream_reset_ = true;
  const bool reply = status != 0 && !response_started_;
  if (reply) WriteLocalReply(status, code, detail);
  if (stream_active_) EndStreamStats();
  if (reply) {
    CloseGracefully();
  } else {
    CloseNow();
  }
}

void ServerConnection::ConnectionReply(int status, std::string_view code,
                                       std::string_view detail,
                                       const RequestView* refused) {
  if (closed_) return;
  WriteLocalReply(status, code, detail);
  RejectedRequest rejected;
  rejected.status = status;
  rejected.code = code;
  rejected.detail = detail;
  if (refused != nullptr) {
    rejected.method = refused->method;
    rejected.path = refused->path;
    rejected.http_minor = http_minor_;
  }
  handler_->OnRequestRejected(rejected);
  CloseGracefully();
}

void ServerConnection::WriteLocalReply(int status, std::string_view code,
                                       std::string_view detail) {
  server_.stats().rq_status.Record(status);
  const std::string body = LocalReplyBody(code, detail);
  std::string& out = tcp_->write_buffer();
  AppendStatusLine(&out, status);
  out.append("content-type: application/json\r\ncontent-length: ");
  AppendDecimal(&out, body.size());
  out.append("\r\nconnection: close\r\n\r\n");
  out.append(body);
  tcp_->CommitWrite();
}

// ---------------------------------------------------------------------------
// Flow control and control

void ServerConnection::ReadDisable() {
  if (!CanRespond()) return;
  if (read_disable_count_++ == 0) {
    server_.stats().flow_control_paused_reading_total.Inc();
    UpdateReading();
  }
}

void ServerConnection::ReadEnable() {
  if (read_disable_count_ == 0 || closed_) return;
  if (--read_disable_count_ == 0) {
    server_.stats().flow_control_resumed_reading_total.Inc();
    ScheduleResume();
    UpdateReading();
  }
}

size_t ServerConnection::write_buffered_bytes() const {
  return tcp_ != nullptr ? tcp_->queued_bytes() : 0;
}

bool ServerConnection::above_write_high_watermark() const {
  return tcp_ != nullptr && tcp_->above_high_watermark();
}

void ServerConnection::SetCallbacks(ServerStreamCallbacks* callbacks) {
  callbacks_ = callbacks != nullptr ? callbacks : handler_.get();
}

void ServerConnection::Reset() {
  if (closed_) return;
  stream_reset_ = true;
  if (stream_active_) EndStreamStats();
  CloseNow();
}

}  // namespace homing::internal
