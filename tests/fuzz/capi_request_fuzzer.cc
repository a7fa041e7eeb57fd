// Fuzz target: the C ABI's request setters and everything that reads a
// request without network I/O (route table match, route getters, affinity
// key, request hash), on a fixed config with every kind of matcher.
//
// Input: one flags byte, then one field per line: method, authority, path,
// then headers as "name:value" (split at the first ':'). Flags:
//   bit 0  pass every field NUL-terminated (HOMING_NUL_TERMINATED): homing
//          then sees it up to its first NUL byte
//   bit 1  build the request twice, resetting in between (reused buffers)
//   bit 2  first try each setter with a NULL pointer and a length
// Properties:
//  - setters accept any bytes and refuse exactly NULL with a length and an
//    empty header name;
//  - matching is deterministic, also on a reset and rebuilt request, and
//    returns one of the table's routes;
//  - an affinity key is NUL-terminated, 1..max_key_length bytes, no longer
//    than the path for a query key, the first such header's value for a
//    header key; every failure has a message;
//  - the request hash is deterministic.

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_target.h"
#include "homing/homing.h"

namespace {

using homing::fuzz::Require;

// Static clusters only: compiling a route table touches no network.
constexpr std::string_view kConfig = R"(
static_resources:
  clusters:
  - name: ring
    type: STATIC
    lb_policy: RING_HASH
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.1.10, port_value: 8081}}}
  - name: resolver
    type: STATIC
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.1.11, port_value: 8081}}}
  - name: forward
    lb_policy: CLUSTER_PROVIDED
    cluster_type:
      name: envoy.clusters.dynamic_forward_proxy
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig
        dns_cache_config: &cache {name: fp}
  listeners:
  - name: edge
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: edge
          route_config:
            virtual_hosts:
            - name: api
              domains: ["api.example.com", "*.api.example.com", "api.*"]
              routes:
              - name: header_key
                match:
                  path_separated_prefix: /join
                  case_sensitive: false
                  headers:
                  - name: x-tenant
                    string_match: {prefix: acme, ignore_case: true}
                    invert_match: true
                  - {name: x-debug, present_match: false}
                  - {name: x-re, safe_regex_match: {regex: "v[0-9]+"}}
                  query_parameters:
                  - {name: region, string_match: {safe_regex: {regex: "eu-.*"}}}
                route: {cluster: forward}
                typed_per_filter_config:
                  homing.filters.http.affinity:
                    lookup_cluster: resolver
                    key: {header: x-client-id}
                    max_key_length: 8
                    allowed_hostports: ["*.example.com:8081"]
              - match: {safe_regex: {regex: "/v[0-9]+/.*"}}
                route:
                  cluster: ring
                  hash_policy:
                  - {header: {header_name: x-user}, terminal: true}
                  - query_parameter: {name: client_id}
              - match: {path: /exact}
                route: {cluster: ring, timeout: 0s}
            - name: any
              domains: ["*"]
              routes:
              - name: query_key
                match: {prefix: /join}
                route: {cluster: forward, timeout: 2s}
                typed_per_filter_config:
                  homing.filters.http.affinity:
                    lookup_cluster: resolver
                    key: {query_parameter: client_id}
                    allowed_hostports: ["*.example.com:8081"]
              - match: {prefix: /}
                route: {cluster: resolver}
          http_filters:
          - name: homing.filters.http.affinity
          - name: envoy.filters.http.dynamic_forward_proxy
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig
              dns_cache_config: *cache
          - name: envoy.filters.http.router
)";

constexpr size_t kHeaderKeyMaxLength = 8;
constexpr size_t kQueryKeyMaxLength = 256;  // the default

const homing_route_table_t* Table() {
  static const homing_route_table_t* table = [] {
    homing_config_t* config = nullptr;
    char* error = nullptr;
    Require(homing_config_parse(kConfig.data(), kConfig.size(), "fuzz", &config,
                                &error) == HOMING_OK,
            "the fuzz config loads");
    homing_route_table_t* compiled = nullptr;
    Require(homing_route_table_new(config, 0, &compiled, &error) == HOMING_OK,
            "the fuzz route table compiles");
    homing_config_free(config);  // the table keeps what it needs
    return compiled;
  }();
  return table;
}

struct Header {
  std::string_view name;
  std::string_view value;
};

struct Fields {
  bool nul_terminated = false;
  bool rebuild = false;
  bool null_pointers = false;
  std::string_view method, authority, path;
  std::vector<Header> headers;
};

Fields Split(std::string_view input) {
  Fields fields;
  if (!input.empty()) {
    unsigned flags = static_cast<unsigned char>(input.front());
    input.remove_prefix(1);
    fields.nul_terminated = flags & 1;
    fields.rebuild = flags & 2;
    fields.null_pointers = flags & 4;
  }
  fields.method = homing::fuzz::NextLine(&input);
  fields.authority = homing::fuzz::NextLine(&input);
  fields.path = homing::fuzz::NextLine(&input);
  while (!input.empty()) {
    std::string_view line = homing::fuzz::NextLine(&input);
    size_t colon = line.find(':');
    fields.headers.push_back(
        {line.substr(0, colon),
         colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1)});
  }
  return fields;
}

// What homing keeps of a field: all of it, or up to a NUL.
std::string_view Seen(std::string_view field, bool nul_terminated) {
  return nul_terminated ? field.substr(0, field.find('\0')) : field;
}

// A field as the setter takes it: (pointer, length) or a C string.
struct Arg {
  std::string storage;
  const char* data;
  size_t len;
  Arg(std::string_view field, bool nul_terminated) : storage(field) {
    data = storage.c_str();
    len = nul_terminated ? HOMING_NUL_TERMINATED : storage.size();
  }
};

