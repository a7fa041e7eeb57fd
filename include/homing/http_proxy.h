// File: homing/http_proxy.h
//
// `ProxyStream` forwards one client request (a `ServerStream`) to an upstream
// taken from a `ConnectionPool`, and the response back, streaming both ways
// with backpressure: when the upstream's write buffer is above its high
// watermark the client is not read, and when the client's is, the upstream is
// not read, until each drains below its low watermark.
//
// What goes upstream: the client's method, path (or `ProxyRequestRewrite::
// path`), Host = the client's authority (or `ProxyRequestRewrite::authority`),
// the client's headers minus hop-by-hop ones (see homing/http_upstream.h),
// `x-forwarded-for` with the client's address appended and `x-request-id`
// (a random UUIDv4) when the client sent none, then the body.
//
// The caller learns the result through `ProxyCallbacks`:
//  - `OnResponseHead()` sees the upstream status and headers before anything
//    is sent to the client, and may intercept the response (a 421 from an
//    instance that no longer owns the key): the upstream connection is
//    dropped and the caller calls `Retry()` (now, or after a new lookup) or
//    destroys the ProxyStream (handing the stream back) and replies itself;
//  - `OnProxyComplete()` reports how the exchange ended, for passive health
//    checking: success with the status, connect failure, overflow, reset
//    before or after the response started, timeout, or the client leaving.
//    Failures before the response started are answered with a JSON local
//    reply first (503 upstream_connect_failure, upstream_overflow,
//    upstream_reset; 504 upstream_timeout) unless
//    `ProxyOptions::local_reply_on_failure` is off, in which case the caller
//    must answer or `Retry()`. After the response started, a failure resets
//    the client's connection.
//
// Replay rule (for `Retry()` and the automatic retry below): a request is
// replayable while the ProxyStream still holds every body byte received so
// far: requests without a body always, requests whose body so far fits
// `max_replay_body_bytes` (64 KiB by default). Larger bodies stream without a
// copy, and once more than that has arrived the request is no longer
// replayable. A replayed request sends the held bytes, then the rest as it
// arrives.
//
// Automatic retry: when a *reused* keep-alive connection fails before any
// response byte (the upstream closed it just as the request went out), an
// idempotent request (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) that is
// replayable is sent once more on another connection of the same pool.
//
// Upgrade: a request with `is_upgrade()` is forwarded with its Upgrade
// header; when the upstream answers 101 both connections become raw pipes
// until one side closes (EOF is passed on as a half-close; the exchange ends
// when the upstream closes).
//
// Example:
//
//   // In a RequestHandler:
//   void OnRequestHeaders(homing::ServerStream& stream) override {
//     proxy_.emplace(stream, *this);  // takes over the stream's body events
//     proxy_->Start(pools_->Get(address), {.authority = hostport});
//   }
//   homing::ProxyHeadAction OnResponseHead(
//       homing::ProxyStream& proxy,
//       const homing::ResponseHeadView& head) override {
//     if (head.status != 421 || retried_ || !proxy.replayable())
//       return homing::ProxyHeadAction::kForward;
//     retried_ = true;
//     proxy.Retry(pools_->Get(new_address), {.authority = new_hostport});
//     return homing::ProxyHeadAction::kIntercept;
//   }
//   void OnProxyComplete(homing::ProxyStream&,
//                        const homing::ProxyOutcome& outcome) override {
//     health_.Record(outcome);  // the ProxyStream may be destroyed here
//   }
//
// Thread safety: like the stream it serves, a ProxyStream belongs to the loop
// thread.

#ifndef HOMING_HTTP_PROXY_H_
#define HOMING_HTTP_PROXY_H_

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "homing/clock.h"
#include "homing/http_server.h"
#include "homing/http_upstream.h"

