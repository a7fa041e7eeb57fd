// File: lib/http/connection_pool.h
//
// `PoolImpl`: the connections to one address (see homing/http_upstream.h for
// the rules). Waiting requests form an intrusive FIFO list of
// `PendingRequest`s owned by their callers; a served, failed or cancelled
// request leaves the list before its callback runs.
//
// Thread safety: loop thread only.

#ifndef HOMING_LIB_HTTP_CONNECTION_POOL_H_
#define HOMING_LIB_HTTP_CONNECTION_POOL_H_

#include <memory>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "homing/http_upstream.h"
#include "http/upstream_connection.h"

namespace homing::internal {

class PoolImpl;

class PendingRequest final : public PendingStream {
 public:
  PendingRequest(PoolImpl* pool, PoolCallbacks* callbacks)
      : pool_(pool), callbacks_(callbacks) {}
  ~PendingRequest() override;

 private:
  friend class PoolImpl;
  PoolImpl* pool_;  // null once off the list
  PoolCallbacks* callbacks_;
  PendingRequest* prev_ = nullptr;
  PendingRequest* next_ = nullptr;
};

class PoolImpl final : public ConnectionPool {
 public:
  PoolImpl(PoolsContext& context, const SocketAddress& address);
  // Fails waiting requests and aborts every connection.
  ~PoolImpl();

  // ConnectionPool
  std::unique_ptr<PendingStream> NewStream(PoolCallbacks& callbacks) override;
  void Drain() override;
  const SocketAddress& address() const override { return address_; }
  size_t connection_count() const override { return connections_.size(); }
  size_t idle_count() const override { return idle_.size(); }
  size_t pending_count() const override { return pending_count_; }

  // From connections.
  void OnConnected(UpstreamConnectionImpl* connection);
  void OnConnectFailed(UpstreamConnectionImpl* connection,
                       PoolFailureReason reason, std::string_view detail);
  void OnReleased(UpstreamConnectionImpl* connection);
  void OnClosed(UpstreamConnectionImpl* connection);
  void Cancel(PendingRequest* request);

 private:
  // Hands idle connections to waiting requests and opens connections for
  // those that have none coming.
  void ServePending();
  void Lend(UpstreamConnectionImpl* connection, PoolCallbacks& callbacks);
  PendingRequest* PopPending();
  void PushPending(PendingRequest* request);
  void FailOldest(PoolFailureReason reason, std::string_view detail);
  // Opens a connection; false with the errno value when that fails at once.
  bool StartConnection(int* error);

  PoolsContext& context_;
  const SocketAddress address_;
  absl::flat_hash_set<UpstreamConnectionImpl*> connections_;  // not closed
  std::vector<UpstreamConnectionImpl*> idle_;  // most recently used last
  size_t connecting_ = 0;
  PendingRequest* pending_head_ = nullptr;
  PendingRequest* pending_tail_ = nullptr;
  size_t pending_count_ = 0;
  bool destroying_ = false;
};

}  // namespace homing::internal

#endif  // HOMING_LIB_HTTP_CONNECTION_POOL_H_
