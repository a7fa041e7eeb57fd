// File: examples/server/affinity_handler.h
//
// The seed's backend, answering on every connection:
//   GET /where?client_id=X  200 {"client_id":"X","hostport":"<owner>"}
//   GET /join?client_id=X   200 {"assigned":"server-1:8081","client_id":"X",
//                                "status":"ok"} when this instance owns X (and
//                           logs "/join: client_id=X assigned to server-1:8081"
//                           on stdout), else 421 {"status":"misdirected",
//                           "client_id":"X","owner":"<owner>"}
//   GET /health             200 {"status":"ok"}
// A missing or empty client_id is a 400, an unknown path a 404, a method
// other than GET or HEAD a 405; all with homing's JSON error body.
//
// Thread safety: loop thread only (the Membership is swapped on it).

#ifndef HOMING_EXAMPLES_SERVER_AFFINITY_HANDLER_H_
#define HOMING_EXAMPLES_SERVER_AFFINITY_HANDLER_H_

#include <cstdio>
#include <memory>
#include <string>

#include "homing/http_server.h"
#include "homing/placement.h"

namespace homing::server {

// Membership
//
// The placement over the current members and this instance's ordinal.
struct Membership {
  std::unique_ptr<Placement> placement;
  size_t self = 0;
  std::string self_assigned;  // AssignedName() of the own member, or empty
                              // when `self` is not a member (scaled in)
};

class AffinityHandler : public RequestHandler {
 public:
  // `membership` is read on every request; replace its contents between
  // requests to change membership. `join_log` receives the /join lines.
  AffinityHandler(const Membership& membership, std::FILE* join_log)
      : membership_(membership), join_log_(join_log) {}

  void OnRequestHeaders(ServerStream& stream) override;

 private:
  void Where(ServerStream& stream, const std::string& client_id);
  void Join(ServerStream& stream, const std::string& client_id);
  void LogJoin(const std::string& client_id);

  const Membership& membership_;
  std::FILE* join_log_;
  std::string body_;  // reused for every response
};

}  // namespace homing::server

#endif  // HOMING_EXAMPLES_SERVER_AFFINITY_HANDLER_H_
