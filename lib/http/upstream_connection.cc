#include "http/upstream_connection.h"

#include <utility>
#include <vector>

#include "common/string_util.h"
#include "homing/http_message.h"
#include "http/connection_pool.h"
#include "http/wire.h"

namespace homing::internal {
namespace {

// Envoy's defaults for response heads.
constexpr size_t kMaxResponseHeadBytes = 60 * 1024;
constexpr uint32_t kMaxResponseHeaders = 100;

UpstreamConnectionImpl* Self(llhttp_t* parser) {
  return static_cast<UpstreamConnectionImpl*>(parser->data);
}

}  // namespace

// ---------------------------------------------------------------------------
// PoolStats / PoolsContext

PoolStats::PoolStats(const StatsScope& scope)
    : cx_total(scope.Counter("upstream_cx_total")),
      cx_active(scope.Gauge("upstream_cx_active")),
      cx_connect_fail(scope.Counter("upstream_cx_connect_fail")),
      cx_connect_timeout(scope.Counter("upstream_cx_connect_timeout")),
      cx_idle_timeout(scope.Counter("upstream_cx_idle_timeout")),
      cx_destroy_remote(scope.Counter("upstream_cx_destroy_remote")),
      cx_protocol_error(scope.Counter("upstream_cx_protocol_error")),
      cx_rx_bytes_total(scope.Counter("upstream_cx_rx_bytes_total")),
      cx_tx_bytes_total(scope.Counter("upstream_cx_tx_bytes_total")),
      rq_total(scope.Counter("upstream_rq_total")),
      rq_active(scope.Gauge("upstream_rq_active")),
      rq_status(scope, "upstream_rq"),
      rq_pending_total(scope.Counter("upstream_rq_pending_total")),
      rq_pending_active(scope.Gauge("upstream_rq_pending_active")),
      rq_pending_overflow(scope.Counter("upstream_rq_pending_overflow")),
      rq_timeout(scope.Counter("upstream_rq_timeout")),
      flow_control_paused_reading_total(
          scope.Counter("upstream_flow_control_paused_reading_total")),
      flow_control_resumed_reading_total(
          scope.Counter("upstream_flow_control_resumed_reading_total")),
      flow_control_backed_up_total(
          scope.Counter("upstream_flow_control_backed_up_total")),
      flow_control_drained_total(
          scope.Counter("upstream_flow_control_drained_total")),
      rq_time(scope.Histogram("upstream_rq_time")) {}

PoolsContext::PoolsContext(uv_loop_t* loop, const ConnectionPoolOptions& options,
                           const StatsScope& scope)
    : options_(options), stats_(scope), io_(loop) {
  tcp_options_.read_buffer_bytes = options.read_buffer_bytes;
  tcp_options_.high_watermark = options.write_buffer_high_watermark;
  tcp_options_.low_watermark = options.write_buffer_low_watermark;
  tcp_options_.rx_bytes = &stats_.cx_rx_bytes_total;
  tcp_options_.tx_bytes = &stats_.cx_tx_bytes_total;
}

PoolsContext::~PoolsContext() {
  std::vector<UpstreamConnectionImpl*> left(all_.begin(), all_.end());
  for (UpstreamConnectionImpl* connection : left) delete connection;
}

void PoolsContext::Track(UpstreamConnectionImpl* connection) {
  all_.insert(connection);
}

void PoolsContext::Forget(UpstreamConnectionImpl* connection) {
  all_.erase(connection);
}

// ---------------------------------------------------------------------------
// UpstreamConnectionImpl: lifecycle

const llhttp_settings_t* UpstreamConnectionImpl::Settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &UpstreamConnectionImpl::OnMessageBeginCb;
    s.on_header_field = &UpstreamConnectionImpl::OnHeaderFieldCb;
    s.on_header_value = &UpstreamConnectionImpl::OnHeaderValueCb;
    s.on_headers_complete = &UpstreamConnectionImpl::OnHeadersCompleteCb;
    s.on_body = &UpstreamConnectionImpl::OnBodyCb;
    s.on_message_complete = &UpstreamConnectionImpl::OnMessageCompleteCb;
    return s;
  }();
  return &settings;
}

