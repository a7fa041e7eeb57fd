#include "http/server_connection.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
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

ServerConnection* Self(llhttp_t* parser) {
  return static_cast<ServerConnection*>(parser->data);
}

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         EqualsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

// RFC 9110 §5.6.2: a token is one or more tchar. llhttp 8.1 lets a space
// into a header name ("X Y: z", "X : z") and an empty name (": z").
bool IsToken(std::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                       (c >= 'A' && c <= 'Z');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) ==
                      std::string_view::npos) {
      return false;
    }
  }
  return true;
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

ServerContext::ServerContext(uv_loop_t* loop, const HttpServerOptions& options,
                             HttpServer::HandlerFactory factory,
                             const StatsScope& scope)
    : options_(options),
      stats_(scope),
      io_(loop),
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

void ServerContext::Accept(uv_stream_t* listener) {
  int error = 0;
  TcpConnection* tcp =
      TcpConnection::Accept(io_, listener, tcp_options_, &error);
  if (tcp == nullptr) {
    HOMING_LOG(kWarn, "http server: accept failed: ", uv_strerror(error));
    return;
  }
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

const llhttp_settings_t* ServerConnection::Settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &ServerConnection::OnMessageBeginCb;
    s.on_url = &ServerConnection::OnUrlCb;
    s.on_header_field = &ServerConnection::OnHeaderFieldCb;
    s.on_header_value = &ServerConnection::OnHeaderValueCb;
    s.on_headers_complete = &ServerConnection::OnHeadersCompleteCb;
    s.on_body = &ServerConnection::OnBodyCb;
    s.on_message_complete = &ServerConnection::OnMessageCompleteCb;
    s.on_chunk_header = &ServerConnection::OnChunkHeaderCb;
    s.on_chunk_extension_name = &ServerConnection::OnChunkExtensionCb;
    s.on_chunk_extension_value = &ServerConnection::OnChunkExtensionCb;
    s.on_chunk_extension_name_complete =
        &ServerConnection::OnChunkExtensionCompleteCb;
    s.on_chunk_extension_value_complete =
        &ServerConnection::OnChunkExtensionCompleteCb;
    return s;
  }();
  return &settings;
}

ServerConnection::ServerConnection(ServerContext& server, TcpConnection* tcp,
                                   std::unique_ptr<RequestHandler> handler)
    : server_(server),
      tcp_(tcp),
      handler_(std::move(handler)),
      callbacks_(handler_.get()),
      peer_(tcp->peer_address()),
      local_(tcp->local_address()),
      head_(server.options().max_request_headers_bytes,
            server.options().max_request_headers_count) {
  // Every llhttp_set_lenient_*() flag stays off: llhttp refuses CL with TE,
  // duplicate Content-Length, a Transfer-Encoding not ending in chunked and
  // bytes outside the grammar; HeadLineScanner and HeadViolation() add what
  // llhttp 8.1 lets through.
  llhttp_init(&parser_, HTTP_REQUEST, Settings());
  parser_.data = this;
}

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
  if (!stream_active_ && !head_started_) CloseGracefully();
}

