// File: lib/http/upstream_connection.h
//
// The client side of HTTP/1.1 (an Http1Decoder in response mode over a
// TcpConnection) and the pool that lends these connections out. See homing/http_upstream.h
// for the behaviour. Mechanics:
//  - a connection is in one of four states: connecting, idle (in its pool's
//    idle list, reading only to notice the peer closing), busy (lent out for
//    one exchange) and closed (waiting to be deleted at the end of the loop
//    iteration, as a caller may still be on the stack);
//  - the end of a response pauses the decoder; the connection goes back to
//    the pool only after Decode() returned, so a waiting request that gets
//    it at once starts from a clean decoder.
//
// Thread safety: loop thread only.

#ifndef HOMING_LIB_HTTP_UPSTREAM_CONNECTION_H_
#define HOMING_LIB_HTTP_UPSTREAM_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "homing/http_upstream.h"
#include "homing/stats.h"
#include "http/http1_codec.h"
#include "http/io_context.h"
#include "http/status_counters.h"
#include "http/tcp_connection.h"

namespace homing::internal {

struct PoolStats {
  explicit PoolStats(const StatsScope& scope);

  Counter& cx_total;
  Gauge& cx_active;
  Counter& cx_connect_fail;
  Counter& cx_connect_timeout;
  Counter& cx_idle_timeout;
  Counter& cx_destroy_remote;
  Counter& cx_protocol_error;
  Counter& cx_rx_bytes_total;
  Counter& cx_tx_bytes_total;
  Counter& rq_total;
  Gauge& rq_active;
  StatusClassCounters rq_status;  // upstream_rq_1xx … _5xx
  Counter& rq_pending_total;
  Gauge& rq_pending_active;
  Counter& rq_pending_overflow;
  Counter& rq_timeout;
  Counter& flow_control_paused_reading_total;
  Counter& flow_control_resumed_reading_total;
  Counter& flow_control_backed_up_total;
  Counter& flow_control_drained_total;
  Histogram& rq_time;
};

class PoolImpl;
class UpstreamConnectionImpl;

// PoolsContext
//
// What every pool of one UpstreamPools shares.
class PoolsContext {
 public:
  PoolsContext(Dispatcher& dispatcher, const ConnectionPoolOptions& options,
               const StatsScope& scope);
  // Deletes connections that closed but were not yet deleted.
  ~PoolsContext();

  const ConnectionPoolOptions& options() const { return options_; }
  PoolStats& stats() { return stats_; }
  IoContext& io() { return io_; }
  const TcpConnection::Options& tcp_options() const { return tcp_options_; }

  void Track(UpstreamConnectionImpl* connection);
  void Forget(UpstreamConnectionImpl* connection);

 private:
  const ConnectionPoolOptions options_;
  PoolStats stats_;
  TcpConnection::Options tcp_options_;
  absl::flat_hash_set<UpstreamConnectionImpl*> all_;
  // Last: destroyed first, closing every socket.
  IoContext io_;
};

class UpstreamConnectionImpl final : public UpstreamConnection,
                                     private TcpConnection::Callbacks,
                                     private Http1DecoderCallbacks,
                                     private Deferred {
 public:
  enum class State { kConnecting, kIdle, kBusy, kClosed };

  UpstreamConnectionImpl(PoolImpl& pool, PoolsContext& context);
  ~UpstreamConnectionImpl();

  // Starts connecting; false with `*error` when that fails at once.
  bool Connect(int* error);
  State state() const { return state_; }
  // The pool lends the connection out.
  void Assign();
  // No reuse after the current exchange.
  void MarkDrained() { drained_ = true; }
  // Closes at once; a busy exchange gets OnUpstreamReset(`reason`).
  void Abort(UpstreamResetReason reason);

  // UpstreamConnection
  void SendRequestHead(const UpstreamRequestHead& head,
                       UpstreamResponseCallbacks& callbacks) override;
  void SendRequestBody(std::string_view data) override;
  void SendRequestEnd() override;
  void SetResponseTimeout(Duration timeout) override;
  void ReadDisable() override;
  void ReadEnable() override;
  size_t write_buffered_bytes() const override;
  bool above_write_high_watermark() const override;
  void Reset() override;
  bool reused() const override { return exchanges_ > 1; }
  const SocketAddress& address() const override;

 private:
  // Http1DecoderCallbacks
  Http1Action OnHead(const Http1Head& head) override;
  Http1Action OnBody(std::string_view data) override;
  Http1Action OnMessageComplete() override;

  // TcpConnection::Callbacks
  void OnConnected() override;
  void OnRead(char* data, size_t length) override;
  void OnReadEof() override;
  void OnError(int error) override;
  void OnTimer() override;
  void OnWriteBufferHigh() override;
  void OnWriteBufferLow() override;

  // Deferred: resume parsing after ReadEnable(), or delete when closed.
  void RunDeferred() override;

  void ProcessInput();
  void UpdateReading();
  bool exchange_open() const {
    return state_ == State::kBusy && !exchange_done_;
  }
  // The response ended: hand the result over, then reuse or close.
  void CompleteExchange();
  void FailExchange(UpstreamResetReason reason);
  void CloseConnection();
  // The one timer serves the connect, response and idle timeouts. A new
  // deadline re-arms it only when it comes before the armed one, and a
  // firing before the current deadline just re-arms: a keep-alive
  // connection's steady state is no timer operation per exchange. `ms` 0
  // clears the deadline.
  void SetDeadline(uint64_t ms);

  PoolImpl& pool_;
  PoolsContext& context_;
  TcpConnection* tcp_ = nullptr;
  State state_ = State::kConnecting;
  bool drained_ = false;
  uint32_t exchanges_ = 0;

  Http1Decoder decoder_;

  // Undecoded input inside the TcpConnection's read buffer.
  char* input_ = nullptr;
  size_t input_length_ = 0;
  bool processing_ = false;

  // The exchange in progress.
  UpstreamResponseCallbacks* callbacks_ = nullptr;
  bool exchange_done_ = false;
  bool head_sent_ = false;
  bool request_complete_ = false;
  bool chunked_request_ = false;
  bool upgrade_request_ = false;
  bool head_request_ = false;
  bool interim_ = false;  // a 1xx response being skipped
  bool response_started_ = false;
  bool response_complete_ = false;
  bool response_keep_alive_ = false;
  bool tunnel_ = false;
  int read_disable_count_ = 0;
  uint64_t request_start_us_ = 0;

  // Dispatcher times (IoContext::NowMs()); 0 for none.
  uint64_t deadline_ms_ = 0;
  uint64_t armed_deadline_ms_ = 0;
};

}  // namespace homing::internal

#endif  // HOMING_LIB_HTTP_UPSTREAM_CONNECTION_H_
