// File: lib/http/tcp_connection.h
//
// One non-blocking TCP socket on a Dispatcher (`WatchFd()` readiness, one
// dispatcher timer), as the HTTP codecs need it. It is the only owner of the
// descriptor: connect (EINPROGRESS, then SO_ERROR once writable), recv/send
// until EAGAIN, shutdown(SHUT_WR) and close all happen here.
//  - reads into one buffer owned by the connection (no allocation per read);
//    the owner may keep unparsed bytes in it as long as it stops reading;
//  - writes are appended to a pending buffer and flushed once per callback
//    batch (IoContext deferred work): one send() first; what the kernel did
//    not take waits for writability while new bytes collect in the pending
//    buffer. Two buffers swap roles, so the steady state allocates nothing;
//  - high/low watermarks on the bytes queued for writing;
//  - one timer for the owner's timeouts;
//  - `CloseAfterFlush()`: detach from the owner, write what is queued, then
//    close at once when the peer is done sending and nothing of it is
//    unread; otherwise shut down the sending side, read and discard until
//    EOF or a linger timeout, then close. Either way the client gets the
//    last response instead of a reset.
//
// Lifetime: `Close()` releases the socket at once and the connection deletes
// itself afterwards (deferred, as the owner may be on the stack). After
// `Close()` or `CloseAfterFlush()` the owner must forget it; no callback
// reaches the owner afterwards.
//
// Thread safety: loop thread only.

#ifndef HOMING_LIB_HTTP_TCP_CONNECTION_H_
#define HOMING_LIB_HTTP_TCP_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "homing/address.h"
#include "homing/stats.h"
#include "http/io_context.h"

namespace homing::internal {

// SocketErrorText()
//
// An errno value as local replies and pool failures describe it: strerror()
// in lower case ("connection refused"), as in the rest of a reply's detail.
std::string SocketErrorText(int error);

class TcpConnection final : public Deferred {
 public:
  class Callbacks {
   public:
    // Connect() finished successfully (failures go to OnError()).
    virtual void OnConnected() {}
    // Bytes read; `data` points into the connection's read buffer.
    virtual void OnRead(char* data, size_t length) = 0;
    // The peer shut down its sending side. Reading has stopped.
    virtual void OnReadEof() = 0;
    // Connect, read or write failed (an errno value, e.g. EPIPE when the peer
    // is gone while we write, ECONNRESET on a reset). Close() follows.
    virtual void OnError(int error) = 0;
    virtual void OnTimer() = 0;
    virtual void OnWriteBufferHigh() {}
    virtual void OnWriteBufferLow() {}

   protected:
    ~Callbacks() = default;
  };

  struct Options {
    size_t read_buffer_bytes = 16 * 1024;
    size_t high_watermark = 1024 * 1024;
    size_t low_watermark = 256 * 1024;
    Counter* rx_bytes = nullptr;
    Counter* tx_bytes = nullptr;
  };

  // TcpConnection::Accept()
  //
  // Takes over `fd`, a connection a listener accepted (non-blocking).
  static TcpConnection* Accept(IoContext& context, int fd,
                               const Options& options);

  // TcpConnection::Connect()
  //
  // Starts connecting to `address`; the outcome arrives as OnConnected() or
  // OnError(). nullptr when the attempt fails at once (`*error` set to the
  // errno value).
  static TcpConnection* Connect(IoContext& context,
                                const SocketAddress& address,
                                const Options& options, Callbacks* callbacks,
                                int* error);

  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  void SetCallbacks(Callbacks* callbacks) { callbacks_ = callbacks; }

  void ReadStart();
  void ReadStop();

  // TcpConnection::write_buffer() / CommitWrite()
  //
  // Append bytes to `write_buffer()`, then call `CommitWrite()` to schedule
  // the flush and check the high watermark.
  std::string& write_buffer() { return pending_; }
  void CommitWrite();
  void Write(std::string_view data) {
    pending_.append(data);
    CommitWrite();
  }

  size_t queued_bytes() const {
    return pending_.size() + (inflight_.size() - inflight_offset_);
  }
  bool above_high_watermark() const { return above_high_watermark_; }

  void ArmTimer(uint64_t milliseconds);
  void DisarmTimer();

  // TcpConnection::ShutdownWrite()
  //
  // Half-closes: once the queued bytes are written, shuts down the sending
  // side. Reading goes on.
  void ShutdownWrite();

  // TcpConnection::Close()
  //
  // Closes at once; queued bytes are dropped.
  void Close();

  // TcpConnection::CloseAfterFlush()
  //
  // Detaches from the owner and closes gracefully: the queued bytes get up to
  // `flush_timeout_ms` without progress to be written; then the connection
  // shuts down its side and reads and discards for up to `linger_ms` (or
  // until EOF), because input arriving at a closed socket is answered with a
  // reset that can destroy the response before the client reads it. With
  // `peer_done` (the owner knows the peer will send nothing more: it sent
  // EOF, or a complete last request) and nothing unread, it closes at once.
  void CloseAfterFlush(uint64_t flush_timeout_ms, uint64_t linger_ms,
                       bool peer_done = false);

  const SocketAddress& peer_address() const { return peer_; }
  const SocketAddress& local_address() const { return local_; }

  // Deferred: the flush, or the deletion once closed.
  void RunDeferred() override;

 private:
  friend class IoContext;

  TcpConnection(IoContext& context, int fd, const Options& options);
  ~TcpConnection();
  void FetchAddresses();
  // Watch interest from the state: readable while reading, writable while
  // connecting or while the kernel has not taken the in-flight bytes.
  void UpdateInterest();
  void OnReady(uint32_t ready);
  void FinishConnect();
  void OnReadable();
  void OnWritable();
  void Flush();
  void AfterWrite();
  void StartShutdown();
  // Bytes the peer sent that are still in the kernel's receive buffer.
  bool HasUnreadInput() const;
  void Fail(int error);
  void OnTimerFired();
  // Stops the watch and the timer and closes the descriptor.
  void ReleaseSocket();

  IoContext* context_;
  Callbacks* callbacks_ = nullptr;
  const Options options_;

  int fd_;
  std::unique_ptr<FdWatch> watch_;
  uint32_t watched_events_ = 0;
  std::unique_ptr<Timer> timer_;

  std::unique_ptr<char[]> read_buffer_;
  std::string pending_;
  std::string inflight_;  // sent up to inflight_offset_; the rest waits
  size_t inflight_offset_ = 0;

  bool connecting_ = false;
  bool reading_ = false;
  bool write_in_flight_ = false;  // inflight_ waits for writability
  bool above_high_watermark_ = false;
  bool shutdown_wanted_ = false;
  bool shutdown_started_ = false;
  bool closed_ = false;
  bool lingering_ = false;  // CloseAfterFlush() called
  bool peer_done_ = false;  // ... and told the peer sends nothing more
  uint64_t flush_timeout_ms_ = 0;
  uint64_t linger_ms_ = 0;

  SocketAddress peer_;
  SocketAddress local_;

  // IoContext registry links.
  TcpConnection* registry_prev_ = nullptr;
  TcpConnection* registry_next_ = nullptr;
};

}  // namespace homing::internal

#endif  // HOMING_LIB_HTTP_TCP_CONNECTION_H_
