// File: homing/http_message.h
//
// Small HTTP/1.1 vocabulary shared by the server, the upstream connection pool
// and the proxy stream, and useful to anything that writes replies of its own:
//
//  - `LocalReplyBody()`: every reply homing makes itself (400, 404, 408, 413,
//    421, 431, 503, 504, …) carries the JSON body
//    `{"error":"<code>","detail":"<detail>"}`.
//  - `AppendJsonString()`: JSON string escaping for any text, including
//    percent-decoded keys that are not valid UTF-8.
//  - `IsHopByHopHeader()` / `ConnectionNominates()`: the headers a proxy never
//    forwards (RFC 9110 §7.6.1).
//  - `FormatRequestId()`: a random UUIDv4 for `x-request-id`.
//
// Example:
//
//   std::string body = homing::LocalReplyBody("bad_request", "Invalid method");
//   // {"error":"bad_request","detail":"Invalid method"}
//   stream.SendResponse(400, {{{"content-type", "application/json"}}}, body);
//
// Thread safety: pure functions, except `FormatRequestId()`, which uses a
// per-thread generator and is safe to call from any thread.

#ifndef HOMING_HTTP_MESSAGE_H_
#define HOMING_HTTP_MESSAGE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "homing/request.h"

namespace homing {

// HttpHeader
//
// A header as a pair of borrowed views; the same type `RequestView` uses, so a
// request's headers can be passed along without copying.
using HttpHeader = RequestHeader;

// AppendJsonString()
//
// Appends `value` to `*out` as a quoted JSON string: `"` and `\` escaped,
// control characters as `\n`, `\r`, `\t` or `\u00XX`, and every byte that is
// not part of a valid UTF-8 sequence replaced by `\ufffd` (as Go's
// encoding/json does), so the output is always valid JSON.
void AppendJsonString(std::string* out, std::string_view value);

// LocalReplyBody()
//
// Returns `{"error":"<code>","detail":"<detail>"}` with both strings escaped.
// `code` is a short snake_case word ("bad_request", "upstream_timeout").
std::string LocalReplyBody(std::string_view code, std::string_view detail);

// StatusReasonPhrase()
//
// The RFC 9110 reason phrase for `status` ("Misdirected Request" for 421), or
// "Unknown" for codes without one.
std::string_view StatusReasonPhrase(int status);

// IsHopByHopHeader()
//
// `true` for Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
// Transfer-Encoding and Upgrade (case-insensitive): headers that describe one
// connection and are never forwarded. Headers named in a Connection header
// are hop-by-hop as well; see `ConnectionNominates()`.
bool IsHopByHopHeader(std::string_view name);

// ConnectionNominates()
//
// `true` when the comma-separated token list `connection_value` (the value of
// a Connection header) names `header_name`, case-insensitively.
bool ConnectionNominates(std::string_view connection_value,
                         std::string_view header_name);

// kRequestIdLength / FormatRequestId()
//
// Writes a random version-4 UUID ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx",
// lowercase hex) into `out`, without allocating.
inline constexpr size_t kRequestIdLength = 36;
void FormatRequestId(char (&out)[kRequestIdLength]);

}  // namespace homing

#endif  // HOMING_HTTP_MESSAGE_H_
