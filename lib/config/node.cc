#include "config/node.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "homing/config.h"

namespace homing::config_internal {
namespace {

using internal::ToAbsl;

// yaml-cpp marks are 0-based and absent (-1) on nodes it made up.
int LineOf(const YAML::Node& yaml, int fallback) {
  int line = yaml.Mark().line;
  return line >= 0 ? line + 1 : fallback;
}

// yaml-cpp tags an untagged plain scalar "?" and a quoted one "!".
bool IsPlainScalar(const YAML::Node& yaml) {
  return yaml.IsScalar() && yaml.Tag() == "?";
}

// "parent.key", or "key" at the document root.
std::string JoinPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return absl::StrCat(ToAbsl(parent), ".", ToAbsl(key));
}

// The largest bound `{seconds, nanos}` may reach without overflowing int64
// nanoseconds once nanos are added.
constexpr uint64_t kMaxDurationSeconds = 9223372035;

}  // namespace

std::string Quote(std::string_view text) {
  return absl::StrCat("\"", absl::CEscape(ToAbsl(text)), "\"");
}

std::string FormatDuration(Duration duration) {
  struct Unit {
    Duration size;
    const char* suffix;
  };
  static constexpr Unit kUnits[] = {
      {std::chrono::hours(1), "h"},         {std::chrono::minutes(1), "m"},
      {std::chrono::seconds(1), "s"},       {std::chrono::milliseconds(1), "ms"},
      {std::chrono::microseconds(1), "us"}};
  if (duration == Duration::zero()) return "0s";
  for (const Unit& unit : kUnits) {
    if (duration % unit.size == Duration::zero()) {
      return absl::StrCat(duration / unit.size, unit.suffix);
    }
  }
  return absl::StrCat(duration.count(), "ns");
}

// ---------------------------------------------------------------------------
// Node

Node::Node(YAML::Node yaml, std::string path, int line)
    : yaml_(std::move(yaml)), path_(std::move(path)), line_(line) {}

Node Node::Root(YAML::Node yaml) {
  int line = LineOf(yaml, 1);
  return Node(std::move(yaml), "", line);
}

absl::Status Node::Error(std::string_view message) const {
  return absl::InvalidArgumentError(
      absl::StrCat(path_.empty() ? "bootstrap" : path_, " (line ", line_,
                   "): ", ToAbsl(message)));
}

Node Node::Child(std::string_view path_suffix, YAML::Node yaml) const {
  int line = LineOf(yaml, line_);
  return Node(std::move(yaml), absl::StrCat(path_, ToAbsl(path_suffix)), line);
}

std::string Node::Describe() const {
  switch (yaml_.Type()) {
    case YAML::NodeType::Scalar: return Quote(yaml_.Scalar());
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: break;
  }
  return "null";
}

absl::StatusOr<std::string> Node::AsString() const {
  if (!yaml_.IsScalar()) {
    return Error(absl::StrCat("expected a string, got ", Describe()));
  }
  return yaml_.Scalar();
}

absl::StatusOr<bool> Node::AsBool() const {
  if (IsPlainScalar(yaml_)) {
    const std::string& text = yaml_.Scalar();
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
  }
  return Error(
      absl::StrCat("expected a boolean (true or false), got ", Describe()));
}

absl::StatusOr<uint64_t> Node::AsUint(uint64_t min, uint64_t max) const {
  uint64_t value = 0;
  bool digits_only = yaml_.IsScalar() && !yaml_.Scalar().empty();
  if (digits_only) {
    for (char c : yaml_.Scalar()) digits_only = digits_only && absl::ascii_isdigit(c);
  }
  if (!digits_only) {
    return Error(
        absl::StrCat("expected a non-negative integer, got ", Describe()));
  }
  if (!absl::SimpleAtoi(yaml_.Scalar(), &value) || value < min || value > max) {
    return Error(absl::StrCat("must be between ", min, " and ", max, ", got ",
                              yaml_.Scalar()));
  }
  return value;
}

absl::StatusOr<Duration> Node::AsDuration() const {
  if (yaml_.IsScalar()) {
    absl::StatusOr<Duration> duration = ParseDuration(yaml_.Scalar());
    if (!duration.ok()) return Error(internal::FromAbsl(duration.status().message()));
    return *duration;
  }
  if (yaml_.IsMap()) {  // protobuf's Duration message: {seconds, nanos}
    HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, AsObject());
    uint64_t seconds = 0;
    uint32_t nanos = 0;
    HOMING_CONFIG_RETURN_IF_ERROR(
        object.ReadUint("seconds", &seconds, 0, kMaxDurationSeconds));
    HOMING_CONFIG_RETURN_IF_ERROR(object.ReadUint("nanos", &nanos, 0, 999999999));
    HOMING_CONFIG_RETURN_IF_ERROR(object.Finish());
    return std::chrono::seconds(seconds) + std::chrono::nanoseconds(nanos);
  }
  return Error(absl::StrCat("expected a duration such as \"5s\", got ",
                            Describe()));
}

absl::StatusOr<std::vector<Node>> Node::AsList() const {
  if (!yaml_.IsSequence()) {
    return Error(absl::StrCat("expected a list, got ", Describe()));
  }
  std::vector<Node> items;
  items.reserve(yaml_.size());
  for (size_t i = 0; i < yaml_.size(); ++i) {
    items.push_back(Child(absl::StrCat("[", i, "]"), yaml_[i]));
  }
  return items;
}

