// File: lib/proxy/proxy_handler.h
//
// ProxyHandler: one client connection's requests, one at a time: route,
// then a local reply or a ProxyStream to the target, and the access log
// line. Like any embedder it leaves routing to the Router: the decision's
// host, retries (RetryAttempt), the 421 (Misdirected) and every outcome
// (ReportOutcome) go through it.
//
// Life of a request:
//   OnRequestHeaders ─┬─ an upgrade its route does not enable ─ 403 local reply
//                     └─ Route() ─┬─ decided now ───────────────┐
//                                 └─ later (ProxyStream holds   │
//                                    the body meanwhile) ───────┤
//                                                               ├─ local reply
//                                                               └─ Start() ─ OnResponseHead
//       (421 from the owner: Misdirected(), Route() again, Retry() once) ─ OnProxyComplete
//
// The ProxyStream of a finished request stays in place (done) until the
// next request or the handler's end: destroying it from inside one of its
// callbacks is never needed.
//
// Thread safety: belongs to the worker's loop thread.

#ifndef HOMING_LIB_PROXY_PROXY_HANDLER_H_
#define HOMING_LIB_PROXY_PROXY_HANDLER_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "homing/dispatcher.h"
#include "homing/http_proxy.h"
#include "homing/http_server.h"
#include "homing/router.h"
#include "proxy/worker_core.h"

namespace homing::proxy_internal {

class ProxyHandler final : public RequestHandler, public ProxyCallbacks {
 public:
  ProxyHandler(WorkerCore& core, size_t listener);
  ~ProxyHandler() override;

  // RequestHandler: the stream's events while no ProxyStream holds them.
  void OnRequestHeaders(ServerStream& stream) override;
  void OnStreamReset(StreamResetReason reason) override;
  // A request the HTTP server refused before routing: logged like the rest.
  void OnRequestRejected(const RejectedRequest& rejected) override;

  // ProxyCallbacks
  ProxyHeadAction OnResponseHead(ProxyStream& proxy,
                                 const ResponseHeadView& head) override;
  void OnProxyComplete(ProxyStream& proxy, const ProxyOutcome& outcome) override;

 private:
  // An upgrade request on a route whose upgrade_configs (or the connection
  // manager's) do not enable its type is answered 403 here, before any
  // affinity lookup or upstream connection (Envoy's rule and stat,
  // downstream_rq_ws_on_non_ws_route). Returns whether it was.
  bool RefuseUpgrade(const Router& router);
  // A decision for the request (first, or after a 421).
  void OnRouted(RoutingDecision decision);
  void Dispatch(RoutingDecision decision);
  void RetryOnNewOwner(RoutingDecision decision);
  // Handles a 421 from the owner; returns what OnResponseHead answers.
  ProxyHeadAction Misdirected(const ResponseHeadView& head);
  // The key's new owner a 421 names in the route's owner_header ("": none).
  std::string_view NamedOwner(const ResponseHeadView& head) const;
  // Sends the request again if it can be replayed and the router retries
  // how the attempt ended (`status` for a response head, else `outcome`).
  bool RetryAfter(ProxyStream& proxy, int status, RequestOutcome outcome);
  // Starts (or, `retry`, restarts) the ProxyStream towards the decision's
  // upstream; false when a retry could not be started.
  bool SendToUpstream(bool retry);
  // The exchange with the upstream is over: reports `outcome` to the router,
  // or with none (the client left) just ends the decision's in-flight count.
  void EndForwarding(std::optional<RequestOutcome> outcome);
  ProxyOptions OptionsFor(const Route* route) const;
  // A local reply once no ProxyStream is in the way (not from inside one of
  // its callbacks).
  void ReplyLocally(int status, std::string_view code, std::string_view detail);
  void DeferLocalReply(RoutingDecision decision);
  void Finish(int status, std::string_view error);

  WorkerCore& core_;
  const size_t listener_;
  std::shared_ptr<Engine> engine_;

  // The current request.
  ServerStream* stream_ = nullptr;
  bool active_ = false;  // between the head and Finish()
  std::chrono::system_clock::time_point start_wall_;
  MonotonicTime start_;
  std::string method_;  // copies for the access log: the stream's views end
  std::string path_;    // with its response
  int http_minor_ = 1;
  RoutingDecision decision_;
  std::unique_ptr<Cancelable> route_handle_;
  std::optional<ProxyStream> proxy_;
  SocketAddress attempt_address_;  // the last address dialed
  int forwarded_status_ = 0;       // the head the client got
  bool rerouting_ = false;  // a 421 re-route is pending
  bool misdirect_retried_ = false;
  std::optional<RoutingDecision> deferred_reply_;
  std::unique_ptr<Timer> deferred_reply_timer_;  // created on first use
};

}  // namespace homing::proxy_internal

#endif  // HOMING_LIB_PROXY_PROXY_HANDLER_H_
