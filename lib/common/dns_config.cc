#include "homing/dns_config.h"

#include "absl/strings/str_cat.h"
#include "common/string_util.h"

namespace homing {
namespace {

constexpr DnsLookupFamily kFamilies[] = {
    DnsLookupFamily::kV4Only, DnsLookupFamily::kV6Only,
    DnsLookupFamily::kV4Preferred, DnsLookupFamily::kAuto,
    DnsLookupFamily::kAll};

}  // namespace

std::string_view DnsLookupFamilyName(DnsLookupFamily family) {
  switch (family) {
    case DnsLookupFamily::kV4Only: return "V4_ONLY";
    case DnsLookupFamily::kV6Only: return "V6_ONLY";
    case DnsLookupFamily::kV4Preferred: return "V4_PREFERRED";
    case DnsLookupFamily::kAuto: return "AUTO";
    case DnsLookupFamily::kAll: return "ALL";
  }
  return "UNKNOWN";
}

absl::StatusOr<DnsLookupFamily> ParseDnsLookupFamily(std::string_view name) {
  for (DnsLookupFamily family : kFamilies) {
    if (DnsLookupFamilyName(family) == name) return family;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown value \"", internal::ToAbsl(name),
      "\" (expected V4_ONLY, V6_ONLY, V4_PREFERRED, AUTO or ALL)"));
}

}  // namespace homing
