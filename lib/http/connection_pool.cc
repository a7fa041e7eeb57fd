#include "http/connection_pool.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "common/string_util.h"

namespace homing {

std::string_view UpstreamResetReasonName(UpstreamResetReason reason) {
  switch (reason) {
    case UpstreamResetReason::kConnectionClosed:
      return "connection_closed";
    case UpstreamResetReason::kProtocolError:
      return "protocol_error";
    case UpstreamResetReason::kTimeout:
      return "timeout";
    case UpstreamResetReason::kWriteError:
      return "write_error";
  }
  return "unknown";
}

std::optional<std::string_view> ResponseHeadView::FindHeader(
    std::string_view name) const {
  for (const HttpHeader& header : headers) {
    if (internal::EqualsIgnoreCase(header.name, name)) return header.value;
  }
  return std::nullopt;
}

std::string_view PoolFailureReasonName(PoolFailureReason reason) {
  switch (reason) {
    case PoolFailureReason::kConnectFailure:
      return "connect_failure";
    case PoolFailureReason::kTimeout:
      return "timeout";
    case PoolFailureReason::kOverflow:
      return "overflow";
  }
  return "unknown";
}

namespace internal {

PendingRequest::~PendingRequest() {
  if (pool_ != nullptr) pool_->Cancel(this);
}

PoolImpl::PoolImpl(PoolsContext& context, const SocketAddress& address)
    : context_(context), address_(address) {}

PoolImpl::~PoolImpl() {
  destroying_ = true;
  while (pending_head_ != nullptr) {
    FailOldest(PoolFailureReason::kConnectFailure, "connection pool destroyed");
  }
  std::vector<UpstreamConnectionImpl*> connections(connections_.begin(),
                                                   connections_.end());
  for (UpstreamConnectionImpl* connection : connections) {
    connection->Abort(UpstreamResetReason::kConnectionClosed);
  }
}

void PoolImpl::PushPending(PendingRequest* request) {
  request->prev_ = pending_tail_;
  request->next_ = nullptr;
  if (pending_tail_ != nullptr) {
    pending_tail_->next_ = request;
  } else {
    pending_head_ = request;
  }
  pending_tail_ = request;
  ++pending_count_;
  context_.stats().rq_pending_total.Inc();
  context_.stats().rq_pending_active.Inc();
}

void PoolImpl::Cancel(PendingRequest* request) {
  if (request->prev_ != nullptr) {
    request->prev_->next_ = request->next_;
  } else {
    pending_head_ = request->next_;
  }
  if (request->next_ != nullptr) {
    request->next_->prev_ = request->prev_;
  } else {
    pending_tail_ = request->prev_;
  }
  request->prev_ = request->next_ = nullptr;
  request->pool_ = nullptr;
  --pending_count_;
  context_.stats().rq_pending_active.Dec();
}

PendingRequest* PoolImpl::PopPending() {
  PendingRequest* request = pending_head_;
  if (request != nullptr) Cancel(request);
  return request;
}

void PoolImpl::FailOldest(PoolFailureReason reason, std::string_view detail) {
  PendingRequest* request = PopPending();
  if (request != nullptr) request->callbacks_->OnPoolFailure(reason, detail);
}

void PoolImpl::Lend(UpstreamConnectionImpl* connection,
                    PoolCallbacks& callbacks) {
  connection->Assign();
  callbacks.OnPoolReady(*connection);
}

std::unique_ptr<PendingStream> PoolImpl::NewStream(PoolCallbacks& callbacks) {
  if (destroying_) {
    // Asked from a callback of the pool's own destruction.
    callbacks.OnPoolFailure(PoolFailureReason::kConnectFailure,
                            "connection pool destroyed");
    return nullptr;
  }
  while (!idle_.empty()) {
    UpstreamConnectionImpl* connection = idle_.back();
    idle_.pop_back();
    if (connection->state() == UpstreamConnectionImpl::State::kIdle) {
      Lend(connection, callbacks);
      return nullptr;
    }
  }
  const ConnectionPoolOptions& options = context_.options();
  const bool can_connect = connections_.size() < options.max_connections;
  if (!can_connect && pending_count_ >= options.max_pending_requests) {
    context_.stats().rq_pending_overflow.Inc();
    callbacks.OnPoolFailure(PoolFailureReason::kOverflow,
                            "too many requests waiting for a connection");
    return nullptr;
  }
  if (can_connect) {
    int error = 0;
    if (!StartConnection(&error)) {
      callbacks.OnPoolFailure(PoolFailureReason::kConnectFailure,
                              SocketErrorText(error));
      return nullptr;
    }
  }
  auto request = std::make_unique<PendingRequest>(this, &callbacks);
  PushPending(request.get());
  return request;
}

bool PoolImpl::StartConnection(int* error) {
  auto* connection = new UpstreamConnectionImpl(*this, context_);
  if (!connection->Connect(error)) {
    context_.Forget(connection);
    delete connection;
    context_.stats().cx_connect_fail.Inc();
    return false;
  }
  connections_.insert(connection);
  ++connecting_;
  return true;
}

void PoolImpl::ServePending() {
  if (destroying_) return;
  while (pending_head_ != nullptr && !idle_.empty()) {
    UpstreamConnectionImpl* connection = idle_.back();
    idle_.pop_back();
    if (connection->state() != UpstreamConnectionImpl::State::kIdle) continue;
    PendingRequest* request = PopPending();
    Lend(connection, *request->callbacks_);
  }
  while (pending_count_ > connecting_ &&
         connections_.size() < context_.options().max_connections) {
    int error = 0;
    if (!StartConnection(&error)) {
      FailOldest(PoolFailureReason::kConnectFailure, SocketErrorText(error));
    }
  }
}

void PoolImpl::OnConnected(UpstreamConnectionImpl* connection) {
  --connecting_;
  if (PendingRequest* request = PopPending()) {
    Lend(connection, *request->callbacks_);
  } else {
    idle_.push_back(connection);
  }
}

void PoolImpl::OnConnectFailed(UpstreamConnectionImpl* connection,
                               PoolFailureReason reason,
                               std::string_view detail) {
  --connecting_;
  connections_.erase(connection);
  FailOldest(reason, detail);
  ServePending();
}

void PoolImpl::OnReleased(UpstreamConnectionImpl* connection) {
  if (PendingRequest* request = PopPending()) {
    Lend(connection, *request->callbacks_);
  } else {
    idle_.push_back(connection);
  }
}

void PoolImpl::OnClosed(UpstreamConnectionImpl* connection) {
  if (connections_.erase(connection) == 0) return;
  auto idle = std::find(idle_.begin(), idle_.end(), connection);
  if (idle != idle_.end()) idle_.erase(idle);
  ServePending();
}

void PoolImpl::Drain() {
  std::vector<UpstreamConnectionImpl*> connections(connections_.begin(),
                                                   connections_.end());
  for (UpstreamConnectionImpl* connection : connections) {
    connection->MarkDrained();
    if (connection->state() == UpstreamConnectionImpl::State::kIdle) {
      connection->Abort(UpstreamResetReason::kConnectionClosed);
    }
  }
}

}  // namespace internal

// ---------------------------------------------------------------------------
// UpstreamPools

namespace {

struct AddressHash {
  size_t operator()(const SocketAddress& address) const {
    const sockaddr* sa = address.sockaddr_ptr();
    if (sa->sa_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
      return absl::HashOf(in->sin_addr.s_addr, in->sin_port);
    }
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    uint64_t halves[2];
    std::memcpy(halves, &in6->sin6_addr, sizeof(halves));
    return absl::HashOf(halves[0], halves[1], in6->sin6_port);
  }
};

}  // namespace

class UpstreamPools::Impl {
 public:
  Impl(Dispatcher& dispatcher, const ConnectionPoolOptions& options,
       const StatsScope& scope, std::unique_ptr<StatsStore> private_store)
      : private_store_(std::move(private_store)),
        context_(dispatcher, options, scope) {}

