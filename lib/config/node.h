// File: lib/config/node.h
//
// Strict, path-aware reading of a yaml-cpp document. Every value the loader
// reads is a `Node` that knows its dotted path ("static_resources.clusters[1]
// .lb_policy") and its line, so any error can say where it is:
//
//   static_resources.clusters[1].lb_policy (line 42): unknown value "FOO"
//
// An `Object` is one YAML mapping. Parsers ask it for fields by name; at the
// end `Object::Finish()` reports the first field nobody asked for, as an
// unknown field or, when it is an Envoy field homing leaves out, as an
// unsupported one. Nothing in a config is ever silently ignored.
//
// Example:
//
//   HOMING_CONFIG_ASSIGN_OR_RETURN(Object cluster, node.AsObject());
//   HOMING_CONFIG_RETURN_IF_ERROR(cluster.ReadRequired("name", &spec.name));
//   HOMING_CONFIG_RETURN_IF_ERROR(cluster.Read("connect_timeout", &spec.connect_timeout));
//   HOMING_CONFIG_RETURN_IF_ERROR(cluster.Finish({"transport_socket"}));
//
// Scalars follow protobuf's JSON mapping, which is what Envoy parses YAML
// into: a field set to null is absent; integers may be quoted; booleans are
// plain `true`/`false`; durations are strings such as "5s" or
// `{seconds, nanos}` objects.
//
// Thread safety: values; an `Object` is used by one parser at a time.

#ifndef HOMING_LIB_CONFIG_NODE_H_
#define HOMING_LIB_CONFIG_NODE_H_

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "homing/clock.h"

// Propagates a non-OK absl::Status from `expr`.
#define HOMING_CONFIG_RETURN_IF_ERROR(expr)              \
  do {                                                   \
    ::absl::Status homing_config_status_ = (expr);       \
    if (!homing_config_status_.ok()) {                   \
      return homing_config_status_;                      \
    }                                                    \
  } while (false)

// Declares or assigns `lhs` from the value of the absl::StatusOr `expr`, or
// returns its status.
#define HOMING_CONFIG_ASSIGN_OR_RETURN(lhs, expr)                              \
  HOMING_CONFIG_ASSIGN_OR_RETURN_IMPL(                                         \
      HOMING_CONFIG_CONCAT(homing_config_statusor_, __LINE__), lhs, expr)
#define HOMING_CONFIG_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                                        \
  if (!statusor.ok()) return std::move(statusor).status();       \
  lhs = *std::move(statusor)
#define HOMING_CONFIG_CONCAT(a, b) HOMING_CONFIG_CONCAT_IMPL(a, b)
#define HOMING_CONFIG_CONCAT_IMPL(a, b) a##b

namespace homing::config_internal {

class Object;

// Node
//
// One YAML value and where it is.
class Node {
 public:
  Node(YAML::Node yaml, std::string path, int line);

  // Node::Root()
  //
  // The document root: its fields' paths start at their own names
  // ("static_resources"), and errors about the root itself say "bootstrap".
  static Node Root(YAML::Node yaml);

  const std::string& path() const { return path_; }
  int line() const { return line_; }
  const YAML::Node& yaml() const { return yaml_; }

  // Node::Error()
  //
  // InvalidArgument "<path> (line N): <message>". Every config error is
  // built here, so the format is the same everywhere.
  absl::Status Error(std::string_view message) const;

  // Node::Child()
  //
  // A node for a value reached from this one, e.g. `Child(".regex", ...)`.
  Node Child(std::string_view path_suffix, YAML::Node yaml) const;

  // Typed reads. Each fails with Error("expected ..., got ...") on a value of
  // another type.
  absl::StatusOr<std::string> AsString() const;
  absl::StatusOr<bool> AsBool() const;
  absl::StatusOr<uint64_t> AsUint(
      uint64_t min = 0,
      uint64_t max = std::numeric_limits<uint64_t>::max()) const;
  absl::StatusOr<Duration> AsDuration() const;
  absl::StatusOr<std::vector<Node>> AsList() const;
  absl::StatusOr<Object> AsObject() const;

