#include "proxy/proxy_handler.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"

namespace homing::proxy_internal {
namespace {

using internal::ToAbsl;

std::string_view LookupName(LookupOutcome::Source source) {
  switch (source) {
    case LookupOutcome::Source::kCache:
      return "hit";
    case LookupOutcome::Source::kStale:
      return "stale";
    case LookupOutcome::Source::kResolver:
      return "miss";
    case LookupOutcome::Source::kDefaultTarget:
      return "default";
  }
  return "miss";
}

// Passive health of the host for an attempt that failed before a response.
std::optional<RequestOutcome> FailureOutcome(ProxyResult result) {
  switch (result) {
    case ProxyResult::kConnectFailure:
      return RequestOutcome::kConnectFailure;
    case ProxyResult::kResetBeforeResponse:
    case ProxyResult::kResetAfterResponse:
      return RequestOutcome::kReset;
    case ProxyResult::kTimeout:
      return RequestOutcome::kTimeout;
    case ProxyResult::kSuccess:
    case ProxyResult::kOverflow:
    case ProxyResult::kDownstreamReset:
      break;
  }
  return std::nullopt;
}

// The local reply for a failure before the response (http_proxy.h's).
std::pair<int, std::string_view> FailureReply(ProxyResult result) {
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

// Does `retry_on` cover an attempt that ended with response `status`
// (result kSuccess) or with the failure `result`? Envoy's conditions:
// 5xx covers every 5xx and every failure to get a response; gateway-error
// 502/503/504 and those failures; reset and connect-failure what they say.
bool RetryCovers(const RetryPolicySpec& policy, int status, ProxyResult result) {
  const RetryOn on = policy.retry_on;
  switch (result) {
    case ProxyResult::kSuccess:
      return (Includes(on, RetryOn::k5xx) && status >= 500) ||
             (Includes(on, RetryOn::kGatewayError) &&
              (status == 502 || status == 503 || status == 504)) ||
             (Includes(on, RetryOn::kRetriable4xx) && status == 409);
    case ProxyResult::kConnectFailure:
      return Includes(on, RetryOn::k5xx | RetryOn::kGatewayError |
                              RetryOn::kConnectFailure | RetryOn::kReset);
    case ProxyResult::kResetBeforeResponse:
      return Includes(on, RetryOn::k5xx | RetryOn::kGatewayError | RetryOn::kReset);
    case ProxyResult::kTimeout:
      return Includes(on, RetryOn::k5xx | RetryOn::kGatewayError);
    default:
      return false;
  }
}

}  // namespace

ProxyHandler::ProxyHandler(WorkerCore& core, size_t listener)
    : core_(core), listener_(listener) {}

ProxyHandler::~ProxyHandler() {
  route_handle_.reset();
  deferred_reply_timer_.reset();
  proxy_.reset();
  EndAttempt(std::nullopt);
  if (upstream_ != nullptr) --upstream_->active_requests;
}

// ---------------------------------------------------------------------------
// Request start and routing

void ProxyHandler::OnRequestHeaders(ServerStream& stream) {
  // The previous request's ProxyStream is done, or was never started.
  proxy_.reset();
  route_handle_.reset();
  deferred_reply_.reset();
  if (engine_ != core_.engine) {
    core_.Retire(std::move(engine_));
    engine_ = core_.engine;
  }
  stream_ = &stream;
  active_ = true;
  start_ = core_.dispatcher.Now();
  start_wall_ = std::chrono::system_clock::now();
  const RequestView& request = stream.request();
  method_.assign(request.method);
  path_.assign(request.path);
  http_minor_ = stream.http_minor();
  decision_ = RoutingDecision();
  retries_left_ = 0;
  rerouting_ = false;
  misdirect_retried_ = false;
  forwarded_status_ = 0;
  attempt_address_ = SocketAddress();

  const uint64_t limit = engine_->config()
                             .listeners[listener_]
                             .http_connection_manager.max_request_bytes;
  stream.SetBodyLimit(limit);
  if (std::optional<uint64_t> length = stream.content_length();
      length && *length > limit) {
    return;  // the server answers 413 and resets the stream
  }

  Router& router = engine_->router(listener_);
  if (stream.is_upgrade() && RefuseUpgrade(router)) return;
  Router::Result result = router.Route(
      request, [this](RoutingDecision decision) { OnRouted(std::move(decision)); });
  if (result.decision) {
    Dispatch(*std::move(result.decision));
    return;
  }
  route_handle_ = std::move(result.handle);
  // Meanwhile the ProxyStream holds the body and notices the client leaving.
  proxy_.emplace(stream, *this, OptionsFor(router.route_table().Match(request)));
}

bool ProxyHandler::RefuseUpgrade(const Router& router) {
  const RequestView& request = stream_->request();
  const Route* route = router.route_table().Match(request);
  if (route == nullptr) return false;  // the router answers 404 no_route
  const std::string_view upgrade = request.FindHeader("upgrade").value_or("");
  const HttpConnectionManagerSpec& hcm =
      engine_->config().listeners[listener_].http_connection_manager;
  if (UpgradeEnabled(upgrade, hcm.upgrade_configs, route->action())) return false;
  engine_->upgrade_refused(listener_).Inc();
  decision_.route = route;  // for the access log
  ReplyLocally(403, "upgrade_not_enabled",
               absl::StrCat("upgrade to \"", ToAbsl(upgrade),
                            "\" is not enabled on route \"", route->name(),
                            "\" (see upgrade_configs)"));
  return true;
}

void ProxyHandler::OnRouted(RoutingDecision decision) {
  route_handle_.reset();
  if (rerouting_) {
    rerouting_ = false;
    RetryOnNewOwner(std::move(decision));
    return;
  }
  Dispatch(std::move(decision));
}

void ProxyHandler::Dispatch(RoutingDecision decision) {
  decision_ = std::move(decision);
  if (!decision_.forward()) {
    ReplyLocally(decision_.status, decision_.error, decision_.detail);
    return;
  }
  ClusterUpstream& upstream = engine_->upstream(decision_.cluster);
  const uint32_t max_requests = upstream.cluster->spec().max_requests;
  if (upstream.active_requests >= max_requests) {
    upstream.rq_overflow->Inc();
    ReplyLocally(503, "upstream_overflow",
                 absl::StrCat("cluster \"", upstream.cluster->name(),
                              "\" has max_requests (", max_requests,
                              ") requests in flight"));
    return;
  }
  ++upstream.active_requests;
  upstream_ = &upstream;
  const Route& route = *decision_.route;
  retries_left_ =
      route.action().retry_policy ? route.action().retry_policy->num_retries : 0;
  if (!proxy_) proxy_.emplace(*stream_, *this, OptionsFor(&route));
  BeginAttempt(decision_.host != nullptr
                   ? decision_.host
                   : engine_->OwnerHost(upstream, decision_.authority,
                                        decision_.upstream));
  proxy_->Start(upstream.pools->Get(decision_.upstream),
                {.authority = decision_.authority});
}

ProxyOptions ProxyHandler::OptionsFor(const Route* route) const {
  ProxyOptions options;
  if (route == nullptr) return options;
  const RouteActionSpec& action = route->action();
  options.timeout = action.timeout;
  if (action.retry_policy && action.retry_policy->num_retries > 0) {
    if (action.retry_policy->per_try_timeout > Duration::zero()) {
      options.timeout = action.retry_policy->per_try_timeout;
    }
    // Failures come back to OnProxyComplete() unanswered, to be retried.
    options.local_reply_on_failure = false;
  }
  return options;
}

// ---------------------------------------------------------------------------
// Attempts

void ProxyHandler::BeginAttempt(HostSharedPtr host) {
  attempt_host_ = std::move(host);
  attempt_address_ = attempt_host_->address();
  attempt_host_->stats().rq_active.fetch_add(1, std::memory_order_relaxed);
}

void ProxyHandler::EndAttempt(std::optional<RequestOutcome> outcome) {
  if (attempt_host_ == nullptr) return;
  attempt_host_->stats().rq_active.fetch_sub(1, std::memory_order_relaxed);
  if (outcome) decision_.cluster->ReportOutcome(*attempt_host_, *outcome);
  attempt_host_.reset();
}

HostSharedPtr ProxyHandler::NextHost() {
  // An affinity route has one target: its owner.
  if (decision_.host == nullptr) return attempt_host_;
  LbContext context;
  context.hash = ComputeRequestHash(decision_.route->action().hash_policy,
                                    stream_->request());
  context.avoid = attempt_host_.get();
  return decision_.cluster->ChooseHost(context);
}

bool ProxyHandler::RetryAfter(ProxyStream& proxy, int status,
                              ProxyResult result,
                              std::optional<RequestOutcome> outcome) {
  const std::optional<RetryPolicySpec>& policy =
      decision_.route->action().retry_policy;
  if (retries_left_ == 0 || !policy || !proxy.replayable() ||
      !RetryCovers(*policy, status, result)) {
    return false;
  }
  HostSharedPtr next = NextHost();
  if (next == nullptr) return false;
  --retries_left_;
  EndAttempt(outcome);
  BeginAttempt(std::move(next));
  // May end the exchange before returning (a synchronous connect failure).
  return proxy.Retry(upstream_->pools->Get(attempt_address_),
                     {.authority = decision_.authority});
}

// ---------------------------------------------------------------------------
// Responses

ProxyHeadAction ProxyHandler::OnResponseHead(ProxyStream& proxy,
                                             const ResponseHeadView& head) {
  if (head.status == 421 && decision_.target != nullptr &&
      !misdirect_retried_ && proxy.replayable()) {
    return Misdirected();
  }
  if (head.status >= 500 || head.status == 409) {
    const std::optional<RequestOutcome> outcome =
        head.status >= 500 ? RequestOutcome::kServerError
                           : RequestOutcome::kSuccess;
    if (RetryAfter(proxy, head.status, ProxyResult::kSuccess, outcome)) {
      return ProxyHeadAction::kIntercept;
    }
  }
  forwarded_status_ = head.status;
  return ProxyHeadAction::kForward;
}

ProxyHeadAction ProxyHandler::Misdirected() {
  misdirect_retried_ = true;
  // The instance answered; it just no longer owns the key.
  EndAttempt(RequestOutcome::kSuccess);
  Router& router = engine_->router(listener_);
  router.Misdirected(decision_);
  Router::Result result = router.Route(
      stream_->request(),
      [this](RoutingDecision decision) { OnRouted(std::move(decision)); });
  if (result.handle != nullptr) {
    route_handle_ = std::move(result.handle);
    rerouting_ = true;
  } else if (result.decision->forward()) {
    RetryOnNewOwner(*std::move(result.decision));
  } else {
    // The ProxyStream is on the stack: answer on the next turn of the loop.
    DeferLocalReply(*std::move(result.decision));
  }
  return ProxyHeadAction::kIntercept;
}

void ProxyHandler::RetryOnNewOwner(RoutingDecision decision) {
  decision_ = std::move(decision);
  if (!decision_.forward()) {
    ReplyLocally(decision_.status, decision_.error, decision_.detail);
    return;
  }
  BeginAttempt(engine_->OwnerHost(*upstream_, decision_.authority,
                                  decision_.upstream));
  if (proxy_->Retry(upstream_->pools->Get(decision_.upstream),
                    {.authority = decision_.authority})) {
    return;
  }
  // More body arrived while the resolver was asked than can be replayed
  // (only possible on this asynchronous path).
  EndAttempt(std::nullopt);
  ReplyLocally(421, "misdirected_request",
               absl::StrCat("the owner of key \"", decision_.key,
                            "\" moved to ", ToAbsl(decision_.authority),
                            " and the request body is too large to send "
                            "again"));
}

void ProxyHandler::DeferLocalReply(RoutingDecision decision) {
  deferred_reply_ = std::move(decision);
  if (deferred_reply_timer_ == nullptr) {
    deferred_reply_timer_ = core_.dispatcher.CreateTimer([this] {
      if (!deferred_reply_) return;
      decision_ = *std::move(deferred_reply_);
      deferred_reply_.reset();
      ReplyLocally(decision_.status, decision_.error, decision_.detail);
    });
  }
  deferred_reply_timer_->Arm(Duration::zero());
}

void ProxyHandler::OnProxyComplete(ProxyStream& proxy,
                                   const ProxyOutcome& outcome) {
  switch (outcome.result) {
    case ProxyResult::kDownstreamReset:
      route_handle_.reset();
      rerouting_ = false;
      deferred_reply_.reset();
      EndAttempt(std::nullopt);
      Finish(forwarded_status_, "downstream_reset");
      return;
    case ProxyResult::kSuccess:
      EndAttempt(outcome.status >= 500 ? RequestOutcome::kServerError
                                       : RequestOutcome::kSuccess);
      Finish(outcome.status, {});
      return;
    case ProxyResult::kResetAfterResponse:
      EndAttempt(RequestOutcome::kReset);
      Finish(forwarded_status_, "upstream_reset");
      return;
    default:
      break;
  }
  if (outcome.result == ProxyResult::kTimeout && forwarded_status_ != 0) {
    EndAttempt(RequestOutcome::kTimeout);  // the client's connection was reset
    Finish(forwarded_status_, "upstream_timeout");
    return;
  }
  if (outcome.result == ProxyResult::kConnectFailure &&
      decision_.target != nullptr) {
    engine_->router(listener_).OwnerUnreachable(decision_);
  }
  // No response yet: a local reply, or a retry.
  const std::optional<RequestOutcome> health = FailureOutcome(outcome.result);
  const auto [status, code] = FailureReply(outcome.result);
  if (outcome.local_reply_sent) {
    EndAttempt(health);
    Finish(status, code);
    return;
  }
  if (RetryAfter(proxy, 0, outcome.result, health)) return;
  EndAttempt(health);
  stream_->SendLocalReply(
      status, code,
      absl::StrCat(attempt_address_.ToString(), ": ",
                   ToAbsl(ProxyResultName(outcome.result))));
  Finish(status, code);
}

void ProxyHandler::OnRequestRejected(const RejectedRequest& rejected) {
  if (!core_.access_log.enabled()) return;
  AccessLogRecord record;
  record.start = std::chrono::system_clock::now();
  record.method = rejected.method;
  record.path = rejected.path;
  record.http_minor = rejected.http_minor;
  record.status = rejected.status;
  record.error = rejected.code;
  core_.access_log.Add(record);
}

void ProxyHandler::OnStreamReset(StreamResetReason reason) {
  route_handle_.reset();
  EndAttempt(std::nullopt);
  switch (reason) {
    case StreamResetReason::kBodyTooLarge:
      Finish(413, "payload_too_large");
      return;
    case StreamResetReason::kTimeout:
      Finish(408, "request_timeout");
      return;
    case StreamResetReason::kProtocolError:
      Finish(400, "bad_request");
      return;
    default:
      Finish(0, "downstream_reset");
      return;
  }
}

// ---------------------------------------------------------------------------
// Endings

void ProxyHandler::ReplyLocally(int status, std::string_view code,
                                std::string_view detail) {
  proxy_.reset();  // hands the stream back (it has not started)
  stream_->SendLocalReply(status, code, detail);
  Finish(status, code);
}

void ProxyHandler::Finish(int status, std::string_view error) {
  if (upstream_ != nullptr) {
    --upstream_->active_requests;
    upstream_ = nullptr;
  }
  if (!active_) return;
  active_ = false;
  if (core_.access_log.enabled()) {
    AccessLogRecord record;
    record.start = start_wall_;
    record.method = method_;
    record.path = path_;
    record.http_minor = http_minor_;
    record.status = status;
    if (decision_.route != nullptr) record.route = decision_.route->name();
    record.key = decision_.key;
    if (!decision_.key.empty()) record.lookup = LookupName(decision_.lookup_source);
    if (decision_.target != nullptr) {
      record.upstream = decision_.authority;
    } else if (decision_.host != nullptr) {
      record.upstream = decision_.host->hostname();
      record.upstream_port = decision_.host->address().port();
    }
    record.address = &attempt_address_;
    record.duration = core_.dispatcher.Now() - start_;
    record.error = error;
    core_.access_log.Add(record);
  }
  // A request that started before a reload lets go of the old engine (not
  // here, where its callbacks may be on the stack).
  if (engine_ != core_.engine) core_.Retire(std::move(engine_));
}

}  // namespace homing::proxy_internal
