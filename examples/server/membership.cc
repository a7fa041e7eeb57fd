#include "membership.h"

#include <arpa/inet.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "homing/address.h"

namespace homing::server {
namespace {

absl::string_view A(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' ||
                           text.front() == '\r')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' ||
                           text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

absl::StatusOr<std::vector<std::string>> Validate(
    std::vector<std::string> members) {
  if (members.empty()) return absl::InvalidArgumentError("no members");
  std::set<std::string> seen;
  for (const std::string& member : members) {
    absl::StatusOr<HostPort> parsed = ParseHostPort(member);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "member \"", member, "\": ", parsed.status().message()));
    }
    if (!seen.insert(member).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("member \"", member, "\" is listed twice"));
    }
  }
  return members;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseMemberList(std::string_view text) {
  std::vector<std::string> members;
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view entry = Trim(text.substr(0, comma));
    if (entry.empty()) {
      return absl::InvalidArgumentError("empty entry in the member list");
    }
    members.emplace_back(entry);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return Validate(std::move(members));
}

absl::StatusOr<std::vector<std::string>> ParseMembersFile(
    std::string_view contents) {
  std::vector<std::string> members;
  while (!contents.empty()) {
    const size_t newline = contents.find('\n');
    const std::string_view line = Trim(contents.substr(0, newline));
    contents = newline == std::string_view::npos ? std::string_view()
                                                 : contents.substr(newline + 1);
    if (line.empty() || line.front() == '#') continue;
    members.emplace_back(line);
  }
  if (members.empty()) {
    return absl::InvalidArgumentError("the members file lists no member");
  }
  return Validate(std::move(members));
}

absl::StatusOr<std::vector<std::string>> ReadMembersFile(
    const std::string& path) {
  std::ifstream file(path);
  if (!file) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  }
  std::stringstream contents;
  contents << file.rdbuf();
  absl::StatusOr<std::vector<std::string>> members =
      ParseMembersFile(contents.str());
  if (!members.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", members.status().message()));
  }
  return members;
}

absl::StatusOr<std::vector<std::string>> ExpandMemberTemplate(
    std::string_view member_template, size_t replicas) {
  const size_t placeholder = member_template.find("{i}");
  if (placeholder == std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--member-template \"", A(member_template),
                     "\" has no {i} placeholder"));
  }
  if (replicas == 0) return absl::InvalidArgumentError("--replicas must be > 0");
  std::vector<std::string> members;
  for (size_t i = 0; i < replicas; ++i) {
    members.push_back(absl::StrCat(A(member_template.substr(0, placeholder)), i,
                                   A(member_template.substr(placeholder + 3))));
  }
  return Validate(std::move(members));
}

std::optional<size_t> OrdinalFromHostname(std::string_view hostname) {
  const size_t dash = hostname.rfind('-');
  if (dash == std::string_view::npos || dash + 1 == hostname.size()) {
    return std::nullopt;
  }
  size_t ordinal = 0;
  for (char c : hostname.substr(dash + 1)) {
    if (c < '0' || c > '9' || ordinal > 1'000'000) return std::nullopt;
    ordinal = ordinal * 10 + static_cast<size_t>(c - '0');
  }
  return ordinal;
}

std::string AssignedName(std::string_view member) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(member);
  if (!parsed.ok()) return std::string(member);
  std::string host = parsed->host;
  in6_addr ip6;
  in_addr ip4;
  const bool literal = inet_pton(AF_INET, host.c_str(), &ip4) == 1 ||
                       inet_pton(AF_INET6, host.c_str(), &ip6) == 1;
  if (!literal) host = host.substr(0, host.find('.'));
  return HostPort{host, parsed->port}.ToString();
}

}  // namespace homing::server
