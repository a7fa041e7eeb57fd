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

}  // namespace

ProxyHandler::ProxyHandler(WorkerCore& core, size_t listener)
    : core_(core), listener_(listener) {}

ProxyHandler::~ProxyHandler() {
  route_handle_.reset();
  deferred_reply_timer_.reset();
  proxy_.reset();
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
  proxy_.emplace(stream, *this, OptionsFor(result.route));
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
  if (!proxy_) proxy_.emplace(*stream_, *this, OptionsFor(decision_.route));
  SendToUpstream(/*retry=*/false);
}

bool ProxyHandler::SendToUpstream(bool retry) {
  attempt_address_ = decision_.upstream;
  ConnectionPool& pool = engine_->pools(decision_.cluster).Get(decision_.upstream);
  const ProxyRequestRewrite target{.authority = decision_.authority};
  if (!retry) {
    proxy_->Start(pool, target);
    return true;
  }
  // May end the exchange before returning (a synchronous connect failure).
  return proxy_->Retry(pool, target);
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

void ProxyHandler::EndForwarding(std::optional<RequestOutcome> outcome) {
  if (outcome) engine_->router(listener_).ReportOutcome(decision_, *outcome);
  decision_.in_flight = RequestInFlight();
}

bool ProxyHandler::RetryAfter(ProxyStream& proxy, int status,
                              RequestOutcome outcome) {
  if (!proxy.replayable() ||
      !engine_->router(listener_).RetryAttempt(decision_, status, outcome)) {
    return false;
  }
  return SendToUpstream(/*retry=*/true);
}

// ---------------------------------------------------------------------------
// Responses

ProxyHeadAction ProxyHandler::OnResponseHead(ProxyStream& proxy,
                                             const ResponseHeadView& head) {
  if (head.status == 421 && decision_.target != nullptr) {
    if (!misdirect_retried_ && proxy.replayable()) return Misdirected(head);
    // Relayed to the client (a second 421, or a body too large to send
    // again): the key's answer is still wrong, so the router hears of it.
    engine_->router(listener_).Misdirected(decision_, NamedOwner(head));
  }
  const RequestOutcome outcome = head.status >= 500
                                     ? RequestOutcome::kServerError
                                     : RequestOutcome::kSuccess;
  if (RetryAfter(proxy, head.status, outcome)) return ProxyHeadAction::kIntercept;
  forwarded_status_ = head.status;
  return ProxyHeadAction::kForward;
}

std::string_view ProxyHandler::NamedOwner(const ResponseHeadView& head) const {
  const std::string_view owner_header =
      decision_.route->action().affinity->owner_header;
  if (owner_header.empty()) return {};
  return head.FindHeader(owner_header).value_or("");
}

ProxyHeadAction ProxyHandler::Misdirected(const ResponseHeadView& head) {
  misdirect_retried_ = true;
  Router& router = engine_->router(listener_);
  router.Misdirected(decision_, NamedOwner(head));
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
  if (SendToUpstream(/*retry=*/true)) return;
  // More body arrived while the resolver was asked than can be replayed
  // (only possible on this asynchronous path).
  EndForwarding(std::nullopt);
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
      EndForwarding(std::nullopt);
      Finish(forwarded_status_, "downstream_reset");
      return;
    case ProxyResult::kSuccess:
      EndForwarding(outcome.status >= 500 ? RequestOutcome::kServerError
                                          : RequestOutcome::kSuccess);
      Finish(outcome.status, {});
      return;
    case ProxyResult::kResetAfterResponse:
      EndForwarding(RequestOutcome::kReset);
      Finish(forwarded_status_, "upstream_reset");
      return;
    default:
      break;
  }
  if (outcome.result == ProxyResult::kTimeout && forwarded_status_ != 0) {
    EndForwarding(RequestOutcome::kTimeout);  // the client's connection was reset
    Finish(forwarded_status_, "upstream_timeout");
    return;
  }
  // No response yet: a local reply, or a retry.
  const std::optional<RequestOutcome> health = FailureOutcome(outcome.result);
  const auto [status, code] = FailureReplyFor(outcome.result);
  if (outcome.local_reply_sent) {
    EndForwarding(health);
    Finish(status, code);
    return;
  }
  if (health && RetryAfter(proxy, 0, *health)) return;
  EndForwarding(health);
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
  EndForwarding(std::nullopt);
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
  decision_.in_flight = RequestInFlight();  // a local reply after forwarding began
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
