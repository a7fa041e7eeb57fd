#include "http/upstream_connection.h"

#include <cerrno>
#include <utility>
#include <vector>

#include "homing/http_message.h"
#include "http/connection_pool.h"
#include "http/wire.h"

namespace homing::internal {
namespace {

// Envoy's bounds for response heads. Their lines are parsed as llhttp allows
// (no strict line scan): homing re-encodes every header it relays.
Http1Decoder::Limits ResponseLimits() {
  Http1Decoder::Limits limits;
  limits.max_head_bytes = 60 * 1024;
  limits.max_headers = 100;
  return limits;
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

PoolsContext::PoolsContext(Dispatcher& dispatcher,
                           const ConnectionPoolOptions& options,
                           const StatsScope& scope)
    : options_(options), stats_(scope), io_(dispatcher) {
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

UpstreamConnectionImpl::UpstreamConnectionImpl(PoolImpl& pool,
                                               PoolsContext& context)
    : pool_(pool),
      context_(context),
      decoder_(Http1Decoder::Type::kResponse, ResponseLimits(), *this) {
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
  const uint64_t now = context_.io().NowMs();
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
  read_disable_count_ = 0;
  SetDeadline(0);
  decoder_.Reset();
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

  decoder_.set_head_request(head_request_);
  EncodeRequestHead(head, chunked_request_, &tcp_->write_buffer());
  tcp_->CommitWrite();

  context_.stats().rq_total.Inc();
  context_.stats().rq_active.Inc();
  request_start_us_ = context_.io().NowUs();
}

void UpstreamConnectionImpl::SendRequestBody(std::string_view data) {
  if (!exchange_open() || !head_sent_ || request_complete_ || data.empty()) {
    return;
  }
  std::string& out = tcp_->write_buffer();
  if (chunked_request_ && !tunnel_) {
    EncodeChunk(data, &out);
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
  if (chunked_request_) {
    EncodeLastChunk(&tcp_->write_buffer());
    tcp_->CommitWrite();
  }
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
  while (exchange_open() && (input_length_ > 0 || decoder_.pending()) &&
         read_disable_count_ == 0) {
    if (tunnel_) {
      if (input_length_ == 0) break;
      const std::string_view data(input_, input_length_);
      input_length_ = 0;
      callbacks_->OnResponseBody(data);
      continue;
    }
    size_t used = 0;
    const Http1Decoder::Status status =
        decoder_.Decode(std::string_view(input_, input_length_), &used);
    if (!exchange_open() && !response_complete_) break;  // closed by a callback
    input_ += used;
    input_length_ -= used;
    if (status == Http1Decoder::Status::kOk) continue;
    if (status == Http1Decoder::Status::kPaused) {
      if (response_complete_) break;
      continue;
    }
    if (status == Http1Decoder::Status::kUpgrade) {
      tunnel_ = true;
      continue;
    }
    // kError, or kStopped by OnHead()/OnMessageComplete() on a message that
    // is no response to this request.
    context_.stats().cx_protocol_error.Inc();
    processing_ = false;
    FailExchange(UpstreamResetReason::kProtocolError);
    return;
  }
  processing_ = false;
  if (response_complete_ && !exchange_done_) {
    CompleteExchange();
    return;
  }
  UpdateReading();
}

Http1Action UpstreamConnectionImpl::OnHead(const Http1Head& head) {
  const int status = head.status;
  if (!head_sent_ || (status >= 100 && status < 200 && status != 101)) {
    // Interim (100 Continue, 103 Early Hints): skipped. A response before
    // any request is garbage and fails at the end of the message.
    interim_ = true;
    return Http1Action::kContinue;
  }
  interim_ = false;
  // A switch nobody asked for: what follows is not a response to relay.
  // Failing before the head is passed on leaves the client a clean 503.
  if (status == 101 && !upgrade_request_) return Http1Action::kStop;
  response_started_ = true;
  response_keep_alive_ = head.keep_alive;
  context_.stats().rq_status.Record(status);
  ResponseHeadView view;
  view.status = status;
  view.http_minor = head.http_minor;
  view.headers = head.headers;
  callbacks_->OnResponseHead(view);
  if (!exchange_open()) return Http1Action::kStop;
  if (status == 101) {
    // No timeout applies to a tunnel; a client that already closed its side
    // has that passed on now.
    SetDeadline(0);
    if (request_complete_) tcp_->ShutdownWrite();
  }
  return Http1Action::kContinue;
}

Http1Action UpstreamConnectionImpl::OnBody(std::string_view data) {
  if (!exchange_open() || interim_) return Http1Action::kContinue;
  callbacks_->OnResponseBody(data);
  if (!exchange_open()) return Http1Action::kStop;
  return read_disable_count_ > 0 ? Http1Action::kPause : Http1Action::kContinue;
}

Http1Action UpstreamConnectionImpl::OnMessageComplete() {
  if (interim_) {
    interim_ = false;
    return head_sent_ ? Http1Action::kContinue : Http1Action::kStop;
  }
  if (decoder_.head().upgrade) return Http1Action::kContinue;  // Decode(): kUpgrade
  response_complete_ = true;
  return Http1Action::kPause;  // CompleteExchange() runs once Decode() returned
}

void UpstreamConnectionImpl::CompleteExchange() {
  exchange_done_ = true;
  UpstreamResponseCallbacks* callbacks = callbacks_;
  callbacks_ = nullptr;
  context_.stats().rq_active.Dec();
  context_.stats().rq_time.Record(context_.io().NowUs() - request_start_us_);
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
  // A close-delimited body ends here.
  if (response_started_ && decoder_.FinishAtEof() && response_complete_) {
    CompleteExchange();
    return;
  }
  context_.stats().cx_destroy_remote.Inc();
  FailExchange(UpstreamResetReason::kConnectionClosed);
}

void UpstreamConnectionImpl::OnError(int error) {
  if (state_ == State::kConnecting) {
    context_.stats().cx_connect_fail.Inc();
    const std::string detail = SocketErrorText(error);
    state_ = State::kClosed;
    tcp_->Close();
    tcp_ = nullptr;
    context_.stats().cx_active.Dec();
    context_.io().Defer(this);
    pool_.OnConnectFailed(this, PoolFailureReason::kConnectFailure, detail);
    return;
  }
  if (state_ == State::kBusy && exchange_open()) {
    FailExchange(error == EPIPE ? UpstreamResetReason::kWriteError
                                      : UpstreamResetReason::kConnectionClosed);
    return;
  }
  CloseConnection();
}

void UpstreamConnectionImpl::OnTimer() {
  armed_deadline_ms_ = 0;
  if (deadline_ms_ == 0) return;
  const uint64_t now = context_.io().NowMs();
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