UpstreamConnectionImpl::UpstreamConnectionImpl(PoolImpl& pool,
                                               PoolsContext& context)
    : pool_(pool),
      context_(context),
      head_(kMaxResponseHeadBytes, kMaxResponseHeaders) {
  llhttp_init(&parser_, HTTP_RESPONSE, Settings());
  parser_.data = this;
  context_.Track(this);
}

UpstreamConnectionImpl::~UpstreamConnectionImpl() {
  context_.io().CancelDeferred(this);
  if (tcp_ != nullptr) tcp_->Close();
}

bool UpstreamConnectionImpl::Connect(int* error) {
  tcp_ = TcpConnection::Connect(context_.io(), pool_.address(),
                                context_.tcp_options(), this, error);
  if (tcp_ == nullptr) return false;
  context_.stats().cx_total.Inc();
  context_.stats().cx_active.Inc();
  SetDeadline(TimerMilliseconds(context_.options().connect_timeout));
  return true;
}

void UpstreamConnectionImpl::SetDeadline(uint64_t ms) {
  if (ms == 0) {
    deadline_ms_ = 0;
    return;
  }
  const uint64_t now = uv_now(context_.io().loop());
  deadline_ms_ = now + ms;
  if (armed_deadline_ms_ != 0 && armed_deadline_ms_ <= deadline_ms_) return;
  tcp_->ArmTimer(ms);
  armed_deadline_ms_ = deadline_ms_;
}

void UpstreamConnectionImpl::RunDeferred() {
  if (state_ == State::kClosed) {
    context_.Forget(this);
    delete this;
    return;
  }
  ProcessInput();
}

void UpstreamConnectionImpl::CloseConnection() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  callbacks_ = nullptr;
  input_length_ = 0;
  if (tcp_ != nullptr) {
    tcp_->Close();
    tcp_ = nullptr;
    context_.stats().cx_active.Dec();
  }
  context_.io().Defer(this);
  pool_.OnClosed(this);
}

void UpstreamConnectionImpl::Abort(UpstreamResetReason reason) {
  if (exchange_open()) {
    FailExchange(reason);
  } else {
    CloseConnection();
  }
}

void UpstreamConnectionImpl::Assign() {
  state_ = State::kBusy;
  ++exchanges_;
  callbacks_ = nullptr;
  exchange_done_ = false;
  head_sent_ = false;
  request_complete_ = false;
  response_started_ = false;
  response_complete_ = false;
  response_keep_alive_ = false;
  tunnel_ = false;
  interim_ = false;
  in_head_ = false;
  read_disable_count_ = 0;
  SetDeadline(0);
  llhttp_reset(&parser_);
}

const SocketAddress& UpstreamConnectionImpl::address() const {
  return pool_.address();
}

// ---------------------------------------------------------------------------
// Requests