namespace homing {

class ProxyStream;

// ProxyResult
enum class ProxyResult {
  kSuccess,              // the response was forwarded completely
  kConnectFailure,       // no connection (refused, unreachable, timed out)
  kOverflow,             // the pool is full
  kResetBeforeResponse,  // the upstream failed before the response head
  kResetAfterResponse,   // …after it; the client connection was reset
  kTimeout,              // no complete response within `timeout`
  kDownstreamReset,      // the client went away; the upstream was dropped
};

// ProxyResultName()
//
// "success", "connect_failure", "overflow", "reset_before_response",
// "reset_after_response", "timeout", "downstream_reset".
std::string_view ProxyResultName(ProxyResult result);

// FailureReply
//
// The local reply for an exchange that failed before the response head:
// 503 upstream_connect_failure, 503 upstream_overflow, 504 upstream_timeout,
// else 503 upstream_reset. ProxyStream sends it; a caller that answers
// failures itself (local_reply_on_failure off, to retry first) uses it too.
struct FailureReply {
  int status;
  std::string_view code;
};
FailureReply FailureReplyFor(ProxyResult result);

// ProxyOutcome
struct ProxyOutcome {
  ProxyResult result = ProxyResult::kSuccess;
  int status = 0;  // the upstream's status once a head arrived, else 0
  // The client got a local reply from the ProxyStream (see the file comment).
  bool local_reply_sent = false;
};

// ProxyHeadAction
enum class ProxyHeadAction {
  kForward,    // send the response to the client
  kIntercept,  // drop it (and its connection); Retry() or reply yourself
};

// ProxyCallbacks
class ProxyCallbacks {
 public:
  virtual ~ProxyCallbacks() = default;

  // ProxyCallbacks::OnResponseHead()
  //
  // The upstream's final response head, before the client sees it. Calling
  // `Retry()` from here is fine. Do not destroy the ProxyStream here.
  virtual ProxyHeadAction OnResponseHead(ProxyStream& proxy,
                                         const ResponseHeadView& head) {
    (void)proxy;
    (void)head;
    return ProxyHeadAction::kForward;
  }

