#include "homing/http_proxy.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/address_format.h"
#include "common/string_util.h"

namespace homing {
namespace {

bool IsIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" ||
         method == "PUT" || method == "DELETE" || method == "TRACE";
}

}  // namespace

std::string_view ProxyResultName(ProxyResult result) {
  switch (result) {
    case ProxyResult::kSuccess:
      return "success";
    case ProxyResult::kConnectFailure:
      return "connect_failure";
    case ProxyResult::kOverflow:
      return "overflow";
    case ProxyResult::kResetBeforeResponse:
      return "reset_before_response";
    case ProxyResult::kResetAfterResponse:
      return "reset_after_response";
    case ProxyResult::kTimeout:
      return "timeout";
    case ProxyResult::kDownstreamReset:
      return "downstream_reset";
  }
  return "unknown";
}

FailureReply FailureReplyFor(ProxyResult result) {
  switch (result) {
    case ProxyResult::kConnectFailure:
      return {503, "upstream_connect_failure"};
    case ProxyResult::kOverflow:
      return {503, "upstream_overflow"};
    case ProxyResult::kTimeout:
      return {504, "upstream_timeout"};
    default:
      return {503, "upstream_reset"};
  }
}

ProxyStream::ProxyStream(ServerStream& downstream, ProxyCallbacks& callbacks,
                         const ProxyOptions& options)
    : downstream_(&downstream), callbacks_(callbacks), options_(options) {
  downstream.SetCallbacks(this);
  if (options_.add_forwarded_for) {
    char ip[internal::kMaxIpLength];
    static_assert(sizeof(forwarded_for_) >= sizeof(ip));
    forwarded_for_length_ = internal::FormatIp(downstream.peer_address(), ip);
    std::memcpy(forwarded_for_, ip, forwarded_for_length_);
  }
}

ProxyStream::~ProxyStream() {
  for (DestructionGuard* guard = guards_; guard != nullptr;
       guard = guard->outer) {
    guard->destroyed = true;
  }
  pending_.reset();
  if (upstream_ != nullptr) {
    UpstreamConnection* upstream = upstream_;
    upstream_ = nullptr;
    upstream->Reset();
  }
  if (downstream_ != nullptr) {
    if (response_started_) {
      downstream_->Reset();
    } else {
      HandBackDownstream();
    }
  }
}

void ProxyStream::StoreRewrite(const ProxyRequestRewrite& rewrite) {
  size_t size = rewrite.authority.size() + rewrite.path.size();
  for (const HttpHeader& header : rewrite.extra_headers) {
    size += header.name.size() + header.value.size();
  }
  rewrite_.clear();
  rewrite_.reserve(size);  // views below must not move
  auto keep = [&](std::string_view text) {
    const size_t offset = rewrite_.size();
    rewrite_.append(text);
    return std::string_view(rewrite_.data() + offset, text.size());
  };
  const RequestView& request = downstream_->request();
  authority_ =
      rewrite.authority.empty() ? request.authority : keep(rewrite.authority);
  path_ = rewrite.path.empty() ? request.path : keep(rewrite.path);
  extra_headers_.clear();
  for (const HttpHeader& header : rewrite.extra_headers) {
    extra_headers_.push_back({keep(header.name), keep(header.value)});
  }
}

void ProxyStream::Start(ConnectionPool& pool,
                        const ProxyRequestRewrite& rewrite) {
  if (started_ || done_ || downstream_ == nullptr) return;
  started_ = true;
  StoreRewrite(rewrite);
  Attempt(pool);
}

bool ProxyStream::replayable() const {
  return replayable_ && downstream_ != nullptr;
}

bool ProxyStream::Retry(ConnectionPool& pool,
                        const ProxyRequestRewrite& rewrite) {
  if (!started_ || response_started_ || !replayable()) return false;
  DetachUpstream();
  StoreRewrite(rewrite);
  done_ = false;
  downstream_->SetCallbacks(this);
  Attempt(pool);
  return true;
}

bool ProxyStream::Attempt(ConnectionPool& pool) {
  pool_ = &pool;
  status_ = 0;
  // Without an upstream, the body is held; a body too large to hold waits.
  if (!replayable_) DisableDownstreamReading();
  DestructionGuard guard{false, guards_};
  guards_ = &guard;
  std::unique_ptr<PendingStream> pending = pool.NewStream(*this);
  if (guard.destroyed) return false;
  guards_ = guard.outer;
  pending_ = std::move(pending);
  return true;
}

