// File: homing/request.h
//
// A borrowed, read-only view of an HTTP request's routing-relevant parts, as
// route matching, hash policies and key extraction see it. Nothing is copied:
// every view points into the caller's buffers, which must outlive the call it
// is passed to.
//
// Example:
//
//   homing::RequestHeader headers[] = {{"x-client-id", "42"}};
//   homing::RequestView request{.method = "GET",
//                               .authority = "proxy.local:10000",
//                               .path = "/join?client_id=42",
//                               .headers = headers};

#ifndef HOMING_REQUEST_H_
#define HOMING_REQUEST_H_

#include <optional>
#include <span>
#include <string_view>

namespace homing {

struct RequestHeader {
  std::string_view name;  // compared case-insensitively
  std::string_view value;
};

struct RequestView {
  std::string_view method{};
  std::string_view authority{};  // Host / :authority, possibly with a port
  std::string_view path{};       // :path, including any query string
  std::span<const RequestHeader> headers{};

  // RequestView::PathWithoutQuery()
  //
  // Returns `path` up to the first '?' or '#'.
  std::string_view PathWithoutQuery() const {
    return path.substr(0, path.find_first_of("?#"));
  }

  // RequestView::Query()
  //
  // Returns the query string after '?' (without a fragment), or empty.
  std::string_view Query() const {
    size_t q = path.find('?');
    if (q == std::string_view::npos) return {};
    std::string_view query = path.substr(q + 1);
    return query.substr(0, query.find('#'));
  }

  // RequestView::FindHeader()
  //
  // Returns the first value of header `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> FindHeader(std::string_view name) const;
};

}  // namespace homing

#endif  // HOMING_REQUEST_H_