void ServerConnection::MarkClosed() {
  closed_ = true;
  input_length_ = 0;
  server_.OnConnectionClosed();
  // Deleted at the end of the loop iteration, with the handler: either may
  // still be on the stack.
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

uint64_t ServerConnection::NowMs() const { return uv_now(server_.io().loop()); }

// One libuv timer serves every timeout, armed lazily: a mode change re-arms
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
  while (!closed_ && (input_length_ > 0 || parser_paused_) && CanParse()) {
    if (tunnel_) {
      if (input_length_ == 0) break;
      const std::string_view data(input_, input_length_);
      input_length_ = 0;
      if (!response_complete_ && !stream_reset_) {
        callbacks_->OnRequestBody(data);
      }
      continue;
    }
    if (!ScanHead()) break;
    // A paused parser may have transitions left to run even without input
    // (a request that ended with its head).
    static char kNoInput = 0;
    if (input_length_ == 0) input_ = &kNoInput;
    parser_paused_ = false;
    const llhttp_errno_t error = llhttp_execute(&parser_, input_, input_length_);
    if (closed_) break;
    const size_t consumed =
        error == HPE_OK
            ? input_length_
            : static_cast<size_t>(llhttp_get_error_pos(&parser_) - input_);
    input_ += consumed;
    input_length_ -= consumed;
    scanned_ = scanned_ > consumed ? scanned_ - consumed : 0;
    if (error == HPE_OK) continue;
    if (error == HPE_PAUSED) {
      llhttp_resume(&parser_);
      parser_paused_ = true;
    } else if (error == HPE_PAUSED_UPGRADE) {
      if (!upgrade_) {
        // An upgrade the server ignores (h2c): a plain request, and what
        // follows it is the next one.
        llhttp_resume_after_upgrade(&parser_);
        parser_paused_ = true;
      } else if (framing_ == Framing::kTunnel) {
        tunnel_ = true;  // 101 sent already
      } else {
        // The rest of the input is the other protocol only if the response
        // is 101: held, unread, until the response head decides.
        upgrade_pending_ = true;
      }
    } else {
      ParserError(error);
    }
  }
  if (tunnel_ && peer_eof_ && input_length_ == 0 && !closed_) EndTunnelInput();
  processing_ = false;
  if (timer_mode_ == TimerMode::kHeaders) ArmTimerForMode();
  UpdateReading();
}

bool ServerConnection::ScanHead() {
  if (scanner_.done() || scanned_ >= input_length_) return true;
  size_t used = 0;
  const HeadLineScanner::Result result = scanner_.Scan(
      std::string_view(input_ + scanned_, input_length_ - scanned_), &used);
  scanned_ += used;
  if (result != HeadLineScanner::Result::kError) return true;
  error_detail_ = scanner_.error();
  ParserError(HPE_USER);
  return false;
}

void ServerConnection::EndTunnelInput() {
  if (request_complete_) return;
  request_complete_ = true;
  if (!response_complete_ && !stream_reset_) callbacks_->OnRequestEnd();
  if (!closed_ && response_complete_) FinishStream();
}

void ServerConnection::ParserError(llhttp_errno_t error) {
  server_.stats().cx_protocol_error.Inc();
  if (head_too_large_) {
    ConnectionReply(431, "request_header_fields_too_large",
                    absl::StrCat("request headers exceed ",
                                 server_.options().max_request_headers_bytes,
                                 " bytes or ",
                                 server_.options().max_request_headers_count,
                                 " fields"));
    return;
  }
  const char* reason = error_detail_ != nullptr
                           ? error_detail_
                           : llhttp_get_error_reason(&parser_);
  const std::string_view detail =
      reason != nullptr ? std::string_view(reason) : llhttp_errno_name(error);
  if (stream_active_) {
    ResetStream(StreamResetReason::kProtocolError, 400, "bad_request", detail);
  } else {
    ConnectionReply(400, "bad_request", detail);
  }
}

int ServerConnection::OnMessageBeginCb(llhttp_t* parser) {
  return Self(parser)->HandleMessageBegin();
}

int ServerConnection::OnUrlCb(llhttp_t* parser, const char* at, size_t length) {
  ServerConnection* self = Self(parser);
  if (self->head_.AddTarget(at, length)) return 0;
  self->head_too_large_ = true;
  return HPE_USER;
}

int ServerConnection::OnHeaderFieldCb(llhttp_t* parser, const char* at,
                                      size_t length) {
  ServerConnection* self = Self(parser);
  if (self->stream_active_) return 0;  // trailers are dropped
  if (self->head_.AddName(at, length)) return 0;
  self->head_too_large_ = true;
  return HPE_USER;
}

