#include "proxy/pool_lookup_transport.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"

namespace homing::proxy_internal {
namespace {

using internal::ToAbsl;
using Response = LookupTransport::Response;

// LookupTransport's bound on an answer.
constexpr size_t kMaxBody = 64 * 1024;

const HttpHeader kAcceptJson[] = {{"accept", "application/json"},
                                  {"user-agent", "homing-affinity-lookup"}};

// PoolLookupRequest
//
// One resolver request: waits for a connection, sends the GET, collects the
// answer. The handle returned by Get() is the request itself; every way out
// detaches from the pool and the connection before the callback runs, so
// the callback may destroy it.
class PoolLookupRequest final : public Cancelable,
                                private PoolCallbacks,
                                private UpstreamResponseCallbacks {
 public:
  PoolLookupRequest(Dispatcher& dispatcher, const Host& host,
                    std::string_view path_and_query,
                    LookupTransport::Callback callback)
      : host_(host.address_string()),
        path_(path_and_query),
        callback_(std::move(callback)),
        timer_(dispatcher.CreateTimer([this] { OnTimer(); })) {}

  ~PoolLookupRequest() override { Detach(); }

  void Start(ConnectionPool& pool, Duration timeout) {
    pool_ = &pool;
    timer_->Arm(timeout);
    RequestStream();
  }

 private:
  // PoolCallbacks
  void OnPoolReady(UpstreamConnection& connection) override {
    pending_.reset();
    connection_ = &connection;
    on_reused_connection_ = connection.reused();
    UpstreamRequestHead head;
    head.path = path_;
    head.authority = host_;
    head.extra_headers = kAcceptJson;
    const bool outer_call = in_call_;
    in_call_ = true;  // a failure while sending is delivered later
    connection.SendRequestHead(head, *this);
    if (connection_ != nullptr) connection_->SendRequestEnd();
    in_call_ = outer_call;
  }
  void OnPoolFailure(PoolFailureReason reason, std::string_view detail) override {
    pending_.reset();
    Response response;
    response.error = reason == PoolFailureReason::kTimeout
                         ? Response::Error::kTimeout
                     : reason == PoolFailureReason::kOverflow
                         ? Response::Error::kOther
                         : Response::Error::kConnectFailure;
    response.error_detail =
        absl::StrCat(ToAbsl(PoolFailureReasonName(reason)), ": ", ToAbsl(detail));
    Deliver(std::move(response));
  }

  // UpstreamResponseCallbacks
  void OnResponseHead(const ResponseHeadView& head) override {
    response_.status = head.status;
  }
  void OnResponseBody(std::string_view data) override {
    if (response_.body.size() + data.size() > kMaxBody) {
      UpstreamConnection* connection = std::exchange(connection_, nullptr);
      connection->Reset();
      Response response;
      response.error = Response::Error::kOther;
      response.error_detail = absl::StrCat("answer larger than ", kMaxBody, " bytes");
      Deliver(std::move(response));
      return;
    }
    response_.body.append(data);
  }
  void OnResponseEnd() override {
    connection_ = nullptr;  // back to its pool once this returns
    Deliver(std::move(response_));
  }
  void OnUpstreamReset(UpstreamResetReason reason, bool response_started) override {
    connection_ = nullptr;
    if (IsKeepAliveRace(on_reused_connection_, reason, response_started) &&
        !retried_) {
      // Most likely the resolver closed the idle connection as the request
      // went out: once more on a fresh one, within the same timeout.
      retried_ = true;
      RequestStream();
      return;
    }
    Response response;
    response.error = Response::Error::kOther;
    response.error_detail =
        absl::StrCat("upstream ", ToAbsl(UpstreamResetReasonName(reason)));
    Deliver(std::move(response));
  }

  void OnTimer() {
    if (deferred_) {
      Response response = std::move(*deferred_);
      deferred_.reset();
      Finish(std::move(response));
      return;
    }
    Detach();
    Response response;
    response.error = Response::Error::kTimeout;
    response.error_detail = "no answer within the lookup timeout";
    Finish(std::move(response));
  }

  // Asks the pool for a connection. An idle connection or an immediate
  // failure calls back from inside NewStream(); a failure is then delivered
  // from the timer.
  void RequestStream() {
    const bool outer_call = in_call_;
    in_call_ = true;
    pending_ = pool_->NewStream(*this);
    in_call_ = outer_call;
  }

  // Hands `response` to the callback now, or on the next loop iteration
  // when inside Start() or a send (whose caller still uses this request).
  void Deliver(Response response) {
    if (in_call_) {
      deferred_ = std::move(response);
      timer_->Arm(Duration::zero());
      return;
    }
    Finish(std::move(response));
  }

  void Finish(Response response) {
    timer_->Disarm();
    LookupTransport::Callback callback = std::move(callback_);
    callback(std::move(response));  // may destroy this
  }

  void Detach() {
    pending_.reset();
    if (UpstreamConnection* connection = std::exchange(connection_, nullptr)) {
      connection->Reset();
    }
  }

  const std::string host_;  // "ip:port", the Host header
  const std::string path_;
  LookupTransport::Callback callback_;
  std::unique_ptr<Timer> timer_;
  ConnectionPool* pool_ = nullptr;
  std::unique_ptr<PendingStream> pending_;
  UpstreamConnection* connection_ = nullptr;  // while the exchange is ours
  Response response_;
  std::optional<Response> deferred_;  // a result that came inside a call
  bool in_call_ = false;
  bool on_reused_connection_ = false;
  bool retried_ = false;  // after a failure on a reused connection
};

}  // namespace

std::unique_ptr<Cancelable> PoolLookupTransport::Get(
    const Host& host, std::string_view path_and_query, Duration timeout,
    Callback callback) {
  auto request = std::make_unique<PoolLookupRequest>(
      dispatcher_, host, path_and_query, std::move(callback));
  request->Start(pools_.Get(host.address()), timeout);
  return request;
}

}  // namespace homing::proxy_internal