  ~Impl() { pools_.clear(); }

  ConnectionPool& Get(const SocketAddress& address) {
    auto it = pools_.find(address);
    if (it == pools_.end()) {
      it = pools_
               .emplace(address,
                        std::make_unique<internal::PoolImpl>(context_, address))
               .first;
    }
    return *it->second;
  }

  void Drain(const SocketAddress& address) {
    auto it = pools_.find(address);
    if (it != pools_.end()) it->second->Drain();
  }

  void DrainAll() {
    for (auto& [address, pool] : pools_) pool->Drain();
  }

  size_t pool_count() const { return pools_.size(); }

 private:
  std::unique_ptr<StatsStore> private_store_;
  internal::PoolsContext context_;
  absl::flat_hash_map<SocketAddress, std::unique_ptr<internal::PoolImpl>,
                      AddressHash>
      pools_;
};

std::unique_ptr<UpstreamPools> UpstreamPools::Create(
    Dispatcher& dispatcher, const ConnectionPoolOptions& options,
    const StatsScope* stats) {
  std::unique_ptr<StatsStore> private_store;
  std::optional<StatsScope> scope;
  if (stats != nullptr) {
    scope.emplace(*stats);
  } else {
    private_store = std::make_unique<StatsStore>();
    scope.emplace(private_store->Scope(""));
  }
  return std::unique_ptr<UpstreamPools>(new UpstreamPools(
      std::make_unique<Impl>(dispatcher, options, *scope,
                             std::move(private_store))));
}

UpstreamPools::UpstreamPools(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

UpstreamPools::~UpstreamPools() = default;

ConnectionPool& UpstreamPools::Get(const SocketAddress& address) {
  return impl_->Get(address);
}

void UpstreamPools::Drain(const SocketAddress& address) {
  impl_->Drain(address);
}

void UpstreamPools::DrainAll() { impl_->DrainAll(); }

size_t UpstreamPools::pool_count() const { return impl_->pool_count(); }

}  // namespace homing
