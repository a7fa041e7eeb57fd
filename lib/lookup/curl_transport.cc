// LookupTransport::CreateCurl(): resolver GETs over libcurl's multi
// interface, driven by a Dispatcher (curl's "multi_socket" API:
// CURLMOPT_SOCKETFUNCTION tells us which sockets to watch, TIMERFUNCTION
// when to call back, and curl_multi_socket_action() does the work).
//
// One multi handle per transport holds the connection cache, so keep-alive
// connections to resolver hosts are reused across lookups; finished easy
// handles are kept and reused too. Callbacks run after curl has returned
// (from a watch or timer callback), never from inside Get() or curl.

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "homing/affinity_lookup.h"
#include "lookup/resolver_answer.h"

namespace homing {
namespace {

using internal::ToAbsl;
using Response = LookupTransport::Response;

// Idle easy handles kept for reuse beyond this are freed.
constexpr size_t kMaxIdleEasyHandles = 64;

class CurlTransport;

// CurlRequest
//
// One GET; the Cancelable returned by Get(). In flight it owns an easy
// handle in the multi; once curl is done it waits in the transport's
// completion queue until its callback runs.
class CurlRequest final : public Cancelable {
 public:
  enum class State { kInFlight, kCompleted, kDone };

  CurlRequest(CurlTransport* transport, CURL* easy,
              LookupTransport::Callback callback)
      : transport_(transport), easy_(easy), callback_(std::move(callback)) {}
  ~CurlRequest() override;

 private:
  friend class CurlTransport;

  static size_t OnBody(char* data, size_t size, size_t count, void* self);

  CurlTransport* transport_;  // null once the transport is gone
  CURL* easy_;                // while kInFlight
  State state_ = State::kInFlight;
  LookupTransport::Callback callback_;
  Response response_;
  bool body_too_large_ = false;
  char error_buffer_[CURL_ERROR_SIZE] = {};
};

class CurlTransport final : public LookupTransport {
 public:
  explicit CurlTransport(Dispatcher& dispatcher) : dispatcher_(dispatcher) {}
  ~CurlTransport() override;

  absl::Status Init();
  std::unique_ptr<Cancelable> Get(const Host& host,
                                  std::string_view path_and_query,
                                  Duration timeout, Callback callback) override;

  // CurlTransport::Forget()
  //
  // A request handle is being destroyed before its callback ran.
  void Forget(CurlRequest* request);

 private:
  static int OnSocket(CURL* easy, curl_socket_t socket, int what, void* self,
                      void* socket_data);
  static int OnTimer(CURLM* multi, long timeout_ms, void* self);

  // Lets curl work on `socket` (or on timeouts), then runs the callbacks of
  // whatever finished.
  void Act(curl_socket_t socket, int events);
  void CollectFinished();
  void Complete(CurlRequest* request, CURLcode result);
  void RunCallbacks();
  CURL* AcquireEasy();
  void ReleaseEasy(CURL* easy);

