// Upgrade configs: their checks and Envoy's per-route upgrade decision.

#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "homing/route.h"

namespace homing {
namespace {

using internal::EqualsIgnoreCase;
using internal::ToAbsl;

// RFC 9110 tchar.
bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// RFC 9110 `protocol-name ["/" protocol-version]`.
bool IsProtocol(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return IsToken(text);
  return IsToken(text.substr(0, slash)) && IsToken(text.substr(slash + 1));
}

// The entry for `upgrade` in `configs`, or nullptr.
const UpgradeConfigSpec* FindUpgrade(const std::vector<UpgradeConfigSpec>& configs,
                                     std::string_view upgrade) {
  for (const UpgradeConfigSpec& config : configs) {
    if (EqualsIgnoreCase(config.upgrade_type, upgrade)) return &config;
  }
  return nullptr;
}

}  // namespace

absl::Status CheckUpgradeType(std::string_view upgrade_type) {
  if (!IsProtocol(upgrade_type)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid upgrade_type \"", ToAbsl(upgrade_type),
        "\": expected a protocol token such as \"websocket\""));
  }
  if (EqualsIgnoreCase(upgrade_type, "h2c")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "upgrade_type \"", ToAbsl(upgrade_type),
        "\" is not supported by homing (it speaks HTTP/1.1 only; a request "
        "asking for h2c is served as HTTP/1.1)"));
  }
  if (EqualsIgnoreCase(upgrade_type, "CONNECT")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "upgrade_type \"", ToAbsl(upgrade_type),
        "\" is not supported by homing (CONNECT requests are answered 405)"));
  }
  return absl::OkStatus();
}

absl::Status CheckUpgradeConfigs(const std::vector<UpgradeConfigSpec>& configs) {
  for (size_t i = 0; i < configs.size(); ++i) {
    const std::string& type = configs[i].upgrade_type;
    if (absl::Status status = CheckUpgradeType(type); !status.ok()) return status;
    for (size_t j = 0; j < i; ++j) {
      if (EqualsIgnoreCase(configs[j].upgrade_type, type)) {
        return absl::InvalidArgumentError(
            absl::StrCat("upgrade_type \"", type, "\" is listed twice"));
      }
    }
  }
  return absl::OkStatus();
}

bool UpgradeEnabled(std::string_view upgrade,
                    const std::vector<UpgradeConfigSpec>& connection_manager,
                    const RouteActionSpec& route) {
  if (const UpgradeConfigSpec* entry = FindUpgrade(route.upgrade_configs, upgrade)) {
    return entry->enabled;
  }
  const UpgradeConfigSpec* entry = FindUpgrade(connection_manager, upgrade);
  return entry != nullptr && entry->enabled;
}

}  // namespace homing
