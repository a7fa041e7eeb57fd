#include "affinity_handler.h"

#include <ctime>

#include "homing/http_message.h"
#include "homing/query_string.h"

namespace homing::server {
namespace {

constexpr HttpHeader kJson[] = {{"content-type", "application/json"}};

}  // namespace

void AffinityHandler::OnRequestHeaders(ServerStream& stream) {
  const RequestView& request = stream.request();
  const std::string_view path = request.PathWithoutQuery();
  const bool where = path == "/where";
  const bool join = path == "/join";
  if (!where && !join && path != "/health") {
    stream.SendLocalReply(404, "not_found",
                          "no endpoint " + std::string(path));
    return;
  }
  if (request.method != "GET" && request.method != "HEAD") {
    stream.SendLocalReply(405, "method_not_allowed",
                          std::string(request.method) + " is not allowed");
    return;
  }
  if (!where && !join) {
    stream.SendResponse(200, kJson, R"({"status":"ok"})");
    return;
  }
  std::string_view raw;
  if (!FindQueryParameter(request.Query(), "client_id", &raw) || raw.empty()) {
    stream.SendLocalReply(400, "bad_request",
                          "missing client_id query parameter");
    return;
  }
  const std::string client_id = PercentDecode(raw);
  if (where) {
    Where(stream, client_id);
  } else {
    Join(stream, client_id);
  }
}

void AffinityHandler::Where(ServerStream& stream,
                            const std::string& client_id) {
  body_.assign(R"({"client_id":)");
  AppendJsonString(&body_, client_id);
  body_.append(R"(,"hostport":)");
  AppendJsonString(&body_, membership_.placement->Owner(client_id));
  body_.push_back('}');
  stream.SendResponse(200, kJson, body_);
}

void AffinityHandler::Join(ServerStream& stream, const std::string& client_id) {
  const size_t owner = membership_.placement->OwnerIndex(client_id);
  if (owner != membership_.self || membership_.self_assigned.empty()) {
    body_.assign(R"({"status":"misdirected","client_id":)");
    AppendJsonString(&body_, client_id);
    const std::string& owner_hostport = membership_.placement->members()[owner];
    body_.append(R"(,"owner":)");
    AppendJsonString(&body_, owner_hostport);
    body_.push_back('}');
    // The proxy may go straight to the owner named here (after checking it
    // against its allow-list) instead of asking /where again.
    const HttpHeader headers[] = {{"content-type", "application/json"},
                                  {"x-homing-owner", owner_hostport}};
    stream.SendResponse(421, headers, body_);
    return;
  }
  body_.assign(R"({"assigned":)");
  AppendJsonString(&body_, membership_.self_assigned);
  body_.append(R"(,"client_id":)");
  AppendJsonString(&body_, client_id);
  body_.append(R"(,"status":"ok"})");
  stream.SendResponse(200, kJson, body_);
  LogJoin(client_id);
}

// "2025/09/26 13:21:22 /join: client_id=123 assigned to server-1:8081", as the
// seed's Go server logs it (local time). Control characters in the key are
// escaped so one request is one line.
void AffinityHandler::LogJoin(const std::string& client_id) {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm local;
  localtime_r(&now, &local);
  std::strftime(stamp, sizeof(stamp), "%Y/%m/%d %H:%M:%S", &local);
  std::string key;
  for (char c : client_id) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char escaped[5];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x",
                    static_cast<unsigned char>(c));
      key.append(escaped);
    } else {
      key.push_back(c);
    }
  }
  std::fprintf(join_log_, "%s /join: client_id=%s assigned to %s\n", stamp,
               key.c_str(), membership_.self_assigned.c_str());
  std::fflush(join_log_);
}

}  // namespace homing::server