void ProxyStream::DetachUpstream() {
  pending_.reset();
  if (upstream_ != nullptr) {
    UpstreamConnection* upstream = upstream_;
    upstream_ = nullptr;
    upstream->Reset();
  }
  if (upstream_backpressure_disable_ && downstream_ != nullptr) {
    upstream_backpressure_disable_ = false;
    --downstream_disables_;
    downstream_->ReadEnable();
  }
  downstream_backpressure_disable_ = false;
}

void ProxyStream::DisableDownstreamReading() {
  if (waiting_for_upstream_disable_ || downstream_ == nullptr) return;
  waiting_for_upstream_disable_ = true;
  ++downstream_disables_;
  downstream_->ReadDisable();
}

void ProxyStream::HandBackDownstream() {
  while (downstream_disables_ > 0) {
    --downstream_disables_;
    downstream_->ReadEnable();
  }
  waiting_for_upstream_disable_ = false;
  upstream_backpressure_disable_ = false;
  downstream_->SetCallbacks(nullptr);
}

void ProxyStream::SendRequestHead() {
  const RequestView& request = downstream_->request();
  UpstreamRequestHead head;
  head.method = request.method;
  head.path = path_;
  head.authority = authority_;
  head.headers = request.headers;
  head.extra_headers = extra_headers_;
  head.content_length = downstream_->content_length();
  head.chunked = downstream_->has_body() && !head.content_length;
  head.upgrade = downstream_->is_upgrade();
  head.forwarded_for = std::string_view(forwarded_for_, forwarded_for_length_);
  head.add_request_id = options_.add_request_id;
  upstream_->SendRequestHead(head, *this);
}

// ---------------------------------------------------------------------------
// Pool

void ProxyStream::OnPoolReady(UpstreamConnection& connection) {
  pending_.reset();
  upstream_ = &connection;
  attempt_on_reused_connection_ = connection.reused();
  SendRequestHead();
  if (!held_body_.empty()) {
    upstream_->SendRequestBody(held_body_);
    if (!replayable_) held_body_.clear();
  }
  if (request_complete_) {
    upstream_->SendRequestEnd();
    if (!downstream_->is_upgrade()) {
      upstream_->SetResponseTimeout(options_.timeout);
    }
  }
  if (waiting_for_upstream_disable_) {
    waiting_for_upstream_disable_ = false;
    --downstream_disables_;
    downstream_->ReadEnable();
  }
}

void ProxyStream::OnPoolFailure(PoolFailureReason reason,
                                std::string_view detail) {
  pending_.reset();
  const ProxyResult result = reason == PoolFailureReason::kOverflow
                                 ? ProxyResult::kOverflow
                                 : ProxyResult::kConnectFailure;
  FailBeforeResponse(result, detail);
}

// ---------------------------------------------------------------------------
// Client side

void ProxyStream::OnRequestBody(std::string_view data) {
  const bool connected = upstream_ != nullptr;
  if (connected) upstream_->SendRequestBody(data);
  if (replayable_) {
    if (held_body_.size() + data.size() <= options_.max_replay_body_bytes) {
      held_body_.append(data);
      return;
    }
    replayable_ = false;
  }
  if (connected) {
    held_body_.clear();
    return;
  }
  // No upstream yet: hold what arrived, read no more until there is one.
  held_body_.append(data);
  if (!done_) DisableDownstreamReading();
}

void ProxyStream::OnRequestEnd() {
  request_complete_ = true;
  if (upstream_ == nullptr) return;
  upstream_->SendRequestEnd();
  if (!downstream_->is_upgrade()) {
    upstream_->SetResponseTimeout(options_.timeout);
  }
}

void ProxyStream::OnStreamReset(StreamResetReason) {
  downstream_ = nullptr;
  pending_.reset();
  if (upstream_ != nullptr) {
    UpstreamConnection* upstream = upstream_;
    upstream_ = nullptr;
    upstream->Reset();
  }
  ProxyOutcome outcome;
  outcome.result = ProxyResult::kDownstreamReset;
  outcome.status = status_;
  Finish(outcome);
}

void ProxyStream::OnWriteBufferHigh() {
  if (upstream_ != nullptr && !downstream_backpressure_disable_) {
    downstream_backpressure_disable_ = true;
    upstream_->ReadDisable();
  }
}

void ProxyStream::OnWriteBufferLow() {
  if (upstream_ != nullptr && downstream_backpressure_disable_) {
    downstream_backpressure_disable_ = false;
    upstream_->ReadEnable();
  }
}

