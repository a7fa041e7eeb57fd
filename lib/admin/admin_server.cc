// AdminServer: HandleAdminRequest() behind an HttpServer.

#include <memory>
#include <optional>
#include <utility>

#include "homing/admin.h"
#include "homing/http_server.h"

namespace homing {
namespace {

class AdminHandler final : public RequestHandler {
 public:
  explicit AdminHandler(const AdminSources& sources) : sources_(sources) {}

  void OnRequestHeaders(ServerStream& stream) override {
    const RequestView& request = stream.request();
    const AdminResponse response =
        HandleAdminRequest(sources_, request.method, request.path);
    const HttpHeader headers[] = {{"content-type", response.content_type},
                                  {"cache-control", "no-cache, max-age=0"}};
    stream.SendResponse(response.status, headers, response.body);
  }

 private:
  const AdminSources& sources_;
};

}  // namespace

class AdminServer::Impl {
 public:
  explicit Impl(AdminSources sources) : sources_(std::move(sources)) {}

  absl::Status Listen(Dispatcher& dispatcher, const SocketAddress& address) {
    HttpServerOptions options;
    options.listen_address = address;
    options.reuse_port = false;  // one admin listener per address
    std::optional<StatsScope> scope;
    if (sources_.stats != nullptr) scope.emplace(sources_.stats->Scope("http.admin."));
    absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(
        dispatcher, options,
        [this] { return std::make_unique<AdminHandler>(sources_); },
        scope ? &*scope : nullptr);
    if (!server.ok()) return server.status();
    server_ = *std::move(server);
    return absl::OkStatus();
  }

  const SocketAddress& local_address() const { return server_->local_address(); }

 private:
  AdminSources sources_;
  std::unique_ptr<HttpServer> server_;  // after sources_: its handlers use them
};

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Create(
    Dispatcher& dispatcher, const SocketAddress& address,
    AdminSources sources) {
  auto impl = std::make_unique<Impl>(std::move(sources));
  if (absl::Status status = impl->Listen(dispatcher, address); !status.ok()) {
    return status;
  }
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminServer::~AdminServer() = default;

const SocketAddress& AdminServer::local_address() const {
  return impl_->local_address();
}

}  // namespace homing