int ServerConnection::OnHeaderValueCb(llhttp_t* parser, const char* at,
                                      size_t length) {
  ServerConnection* self = Self(parser);
  if (self->stream_active_) return 0;
  if (self->head_.AddValue(at, length)) return 0;
  self->head_too_large_ = true;
  return HPE_USER;
}

int ServerConnection::OnHeadersCompleteCb(llhttp_t* parser) {
  return Self(parser)->HandleHeadersComplete();
}

int ServerConnection::OnBodyCb(llhttp_t* parser, const char* at,
                               size_t length) {
  return Self(parser)->HandleBody(at, length);
}

int ServerConnection::OnMessageCompleteCb(llhttp_t* parser) {
  return Self(parser)->HandleMessageComplete();
}

int ServerConnection::OnChunkHeaderCb(llhttp_t* parser) {
  ServerConnection* self = Self(parser);
  self->chunk_extension_bytes_ = 0;
  if (parser->content_length != 0) return 0;
  // The last chunk: its trailer section is scanned like a head, from where
  // llhttp stops (after the chunk line).
  self->scanner_.StartTrailers();
  return HPE_PAUSED;
}

int ServerConnection::OnChunkExtensionCb(llhttp_t* parser, const char* /*at*/,
                                         size_t length) {
  return Self(parser)->AddChunkExtensionBytes(length);
}

// Counts the ';' or '=' before each name or value, so that empty extensions
// (";;;;") are bounded too.
int ServerConnection::OnChunkExtensionCompleteCb(llhttp_t* parser) {
  return Self(parser)->AddChunkExtensionBytes(1);
}

int ServerConnection::AddChunkExtensionBytes(size_t length) {
  chunk_extension_bytes_ += length;
  if (chunk_extension_bytes_ <= kMaxChunkExtensionBytes) return 0;
  error_detail_ = "Chunk extensions exceed 4096 bytes";
  return HPE_USER;
}

int ServerConnection::HandleMessageBegin() {
  head_.Reset();
  error_detail_ = nullptr;
  head_started_ = true;
  head_too_large_ = false;
  // Armed at the end of ProcessInput() only if the head is still incomplete.
  head_start_ms_ = NowMs();
  timer_mode_ = TimerMode::kHeaders;
  return 0;
}

int ServerConnection::HandleHeadersComplete() {
  head_started_ = false;
  head_.Finish();
  if (!StartStream()) return HPE_USER;
  handler_->OnRequestHeaders(*this);
  if (closed_) return HPE_USER;
  if (stream_reset_ || response_complete_) {
    return read_disable_count_ > 0 ? HPE_PAUSED : 0;
  }
  if (body_limit_ > 0 && content_length_.value_or(0) > body_limit_) {
    server_.stats().rq_too_large.Inc();
    ResetStream(StreamResetReason::kBodyTooLarge, 413, "payload_too_large",
                absl::StrCat("request body of ", *content_length_,
                             " bytes exceeds the limit of ", body_limit_));
    return HPE_USER;
  }
  if (has_body() && http_minor_ >= 1 && !response_started_ &&
      EqualsIgnoreCase(head_.Find("expect"), "100-continue")) {
    tcp_->Write(kContinue);
  }
  return read_disable_count_ > 0 ? HPE_PAUSED : 0;
}