  Dispatcher& dispatcher_;
  CURLM* multi_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::unique_ptr<Timer> timer_;
  absl::flat_hash_map<curl_socket_t, std::unique_ptr<FdWatch>> watches_;
  absl::flat_hash_set<CurlRequest*> in_flight_;
  std::vector<CurlRequest*> completed_;  // callbacks not yet run, in order
  std::vector<CURL*> idle_easy_;
};

CurlRequest::~CurlRequest() {
  if (transport_ != nullptr && state_ != State::kDone) transport_->Forget(this);
}

size_t CurlRequest::OnBody(char* data, size_t size, size_t count, void* self) {
  auto* request = static_cast<CurlRequest*>(self);
  const size_t bytes = size * count;
  if (request->response_.body.size() + bytes >
      lookup_internal::kMaxResolverBody) {
    request->body_too_large_ = true;
    return 0;  // curl fails the transfer with CURLE_WRITE_ERROR
  }
  request->response_.body.append(data, bytes);
  return bytes;
}

absl::Status CurlTransport::Init() {
  static std::once_flag global_init;
  static CURLcode global_result = CURLE_OK;
  std::call_once(global_init,
                 [] { global_result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (global_result != CURLE_OK) {
    return absl::InternalError(absl::StrCat("curl_global_init: ",
                                            curl_easy_strerror(global_result)));
  }
  multi_ = curl_multi_init();
  if (multi_ == nullptr) return absl::InternalError("curl_multi_init failed");
  headers_ = curl_slist_append(nullptr, "Accept: application/json");
  if (headers_ == nullptr) return absl::InternalError("curl_slist_append failed");
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlTransport::OnSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlTransport::OnTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  timer_ = dispatcher_.CreateTimer([this] { Act(CURL_SOCKET_TIMEOUT, 0); });
  return absl::OkStatus();
}

CurlTransport::~CurlTransport() {
  for (CurlRequest* request : in_flight_) {
    curl_multi_remove_handle(multi_, request->easy_);
    curl_easy_setopt(request->easy_, CURLOPT_ERRORBUFFER, nullptr);
    idle_easy_.push_back(request->easy_);
    request->transport_ = nullptr;
  }
  for (CurlRequest* request : completed_) request->transport_ = nullptr;
  // Closing the cached connections may still call OnSocket/OnTimer, so the
  // multi goes before the watches and the timer.
  if (multi_ != nullptr) curl_multi_cleanup(multi_);
  for (CURL* easy : idle_easy_) curl_easy_cleanup(easy);
  curl_slist_free_all(headers_);
}

CURL* CurlTransport::AcquireEasy() {
  if (!idle_easy_.empty()) {
    CURL* easy = idle_easy_.back();
    idle_easy_.pop_back();
    return easy;
  }
  CURL* easy = curl_easy_init();
  if (easy == nullptr) return nullptr;
  // Options every resolver GET shares; curl keeps them across transfers.
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &CurlRequest::OnBody);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(easy, CURLOPT_PROXY, "");  // ignore http_proxy & co.
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers_);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "homing-affinity-lookup");
  return easy;
}

void CurlTransport::ReleaseEasy(CURL* easy) {
  // The error buffer belongs to the request, which may go away first.
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);
  if (idle_easy_.size() < kMaxIdleEasyHandles) {
    idle_easy_.push_back(easy);
  } else {
    curl_easy_cleanup(easy);
  }
}

std::unique_ptr<Cancelable> CurlTransport::Get(const Host& host,
                                               std::string_view path_and_query,
                                               Duration timeout,
                                               Callback callback) {
  CURL* easy = AcquireEasy();
  auto request = std::make_unique<CurlRequest>(this, easy, std::move(callback));
  if (easy == nullptr) {
    request->response_.error = Response::Error::kOther;
    request->response_.error_detail = "curl_easy_init failed";
    request->state_ = CurlRequest::State::kCompleted;
    completed_.push_back(request.get());
    timer_->Arm(Duration::zero());  // the callback may not run from Get()
    return request;
  }
  const std::string url = absl::StrCat("http://", host.address_string(),
                                       ToAbsl(path_and_query));
  const long timeout_ms = std::max<long>(
      1, std::chrono::ceil<std::chrono::milliseconds>(timeout).count());
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, request.get());
  curl_easy_setopt(easy, CURLOPT_PRIVATE, request.get());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, request->error_buffer_);
  // Adding calls OnTimer(0), which arms the timer: the transfer starts on
  // the next loop iteration.
  CURLMcode added = curl_multi_add_handle(multi_, easy);
  if (added != CURLM_OK) {
    ReleaseEasy(easy);
    request->easy_ = nullptr;
    request->response_.error = Response::Error::kOther;
    request->response_.error_detail =
        absl::StrCat("curl_multi_add_handle: ", curl_multi_strerror(added));
    request->state_ = CurlRequest::State::kCompleted;
    completed_.push_back(request.get());
    timer_->Arm(Duration::zero());
    return request;
  }
  in_flight_.insert(request.get());
  return request;
}