void UpstreamConnectionImpl::SendRequestHead(
    const UpstreamRequestHead& head, UpstreamResponseCallbacks& callbacks) {
  if (!exchange_open() || head_sent_) return;
  callbacks_ = &callbacks;
  head_sent_ = true;
  head_request_ = head.method == "HEAD";
  upgrade_request_ = head.upgrade;
  chunked_request_ = !head.content_length && head.chunked && !head.upgrade;

  std::string_view nominated;
  std::string_view upgrade_value;
  bool has_request_id = false;
  bool has_forwarded_for = false;
  for (const HttpHeader& header : head.headers) {
    if (EqualsIgnoreCase(header.name, "connection")) {
      nominated = header.value;
    } else if (EqualsIgnoreCase(header.name, "upgrade")) {
      upgrade_value = header.value;
    } else if (EqualsIgnoreCase(header.name, "x-request-id")) {
      has_request_id = true;
    } else if (EqualsIgnoreCase(header.name, "x-forwarded-for")) {
      has_forwarded_for = true;
    }
  }
  const bool merge_forwarded_for = !head.forwarded_for.empty();

  std::string& out = tcp_->write_buffer();
  out.append(head.method);
  out.push_back(' ');
  out.append(head.path.empty() ? std::string_view("/") : head.path);
  out.append(" HTTP/1.1\r\nhost: ");
  out.append(head.authority);
  out.append("\r\n");
  for (const HttpHeader& header : head.headers) {
    if (IsHopByHopHeader(header.name) ||
        EqualsIgnoreCase(header.name, "host") ||
        EqualsIgnoreCase(header.name, "content-length") ||
        EqualsIgnoreCase(header.name, "expect") ||
        (merge_forwarded_for &&
         EqualsIgnoreCase(header.name, "x-forwarded-for")) ||
        (!nominated.empty() && ConnectionNominates(nominated, header.name)) ||
        HasUnsafeHeaderBytes(header.name) ||
        HasUnsafeHeaderBytes(header.value)) {
      continue;
    }
    AppendHeader(&out, header.name, header.value);
  }
  for (const HttpHeader& header : head.extra_headers) {
    if (HasUnsafeHeaderBytes(header.name) || HasUnsafeHeaderBytes(header.value)) {
      continue;
    }
    AppendHeader(&out, header.name, header.value);
  }
  if (merge_forwarded_for) {
    out.append("x-forwarded-for: ");
    if (has_forwarded_for) {
      for (const HttpHeader& header : head.headers) {
        if (EqualsIgnoreCase(header.name, "x-forwarded-for") &&
            !HasUnsafeHeaderBytes(header.value)) {
          out.append(header.value);
          out.append(", ");
        }
      }
    }
    out.append(head.forwarded_for);
    out.append("\r\n");
  }
  if (head.add_request_id && !has_request_id) {
    char id[kRequestIdLength];
    FormatRequestId(id);
    AppendHeader(&out, "x-request-id", std::string_view(id, sizeof(id)));
  }
  if (head.content_length) {
    out.append("content-length: ");
    AppendDecimal(&out, *head.content_length);
    out.append("\r\n");
  } else if (chunked_request_) {
    out.append("transfer-encoding: chunked\r\n");
  }
  if (head.upgrade) {
    out.append("connection: upgrade\r\n");
    if (!upgrade_value.empty() && !HasUnsafeHeaderBytes(upgrade_value)) {
      AppendHeader(&out, "upgrade", upgrade_value);
    }
  }
  out.append("\r\n");
  tcp_->CommitWrite();

  context_.stats().rq_total.Inc();
  context_.stats().rq_active.Inc();
  request_start_us_ = uv_hrtime() / 1000;
}

void UpstreamConnectionImpl::SendRequestBody(std::string_view data) {
  if (!exchange_open() || !head_sent_ || request_complete_ || data.empty()) {
    return;
  }
  std::string& out = tcp_->write_buffer();
  if (chunked_request_ && !tunnel_) {
    AppendChunkHeader(&out, data.size());
    out.append(data);
    out.append("\r\n", 2);
  } else {
    out.append(data);
  }
  tcp_->CommitWrite();
}

void UpstreamConnectionImpl::SendRequestEnd() {
  if (!exchange_open() || !head_sent_ || request_complete_) return;
  request_complete_ = true;
  if (tunnel_ || upgrade_request_) {
    if (tunnel_) tcp_->ShutdownWrite();
    return;
  }
  if (chunked_request_) tcp_->Write("0\r\n\r\n");
}

void UpstreamConnectionImpl::SetResponseTimeout(Duration timeout) {
  if (!exchange_open()) return;
  SetDeadline(TimerMilliseconds(timeout));
}

void UpstreamConnectionImpl::ReadDisable() {
  if (!exchange_open()) return;
  if (read_disable_count_++ == 0) {
    context_.stats().flow_control_paused_reading_total.Inc();
    UpdateReading();
  }
}