// Fills the stream state from the parsed head; false (after replying) when
// the request must be refused before the handler sees it.
bool ServerConnection::StartStream() {
  const HttpServerOptions& options = server_.options();
  http_minor_ = parser_.http_minor;
  // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing; the
  // connection closes after the response.
  keep_alive_ = llhttp_should_keep_alive(&parser_) != 0 &&
                !(http_minor_ == 0 && (parser_.flags & F_TRANSFER_ENCODING) != 0);
  chunked_ = (parser_.flags & F_CHUNKED) != 0;
  content_length_ = (parser_.flags & F_CONTENT_LENGTH) != 0 && !chunked_
                        ? std::optional<uint64_t>(parser_.content_length)
                        : std::nullopt;
  upgrade_ = parser_.upgrade != 0;
  upgrade_pending_ = false;
  head_request_ = parser_.method == HTTP_HEAD;
  if (ConnectionNominates(head_.Find("upgrade"), "h2c")) {
    // Like Envoy: an HTTP/2 upgrade is ignored, the request served as
    // HTTP/1.1, and the h2c offer is not passed on.
    if (upgrade_) server_.stats().rq_h2c_upgrade_ignored.Inc();
    upgrade_ = false;
    head_.Remove("upgrade");
    head_.Remove("http2-settings");
  }

  request_.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
  request_.headers = head_.headers();
  const std::string_view target = head_.target();
  request_.path = target;
  request_.authority = head_.Find("host");
  bool absolute_form = false;
  for (std::string_view scheme : {std::string_view("http://"),
                                  std::string_view("https://")}) {
    if (!StartsWithIgnoreCase(target, scheme)) continue;
    const std::string_view rest = target.substr(scheme.size());
    const size_t end = rest.find_first_of("/?#");
    request_.authority = rest.substr(0, end);
    request_.path = end == std::string_view::npos ? std::string_view("/")
                                                  : rest.substr(end);
    absolute_form = true;
    break;
  }

  server_.stats().rq_total.Inc();
  if (parser_.http_major != 1) {
    ConnectionReply(505, "http_version_not_supported",
                    "only HTTP/1.0 and HTTP/1.1 are supported");
    return false;
  }
  if (parser_.method == HTTP_CONNECT) {
    ConnectionReply(405, "method_not_allowed", "CONNECT is not supported", &request_);
    return false;
  }
  if (const char* violation = HeadViolation(absolute_form)) {
    server_.stats().cx_protocol_error.Inc();
    ConnectionReply(400, "bad_request", violation, &request_);
    return false;
  }
  if (http_minor_ >= 1 && request_.authority.empty()) {
    server_.stats().cx_protocol_error.Inc();
    ConnectionReply(400, "bad_request", "missing Host header", &request_);
    return false;
  }
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
  stream_start_us_ = uv_hrtime() / 1000;
  server_.stats().rq_active.Inc();
  last_activity_ms_ = NowMs();
  SetTimer(TimerMode::kStream);
  return true;
}

const char* ServerConnection::HeadViolation(bool absolute_form) const {
  for (const HttpHeader& header : request_.headers) {
    if (!IsToken(header.name)) return "Invalid character in header name";
  }
  // llhttp refuses this only after on_headers_complete, that is after the
  // handler would have seen (and a proxy forwarded) the head.
  if ((parser_.flags & F_TRANSFER_ENCODING) != 0 &&
      (parser_.flags & F_CHUNKED) == 0) {
    return "Request has invalid `Transfer-Encoding`";
  }
  const size_t hosts = head_.Count("host");
  if (hosts > 1) return "Multiple Host headers";
  // RFC 9112 §3.2.2 lets a server ignore such a Host; a proxy that did would
  // route by one authority while a server behind it may use the other.
  if (absolute_form && hosts == 1 &&
      !EqualsIgnoreCase(head_.Find("host"), request_.authority)) {
    return "Host header does not match the request target";
  }
  return nullptr;
}

int ServerConnection::HandleBody(const char* at, size_t length) {
  if (!stream_active_ || stream_reset_) return 0;
  last_activity_ms_ = NowMs();
  body_received_ += length;
  if (response_complete_) return 0;  // answered already: dropped
  if (body_limit_ > 0 && body_received_ > body_limit_) {
    server_.stats().rq_too_large.Inc();
    ResetStream(StreamResetReason::kBodyTooLarge, 413, "payload_too_large",
                absl::StrCat("request body exceeds the limit of ", body_limit_,
                             " bytes"));
    return HPE_USER;
  }
  callbacks_->OnRequestBody(std::string_view(at, length));
  if (closed_) return HPE_USER;
  return read_disable_count_ > 0 ? HPE_PAUSED : 0;
}

