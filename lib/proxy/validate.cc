// ValidateConfig() and CheckReloadable(): what --check and a reload verify
// before anything starts or changes.

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "homing/libuv_dispatcher.h"
#include "homing/proxy.h"
#include "homing/router.h"
#include "proxy/pool_lookup_transport.h"

namespace homing {
namespace {

std::string AddressText(const SocketAddressSpec& address) {
  return HostPort{address.address, address.port}.ToString();
}

absl::Status CheckBindAddress(std::string_view what,
                              const SocketAddressSpec& address) {
  absl::StatusOr<SocketAddress> parsed =
      SocketAddress::FromIp(address.address, address.port);
  if (parsed.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      internal::ToAbsl(what), ": ", parsed.status().message()));
}

absl::Status NeedsRestart(std::string_view what, std::string_view from,
                          std::string_view to) {
  return absl::FailedPreconditionError(
      absl::StrCat(internal::ToAbsl(what), " changes from ", internal::ToAbsl(from),
                   " to ", internal::ToAbsl(to), ", which needs a restart"));
}

std::string DurationText(Duration duration) {
  return absl::StrCat(
      std::chrono::duration_cast<std::chrono::milliseconds>(duration).count(),
      "ms");
}

}  // namespace

absl::Status ValidateConfig(const Bootstrap& config) {
  if (absl::Status status = CheckBindAddress("admin.address", config.admin.address);
      !status.ok()) {
    return status;
  }
  for (const ListenerSpec& listener : config.listeners) {
    if (absl::Status status = CheckBindAddress(
            absl::StrCat("listener \"", listener.name, "\" address"),
            listener.address);
        !status.ok()) {
      return status;
    }
  }
  absl::StatusOr<std::unique_ptr<LibuvDispatcher>> dispatcher =
      LibuvDispatcher::Create();
  if (!dispatcher.ok()) return dispatcher.status();
  StatsStore scratch;
  absl::StatusOr<std::unique_ptr<ClusterManager>> clusters =
      ClusterManager::Create(**dispatcher, config, scratch);
  if (!clusters.ok()) return clusters.status();
  // The transports the workers use; nothing is sent.
  std::unique_ptr<UpstreamPools> lookup_pools =
      UpstreamPools::Create(**dispatcher, {});
  const Router::TransportFactory transports =
      [&]() -> absl::StatusOr<std::unique_ptr<LookupTransport>> {
    return std::make_unique<proxy_internal::PoolLookupTransport>(**dispatcher,
                                                                  *lookup_pools);
  };
  std::vector<std::unique_ptr<Router>> routers;
  for (const ListenerSpec& listener : config.listeners) {
    absl::StatusOr<std::unique_ptr<Router>> router =
        Router::Create(**dispatcher, **clusters, listener.http_connection_manager,
                       scratch, transports);
    if (!router.ok()) {
      return absl::Status(router.status().code(),
                          absl::StrCat("listener \"", listener.name, "\": ",
                                       router.status().message()));
    }
    routers.push_back(*std::move(router));
  }
  routers.clear();
  clusters->reset();
  return absl::OkStatus();
}

absl::Status CheckReloadable(const Bootstrap& running, const Bootstrap& next) {
  if (running.admin.address != next.admin.address) {
    return NeedsRestart("admin.address", AddressText(running.admin.address),
                        AddressText(next.admin.address));
  }
  if (running.listeners.size() != next.listeners.size()) {
    return NeedsRestart("the number of listeners",
                        absl::StrCat(running.listeners.size()),
                        absl::StrCat(next.listeners.size()));
  }
  for (size_t i = 0; i < running.listeners.size(); ++i) {
    const ListenerSpec& a = running.listeners[i];
    const ListenerSpec& b = next.listeners[i];
    const std::string what = absl::StrCat("listener \"", b.name, "\" ");
    const HttpConnectionManagerSpec& x = a.http_connection_manager;
    const HttpConnectionManagerSpec& y = b.http_connection_manager;
    if (a.address != b.address) {
      return NeedsRestart(what + "address", AddressText(a.address),
                          AddressText(b.address));
    }
    if (x.stat_prefix != y.stat_prefix) {
      return NeedsRestart(what + "stat_prefix", x.stat_prefix, y.stat_prefix);
    }
    if (x.max_request_headers_kb != y.max_request_headers_kb) {
      return NeedsRestart(what + "max_request_headers_kb",
                          absl::StrCat(x.max_request_headers_kb),
                          absl::StrCat(y.max_request_headers_kb));
    }
    const std::pair<const char*, std::pair<Duration, Duration>> timeouts[] = {
        {"request_headers_timeout", {x.request_headers_timeout, y.request_headers_timeout}},
        {"stream_idle_timeout", {x.stream_idle_timeout, y.stream_idle_timeout}},
        {"idle_timeout", {x.idle_timeout, y.idle_timeout}},
    };
    for (const auto& [name, values] : timeouts) {
      if (values.first != values.second) {
        return NeedsRestart(what + name, DurationText(values.first),
                            DurationText(values.second));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace homing