 private:
  // "a string", "a mapping", ... what this value is, for error messages.
  std::string Describe() const;

  YAML::Node yaml_;
  std::string path_;
  int line_;
};

// Object
//
// A YAML mapping whose fields are read by name. Keys must be unique strings.
class Object {
 public:
  // Object::Get()
  //
  // Returns the field, or nullopt when it is absent or null (protobuf JSON
  // reads null as "not set"). Marks the field as understood either way.
  std::optional<Node> Get(std::string_view field);

  // Object::Require()
  //
  // Like Get(), but a missing field is an error: "<path>.<field> (line of
  // this mapping): missing required field".
  absl::StatusOr<Node> Require(std::string_view field);

  // Object::Entries()
  //
  // Every field in document order, for mappings keyed by names rather than
  // by a schema (`typed_per_filter_config`); paths read `<path>["<key>"]`
  // and lines are the keys' lines. Marks them all as understood.
  std::vector<std::pair<std::string, Node>> Entries();

  // Object::SetFields()
  //
  // The names of the fields that are set (present and not null), in
  // document order. Marks nothing.
  std::vector<std::string_view> SetFields() const;

  // Object::Has()
  //
  // Whether the field is set (present and not null). Does not mark it.
  bool Has(std::string_view field) const;

  // Object::FieldError()
  //
  // An error about `field` of this mapping, at the field's line when it is
  // present and at the mapping's line otherwise.
  absl::Status FieldError(std::string_view field,
                          std::string_view message) const;

  // Object::Finish()
  //
  // Fails on the first field (in document order) that no Get()/Require()
  // asked for: "not supported by homing" when it is one of
  // `unsupported_envoy_fields`, "unknown field" otherwise. Call it after
  // reading every field a message supports.
  absl::Status Finish(
      std::initializer_list<std::string_view> unsupported_envoy_fields = {}) const;

  // Typed conveniences: read an optional field into `*out`, leaving `*out`
  // (the default) alone when the field is absent.
  absl::Status Read(std::string_view field, std::string* out);
  absl::Status Read(std::string_view field, bool* out);
  absl::Status Read(std::string_view field, Duration* out,
                    Duration min = Duration::zero());
  // Object::ReadAbove()
  //
  // A duration that must be greater than `bound` (protobuf's `gt`).
  absl::Status ReadAbove(std::string_view field, Duration* out, Duration bound);
  template <typename T>
  absl::Status ReadUint(std::string_view field, T* out, uint64_t min = 0,
                        uint64_t max = std::numeric_limits<T>::max()) {
    std::optional<Node> value = Get(field);
    if (!value) return absl::OkStatus();
    HOMING_CONFIG_ASSIGN_OR_RETURN(uint64_t number, value->AsUint(min, max));
    *out = static_cast<T>(number);
    return absl::OkStatus();
  }

  // Object::ReadRequired()
  //
  // A required, non-empty string.
  absl::Status ReadRequired(std::string_view field, std::string* out);

  // Object::CheckType()
  //
  // Checks the `@type` of a packed Envoy message (an `Any`): required, and
  // equal to `type_url`.
  absl::Status CheckType(std::string_view type_url);

 private:
  friend class Node;
  struct Field {
    std::string key;
    YAML::Node value;
    int line;
    bool asked = false;
  };
  explicit Object(Node node) : node_(std::move(node)) {}
  Field* Find(std::string_view key);
  const Field* Find(std::string_view key) const;
  Node FieldNode(const Field& field) const;

  Node node_;
  std::vector<Field> fields_;
};

// FormatDuration()
//
// "1ms", "5s", "0.25s": the shortest exact form, for messages.
std::string FormatDuration(Duration duration);

// Quote()
//
// `"text"` for messages.
std::string Quote(std::string_view text);

}  // namespace homing::config_internal

#endif  // HOMING_LIB_CONFIG_NODE_H_