void UpstreamConnectionImpl::ReadEnable() {
  if (!exchange_open() || read_disable_count_ == 0) return;
  if (--read_disable_count_ == 0) {
    context_.stats().flow_control_resumed_reading_total.Inc();
    if (!processing_) context_.io().Defer(this);
    UpdateReading();
  }
}

size_t UpstreamConnectionImpl::write_buffered_bytes() const {
  return tcp_ != nullptr ? tcp_->queued_bytes() : 0;
}

bool UpstreamConnectionImpl::above_write_high_watermark() const {
  return tcp_ != nullptr && tcp_->above_high_watermark();
}

void UpstreamConnectionImpl::Reset() {
  if (state_ != State::kBusy || exchange_done_) return;
  exchange_done_ = true;
  if (head_sent_) context_.stats().rq_active.Dec();
  CloseConnection();
}

// ---------------------------------------------------------------------------
// Responses

void UpstreamConnectionImpl::UpdateReading() {
  if (tcp_ == nullptr) return;
  const bool want = state_ == State::kIdle ||
                    (state_ == State::kBusy && !exchange_done_ &&
                     read_disable_count_ == 0 && input_length_ == 0);
  if (want) {
    tcp_->ReadStart();
  } else {
    tcp_->ReadStop();
  }
}

void UpstreamConnectionImpl::OnRead(char* data, size_t length) {
  if (state_ == State::kIdle) {
    // An idle connection has nothing to say; whatever it sent makes it
    // unusable.
    context_.stats().cx_protocol_error.Inc();
    CloseConnection();
    return;
  }
  if (!exchange_open()) return;
  input_ = data;
  input_length_ = length;
  ProcessInput();
}

void UpstreamConnectionImpl::ProcessInput() {
  if (processing_ || !exchange_open()) return;
  processing_ = true;
  while (exchange_open() && (input_length_ > 0 || parser_paused_) &&
         read_disable_count_ == 0) {
    if (tunnel_) {
      if (input_length_ == 0) break;
      const std::string_view data(input_, input_length_);
      input_length_ = 0;
      callbacks_->OnResponseBody(data);
      continue;
    }
    static char kNoInput = 0;
    if (input_length_ == 0) input_ = &kNoInput;
    parser_paused_ = false;
    const llhttp_errno_t error = llhttp_execute(&parser_, input_, input_length_);
    if (!exchange_open() && !response_complete_) break;
    const size_t consumed =
        error == HPE_OK
            ? input_length_
            : static_cast<size_t>(llhttp_get_error_pos(&parser_) - input_);
    input_ += consumed;
    input_length_ -= consumed;
    if (error == HPE_OK) continue;
    if (error == HPE_PAUSED) {
      llhttp_resume(&parser_);
      parser_paused_ = true;
      if (response_complete_) break;
    } else if (error == HPE_PAUSED_UPGRADE) {
      tunnel_ = true;
    } else {
      context_.stats().cx_protocol_error.Inc();
      processing_ = false;
      FailExchange(UpstreamResetReason::kProtocolError);
      return;
    }
  }
  processing_ = false;
  if (response_complete_ && !exchange_done_) {
    CompleteExchange();
    return;
  }
  UpdateReading();
}

int UpstreamConnectionImpl::OnMessageBeginCb(llhttp_t* parser) {
  UpstreamConnectionImpl* self = Self(parser);
  self->head_.Reset();
  self->in_head_ = true;
  return 0;
}

int UpstreamConnectionImpl::OnHeaderFieldCb(llhttp_t* parser, const char* at,
                                            size_t length) {
  UpstreamConnectionImpl* self = Self(parser);
  if (!self->in_head_) return 0;  // trailers are dropped
  return self->head_.AddName(at, length) ? 0 : HPE_USER;
}

int UpstreamConnectionImpl::OnHeaderValueCb(llhttp_t* parser, const char* at,
                                            size_t length) {
  UpstreamConnectionImpl* self = Self(parser);
  if (!self->in_head_) return 0;
  return self->head_.AddValue(at, length) ? 0 : HPE_USER;
}