void CurlTransport::Forget(CurlRequest* request) {
  if (request->state_ == CurlRequest::State::kInFlight) {
    // curl closes the connection of an unfinished transfer rather than
    // reuse it mid-answer.
    curl_multi_remove_handle(multi_, request->easy_);
    ReleaseEasy(request->easy_);
    in_flight_.erase(request);
  } else {
    completed_.erase(std::find(completed_.begin(), completed_.end(), request));
  }
}

int CurlTransport::OnSocket(CURL*, curl_socket_t socket, int what, void* self,
                            void*) {
  auto* transport = static_cast<CurlTransport*>(self);
  if (what == CURL_POLL_REMOVE) {
    // curl calls this before closing the socket, so the watch must go now
    // (possibly from inside its own callback, which the Dispatcher allows).
    transport->watches_.erase(socket);
    return 0;
  }
  const uint32_t events = ((what & CURL_POLL_IN) ? kFdRead : 0u) |
                          ((what & CURL_POLL_OUT) ? kFdWrite : 0u);
  std::unique_ptr<FdWatch>& watch = transport->watches_[socket];
  if (watch != nullptr) {
    watch->SetEvents(events);
  } else {
    watch = transport->dispatcher_.WatchFd(
        socket, events, [transport, socket](uint32_t ready) {
          transport->Act(socket, ((ready & kFdRead) ? CURL_CSELECT_IN : 0) |
                                     ((ready & kFdWrite) ? CURL_CSELECT_OUT : 0) |
                                     ((ready & kFdError) ? CURL_CSELECT_ERR : 0));
        });
  }
  return 0;
}

int CurlTransport::OnTimer(CURLM*, long timeout_ms, void* self) {
  auto* transport = static_cast<CurlTransport*>(self);
  // A 0 timeout means "act soon", never from inside this callback: the
  // dispatcher's zero-delay timer fires on the next loop iteration.
  if (timeout_ms < 0) {
    transport->timer_->Disarm();
  } else {
    transport->timer_->Arm(std::chrono::milliseconds(timeout_ms));
  }
  return 0;
}

void CurlTransport::Act(curl_socket_t socket, int events) {
  int running = 0;
  curl_multi_socket_action(multi_, socket, events, &running);
  CollectFinished();
  RunCallbacks();
}

void CurlTransport::CollectFinished() {
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    CurlRequest* request = nullptr;
    curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &request);
    Complete(request, message->data.result);
  }
}

void CurlTransport::Complete(CurlRequest* request, CURLcode result) {
  CURL* easy = request->easy_;
  Response& response = request->response_;
  switch (result) {
    case CURLE_OK:
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.status);
      break;
    case CURLE_COULDNT_CONNECT:
      response.error = Response::Error::kConnectFailure;
      break;
    case CURLE_OPERATION_TIMEDOUT:
      response.error = Response::Error::kTimeout;
      break;
    default:
      response.error = Response::Error::kOther;
      break;
  }
  if (result != CURLE_OK) {
    response.body.clear();
    if (request->body_too_large_) {
      response.error_detail = absl::StrCat("answer larger than ",
                                           lookup_internal::kMaxResolverBody,
                                           " bytes");
    } else if (request->error_buffer_[0] != '\0') {
      response.error_detail = request->error_buffer_;
    } else {
      response.error_detail = curl_easy_strerror(result);
    }
  }
  curl_multi_remove_handle(multi_, easy);
  ReleaseEasy(easy);
  request->easy_ = nullptr;
  request->state_ = CurlRequest::State::kCompleted;
  in_flight_.erase(request);
  completed_.push_back(request);
}

void CurlTransport::RunCallbacks() {
  // A callback may destroy other requests (they leave the queue) or its
  // own (already kDone, so nothing to undo).
  while (!completed_.empty()) {
    CurlRequest* request = completed_.front();
    completed_.erase(completed_.begin());
    request->state_ = CurlRequest::State::kDone;
    Callback callback = std::move(request->callback_);
    callback(std::move(request->response_));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<LookupTransport>> LookupTransport::CreateCurl(
    Dispatcher& dispatcher) {
  auto transport = std::make_unique<CurlTransport>(dispatcher);
  if (absl::Status status = transport->Init(); !status.ok()) return status;
  return transport;
}

}  // namespace homing