  // ProxyCallbacks::OnProxyComplete()
  //
  // The exchange ended, and the client stream is handed back to its handler.
  // Called once, unless `Retry()` is called from here (possible only when
  // the failure left the response unstarted and no local reply was sent:
  // see `local_reply_on_failure`). The ProxyStream may be destroyed from
  // here.
  virtual void OnProxyComplete(ProxyStream& proxy,
                               const ProxyOutcome& outcome) = 0;
};

// ProxyOptions
struct ProxyOptions {
  // From the end of the request to the end of the response (Envoy's route
  // timeout); restarted by Retry(); zero disables. Not applied to tunnels
  // once the 101 arrived.
  Duration timeout = std::chrono::seconds(15);
  size_t max_replay_body_bytes = 64 * 1024;  // see the replay rule
  bool add_forwarded_for = true;
  bool add_request_id = true;
  bool retry_reused_connection_reset = true;  // the automatic retry
  // Answer failures before the response with 503/504 JSON. Off: the caller
  // answers (or retries) in OnProxyComplete().
  bool local_reply_on_failure = true;
};

// ProxyRequestRewrite
//
// What the caller changes in the request it forwards. Copied by Start() /
// Retry(); the views need to live only during the call.
struct ProxyRequestRewrite {
  std::string_view authority = {};  // Host sent upstream; empty: the client's
  std::string_view path = {};       // request target; empty: the client's
  std::span<const HttpHeader> extra_headers = {};  // after the client's
};

// ProxyStream
//
// Allocation: none per request beyond the copy of the rewrite (authority,
// path) and, for bodies, the replay buffer; keep the ProxyStream in the
// handler (`std::optional<ProxyStream>`) rather than on the heap.
class ProxyStream final : private ServerStreamCallbacks,
                          private PoolCallbacks,
                          private UpstreamResponseCallbacks {
 public:
  // ProxyStream::ProxyStream()
  //
  // Takes over `downstream`'s events (`ServerStream::SetCallbacks()`): body
  // bytes arriving before `Start()` are held (see the replay rule; beyond
  // `max_replay_body_bytes` the client is not read until the upstream is
  // ready). Construct it in `OnRequestHeaders()`, call `Start()` once the
  // upstream is known, possibly later. (A handler that held the body back
  // with `ReadDisable()` before constructing it calls `ReadEnable()` after.)
  ProxyStream(ServerStream& downstream, ProxyCallbacks& callbacks,
              const ProxyOptions& options = {});

  // Abandons an unfinished exchange: the upstream connection is closed (or
  // the pool wait cancelled), the client stream is reset if its response had
  // started and handed back to its handler otherwise. No callback follows.
  ~ProxyStream();

  ProxyStream(const ProxyStream&) = delete;
  ProxyStream& operator=(const ProxyStream&) = delete;

  // ProxyStream::Start()
  //
  // Starts forwarding through `pool`. Call once.
  void Start(ConnectionPool& pool, const ProxyRequestRewrite& rewrite = {});

  // ProxyStream::replayable()
  //
  // `true` while the request can be sent again (see the replay rule).
  bool replayable() const;

  // ProxyStream::Retry()
  //
  // After an intercepted response head: sends the request again through
  // `pool`. Returns false (and does nothing) when the request is not
  // replayable, the response already started or the exchange ended.
  bool Retry(ConnectionPool& pool, const ProxyRequestRewrite& rewrite = {});

  // ProxyStream::done()
  //
  // `true` once `OnProxyComplete()` was called (and no Retry() followed).
  bool done() const { return done_; }

 private:
  // ServerStreamCallbacks (the client side)
  void OnRequestBody(std::string_view data) override;
  void OnRequestEnd() override;
  void OnStreamReset(StreamResetReason reason) override;
  void OnWriteBufferHigh() override;
  void OnWriteBufferLow() override;

  // PoolCallbacks
  void OnPoolReady(UpstreamConnection& connection) override;
  void OnPoolFailure(PoolFailureReason reason,
                     std::string_view detail) override;

  // UpstreamResponseCallbacks (the upstream side)
  void OnResponseHead(const ResponseHeadView& head) override;
  void OnResponseBody(std::string_view data) override;
  void OnResponseEnd() override;
  void OnUpstreamReset(UpstreamResetReason reason,
                       bool response_started) override;
  void OnUpstreamWriteBufferHigh() override;
  void OnUpstreamWriteBufferLow() override;

  void StoreRewrite(const ProxyRequestRewrite& rewrite);
  // Returns false when `this` was destroyed by a callback meanwhile.
  bool Attempt(ConnectionPool& pool);
  void SendRequestHead();
  void DetachUpstream();
  void DisableDownstreamReading();
  void HandBackDownstream();
  // Ends the exchange with a failure before the response started.
  void FailBeforeResponse(ProxyResult result, std::string_view detail);
  void Finish(const ProxyOutcome& outcome);

  ServerStream* downstream_;  // null once its response ended or it reset
  ProxyCallbacks& callbacks_;
  const ProxyOptions options_;
  ConnectionPool* pool_ = nullptr;
  std::unique_ptr<PendingStream> pending_;
  UpstreamConnection* upstream_ = nullptr;
  // Calls that may run a callback which destroys `this` push a guard; the
  // destructor marks every guard on the stack.
  struct DestructionGuard {
    bool destroyed = false;
    DestructionGuard* outer = nullptr;
  };
  DestructionGuard* guards_ = nullptr;

  std::string rewrite_;  // authority, path and extra headers, copied
  std::string_view authority_;
  std::string_view path_;
  std::vector<HttpHeader> extra_headers_;
  char forwarded_for_[48] = {};
  size_t forwarded_for_length_ = 0;

  std::string held_body_;  // the replay buffer
  bool replayable_ = true;
  bool request_complete_ = false;
  bool started_ = false;
  bool done_ = false;
  bool response_started_ = false;
  bool attempt_on_reused_connection_ = false;
  bool automatic_retry_used_ = false;
  int status_ = 0;
  int downstream_disables_ = 0;  // our ReadDisable()s not yet undone
  bool waiting_for_upstream_disable_ = false;
  bool upstream_backpressure_disable_ = false;
  bool downstream_backpressure_disable_ = false;
};

}  // namespace homing

#endif  // HOMING_HTTP_PROXY_H_