int UpstreamConnectionImpl::OnHeadersCompleteCb(llhttp_t* parser) {
  return Self(parser)->HandleHeadersComplete();
}

int UpstreamConnectionImpl::OnBodyCb(llhttp_t* parser, const char* at,
                                     size_t length) {
  return Self(parser)->HandleBody(at, length);
}

int UpstreamConnectionImpl::OnMessageCompleteCb(llhttp_t* parser) {
  return Self(parser)->HandleMessageComplete();
}

int UpstreamConnectionImpl::HandleHeadersComplete() {
  in_head_ = false;
  const int status = parser_.status_code;
  if (!head_sent_ || (status >= 100 && status < 200 && status != 101)) {
    // Interim (100 Continue, 103 Early Hints): skipped. A response before
    // any request is garbage and fails at the end of the message.
    interim_ = true;
    return 0;
  }
  interim_ = false;
  if (status == 101 && !upgrade_request_) {
    // A switch nobody asked for: what follows is not a response to relay.
    // Failing before the head is passed on leaves the client a clean 503.
    context_.stats().cx_protocol_error.Inc();
    return HPE_USER;
  }
  head_.Finish();
  response_started_ = true;
  response_keep_alive_ = llhttp_should_keep_alive(&parser_) != 0;
  context_.stats().rq_status.Record(status);
  ResponseHeadView view;
  view.status = status;
  view.http_minor = parser_.http_minor;
  view.headers = head_.headers();
  callbacks_->OnResponseHead(view);
  if (!exchange_open()) return HPE_USER;
  if (status == 101) {
    // No timeout applies to a tunnel; a client that already closed its side
    // has that passed on now.
    SetDeadline(0);
    if (request_complete_) tcp_->ShutdownWrite();
    return 2;  // no body; llhttp_execute() returns HPE_PAUSED_UPGRADE
  }
  return head_request_ ? 1 : 0;
}

int UpstreamConnectionImpl::HandleBody(const char* at, size_t length) {
  if (!exchange_open() || interim_) return 0;
  callbacks_->OnResponseBody(std::string_view(at, length));
  if (!exchange_open()) return HPE_USER;
  return read_disable_count_ > 0 ? HPE_PAUSED : 0;
}

int UpstreamConnectionImpl::HandleMessageComplete() {
  if (interim_) {
    interim_ = false;
    return head_sent_ ? 0 : HPE_USER;
  }
  if (tunnel_ || parser_.upgrade) return 0;
  response_complete_ = true;
  return HPE_PAUSED;  // CompleteExchange() runs once llhttp has returned
}

void UpstreamConnectionImpl::CompleteExchange() {
  exchange_done_ = true;
  UpstreamResponseCallbacks* callbacks = callbacks_;
  callbacks_ = nullptr;
  context_.stats().rq_active.Dec();
  context_.stats().rq_time.Record(uv_hrtime() / 1000 - request_start_us_);
  const uint32_t max_requests = context_.options().max_requests_per_connection;
  // After an upgrade request (refused or not) the byte stream may hold
  // bytes of another protocol.
  const bool reusable = response_keep_alive_ && request_complete_ &&
                        !upgrade_request_ && !drained_ && input_length_ == 0 &&
                        (max_requests == 0 || exchanges_ < max_requests);
  callbacks->OnResponseEnd();
  if (state_ != State::kBusy) return;  // closed from the callback
  if (!reusable || tcp_ == nullptr) {
    CloseConnection();
    return;
  }
  state_ = State::kIdle;
  read_disable_count_ = 0;
  SetDeadline(TimerMilliseconds(context_.options().idle_timeout));
  UpdateReading();
  pool_.OnReleased(this);
}