int ServerConnection::HandleMessageComplete() {
  // Always paused, so that ProcessInput() scans the next head before llhttp
  // parses it.
  scanner_.StartHead();
  if (!stream_active_) return HPE_PAUSED;
  if (upgrade_) return 0;  // llhttp now pauses with HPE_PAUSED_UPGRADE
  request_complete_ = true;
  if (!response_complete_ && !stream_reset_) {
    callbacks_->OnRequestEnd();
    if (closed_) return HPE_USER;
  }
  if (response_complete_) {
    FinishStream();
    return closed_ ? HPE_USER : HPE_PAUSED;
  }
  return HPE_PAUSED;  // the next request waits for this response
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

void ServerConnection::OnError(int uv_error) {
  if (closed_) return;
  if (stream_active_) {
    const StreamResetReason reason = uv_error == UV_EPIPE
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

  std::string_view nominated;  // names listed in the response's Connection
  std::string_view upgrade_value;
  std::optional<uint64_t> length = forced_length;
  for (const HttpHeader& header : headers) {
    if (EqualsIgnoreCase(header.name, "connection")) {
      nominated = header.value;
      // The handler may ask for the connection to close after this response.
      if (ConnectionNominates(header.value, "close")) {
        close_after_response_ = true;
      }
    } else if (EqualsIgnoreCase(header.name, "upgrade")) {
      upgrade_value = header.value;
    } else if (!forced_length &&
               EqualsIgnoreCase(header.name, "content-length")) {
      length = ParseContentLength(header.value);
    }
  }

  std::string& out = tcp_->write_buffer();
  AppendStatusLine(&out, status);
  for (const HttpHeader& header : headers) {
    if (IsHopByHopHeader(header.name) ||
        EqualsIgnoreCase(header.name, "content-length") ||
        (!nominated.empty() && ConnectionNominates(nominated, header.name)) ||
        HasUnsafeHeaderBytes(header.name) ||
        HasUnsafeHeaderBytes(header.value)) {
      continue;
    }
    AppendHeader(&out, header.name, header.value);
  }

  if (status == 101) {
    framing_ = Framing::kTunnel;
    if (upgrade_pending_) {
      // The held bytes are the tunnel's first.
      upgrade_pending_ = false;
      tunnel_ = true;
      ScheduleResume();
    }
    out.append("connection: upgrade\r\n");
    if (!upgrade_value.empty() && !HasUnsafeHeaderBytes(upgrade_value)) {
      AppendHeader(&out, "upgrade", upgrade_value);
    }
  } else {
    // A refused upgrade leaves bytes of the other protocol unread.
    if (upgrade_ || !CanDiscardRestOfRequest() || draining_) {
      close_after_response_ = true;
    }
    const bool no_body =
        head_request_ || status == 204 || status == 304 || status < 200;
    if (no_body) {
      framing_ = Framing::kNone;
      if (length && status != 204 && status >= 200) {
        out.append("content-length: ");
        AppendDecimal(&out, *length);
        out.append("\r\n");
      }
    } else if (length) {
      framing_ = Framing::kLength;
      response_remaining_ = *length;
      out.append("content-length: ");
      AppendDecimal(&out, *length);
      out.append("\r\n");
    } else if (http_minor_ >= 1) {
      framing_ = Framing::kChunked;
      out.append("transfer-encoding: chunked\r\n");
    } else {
      framing_ = Framing::kCloseDelimited;
      close_after_response_ = true;
    }
    if (close_after_response_) {
      out.append("connection: close\r\n");
    } else if (http_minor_ == 0) {
      out.append("connection: keep-alive\r\n");
    }
  }
  out.append("\r\n");
  tcp_->CommitWrite();
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
      AppendChunkHeader(&out, data.size());
      out.append(data);
      out.append("\r\n", 2);
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
      tcp_->Write("0\r\n\r\n");
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
  server_.stats().rq_time.Record(uv_hrtime() / 1000 - stream_start_us_);
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
