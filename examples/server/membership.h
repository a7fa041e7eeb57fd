// File: examples/server/membership.h
//
// homing-server's view of the StatefulSet: the ordered member list (the index
// is the ordinal) from --members, --members-file or --replicas with a
// template, and which member this process is.
//
// Thread safety: pure functions.

#ifndef HOMING_EXAMPLES_SERVER_MEMBERSHIP_H_
#define HOMING_EXAMPLES_SERVER_MEMBERSHIP_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace homing::server {

// ParseMemberList()
//
// "h:p,h:p,…" (whitespace around entries ignored). Every member must be a
// valid host:port; duplicates are an error.
absl::StatusOr<std::vector<std::string>> ParseMemberList(std::string_view text);

// ParseMembersFile()
//
// One member per line; blank lines and lines starting with '#' are skipped.
// Same rules as ParseMemberList(); an empty file is an error.
absl::StatusOr<std::vector<std::string>> ParseMembersFile(
    std::string_view contents);

// ReadMembersFile()
//
// Reads and parses `path`.
absl::StatusOr<std::vector<std::string>> ReadMembersFile(
    const std::string& path);

// ExpandMemberTemplate()
//
// `replicas` members, each `member_template` with "{i}" replaced by the
// ordinal: "server-{i}.server-headless:8081" → "server-0.server-headless:8081",
// … The template must contain "{i}".
absl::StatusOr<std::vector<std::string>> ExpandMemberTemplate(
    std::string_view member_template, size_t replicas);

// OrdinalFromHostname()
//
// The trailing "-N" of a StatefulSet pod name ("server-2" → 2), or nullopt.
std::optional<size_t> OrdinalFromHostname(std::string_view hostname);

// AssignedName()
//
// What /join reports for a member: the first DNS label of its host, ":" and
// its port ("server-1.server-headless…:8081" → "server-1:8081"). IP literals
// are kept whole.
std::string AssignedName(std::string_view member);

}  // namespace homing::server

#endif  // HOMING_EXAMPLES_SERVER_MEMBERSHIP_H_
