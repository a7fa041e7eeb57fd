// File: lib/config/type_urls.h
//
// The `@type` URLs the loader checks and the config dump writes: Envoy's,
// where Envoy has the message, and homing's own for the affinity filter.

#ifndef HOMING_LIB_CONFIG_TYPE_URLS_H_
#define HOMING_LIB_CONFIG_TYPE_URLS_H_

namespace homing::config_internal {

inline constexpr char kHttpConnectionManagerType[] =
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager"
    ".v3.HttpConnectionManager";
inline constexpr char kRouterFilterType[] =
    "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
inline constexpr char kDfpFilterType[] =
    "type.googleapis.com/"
    "envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig";
inline constexpr char kBufferFilterType[] =
    "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer";
inline constexpr char kDfpClusterType[] =
    "type.googleapis.com/"
    "envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig";
inline constexpr char kCaresResolverType[] =
    "type.googleapis.com/"
    "envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig";
inline constexpr char kAffinityFilterType[] =
    "type.googleapis.com/homing.filters.http.affinity.v1.Affinity";
inline constexpr char kAffinityPerRouteType[] =
    "type.googleapis.com/homing.filters.http.affinity.v1.AffinityPerRoute";

}  // namespace homing::config_internal

#endif  // HOMING_LIB_CONFIG_TYPE_URLS_H_
