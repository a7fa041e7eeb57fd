#include "homing/route.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "homing/query_string.h"
#include "re2/re2.h"
#include "route/route_candidate_index.h"

namespace homing {
namespace {

using Kind = StringMatcherSpec::Kind;

RouteSpec MakeRoute(std::string name, PathMatchKind kind, std::string path,
                    bool case_sensitive = true) {
  RouteSpec route;
  route.name = std::move(name);
  route.match.path_specifier = kind;
  route.match.path = std::move(path);
  route.match.case_sensitive = case_sensitive;
  route.action.cluster = "cluster";
  return route;
}

RouteSpec Prefix(std::string name, std::string prefix) {
  return MakeRoute(std::move(name), PathMatchKind::kPrefix, std::move(prefix));
}

VirtualHostSpec Host(std::string name, std::vector<std::string> domains,
                     std::vector<RouteSpec> routes = {}) {
  if (routes.empty()) routes.push_back(Prefix(name, "/"));
  return {.name = std::move(name),
          .domains = std::move(domains),
          .routes = std::move(routes)};
}

std::shared_ptr<const RouteTable> CompileOrDie(const RouteConfigSpec& spec) {
  absl::StatusOr<std::shared_ptr<const RouteTable>> table =
      RouteTable::Compile(spec);
  REQUIRE_MESSAGE(table.ok(), table.status().ToString());
  return *table;
}

// A table with one catch-all virtual host holding `routes`.
std::shared_ptr<const RouteTable> RoutesTable(std::vector<RouteSpec> routes) {
  RouteConfigSpec spec;
  spec.virtual_hosts.push_back(Host("local", {"*"}, std::move(routes)));
  return CompileOrDie(spec);
}

// The name of the route `table` picks, "<none>" for no match.
std::string Pick(const RouteTable& table, std::string_view authority,
                 std::string_view path,
                 std::span<const RequestHeader> headers = {}) {
  RequestView request{.method = "GET",
                      .authority = authority,
                      .path = path,
                      .headers = headers};
  const Route* route = table.Match(request);
  return route ? route->name() : "<none>";
}

std::string PickPath(const RouteTable& table, std::string_view path,
                     std::span<const RequestHeader> headers = {}) {
  return Pick(table, "proxy.local:10000", path, headers);
}

std::string CompileError(const RouteConfigSpec& spec) {
  absl::StatusOr<std::shared_ptr<const RouteTable>> table =
      RouteTable::Compile(spec);
  if (table.ok()) return "<ok>";
  CHECK(table.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(table.status().message());
}

std::string RouteError(RouteSpec route) {
  RouteConfigSpec spec;
  spec.virtual_hosts.push_back(Host("local", {"*"}, {std::move(route)}));
  return CompileError(spec);
}

// --- The seed -------------------------------------------------------------

TEST_CASE("the seed's routes: /join before the catch-all") {
  RouteSpec join = Prefix("join", "/join");
  join.action.cluster = "dynamic_forward_proxy_cluster";
  RouteSpec resolver = Prefix("resolver", "/");
  resolver.action.cluster = "resolver";
  auto table = RoutesTable({join, resolver});

  RequestView request{.method = "GET",
                      .authority = "localhost:10000",
                      .path = "/join?client_id=123"};
  const Route* route = table->Match(request);
  REQUIRE(route != nullptr);
  CHECK(route->name() == "join");
  CHECK(route->action().cluster == "dynamic_forward_proxy_cluster");

  request.path = "/where?client_id=123";
  route = table->Match(request);
  REQUIRE(route != nullptr);
  CHECK(route->action().cluster == "resolver");
  request.path = "/health";
  CHECK(table->Match(request) == route);
}

// --- Virtual host selection -------------------------------------------------

RouteConfigSpec DomainRules() {
  RouteConfigSpec spec;
  spec.virtual_hosts = {
      Host("exact", {"api.example.com"}),
      Host("suffix", {"*.example.com"}),
      Host("long-suffix", {"*-api.example.com"}),
      Host("prefix", {"api.*"}),
      Host("long-prefix", {"api.example.*"}),
      Host("dash-prefix", {"web-*"}),
      Host("any", {"*"}),
  };
  return spec;
}

TEST_CASE("domains: exact beats suffix beats prefix beats *") {
  auto table = CompileOrDie(DomainRules());
  CHECK(Pick(*table, "api.example.com", "/") == "exact");
  CHECK(Pick(*table, "www.example.com", "/") == "suffix");
  // Both "*.example.com" and "api.*" match: the suffix wildcard wins.
  CHECK(Pick(*table, "api.shop.example.com", "/") == "suffix");
  CHECK(Pick(*table, "api.example.org", "/") == "long-prefix");
  CHECK(Pick(*table, "api.other.org", "/") == "prefix");
  CHECK(Pick(*table, "web-1", "/") == "dash-prefix");
  CHECK(Pick(*table, "other.org", "/") == "any");
  CHECK(Pick(*table, "", "/") == "any");
}

TEST_CASE("domains: the longest wildcard wins") {
  auto table = CompileOrDie(DomainRules());
  CHECK(Pick(*table, "my-api.example.com", "/") == "long-suffix");
  CHECK(Pick(*table, "my.api.example.com", "/") == "suffix");
  CHECK(Pick(*table, "api.example.net", "/") == "long-prefix");
}

TEST_CASE("domains: a wildcard never matches the empty string") {
  auto table = CompileOrDie(DomainRules());
  CHECK(Pick(*table, ".example.com", "/") == "any");
  CHECK(Pick(*table, "-api.example.com", "/") == "suffix");
  CHECK(Pick(*table, "api.", "/") == "any");
  CHECK(Pick(*table, "web-", "/") == "any");
}

TEST_CASE("domains: no * host means unmatched authorities get no route") {
  RouteConfigSpec spec;
  spec.virtual_hosts = {Host("exact", {"api.example.com"}),
                        Host("suffix", {"*.example.org"})};
  auto table = CompileOrDie(spec);
  CHECK(Pick(*table, "api.example.com", "/") == "exact");
  CHECK(Pick(*table, "a.example.org", "/") == "suffix");
  CHECK(Pick(*table, "example.org", "/") == "<none>");
  CHECK(Pick(*table, "other.com", "/") == "<none>");
}

TEST_CASE("domains are case-insensitive on both sides") {
  RouteConfigSpec spec;
  spec.virtual_hosts = {Host("exact", {"WWW.Example.com"}),
                        Host("suffix", {"*.Shop.COM"}),
                        Host("prefix", {"Cdn.*"})};
  auto table = CompileOrDie(spec);
  CHECK(Pick(*table, "www.example.com", "/") == "exact");
  CHECK(Pick(*table, "WWW.EXAMPLE.COM", "/") == "exact");
  CHECK(Pick(*table, "Books.shop.com", "/") == "suffix");
  CHECK(Pick(*table, "CDN.eu", "/") == "prefix");
  CHECK(Pick(*table, "www.example.co", "/") == "<none>");
}

TEST_CASE("domains fold exactly the ASCII letters, whatever the byte") {
  for (int byte = 0; byte < 256; ++byte) {
    char c = static_cast<char>(byte);
    if (c == '*') continue;
    CAPTURE(byte);
    char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    char upper = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
    // The byte sits in the first 8-byte word; a tail follows.
    auto domain = [](char middle) {
      return std::string("abcdefg") + middle + "hijk.example";
    };
    RouteConfigSpec spec;
    spec.virtual_hosts = {Host("host", {domain(lower)})};
    auto table = CompileOrDie(spec);
    CHECK(Pick(*table, domain(c), "/") == "host");
    CHECK(Pick(*table, domain(upper), "/") == "host");
    if (lower == upper) {
      // Not a letter: the byte with bit 5 flipped is a different byte.
      CHECK(Pick(*table, domain(static_cast<char>(c ^ 0x20)), "/") == "<none>");
    }
  }
}

TEST_CASE("domains: authorities longer than the lookup buffer still match") {
  std::string label(600, 'q');
  RouteConfigSpec spec;
  spec.virtual_hosts = {Host("exact", {label + ".example.com"}),
                        Host("suffix", {"*." + label + ".example.org"}),
                        Host("prefix", {label + ".*"}),
                        Host("short", {"*.net"})};
  auto table = CompileOrDie(spec);
  std::string upper(600, 'Q');
  CHECK(Pick(*table, upper + ".Example.com", "/") == "exact");
  CHECK(Pick(*table, "www." + upper + ".example.ORG", "/") == "suffix");
  CHECK(Pick(*table, upper + ".io", "/") == "prefix");
  CHECK(Pick(*table, upper + ".NET", "/") == "short");
  CHECK(Pick(*table, upper + ".example.co", "/") == "prefix");
  CHECK(Pick(*table, "x" + upper, "/") == "<none>");
}

TEST_CASE("domains: the port takes part unless ignore_port_in_host_matching") {
  RouteConfigSpec spec;
  spec.virtual_hosts = {Host("plain", {"api.example.com"}),
                        Host("with-port", {"api.example.com:8080"}),
                        Host("suffix", {"*.example.org"}),
                        Host("ipv6", {"[::1]"}),
                        Host("port-wildcard", {"web.example.net:*"})};
  auto table = CompileOrDie(spec);
  CHECK(Pick(*table, "api.example.com", "/") == "plain");
  CHECK(Pick(*table, "api.example.com:8080", "/") == "with-port");
  CHECK(Pick(*table, "api.example.com:9090", "/") == "<none>");
  CHECK(Pick(*table, "www.example.org:443", "/") == "<none>");
  CHECK(Pick(*table, "[::1]:80", "/") == "<none>");
  CHECK(Pick(*table, "web.example.net:8443", "/") == "port-wildcard");

  spec.virtual_hosts.erase(spec.virtual_hosts.begin() + 1);
  spec.ignore_port_in_host_matching = true;
  table = CompileOrDie(spec);
  CHECK(Pick(*table, "api.example.com:9090", "/") == "plain");
  CHECK(Pick(*table, "api.example.com", "/") == "plain");
  CHECK(Pick(*table, "www.example.org:443", "/") == "suffix");
  CHECK(Pick(*table, "[::1]:80", "/") == "ipv6");
  CHECK(Pick(*table, "[::1]", "/") == "ipv6");
  CHECK(Pick(*table, "web.example.net:8443", "/") == "<none>");
}

// --- Path specifiers --------------------------------------------------------

TEST_CASE("prefix matches the start of the whole :path, query included") {
  auto table =
      RoutesTable({Prefix("api", "/api"), Prefix("query", "/search?q="),
                   Prefix("root", "/")});
  CHECK(PickPath(*table, "/api") == "api");
  CHECK(PickPath(*table, "/api/v1/users") == "api");
  CHECK(PickPath(*table, "/apix") == "api");
  CHECK(PickPath(*table, "/API") == "root");
  CHECK(PickPath(*table, "/search?q=x") == "query");
  CHECK(PickPath(*table, "/search?page=2") == "root");
  CHECK(PickPath(*table, "") == "<none>");
}

TEST_CASE("an empty prefix matches every path") {
  auto table = RoutesTable({Prefix("all", "")});
  CHECK(PickPath(*table, "") == "all");
  CHECK(PickPath(*table, "*") == "all");
}

TEST_CASE("path matches exactly, without query string and fragment") {
  auto table = RoutesTable({MakeRoute("exact", PathMatchKind::kPath, "/where"),
                            MakeRoute("root", PathMatchKind::kPath, "/")});
  CHECK(PickPath(*table, "/where") == "exact");
  CHECK(PickPath(*table, "/where?client_id=1") == "exact");
  CHECK(PickPath(*table, "/where#top") == "exact");
  CHECK(PickPath(*table, "/where/") == "<none>");
  CHECK(PickPath(*table, "/wher") == "<none>");
  CHECK(PickPath(*table, "/Where") == "<none>");
  CHECK(PickPath(*table, "/?x=1") == "root");
  CHECK(PickPath(*table, "/") == "root");
}

TEST_CASE("safe_regex matches the whole path without the query string") {
  auto table = RoutesTable(
      {MakeRoute("user", PathMatchKind::kSafeRegex, "/users/[0-9]+"),
       MakeRoute("anything", PathMatchKind::kSafeRegex, "/files/.*")});
  CHECK(PickPath(*table, "/users/42") == "user");
  CHECK(PickPath(*table, "/users/42?tab=posts") == "user");
  CHECK(PickPath(*table, "/users/42#bio") == "user");
  CHECK(PickPath(*table, "/users/42/posts") == "<none>");
  CHECK(PickPath(*table, "/v1/users/42") == "<none>");
  CHECK(PickPath(*table, "/users/") == "<none>");
  CHECK(PickPath(*table, "/files/a?b") == "anything");
  CHECK(PickPath(*table, "/files/") == "anything");
}

TEST_CASE("path_separated_prefix: exact or followed by '/'") {
  auto table = RoutesTable(
      {MakeRoute("dev", PathMatchKind::kPathSeparatedPrefix, "/api/dev")});
  CHECK(PickPath(*table, "/api/dev") == "dev");
  CHECK(PickPath(*table, "/api/dev/") == "dev");
  CHECK(PickPath(*table, "/api/dev/v1") == "dev");
  CHECK(PickPath(*table, "/api/dev?x") == "dev");
  CHECK(PickPath(*table, "/api/dev#x") == "dev");
  CHECK(PickPath(*table, "/api/developer") == "<none>");
  CHECK(PickPath(*table, "/api/de") == "<none>");
  CHECK(PickPath(*table, "/api/dev?/x") == "dev");
}

TEST_CASE("case_sensitive: false folds prefix, path and separated prefix") {
  auto table =
      RoutesTable({MakeRoute("prefix", PathMatchKind::kPrefix, "/Join", false),
                   MakeRoute("path", PathMatchKind::kPath, "/Where", false),
                   MakeRoute("separated", PathMatchKind::kPathSeparatedPrefix,
                             "/Api", false)});
  CHECK(PickPath(*table, "/join") == "prefix");
  CHECK(PickPath(*table, "/JOIN?client_id=1") == "prefix");
  CHECK(PickPath(*table, "/wHeRe?x") == "path");
  CHECK(PickPath(*table, "/API/v1") == "separated");
  CHECK(PickPath(*table, "/apI") == "separated");
  CHECK(PickPath(*table, "/apix") == "<none>");
}

TEST_CASE("case_sensitive: true (the default) is exact about case") {
  auto table = RoutesTable(
      {MakeRoute("prefix", PathMatchKind::kPrefix, "/Join"),
       MakeRoute("separated", PathMatchKind::kPathSeparatedPrefix, "/Api")});
  CHECK(PickPath(*table, "/Join") == "prefix");
  CHECK(PickPath(*table, "/join") == "<none>");
  CHECK(PickPath(*table, "/Api/x") == "separated");
  CHECK(PickPath(*table, "/api/x") == "<none>");
}

TEST_CASE("safe_regex ignores case_sensitive") {
  auto table = RoutesTable(
      {MakeRoute("regex", PathMatchKind::kSafeRegex, "/abc", false)});
  CHECK(PickPath(*table, "/abc") == "regex");
  CHECK(PickPath(*table, "/ABC") == "<none>");
}

// --- Headers ----------------------------------------------------------------

RouteSpec WithHeader(HeaderMatcherSpec header) {
  RouteSpec route = Prefix("hit", "/");
  route.match.headers.push_back(std::move(header));
  return route;
}

HeaderMatcherSpec StringHeader(Kind kind, std::string value,
                               bool ignore_case = false) {
  return {
      .name = "X-Tenant",
      .string_match = StringMatcherSpec{
          .kind = kind, .value = std::move(value), .ignore_case = ignore_case}};
}

// Whether a request with `x-tenant: value` (or none, for nullopt) matches.
bool HeaderHit(const HeaderMatcherSpec& header,
               std::optional<std::string_view> value) {
  auto table = RoutesTable({WithHeader(header)});
  std::vector<RequestHeader> headers = {{"accept", "*/*"}};
  if (value) headers.push_back({"x-tenant", *value});
  return PickPath(*table, "/", headers) == "hit";
}

TEST_CASE("header string matchers: exact, prefix, suffix, contains, regex") {
  auto exact = StringHeader(Kind::kExact, "acme");
  CHECK(HeaderHit(exact, "acme"));
  CHECK_FALSE(HeaderHit(exact, "Acme"));
  CHECK_FALSE(HeaderHit(exact, "acme2"));
  CHECK_FALSE(HeaderHit(exact, std::nullopt));

  auto empty_exact = StringHeader(Kind::kExact, "");
  CHECK(HeaderHit(empty_exact, ""));
  CHECK_FALSE(HeaderHit(empty_exact, "x"));

  auto prefix = StringHeader(Kind::kPrefix, "ac");
  CHECK(HeaderHit(prefix, "acme"));
  CHECK(HeaderHit(prefix, "ac"));
  CHECK_FALSE(HeaderHit(prefix, "a"));
  CHECK_FALSE(HeaderHit(prefix, "Acme"));

  auto suffix = StringHeader(Kind::kSuffix, "me");
  CHECK(HeaderHit(suffix, "acme"));
  CHECK_FALSE(HeaderHit(suffix, "acmE"));
  CHECK_FALSE(HeaderHit(suffix, "e"));

  auto contains = StringHeader(Kind::kContains, "cm");
  CHECK(HeaderHit(contains, "acme"));
  CHECK(HeaderHit(contains, "cm"));
  CHECK_FALSE(HeaderHit(contains, "aCMe"));
  CHECK_FALSE(HeaderHit(contains, "c"));

  auto regex = StringHeader(Kind::kSafeRegex, "ac[a-z]+");
  CHECK(HeaderHit(regex, "acme"));
  CHECK_FALSE(HeaderHit(regex, "acme1"));  // must match the whole value
  CHECK_FALSE(HeaderHit(regex, "xacme"));
}

TEST_CASE("header string matchers with ignore_case") {
  CHECK(HeaderHit(StringHeader(Kind::kExact, "AcMe", true), "aCmE"));
  CHECK_FALSE(HeaderHit(StringHeader(Kind::kExact, "AcMe", true), "aCmEe"));
  CHECK(HeaderHit(StringHeader(Kind::kPrefix, "AC", true), "acme"));
  CHECK(HeaderHit(StringHeader(Kind::kSuffix, "ME", true), "acme"));
  CHECK(HeaderHit(StringHeader(Kind::kContains, "CM", true), "ACME"));
  CHECK_FALSE(HeaderHit(StringHeader(Kind::kContains, "CX", true), "ACME"));
  // ignore_case has no effect on a regex.
  CHECK_FALSE(HeaderHit(StringHeader(Kind::kSafeRegex, "acme", true), "ACME"));
}

TEST_CASE("header present_match, invert_match, treat_missing_header_as_empty") {
  HeaderMatcherSpec present{.name = "x-tenant"};
  CHECK(HeaderHit(present, "acme"));
  CHECK(HeaderHit(present, ""));
  CHECK_FALSE(HeaderHit(present, std::nullopt));

  HeaderMatcherSpec absent{.name = "x-tenant", .present_match = false};
  CHECK(HeaderHit(absent, std::nullopt));
  CHECK_FALSE(HeaderHit(absent, "acme"));

  HeaderMatcherSpec not_present{.name = "x-tenant", .invert_match = true};
  CHECK(HeaderHit(not_present, std::nullopt));
  CHECK_FALSE(HeaderHit(not_present, "acme"));

  auto not_acme = StringHeader(Kind::kExact, "acme");
  not_acme.invert_match = true;
  CHECK(HeaderHit(not_acme, "other"));
  CHECK_FALSE(HeaderHit(not_acme, "acme"));
  // A missing header fails an inverted string match too (Envoy)...
  CHECK_FALSE(HeaderHit(not_acme, std::nullopt));
  // ...unless it is treated as present and empty.
  not_acme.treat_missing_header_as_empty = true;
  CHECK(HeaderHit(not_acme, std::nullopt));

  auto empty = StringHeader(Kind::kExact, "");
  CHECK_FALSE(HeaderHit(empty, std::nullopt));
  empty.treat_missing_header_as_empty = true;
  CHECK(HeaderHit(empty, std::nullopt));

  auto regex = StringHeader(Kind::kSafeRegex, "[0-9]*");
  regex.treat_missing_header_as_empty = true;
  CHECK(HeaderHit(regex, std::nullopt));
  CHECK_FALSE(HeaderHit(regex, "x"));
}

TEST_CASE("header names compare case-insensitively; repeats join with ','") {
  auto table = RoutesTable(
      {WithHeader(StringHeader(Kind::kExact, "a,b")), Prefix("other", "/")});
  std::vector<RequestHeader> repeated = {
      {"x-tenant", "a"}, {"accept", "*/*"}, {"X-TENANT", "b"}};
  CHECK(PickPath(*table, "/", repeated) == "hit");
  std::vector<RequestHeader> single = {{"X-Tenant", "a,b"}};
  CHECK(PickPath(*table, "/", single) == "hit");
  std::vector<RequestHeader> first_only = {{"x-tenant", "a"}};
  CHECK(PickPath(*table, "/", first_only) == "other");
}

TEST_CASE("a repeated header longer than the inline buffer still matches") {
  std::string half(700, 'x');
  auto table =
      RoutesTable({WithHeader(StringHeader(Kind::kExact, half + "," + half))});
  std::vector<RequestHeader> headers = {{"x-tenant", half}, {"x-tenant", half}};
  CHECK(PickPath(*table, "/", headers) == "hit");
}

TEST_CASE("pseudo-headers :method, :authority and :path match request fields") {
  HeaderMatcherSpec post{.name = ":method",
                         .string_match = StringMatcherSpec{.value = "POST"}};
  HeaderMatcherSpec host{.name = ":authority",
                         .string_match = StringMatcherSpec{
                             .kind = Kind::kSuffix, .value = ":8080"}};
  HeaderMatcherSpec path{
      .name = ":path",
      .string_match = StringMatcherSpec{.kind = Kind::kContains, .value = "?"}};
  RouteSpec route = Prefix("hit", "/");
  route.match.headers = {post, host, path};
  auto table = RoutesTable({route});

  RequestView request{.method = "POST", .authority = "a:8080", .path = "/x?y"};
  CHECK(table->Match(request) != nullptr);
  request.method = "GET";
  CHECK(table->Match(request) == nullptr);
  request.method = "POST";
  request.path = "/x";
  CHECK(table->Match(request) == nullptr);
}

TEST_CASE("every header matcher of a route must match") {
  RouteSpec route = Prefix("both", "/");
  route.match.headers = {
      {.name = "x-a", .string_match = StringMatcherSpec{.value = "1"}},
      {.name = "x-b", .string_match = StringMatcherSpec{.value = "2"}}};
  auto table = RoutesTable({route, Prefix("fallback", "/")});
  std::vector<RequestHeader> both = {{"x-a", "1"}, {"x-b", "2"}};
  std::vector<RequestHeader> one = {{"x-a", "1"}, {"x-b", "3"}};
  CHECK(PickPath(*table, "/", both) == "both");
  CHECK(PickPath(*table, "/", one) == "fallback");
}

// --- Query parameters -------------------------------------------------------

RouteSpec WithQuery(std::optional<StringMatcherSpec> string_match,
                    std::string name = "client_id") {
  RouteSpec route = Prefix("hit", "/");
  route.match.query_parameters.push_back(
      {.name = std::move(name), .string_match = std::move(string_match)});
  return route;
}

bool QueryHit(const RouteSpec& route, std::string_view path) {
  return PickPath(*RoutesTable({route}), path) == "hit";
}

TEST_CASE("query parameters: present and exact") {
  RouteSpec present = WithQuery(std::nullopt);
  CHECK(QueryHit(present, "/join?client_id=123"));
  CHECK(QueryHit(present, "/join?a=1&client_id"));
  CHECK(QueryHit(present, "/join?client_id="));
  CHECK_FALSE(QueryHit(present, "/join?client=1"));
  CHECK_FALSE(QueryHit(present, "/join"));
  CHECK_FALSE(QueryHit(present, "/join#client_id=1"));

  RouteSpec exact = WithQuery(StringMatcherSpec{.value = "123"});
  CHECK(QueryHit(exact, "/join?client_id=123"));
  CHECK(QueryHit(exact, "/join?x=9&client_id=123#frag"));
  CHECK_FALSE(QueryHit(exact, "/join?client_id=1234"));
  CHECK_FALSE(QueryHit(exact, "/join?client_id"));
}

TEST_CASE("query parameters: only the first value of a repeated key counts") {
  RouteSpec exact = WithQuery(StringMatcherSpec{.value = "1"});
  CHECK(QueryHit(exact, "/?client_id=1&client_id=2"));
  CHECK_FALSE(QueryHit(exact, "/?client_id=2&client_id=1"));
}

TEST_CASE("query parameters: values are percent-decoded before matching") {
  RouteSpec exact = WithQuery(StringMatcherSpec{.value = "a b/c"});
  CHECK(QueryHit(exact, "/?client_id=a%20b%2Fc"));
  CHECK(QueryHit(exact, "/?client_id=a+b%2fc"));
  CHECK_FALSE(QueryHit(exact, "/?client_id=a%20b%2F"));
  // The parameter name is decoded too.
  CHECK(QueryHit(exact, "/?client%5Fid=a+b/c"));

  RouteSpec prefix = WithQuery(StringMatcherSpec{
      .kind = Kind::kPrefix, .value = "é", .ignore_case = true});
  CHECK(QueryHit(prefix, "/?client_id=%C3%A9t%C3%A9"));

  RouteSpec regex = WithQuery(
      StringMatcherSpec{.kind = Kind::kSafeRegex, .value = "[a-z ]+"});
  CHECK(QueryHit(regex, "/?client_id=hello+world"));
  CHECK_FALSE(QueryHit(regex, "/?client_id=hello%2Bworld"));
}

TEST_CASE("query parameters: malformed escapes decode as PercentDecode does") {
  for (std::string raw : {"100%", "%4", "%zz", "%%41", "a%2", "%41%4a"}) {
    CAPTURE(raw);
    RouteSpec exact = WithQuery(StringMatcherSpec{.value = PercentDecode(raw)});
    CHECK(QueryHit(exact, "/?client_id=" + raw));
  }
}

TEST_CASE("query parameters: kinds, ignore_case, long encoded values") {
  CHECK(
      QueryHit(WithQuery(StringMatcherSpec{
                   .kind = Kind::kSuffix, .value = "-EU", .ignore_case = true}),
               "/?client_id=acme-eu"));
  CHECK(QueryHit(
      WithQuery(StringMatcherSpec{.kind = Kind::kContains, .value = "me-e"}),
      "/?client_id=acm%65-eu"));
  CHECK_FALSE(QueryHit(
      WithQuery(StringMatcherSpec{.kind = Kind::kContains, .value = "ME-E"}),
      "/?client_id=acme-eu"));

  std::string value(2000, 'k');
  std::string encoded;
  for (size_t i = 0; i < value.size(); ++i) encoded += "%6B";  // 'k'
  CHECK(PercentDecode(encoded) == value);
  CHECK(QueryHit(WithQuery(StringMatcherSpec{.value = value}),
                 "/?client_id=" + encoded));
}

TEST_CASE("every query parameter matcher of a route must match") {
  RouteSpec route = WithQuery(StringMatcherSpec{.value = "1"}, "a");
  route.match.query_parameters.push_back({.name = "b"});
  CHECK(QueryHit(route, "/?b&a=1"));
  CHECK_FALSE(QueryHit(route, "/?a=1"));
  CHECK_FALSE(QueryHit(route, "/?a=2&b=1"));
}

// --- Order
// --------------------------------------------------------------------

TEST_CASE("the first matching route wins, whatever comes later") {
  auto table =
      RoutesTable({Prefix("broad", "/api"), Prefix("narrow", "/api/v1"),
                   MakeRoute("exact", PathMatchKind::kPath, "/api/v1")});
  CHECK(PickPath(*table, "/api/v1") == "broad");
  CHECK(PickPath(*table, "/api/v1/users") == "broad");

  RouteSpec gated = Prefix("gated", "/api");
  gated.match.headers.push_back({.name = "x-beta"});
  table = RoutesTable({gated, Prefix("open", "/api"), Prefix("root", "/")});
  std::vector<RequestHeader> beta = {{"x-beta", "1"}};
  CHECK(PickPath(*table, "/api/x", beta) == "gated");
  CHECK(PickPath(*table, "/api/x") == "open");
  CHECK(PickPath(*table, "/other") == "root");
}

const RE2& ReferenceRegex(const std::string& pattern) {
  static auto* cache = new std::map<std::string, std::unique_ptr<RE2>>();
  auto& regex = (*cache)[pattern];
  if (!regex) regex = std::make_unique<RE2>(pattern);
  return *regex;
}

// A straightforward first-match scan, the semantics the index must keep.
std::string ReferencePick(const std::vector<RouteSpec>& routes,
                          std::string_view path) {
  auto lower = [](std::string_view text) {
    std::string out(text);
    for (char& c : out) c = (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
    return out;
  };
  std::string_view without_query = path.substr(0, path.find_first_of("?#"));
  for (const RouteSpec& route : routes) {
    const RouteMatchSpec& m = route.match;
    std::string want = m.case_sensitive ? m.path : lower(m.path);
    std::string full = m.case_sensitive ? std::string(path) : lower(path);
    std::string bare =
        m.case_sensitive ? std::string(without_query) : lower(without_query);
    bool hit = false;
    switch (m.path_specifier) {
      case PathMatchKind::kPrefix:
        hit = full.starts_with(want);
        break;
      case PathMatchKind::kPath:
        hit = bare == want;
        break;
      case PathMatchKind::kSafeRegex:
        hit =
            RE2::FullMatch(std::string(without_query), ReferenceRegex(m.path));
        break;
      case PathMatchKind::kPathSeparatedPrefix:
        hit = bare.starts_with(want) &&
              (bare.size() == want.size() || bare[want.size()] == '/');
        break;
    }
    if (hit) return route.name;
  }
  return "<none>";
}

TEST_CASE("the candidate index never changes which route matches first") {
  std::mt19937 random(20240611);
  const std::string alphabet = "/aAbBc";
  auto pick = [&](int n) { return static_cast<int>(random() % n); };
  auto random_text = [&](int max_length) {
    std::string text;
    int length = pick(max_length + 1);
    for (int i = 0; i < length; ++i) text += alphabet[pick(alphabet.size())];
    return text;
  };
  const char* regexes[] = {"/a.*", "/[ab]+", "/b/c", ".*c"};
  for (int round = 0; round < 200; ++round) {
    std::vector<RouteSpec> routes;
    int count = 1 + pick(40);
    for (int i = 0; i < count; ++i) {
      std::string name = "r" + std::to_string(i);
      bool case_sensitive = pick(2) == 0;
      switch (pick(10)) {
        case 0:
          routes.push_back(MakeRoute(name, PathMatchKind::kSafeRegex,
                                     regexes[pick(4)], case_sensitive));
          break;
        case 1:
        case 2:
          routes.push_back(MakeRoute(name, PathMatchKind::kPath,
                                     "/" + random_text(5), case_sensitive));
          break;
        case 3: {
          std::string prefix = "/" + random_text(5);
          while (prefix.ends_with('/')) prefix.pop_back();
          if (prefix.empty()) prefix = "/a";
          routes.push_back(MakeRoute(name, PathMatchKind::kPathSeparatedPrefix,
                                     prefix, case_sensitive));
          break;
        }
        default:
          routes.push_back(MakeRoute(name, PathMatchKind::kPrefix,
                                     "/" + random_text(6), case_sensitive));
      }
    }
    auto table = RoutesTable(routes);
    for (int probe = 0; probe < 200; ++probe) {
      std::string path = "/" + random_text(8);
      if (pick(4) == 0) path.insert(pick(path.size() + 1), pick(2) ? "?" : "#");
      CAPTURE(path);
      REQUIRE(PickPath(*table, path) == ReferencePick(routes, path));
    }
  }
}

TEST_CASE("the candidate index narrows a prefix-heavy table to a few routes") {
  std::vector<std::string> prefixes;
  for (int i = 0; i < 1000; ++i) {
    prefixes.push_back("/svc" + std::to_string(1000 + i) + "/api");
  }
  prefixes.push_back("/");  // the catch-all goes to every list
  std::vector<std::string_view> views(prefixes.begin(), prefixes.end());
  route_internal::RouteCandidateIndex index(views);
  CHECK(index.longest_list() <=
        route_internal::RouteCandidateIndex::kLeafSize + 1);

  auto candidates = index.Candidates("/svc1500/api/x");
  CHECK(std::find(candidates.begin(), candidates.end(), 500u) !=
        candidates.end());
  CHECK(candidates.back() == 1000u);
  CHECK(index.Candidates("/").size() == 1);
}

TEST_CASE(
    "the candidate index keeps unindexable routes in every list, in order") {
  std::vector<std::string_view> prefixes = {"/a", "",   "/b",   "/a/x",
                                            "",   "/c", "/a/y", "/b/z"};
  route_internal::RouteCandidateIndex index(prefixes);
  auto candidates = index.Candidates("/A/X");
  std::vector<uint32_t> got(candidates.begin(), candidates.end());
  CHECK(std::is_sorted(got.begin(), got.end()));
  for (uint32_t needed : {0u, 1u, 3u, 4u}) {
    CHECK(std::find(got.begin(), got.end(), needed) != got.end());
  }
}

// --- Compiled table accessors -----------------------------------------------

TEST_CASE("routes are numbered in flat order and default-named per host") {
  RouteConfigSpec spec;
  spec.virtual_hosts = {
      Host("local", {"*"}, {Prefix("join", "/join"), Prefix("", "/")}),
      Host("admin", {"admin.local"}, {Prefix("", "/stats")})};
  auto table = CompileOrDie(spec);
  REQUIRE(table->route_count() == 3);
  CHECK(table->route(0).name() == "join");
  CHECK(table->route(1).name() == "local/1");
  CHECK(table->route(2).name() == "admin/0");
  for (size_t i = 0; i < table->route_count(); ++i) {
    CHECK(table->route(i).index() == i);
  }
  CHECK(table->route(0).virtual_host_name() == "local");
  CHECK(table->route(2).virtual_host_name() == "admin");
  CHECK(table->route(2).match().path == "/stats");
  CHECK(Pick(*table, "admin.local", "/stats") == "admin/0");
  CHECK(Pick(*table, "admin.local", "/join") == "<none>");
  CHECK(&table->route(1) == table->Match({.authority = "x", .path = "/where"}));
}

TEST_CASE("retry conditions compile to bits and print back as Envoy's names") {
  CHECK(ParseRetryOn("5xx") == RetryOn::k5xx);
  CHECK(ParseRetryOn("retriable-4xx") == RetryOn::kRetriable4xx);
  CHECK_FALSE(ParseRetryOn("refused-stream"));
  CHECK_FALSE(ParseRetryOn("5XX"));  // Envoy's names are lowercase
  RetryOn set = RetryOn::kReset | RetryOn::k5xx;
  CHECK(Includes(set, RetryOn::kReset));
  CHECK_FALSE(Includes(set, RetryOn::kConnectFailure));
  CHECK(Includes(set, RetryOn::kConnectFailure | RetryOn::k5xx));
  CHECK(RetryOnNames(set) == "5xx,reset");  // the enum's order
  CHECK(RetryOnNames(RetryOn::kNone).empty());
  for (std::string_view name : {"5xx", "gateway-error", "connect-failure", "reset",
                                "retriable-4xx"}) {
    CHECK(kSupportedRetryOn.find(name) != std::string_view::npos);
    CHECK(RetryOnNames(*ParseRetryOn(name)) == name);
  }
}

TEST_CASE("a route carries its action") {
  RouteSpec route = Prefix("join", "/join");
  route.action.timeout = std::chrono::seconds(3);
  route.action.retry_policy =
      RetryPolicySpec{.retry_on = RetryOn::kConnectFailure, .num_retries = 2};
  route.action.hash_policy = {{.kind = HashPolicySpec::Kind::kHeader,
                               .name = "x-user",
                               .terminal = true}};
  auto policy = std::make_shared<AffinityPolicy>();
  policy->lookup_cluster = "resolver";
  route.action.affinity = policy;
  auto table = RoutesTable({route});
  const Route& compiled = table->route(0);
  CHECK(compiled.action() == route.action);
  CHECK(compiled.action().affinity == policy);
  CHECK(compiled.action().retry_policy->num_retries == 2);
}

TEST_CASE("RouteActionSpec equality compares the affinity policy by value") {
  RouteActionSpec a{.cluster = "c"};
  RouteActionSpec b{.cluster = "c"};
  CHECK(a == b);
  a.affinity =
      std::make_shared<AffinityPolicy>(AffinityPolicy{.lookup_cluster = "r"});
  CHECK_FALSE(a == b);
  CHECK_FALSE(b == a);
  b.affinity =
      std::make_shared<AffinityPolicy>(AffinityPolicy{.lookup_cluster = "r"});
  CHECK(a == b);
  b.affinity =
      std::make_shared<AffinityPolicy>(AffinityPolicy{.lookup_cluster = "s"});
  CHECK_FALSE(a == b);
  b.affinity = a.affinity;
  CHECK(a == b);
  b.timeout = std::chrono::seconds(1);
  CHECK_FALSE(a == b);
  b = a;
  b.cluster = "d";
  CHECK_FALSE(a == b);
  b = a;
  b.retry_policy = RetryPolicySpec{};
  CHECK_FALSE(a == b);
  b = a;
  b.hash_policy.push_back({.name = "client_id"});
  CHECK_FALSE(a == b);

  RouteSpec route_a = Prefix("r", "/");
  RouteSpec route_b = route_a;
  route_a.action.affinity = std::make_shared<AffinityPolicy>();
  route_b.action.affinity = std::make_shared<AffinityPolicy>();
  CHECK(route_a == route_b);
}

TEST_CASE("an empty table and an empty host match nothing") {
  auto table = CompileOrDie(RouteConfigSpec{});
  CHECK(table->route_count() == 0);
  CHECK(Pick(*table, "a", "/") == "<none>");

  RouteConfigSpec spec;
  spec.virtual_hosts.push_back({.name = "empty", .domains = {"*"}});
  table = CompileOrDie(spec);
  CHECK(Pick(*table, "a", "/") == "<none>");
}

// --- Compile errors
// -----------------------------------------------------------

TEST_CASE("compile errors: virtual hosts and domains") {
  RouteConfigSpec spec;
  spec.virtual_hosts = {Host("a", {"*"}), Host("b", {"*"})};
  CHECK(CompileError(spec) ==
        "virtual_hosts[1] \"b\": domain \"*\" is already used by "
        "virtual_hosts[0] \"a\" (only one virtual host may use \"*\")");

  spec.virtual_hosts = {Host("a", {"foo.com"}),
                        Host("b", {"x.com", "FOO.com"})};
  CHECK(CompileError(spec) ==
        "virtual_hosts[1] \"b\": domain \"FOO.com\" is already used by "
        "virtual_hosts[0] \"a\"");

  spec.virtual_hosts = {Host("a", {"*.foo.com", "*.FOO.com"})};
  CHECK(CompileError(spec) ==
        "virtual_hosts[0] \"a\": domain \"*.FOO.com\" is listed twice");

  spec.virtual_hosts = {Host("a", {"foo.*"}), Host("b", {"foo.*"})};
  CHECK(CompileError(spec) ==
        "virtual_hosts[1] \"b\": domain \"foo.*\" is already used by "
        "virtual_hosts[0] \"a\"");

  spec.virtual_hosts = {Host("a", {"*"}), Host("b", {})};
  CHECK(CompileError(spec) ==
        "virtual_hosts[1] \"b\": domains must not be empty");

  spec.virtual_hosts = {Host("", {"*"})};
  CHECK(CompileError(spec) == "virtual_hosts[0]: name must not be empty");

  // The same literal as exact, suffix and prefix domains is no conflict.
  spec.virtual_hosts = {Host("a", {"foo"}), Host("b", {"*foo"}),
                        Host("c", {"foo*"})};
  CHECK(CompileError(spec) == "<ok>");
}

TEST_CASE("compile errors: route actions") {
  RouteSpec route = Prefix("", "/");
  route.action.cluster = "";
  CHECK(RouteError(route) ==
        "virtual_hosts[0] \"local\" routes[0]: cluster must not be empty");

  route = Prefix("join", "/join");
  route.action.hash_policy = {{.name = "client_id"}, {.name = ""}};
  CHECK(RouteError(route) ==
        "virtual_hosts[0] \"local\" routes[0] \"join\": hash_policy[1]: name "
        "must not be empty");
}

TEST_CASE("compile errors: path specifiers") {
  RouteConfigSpec spec;
  spec.virtual_hosts.push_back(
      Host("local", {"*"},
           {Prefix("", "/a"), Prefix("", "/b"),
            MakeRoute("", PathMatchKind::kSafeRegex, "(")}));
  CHECK(CompileError(spec) ==
        "virtual_hosts[0] \"local\" routes[2]: safe_regex \"(\": missing )");

  CHECK(RouteError(MakeRoute("r", PathMatchKind::kSafeRegex, "a**")) ==
        "virtual_hosts[0] \"local\" routes[0] \"r\": safe_regex \"a**\": bad "
        "repetition operator: **");

  CHECK(RouteError(
            MakeRoute("r", PathMatchKind::kPathSeparatedPrefix, "/api/")) ==
        "virtual_hosts[0] \"local\" routes[0] \"r\": path_separated_prefix "
        "\"/api/\": must not end with '/'");
  CHECK(RouteError(
            MakeRoute("r", PathMatchKind::kPathSeparatedPrefix, "/api?x")) ==
        "virtual_hosts[0] \"local\" routes[0] \"r\": path_separated_prefix "
        "\"/api?x\": must not contain '?' or '#'");
  CHECK(RouteError(
            MakeRoute("r", PathMatchKind::kPathSeparatedPrefix, "/api#x")) ==
        "virtual_hosts[0] \"local\" routes[0] \"r\": path_separated_prefix "
        "\"/api#x\": must not contain '?' or '#'");
  CHECK(RouteError(MakeRoute("r", PathMatchKind::kPathSeparatedPrefix, "")) ==
        "virtual_hosts[0] \"local\" routes[0] \"r\": path_separated_prefix "
        "\"\": must not be empty");
  CHECK(RouteError(MakeRoute("r", PathMatchKind::kPathSeparatedPrefix, "/")) ==
        "virtual_hosts[0] \"local\" routes[0] \"r\": path_separated_prefix "
        "\"/\": must not end with '/'");
}

TEST_CASE("compile errors: header and query parameter matchers") {
  RouteSpec route = Prefix("r", "/");
  route.match.headers = {{.name = "x-a"},
                         {.name = "x-user",
                          .string_match = StringMatcherSpec{
                              .kind = Kind::kSafeRegex, .value = "["}}};
  CHECK(RouteError(route) ==
        "virtual_hosts[0] \"local\" routes[0] \"r\": headers[1] \"x-user\": "
        "safe_regex \"[\": missing ]");

  route.match.headers = {{.name = ""}};
  CHECK(RouteError(route) ==
        "virtual_hosts[0] \"local\" routes[0] \"r\": headers[0]: name must not "
        "be empty");

  for (Kind kind : {Kind::kPrefix, Kind::kSuffix, Kind::kContains}) {
    route.match.headers = {
        {.name = "x-a", .string_match = StringMatcherSpec{.kind = kind}}};
    std::string kind_name = kind == Kind::kPrefix   ? "prefix"
                            : kind == Kind::kSuffix ? "suffix"
                                                    : "contains";
    CHECK(RouteError(route) ==
          "virtual_hosts[0] \"local\" routes[0] \"r\": headers[0] \"x-a\": " +
              kind_name + " must not be empty");
  }

  route.match.headers.clear();
  route.match.query_parameters = {
      {.name = "client_id",
       .string_match =
           StringMatcherSpec{.kind = Kind::kSafeRegex, .value = "a{2,1}"}}};
  CHECK(RouteError(route) ==
        "virtual_hosts[0] \"local\" routes[0] \"r\": query_parameters[0] "
        "\"client_id\": safe_regex \"a{2,1}\": invalid repetition size: {2,1}");

  route.match.query_parameters = {{.name = ""}};
  CHECK(RouteError(route) ==
        "virtual_hosts[0] \"local\" routes[0] \"r\": query_parameters[0]: "
        "name must not be empty");

  route.match.query_parameters = {
      {.name = "a", .string_match = StringMatcherSpec{.kind = Kind::kPrefix}}};
  CHECK(RouteError(route) ==
        "virtual_hosts[0] \"local\" routes[0] \"r\": query_parameters[0] "
        "\"a\": prefix must not be empty");
}

// --- Upgrades ---------------------------------------------------------------

TEST_CASE("UpgradeEnabled: the route's entry for the type decides, else the HCM's") {
  const std::vector<UpgradeConfigSpec> hcm = {{"websocket", true}, {"spdy/3", false}};
  RouteActionSpec plain{.cluster = "c"};
  CHECK(UpgradeEnabled("websocket", hcm, plain));
  CHECK(UpgradeEnabled("WebSocket", hcm, plain));  // case-insensitive
  CHECK_FALSE(UpgradeEnabled("spdy/3", hcm, plain));
  CHECK_FALSE(UpgradeEnabled("CONNECT-UDP", hcm, plain));  // listed nowhere
  CHECK_FALSE(UpgradeEnabled("websocket", {}, plain));     // none by default
  CHECK_FALSE(UpgradeEnabled("", hcm, plain));

  RouteActionSpec off{.cluster = "c", .upgrade_configs = {{"WEBSOCKET", false}}};
  CHECK_FALSE(UpgradeEnabled("websocket", hcm, off));
  RouteActionSpec on{.cluster = "c",
                     .upgrade_configs = {{"spdy/3", true}, {"CONNECT-UDP", true}}};
  CHECK(UpgradeEnabled("spdy/3", hcm, on));       // enables what the HCM disables
  CHECK(UpgradeEnabled("connect-udp", {}, on));   // and what it does not list
  CHECK(UpgradeEnabled("websocket", hcm, on));    // other types: the HCM's
}

TEST_CASE("route upgrade_configs: protocol tokens, listed once, no h2c") {
  RouteSpec route = Prefix("r", "/");
  route.action.upgrade_configs = {{"websocket", true}, {"WebSocket", false}};
  CHECK(RouteError(route) ==
        "virtual_hosts[0] \"local\" routes[0] \"r\": upgrade_configs: upgrade_type "
        "\"WebSocket\" is listed twice");
  route.action.upgrade_configs = {{"h2c", true}};
  CHECK(RouteError(route) ==
        "virtual_hosts[0] \"local\" routes[0] \"r\": upgrade_configs: upgrade_type "
        "\"h2c\" is not supported by homing (it speaks HTTP/1.1 only; a request "
        "asking for h2c is served as HTTP/1.1)");
  for (const char* bad : {"", "web socket", "a/", "/1", "a/b/c", "x,y"}) {
    CAPTURE(bad);
    route.action.upgrade_configs = {{bad, true}};
    CHECK(RouteError(route) ==
          "virtual_hosts[0] \"local\" routes[0] \"r\": upgrade_configs: invalid "
          "upgrade_type \"" + std::string(bad) +
              "\": expected a protocol token such as \"websocket\"");
  }
  route.action.upgrade_configs = {{"CONNECT-UDP", true}, {"spdy/3.1", false}};
  CHECK(RouteError(route) == "<ok>");
}

}  // namespace
}  // namespace homing