void UpstreamConnectionImpl::FailExchange(UpstreamResetReason reason) {
  if (!exchange_open()) {
    CloseConnection();
    return;
  }
  exchange_done_ = true;
  UpstreamResponseCallbacks* callbacks = callbacks_;
  callbacks_ = nullptr;
  if (head_sent_) context_.stats().rq_active.Dec();
  const bool started = response_started_;
  CloseConnection();
  if (callbacks != nullptr) callbacks->OnUpstreamReset(reason, started);
}

// ---------------------------------------------------------------------------
// Socket events

void UpstreamConnectionImpl::OnConnected() {
  state_ = State::kIdle;
  SetDeadline(TimerMilliseconds(context_.options().idle_timeout));
  UpdateReading();
  pool_.OnConnected(this);
}

void UpstreamConnectionImpl::OnReadEof() {
  switch (state_) {
    case State::kConnecting:
    case State::kClosed:
      return;
    case State::kIdle:
      context_.stats().cx_destroy_remote.Inc();
      CloseConnection();
      return;
    case State::kBusy:
      break;
  }
  if (!exchange_open()) return;
  if (tunnel_) {
    response_complete_ = true;
    CompleteExchange();
    return;
  }
  if (response_started_ && llhttp_message_needs_eof(&parser_)) {
    // A close-delimited body ends here (on_message_complete pauses, so the
    // result is HPE_PAUSED).
    llhttp_finish(&parser_);
    if (response_complete_) {
      CompleteExchange();
      return;
    }
  }
  context_.stats().cx_destroy_remote.Inc();
  FailExchange(UpstreamResetReason::kConnectionClosed);
}

void UpstreamConnectionImpl::OnError(int uv_error) {
  if (state_ == State::kConnecting) {
    context_.stats().cx_connect_fail.Inc();
    const std::string_view detail = uv_strerror(uv_error);
    state_ = State::kClosed;
    tcp_->Close();
    tcp_ = nullptr;
    context_.stats().cx_active.Dec();
    context_.io().Defer(this);
    pool_.OnConnectFailed(this, PoolFailureReason::kConnectFailure, detail);
    return;
  }
  if (state_ == State::kBusy && exchange_open()) {
    FailExchange(uv_error == UV_EPIPE ? UpstreamResetReason::kWriteError
                                      : UpstreamResetReason::kConnectionClosed);
    return;
  }
  CloseConnection();
}

void UpstreamConnectionImpl::OnTimer() {
  armed_deadline_ms_ = 0;
  if (deadline_ms_ == 0) return;
  const uint64_t now = uv_now(context_.io().loop());
  if (now < deadline_ms_) {
    const uint64_t deadline = deadline_ms_;
    SetDeadline(deadline - now);
    return;
  }
  deadline_ms_ = 0;
  switch (state_) {
    case State::kConnecting: {
      context_.stats().cx_connect_fail.Inc();
      context_.stats().cx_connect_timeout.Inc();
      state_ = State::kClosed;
      tcp_->Close();
      tcp_ = nullptr;
      context_.stats().cx_active.Dec();
      context_.io().Defer(this);
      pool_.OnConnectFailed(this, PoolFailureReason::kTimeout,
                            "connect timeout");
      return;
    }
    case State::kIdle:
      context_.stats().cx_idle_timeout.Inc();
      CloseConnection();
      return;
    case State::kBusy:
      if (exchange_open()) {
        context_.stats().rq_timeout.Inc();
        FailExchange(UpstreamResetReason::kTimeout);
      }
      return;
    case State::kClosed:
      return;
  }
}

void UpstreamConnectionImpl::OnWriteBufferHigh() {
  if (exchange_open() && callbacks_ != nullptr) {
    context_.stats().flow_control_backed_up_total.Inc();
    callbacks_->OnUpstreamWriteBufferHigh();
  }
}

void UpstreamConnectionImpl::OnWriteBufferLow() {
  if (exchange_open() && callbacks_ != nullptr) {
    context_.stats().flow_control_drained_total.Inc();
    callbacks_->OnUpstreamWriteBufferLow();
  }
}

}  // namespace homing::internal