// ---------------------------------------------------------------------------
// Upstream side

void ProxyStream::OnResponseHead(const ResponseHeadView& head) {
  status_ = head.status;
  UpstreamConnection* connection = upstream_;
  const ProxyHeadAction action = callbacks_.OnResponseHead(*this, head);
  if (upstream_ != connection) return;  // Retry() replaced this attempt
  if (action == ProxyHeadAction::kIntercept) {
    DetachUpstream();
    if (downstream_ != nullptr) downstream_->SetCallbacks(this);
    return;
  }
  response_started_ = true;
  downstream_->SendResponseHead(head.status, head.headers);
  if (downstream_->above_write_high_watermark()) OnWriteBufferHigh();
}

void ProxyStream::OnResponseBody(std::string_view data) {
  downstream_->SendResponseBody(data);
}

void ProxyStream::OnResponseEnd() {
  upstream_ = nullptr;
  downstream_backpressure_disable_ = false;
  ServerStream* downstream = downstream_;
  downstream_ = nullptr;
  // The stream is finished by this call: no more of its events come here.
  downstream->SendResponseEnd();
  ProxyOutcome outcome;
  outcome.result = ProxyResult::kSuccess;
  outcome.status = status_;
  Finish(outcome);
}

void ProxyStream::OnUpstreamReset(UpstreamResetReason reason,
                                  bool response_started) {
  upstream_ = nullptr;
  downstream_backpressure_disable_ = false;
  if (upstream_backpressure_disable_ && downstream_ != nullptr) {
    upstream_backpressure_disable_ = false;
    --downstream_disables_;
    downstream_->ReadEnable();
  }
  const bool timeout = reason == UpstreamResetReason::kTimeout;
  if (!response_started_) {
    // A keep-alive race: the upstream closed the reused connection as the
    // request went out. Safe to send once more if nothing was processed.
    if (IsKeepAliveRace(attempt_on_reused_connection_, reason, response_started) &&
        options_.retry_reused_connection_reset && !automatic_retry_used_ &&
        replayable() && IsIdempotent(downstream_->request().method)) {
      automatic_retry_used_ = true;
      Attempt(*pool_);
      return;
    }
    FailBeforeResponse(
        timeout ? ProxyResult::kTimeout : ProxyResult::kResetBeforeResponse,
        UpstreamResetReasonName(reason));
    return;
  }
  ServerStream* downstream = downstream_;
  downstream_ = nullptr;
  if (downstream != nullptr) downstream->Reset();
  ProxyOutcome outcome;
  outcome.result =
      timeout ? ProxyResult::kTimeout : ProxyResult::kResetAfterResponse;
  outcome.status = status_;
  Finish(outcome);
}

void ProxyStream::OnUpstreamWriteBufferHigh() {
  if (downstream_ != nullptr && !upstream_backpressure_disable_) {
    upstream_backpressure_disable_ = true;
    ++downstream_disables_;
    downstream_->ReadDisable();
  }
}

void ProxyStream::OnUpstreamWriteBufferLow() {
  if (downstream_ != nullptr && upstream_backpressure_disable_) {
    upstream_backpressure_disable_ = false;
    --downstream_disables_;
    downstream_->ReadEnable();
  }
}

// ---------------------------------------------------------------------------
// Endings

void ProxyStream::FailBeforeResponse(ProxyResult result,
                                     std::string_view detail) {
  ProxyOutcome outcome;
  outcome.result = result;
  outcome.status = status_;
  if (options_.local_reply_on_failure && downstream_ != nullptr) {
    const FailureReply reply = FailureReplyFor(result);
    const std::string message =
        pool_ != nullptr
            ? absl::StrCat(pool_->address().ToString(), ": ",
                           internal::ToAbsl(detail))
            : std::string(detail);
    ServerStream* downstream = downstream_;
    HandBackDownstream();
    downstream_ = nullptr;
    downstream->SendLocalReply(reply.status, reply.code, message);
    outcome.local_reply_sent = true;
  }
  Finish(outcome);
}

void ProxyStream::Finish(const ProxyOutcome& outcome) {
  done_ = true;
  if (downstream_ != nullptr) HandBackDownstream();
  DestructionGuard guard{false, guards_};
  guards_ = &guard;
  callbacks_.OnProxyComplete(*this, outcome);
  if (guard.destroyed) return;
  guards_ = guard.outer;
  // Unless retried, the stream is its handler's again and may end at any
  // time: forget it.
  if (done_) downstream_ = nullptr;
}

}  // namespace homing