void TryNullPointers(homing_request_t* request) {
  Require(homing_request_set_method(request, nullptr, 3) == HOMING_ERR_INVALID_ARGUMENT &&
              homing_request_set_authority(request, nullptr, 1) == HOMING_ERR_INVALID_ARGUMENT &&
              homing_request_set_path(request, nullptr, 2) == HOMING_ERR_INVALID_ARGUMENT &&
              homing_request_add_header(request, "x", 1, nullptr, 4) == HOMING_ERR_INVALID_ARGUMENT &&
              homing_request_add_header(request, nullptr, 4, "v", 1) == HOMING_ERR_INVALID_ARGUMENT,
          "NULL with a length is refused");
  Require(homing_request_set_method(nullptr, "GET", 3) == HOMING_ERR_INVALID_ARGUMENT,
          "a NULL request is refused");
}

void Build(homing_request_t* request, const Fields& fields) {
  bool nul = fields.nul_terminated;
  Arg method(fields.method, nul), authority(fields.authority, nul), path(fields.path, nul);
  Require(homing_request_set_method(request, method.data, method.len) == HOMING_OK &&
              homing_request_set_authority(request, authority.data, authority.len) == HOMING_OK &&
              homing_request_set_path(request, path.data, path.len) == HOMING_OK,
          "setters accept any bytes");
  for (const Header& header : fields.headers) {
    Arg name(header.name, nul), value(header.value, nul);
    homing_status status =
        homing_request_add_header(request, name.data, name.len, value.data, value.len);
    bool empty_name = Seen(header.name, nul).empty();
    Require(status == (empty_name ? HOMING_ERR_INVALID_ARGUMENT : HOMING_OK),
            "add_header refuses exactly an empty name");
  }
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

void CheckAffinityKey(const homing_route_t* route, const homing_request_t* request,
                      const Fields& fields) {
  char* key = nullptr;
  size_t key_len = 0;
  char* error = nullptr;
  homing_status status = homing_route_affinity_key(route, request, &key, &key_len, &error);
  if (!homing_route_has_affinity(route)) {
    Require(status == HOMING_ERR_INVALID_ARGUMENT && key == nullptr && error != nullptr,
            "a route without affinity has no key");
    homing_free(error);
    return;
  }
  if (status != HOMING_OK) {
    Require((status == HOMING_ERR_NOT_FOUND || status == HOMING_ERR_INVALID_ARGUMENT) &&
                key == nullptr && error != nullptr && std::strlen(error) > 0,
            "a key failure says why");
    homing_free(error);
    return;
  }
  Require(key != nullptr && key[key_len] == '\0' && key_len > 0, "a key is NUL-terminated");
  std::string_view extracted(key, key_len);
  if (homing_route_affinity_key_source(route) == HOMING_KEY_HEADER) {
    Require(key_len <= kHeaderKeyMaxLength, "a header key respects max_key_length");
    std::string_view name = homing_route_affinity_key_name(route);
    const Header* first = nullptr;
    for (const Header& header : fields.headers) {
      std::string_view seen = Seen(header.name, fields.nul_terminated);
      if (!seen.empty() && EqualsIgnoreCase(seen, name)) {
        first = &header;
        break;
      }
    }
    Require(first != nullptr &&
                extracted == Seen(first->value, fields.nul_terminated),
            "a header key is the first such header's value");
  } else {
    Require(homing_route_affinity_key_source(route) == HOMING_KEY_QUERY_PARAMETER,
            "an affinity route names its key source");
    Require(key_len <= kQueryKeyMaxLength, "a query key respects max_key_length");
    Require(key_len <= Seen(fields.path, fields.nul_terminated).size(),
            "a decoded query key is no longer than the path");
  }
  homing_free(key);
}

void CheckRoute(const homing_route_table_t* table, const homing_route_t* route,
                const homing_request_t* request, const Fields& fields) {
  bool in_table = false;
  for (size_t i = 0; i < homing_route_table_route_count(table); ++i) {
    in_table = in_table || homing_route_table_route(table, i) == route;
  }
  Require(in_table, "a match is one of the table's routes");
  Require(homing_route_name(route) != nullptr &&
              homing_route_virtual_host(route) != nullptr &&
              homing_route_cluster(route) != nullptr && homing_route_timeout_ms(route) >= 0,
          "a route has a name, a virtual host and a cluster");
  Require((homing_route_affinity_key_source(route) != HOMING_KEY_NONE) ==
              (homing_route_has_affinity(route) == 1),
          "a key source exactly for affinity routes");
  CheckAffinityKey(route, request, fields);

  uint64_t hash = 0, again = 0;
  homing_status status = homing_route_hash(route, request, &hash);
  Require(status == HOMING_OK || status == HOMING_ERR_NOT_FOUND, "hash: OK or NOT_FOUND");
  Require(homing_route_hash(route, request, &again) == status &&
              (status != HOMING_OK || again == hash),
          "the request hash is deterministic");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const homing_route_table_t* table = Table();
  Fields fields = Split(homing::fuzz::AsText(data, size));

  homing_request_t* request = homing_request_new();
  Require(request != nullptr, "a request is allocated");
  if (fields.null_pointers) TryNullPointers(request);
  Build(request, fields);
  const homing_route_t* route = homing_route_table_match(table, request);
  Require(homing_route_table_match(table, request) == route, "matching is deterministic");
  if (fields.rebuild) {
    homing_request_reset(request);
    Require(homing_route_table_match(table, request) ==
                homing_route_table_match(table, request),
            "an empty request matches deterministically");
    Build(request, fields);
    Require(homing_route_table_match(table, request) == route,
            "a reset and rebuilt request matches the same route");
  }
  if (route != nullptr) CheckRoute(table, route, request, fields);
  homing_request_free(request);
  return 0;
}
