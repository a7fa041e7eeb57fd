// HostportAllowList: the allowed_hostports patterns, compiled once.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "homing/address.h"
#include "homing/affinity_lookup.h"

namespace homing {
namespace {

using internal::ToAbsl;

// A DNS name compares equal with and without its trailing root dot.
std::string_view WithoutRootDot(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return host;
}

std::string Lowered(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), internal::AsciiLower);
  return out;
}

// A domain name, as a wildcard suffix must be: IPv4 literals are valid DNS
// names but end in a label of digits; IPv6 literals are no DNS names.
bool IsDomainName(std::string_view name) {
  if (!IsValidDnsName(name)) return false;
  std::string_view last = name.substr(name.rfind('.') + 1);
  return std::any_of(last.begin(), last.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  });
}

}  // namespace

absl::StatusOr<HostportAllowList> HostportAllowList::Create(
    const std::vector<std::string>& patterns) {
  HostportAllowList list;
  for (size_t i = 0; i < patterns.size(); ++i) {
    std::string_view text = patterns[i];
    auto invalid = [&](std::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(
          "allowed_hostports[", i, "] \"", ToAbsl(text), "\": ", ToAbsl(why)));
    };
    Pattern pattern;
    std::string_view hostport = text;
    if (!text.empty() && text.front() == '*') {
      if (text.size() < 2 || text[1] != '.') {
        return invalid("'*' must be followed by '.' and a domain suffix");
      }
      pattern.wildcard = true;
      hostport = text.substr(2);
    } else if (text.find('*') != std::string_view::npos) {
      return invalid("'*' may only stand for whole leading labels (\"*.example.com:8081\")");
    }
    absl::StatusOr<HostPort> parsed = ParseHostPort(hostport);
    if (!parsed.ok()) return invalid(internal::FromAbsl(parsed.status().message()));
    std::string_view host = WithoutRootDot(parsed->host);
    if (pattern.wildcard && !IsDomainName(host)) {
      return invalid("a wildcard suffix must be a domain name, not an IP address");
    }
    pattern.host = pattern.wildcard ? absl::StrCat(".", ToAbsl(Lowered(host)))
                                    : Lowered(host);
    pattern.port = parsed->port;
    list.patterns_.push_back(std::move(pattern));
  }
  return list;
}

bool HostportAllowList::Allows(const HostPort& hostport) const {
  std::string_view host = WithoutRootDot(hostport.host);
  for (const Pattern& pattern : patterns_) {
    if (pattern.port != hostport.port) continue;
    if (!pattern.wildcard) {
      if (internal::EqualsIgnoreCase(host, pattern.host)) return true;
      continue;
    }
    // The suffix starts with '.', so a longer host has at least one label
    // in front of it.
    if (host.size() > pattern.host.size() &&
        internal::EqualsIgnoreCase(host.substr(host.size() - pattern.host.size()),
                                   pattern.host)) {
      return true;
    }
  }
  return false;
}

}  // namespace homing
