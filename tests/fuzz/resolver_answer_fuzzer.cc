// Fuzz target: a resolver's answer body, as the affinity lookup takes it:
// the JSON field "hostport" (ResolverAnswerParser), ParseHostPort() and the
// allowed_hostports check. Properties:
//  - the reused parser gives the same answer as a fresh parse
//    (ParseResolverAnswer) and as itself after parsing something else;
//  - a parsed hostport prints back (HostPort::ToString) to one that parses
//    equal, with a port in 1-65535;
//  - the allow-list admits exactly what a plain reading of its patterns
//    admits: an exact pattern its own hostport, a wildcard only hosts with
//    at least one more label in front of the suffix, and only a domain name
//    as the suffix.

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "fuzz_target.h"
#include "homing/address.h"
#include "homing/affinity_lookup.h"
#include "lookup/resolver_answer.h"

namespace {

using homing::HostPort;
using homing::HostportAllowList;
using homing::fuzz::Require;

constexpr std::string_view kSuffix = ".server-headless.poc-routing.svc.cluster.local";

const HostportAllowList& SeedAllowList() {
  static const HostportAllowList* list = new HostportAllowList(
      *HostportAllowList::Create({std::string("*") + std::string(kSuffix) + ":8081",
                                  "127.0.1.11:8081", "[::1]:8081",
                                  "Server-0.Example.COM.:9000"}));
  return *list;
}

std::string Canonical(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

// The seed allow-list, read plainly.
bool SeedAllows(const HostPort& hostport) {
  std::string host = Canonical(hostport.host);
  switch (hostport.port) {
    case 8081:
      return host == "127.0.1.11" || host == "::1" ||
             (host.size() > kSuffix.size() && host.ends_with(kSuffix));
    case 9000:
      return host == "server-0.example.com";
    default:
      return false;
  }
}

void CheckHostport(std::string_view text) {
  absl::StatusOr<HostPort> parsed = homing::ParseHostPort(text);
  if (!parsed.ok()) return;
  Require(parsed->port != 0, "a hostport has a port");
  Require(!parsed->host.empty(), "a hostport has a host");
  absl::StatusOr<HostPort> reparsed = homing::ParseHostPort(parsed->ToString());
  Require(reparsed.ok() && *reparsed == *parsed, "ToString() parses back equal");

  Require(SeedAllowList().Allows(*parsed) == SeedAllows(*parsed),
          "the seed allow-list admits exactly its patterns");

  absl::StatusOr<HostportAllowList> exact = HostportAllowList::Create({std::string(text)});
  Require(exact.ok(), "a valid hostport is a valid exact pattern");
  Require(exact->Allows(*parsed), "an exact pattern admits its hostport");
  HostPort other_port = *parsed;
  other_port.port = parsed->port == 1 ? 2 : 1;
  Require(!exact->Allows(other_port), "an exact pattern needs its port");

  absl::StatusOr<HostportAllowList> wildcard =
      HostportAllowList::Create({"*." + std::string(text)});
  if (wildcard.ok()) {
    Require(homing::IsValidDnsName(parsed->host),
            "a wildcard suffix is a domain name, not an IP address");
    Require(!wildcard->Allows(*parsed), "a wildcard needs a label in front");
    HostPort deeper{"a." + parsed->host, parsed->port};
    Require(wildcard->Allows(deeper), "a wildcard admits a label in front");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static homing::lookup_internal::ResolverAnswerParser parser;
  std::string_view body = homing::fuzz::AsText(data, size);

  absl::StatusOr<std::string_view> first = parser.Parse(body, "hostport");
  std::string first_text = first.ok() ? std::string(*first) : std::string();
  absl::Status first_status = first.status();

  absl::StatusOr<std::string> fresh = homing::ParseResolverAnswer(body, "hostport");
  Require(fresh.status() == first_status, "one-shot and reused parser agree");
  if (fresh.ok()) Require(*fresh == first_text, "one-shot and reused parser agree");

  Require(parser.Parse(R"({"hostport":"a.b:1"})", "hostport").ok(),
          "a plain answer parses");
  absl::StatusOr<std::string_view> again = parser.Parse(body, "hostport");
  Require(again.status() == first_status, "the reused parser forgets");
  if (again.ok()) Require(*again == first_text, "the reused parser forgets");

  if (first.ok()) {
    CheckHostport(first_text);
  } else {
    Require(first_status.code() == absl::StatusCode::kInvalidArgument,
            "a bad answer is InvalidArgument");
  }
  return 0;
}
