// File: homing/config.h
//
// Loads the subset of Envoy's v3 bootstrap that homing runs, from YAML or
// JSON (JSON is YAML), into the plain structs of homing/config_spec.h. The loader is strict: an unknown
// field, a wrong type, a missing required field, a dangling cluster reference
// or an Envoy feature homing does not support is an error that names the path
// and line, never ignored:
//
//   static_resources.clusters[1].lb_policy (line 42): unknown value "FOO"
//
// The result is complete: defaults are filled in (Envoy's where Envoy has
// them), the bootstrap's `typed_dns_resolver_config` is copied into every
// STRICT_DNS cluster and DNS cache that sets none, and every cross-reference
// (route → cluster, affinity → lookup cluster, DFP filter ↔ DFP cluster cache)
// has been checked, so consumers need no further validation.
// docs/configuration.md is the field-by-field reference.
//
// Durations take Envoy's JSON form ("5s", "0.25s"), the shorter units "100ms",
// "2m", "1h", "250us", and protobuf's `{seconds, nanos}` object.
//
// Example:
//
//   absl::StatusOr<homing::Bootstrap> config =
//       homing::LoadConfigFile("examples/proxy/seed.yaml");
//   if (!config.ok()) { std::cerr << config.status().message() << "\n"; }
//   const homing::ClusterSpec* resolver = config->FindCluster("resolver");
//
// Thread safety: pure functions; the result is a value.

#ifndef HOMING_CONFIG_H_
#define HOMING_CONFIG_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "homing/clock.h"
#include "homing/config_spec.h"

namespace homing {

// ParseConfig()
//
// Parses YAML or JSON text (one document). Errors are InvalidArgument:
// "<path> (line N): <message>" for configuration errors and
// "<source_name>:<line>:<column>: <message>" for YAML syntax errors.
absl::StatusOr<Bootstrap> ParseConfig(std::string_view text,
                                      std::string_view source_name = "config");

// LoadConfigFile()
//
// Reads and parses a file (its path is the `source_name`); NotFound when it
// cannot be read.
absl::StatusOr<Bootstrap> LoadConfigFile(const std::string& path);

// ParseDuration()
//
// "5s", "0.25s", "100ms", "2m", "1h", "250us", "10ns": a non-negative
// decimal number (up to 9 fractional digits) and a unit. InvalidArgument
// `invalid duration "<text>": <reason>` otherwise.
absl::StatusOr<Duration> ParseDuration(std::string_view text);

// DumpConfigJson()
//
// `config` as JSON in Envoy's v3 bootstrap shapes, every default spelled
// out (durations as "0.25s"): what the admin listener's /config_dump shows.
// Feeding it back to ParseConfig() gives an equal Bootstrap.
std::string DumpConfigJson(const Bootstrap& config);

}  // namespace homing

#endif  // HOMING_CONFIG_H_
