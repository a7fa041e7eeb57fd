// File: lib/proxy/pool_lookup_transport.h
//
// PoolLookupTransport: the affinity lookup's resolver requests over the
// worker's own HTTP/1.1 client (UpstreamPools: keep-alive connections per
// resolver address, llhttp), instead of libcurl. A lookup is then one write
// and one read on a kept-alive connection and about as much work as a
// proxied request, without libcurl's per-transfer setup, and the proxy does
// not load libcurl at all (tests/bench/e2e measures the cold path).
//
// Semantics are LookupTransport's (homing/affinity_lookup.h): the callback
// runs once, never from inside Get(); destroying the handle cancels it, also
// from inside the callback; `timeout` bounds the connect and the exchange
// (kTimeout); a refused or failed connect is kConnectFailure; a reset, a
// malformed answer or a body over 64 KiB is kOther. A request that fails on a
// kept-alive connection before any answer (the resolver closed it as the
// request went out) is sent once more on a fresh connection.
//
// Example:
//
//   auto pools = homing::UpstreamPools::Create(dispatcher, options);
//   PoolLookupTransport transport(dispatcher, *pools);
//   auto handle = transport.Get(host, "/where?client_id=7", 1s,
//                               [](LookupTransport::Response r) { ... });
//
// Thread safety: the dispatcher's (and the pools' loop) thread only.

#ifndef HOMING_LIB_PROXY_POOL_LOOKUP_TRANSPORT_H_
#define HOMING_LIB_PROXY_POOL_LOOKUP_TRANSPORT_H_

#include <memory>
#include <string_view>

#include "homing/affinity_lookup.h"
#include "homing/dispatcher.h"
#include "homing/http_upstream.h"

namespace homing::proxy_internal {

class PoolLookupTransport final : public LookupTransport {
 public:
  // `pools` (on `dispatcher`'s loop) must outlive the transport and every
  // request it started.
  PoolLookupTransport(Dispatcher& dispatcher, UpstreamPools& pools)
      : dispatcher_(dispatcher), pools_(pools) {}

  std::unique_ptr<Cancelable> Get(const Host& host,
                                  std::string_view path_and_query,
                                  Duration timeout, Callback callback) override;

 private:
  Dispatcher& dispatcher_;
  UpstreamPools& pools_;
};

}  // namespace homing::proxy_internal

#endif  // HOMING_LIB_PROXY_POOL_LOOKUP_TRANSPORT_H_
