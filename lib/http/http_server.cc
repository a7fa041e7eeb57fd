#include "homing/http_server.h"

#include <utility>

#include "http/listener.h"
#include "http/server_connection.h"

namespace homing {

std::string_view StreamResetReasonName(StreamResetReason reason) {
  switch (reason) {
    case StreamResetReason::kConnectionClosed:
      return "connection_closed";
    case StreamResetReason::kTimeout:
      return "timeout";
    case StreamResetReason::kBodyTooLarge:
      return "body_too_large";
    case StreamResetReason::kProtocolError:
      return "protocol_error";
    case StreamResetReason::kWriteError:
      return "write_error";
    case StreamResetReason::kServerShutdown:
      return "server_shutdown";
  }
  return "unknown";
}

void ServerStream::SendLocalReply(int status, std::string_view code,
                                  std::string_view detail) {
  const HttpHeader headers[] = {{"content-type", "application/json"}};
  SendResponse(status, headers, LocalReplyBody(code, detail));
}

class HttpServer::Impl {
 public:
  Impl(Dispatcher& dispatcher, const HttpServerOptions& options,
       HandlerFactory factory, const StatsScope& scope,
       std::unique_ptr<StatsStore> private_store)
      : private_store_(std::move(private_store)),
        context_(dispatcher, options, std::move(factory), scope) {}

  absl::Status Listen() {
    const HttpServerOptions& options = context_.options();
    absl::StatusOr<std::unique_ptr<internal::Listener>> listener =
        internal::Listener::Open(
            context_.io().dispatcher(), options.listen_address,
            options.reuse_port, options.backlog,
            [this](int fd) { context_.Accept(fd); });
    if (!listener.ok()) return listener.status();
    listener_ = *std::move(listener);
    local_address_ = listener_->local_address();
    return absl::OkStatus();
  }

  void Drain(std::function<void()> on_drained) {
    listener_.reset();
    context_.Drain(std::move(on_drained));
  }

  const SocketAddress& local_address() const { return local_address_; }
  size_t connection_count() const { return context_.open_connections(); }

 private:
  std::unique_ptr<StatsStore> private_store_;  // when the caller gave none
  internal::ServerContext context_;
  // After context_: destroyed first, so no accept reaches a dying context.
  std::unique_ptr<internal::Listener> listener_;
  SocketAddress local_address_;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(
    Dispatcher& dispatcher, const HttpServerOptions& options,
    HandlerFactory factory, const StatsScope* stats) {
  if (!factory) return absl::InvalidArgumentError("handler factory is empty");
  if (options.read_buffer_bytes == 0) {
    return absl::InvalidArgumentError("read_buffer_bytes must be > 0");
  }
  if (options.write_buffer_low_watermark >
      options.write_buffer_high_watermark) {
    return absl::InvalidArgumentError(
        "write_buffer_low_watermark exceeds write_buffer_high_watermark");
  }
  std::unique_ptr<StatsStore> private_store;
  std::optional<StatsScope> scope;
  if (stats != nullptr) {
    scope.emplace(*stats);
  } else {
    private_store = std::make_unique<StatsStore>();
    scope.emplace(private_store->Scope(""));
  }
  auto impl = std::make_unique<Impl>(dispatcher, options, std::move(factory), *scope,
                                     std::move(private_store));
  if (absl::Status status = impl->Listen(); !status.ok()) return status;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() = default;

const SocketAddress& HttpServer::local_address() const {
  return impl_->local_address();
}

void HttpServer::Drain(std::function<void()> on_drained) {
  impl_->Drain(std::move(on_drained));
}

size_t HttpServer::connection_count() const {
  return impl_->connection_count();
}

}  // namespace homing