absl::StatusOr<Object> Node::AsObject() const {
  if (!yaml_.IsMap()) {
    return Error(absl::StrCat("expected a mapping, got ", Describe()));
  }
  Object object(*this);
  for (const auto& entry : yaml_) {
    // Copies: yaml-cpp's iterators hand out pairs that die with the
    // iterator's proxy.
    YAML::Node key = entry.first;
    int key_line = LineOf(key, line_);
    if (!key.IsScalar()) {
      return Node(key, path_, key_line).Error("field names must be strings");
    }
    if (object.Find(key.Scalar()) != nullptr) {
      return Node(key, JoinPath(path_, key.Scalar()), key_line)
          .Error("duplicate field");
    }
    object.fields_.push_back({key.Scalar(), entry.second, key_line});
  }
  return object;
}

// ---------------------------------------------------------------------------
// Object

Object::Field* Object::Find(std::string_view key) {
  for (Field& field : fields_) {
    if (field.key == key) return &field;
  }
  return nullptr;
}

const Object::Field* Object::Find(std::string_view key) const {
  for (const Field& field : fields_) {
    if (field.key == key) return &field;
  }
  return nullptr;
}

Node Object::FieldNode(const Field& field) const {
  // A null value has no position of its own worth reporting; its key does.
  int line = field.value.IsNull() ? field.line : LineOf(field.value, field.line);
  return Node(field.value, JoinPath(node_.path(), field.key), line);
}

std::optional<Node> Object::Get(std::string_view field_name) {
  Field* field = Find(field_name);
  if (field == nullptr) return std::nullopt;
  field->asked = true;
  if (field->value.IsNull()) return std::nullopt;
  return FieldNode(*field);
}

absl::StatusOr<Node> Object::Require(std::string_view field) {
  std::optional<Node> value = Get(field);
  if (!value) return FieldError(field, "missing required field");
  return *std::move(value);
}

std::vector<std::pair<std::string, Node>> Object::Entries() {
  std::vector<std::pair<std::string, Node>> entries;
  for (Field& field : fields_) {
    field.asked = true;
    entries.emplace_back(
        field.key, Node(field.value,
                        absl::StrCat(node_.path(), "[", Quote(field.key), "]"),
                        field.line));
  }
  return entries;
}

std::vector<std::string_view> Object::SetFields() const {
  std::vector<std::string_view> names;
  for (const Field& field : fields_) {
    if (!field.value.IsNull()) names.push_back(field.key);
  }
  return names;
}

bool Object::Has(std::string_view field_name) const {
  const Field* field = Find(field_name);
  return field != nullptr && !field->value.IsNull();
}

absl::Status Object::FieldError(std::string_view field_name,
                                std::string_view message) const {
  const Field* field = Find(field_name);
  int line = field != nullptr ? field->line : node_.line();
  return Node(YAML::Node(), JoinPath(node_.path(), field_name), line)
      .Error(message);
}

absl::Status Object::Finish(
    std::initializer_list<std::string_view> unsupported_envoy_fields) const {
  for (const Field& field : fields_) {
    if (field.asked) continue;
    bool envoy_field = false;
    for (std::string_view name : unsupported_envoy_fields) {
      envoy_field = envoy_field || name == field.key;
    }
    return FieldError(field.key,
                      envoy_field ? "not supported by homing" : "unknown field");
  }
  return absl::OkStatus();
}

absl::Status Object::Read(std::string_view field, std::string* out) {
  std::optional<Node> value = Get(field);
  if (!value) return absl::OkStatus();
  HOMING_CONFIG_ASSIGN_OR_RETURN(*out, value->AsString());
  return absl::OkStatus();
}

absl::Status Object::Read(std::string_view field, bool* out) {
  std::optional<Node> value = Get(field);
  if (!value) return absl::OkStatus();
  HOMING_CONFIG_ASSIGN_OR_RETURN(*out, value->AsBool());
  return absl::OkStatus();
}

absl::Status Object::Read(std::string_view field, Duration* out, Duration min) {
  std::optional<Node> value = Get(field);
  if (!value) return absl::OkStatus();
  HOMING_CONFIG_ASSIGN_OR_RETURN(Duration duration, value->AsDuration());
  if (duration < min) {
    return value->Error(absl::StrCat("must be at least ", FormatDuration(min)));
  }
  *out = duration;
  return absl::OkStatus();
}

absl::Status Object::ReadAbove(std::string_view field, Duration* out,
                               Duration bound) {
  std::optional<Node> value = Get(field);
  if (!value) return absl::OkStatus();
  HOMING_CONFIG_ASSIGN_OR_RETURN(Duration duration, value->AsDuration());
  if (duration <= bound) {
    return value->Error(absl::StrCat(
        "must be greater than ",
        bound == Duration::zero() ? std::string("0") : FormatDuration(bound)));
  }
  *out = duration;
  return absl::OkStatus();
}

absl::Status Object::ReadRequired(std::string_view field, std::string* out) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Node value, Require(field));
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::string text, value.AsString());
  if (text.empty()) return value.Error("must not be empty");
  *out = std::move(text);
  return absl::OkStatus();
}

absl::Status Object::CheckType(std::string_view type_url) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Node value, Require("@type"));
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::string actual, value.AsString());
  if (actual != type_url) {
    return value.Error(
        absl::StrCat("expected ", Quote(type_url), ", got ", Quote(actual)));
  }
  return absl::OkStatus();
}

}  // namespace homing::config_internal
