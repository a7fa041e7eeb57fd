// Fuzz target: the config loader (ParseConfig, YAML and JSON) on arbitrary
// bytes. Properties beyond "no crash":
//  - every error is InvalidArgument with a message (never another code);
//  - a loaded config survives DumpConfigJson(): the dump parses again to an
//    equal Bootstrap, and dumping that gives the same text (what the admin
//    listener's /config_dump shows is a config homing would load).

#include <string>

#include "absl/status/statusor.h"
#include "fuzz_target.h"
#include "homing/config.h"

using homing::fuzz::Require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<homing::Bootstrap> config =
      homing::ParseConfig(homing::fuzz::AsText(data, size), "fuzz");
  if (!config.ok()) {
    Require(config.status().code() == absl::StatusCode::kInvalidArgument,
            "a config error is InvalidArgument");
    Require(!config.status().message().empty(), "a config error says why");
    return 0;
  }
  std::string dump = homing::DumpConfigJson(*config);
  absl::StatusOr<homing::Bootstrap> reloaded =
      homing::ParseConfig(dump, "config_dump");
  Require(reloaded.ok(), "the dump of a loaded config loads");
  Require(*reloaded == *config, "the dump loads to an equal config");
  Require(homing::DumpConfigJson(*reloaded) == dump, "dumping is stable");
  return 0;
}
