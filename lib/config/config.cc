// ParseConfig(): the bootstrap, admin and static_resources, and the order in
// which the section parsers run.

#include "homing/config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "config/node.h"
#include "config/parsers.h"

namespace homing {
namespace config_internal {
namespace {

absl::StatusOr<AdminSpec> ParseAdmin(const Node& node) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  AdminSpec admin;
  HOMING_CONFIG_ASSIGN_OR_RETURN(Node address, object.Require("address"));
  HOMING_CONFIG_ASSIGN_OR_RETURN(admin.address, ParseAddress(address, AddressRules::Bind()));
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish(
      {"access_log", "access_log_path", "profile_path", "socket_options",
       "ignore_global_conn_limit"}));
  return admin;
}

absl::Status ParseClusters(const Node& node, LoadContext& context,
                           std::vector<ClusterSpec>* clusters) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> items, node.AsList());
  for (const Node& item : items) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(ClusterSpec cluster, ParseCluster(item, context));
    for (const ClusterSpec& earlier : *clusters) {
      if (earlier.name == cluster.name) {
        HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, item.AsObject());
        return object.FieldError(
            "name", absl::StrCat("duplicate cluster name ", Quote(cluster.name)));
      }
    }
    clusters->push_back(std::move(cluster));
  }
  return absl::OkStatus();
}

absl::Status ParseListeners(const Node& node, LoadContext& context,
                            std::vector<ListenerSpec>* listeners) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(std::vector<Node> items, node.AsList());
  for (const Node& item : items) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(ListenerSpec listener, ParseListener(item, context));
    HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, item.AsObject());
    for (const ListenerSpec& earlier : *listeners) {
      if (!listener.name.empty() && earlier.name == listener.name) {
        return object.FieldError(
            "name", absl::StrCat("duplicate listener name ", Quote(listener.name)));
      }
      if (listener.address.port != 0 && earlier.address == listener.address) {
        return object.FieldError(
            "address", absl::StrCat("address ", listener.address.address, ":",
                                    listener.address.port,
                                    " is already used by listener ",
                                    Quote(earlier.name)));
      }
    }
    listeners->push_back(std::move(listener));
  }
  return absl::OkStatus();
}

// Clusters before listeners, whatever the document order: routes refer to
// clusters.
absl::Status ParseStaticResources(const Node& node, LoadContext& context,
                                  Bootstrap* bootstrap) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, node.AsObject());
  std::optional<Node> clusters = object.Get("clusters");
  std::optional<Node> listeners = object.Get("listeners");
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish({"secrets"}));
  if (clusters) {
    HOMING_CONFIG_RETURN_IF_ERROR(ParseClusters(*clusters, context, &bootstrap->clusters));
  }
  context.clusters = &bootstrap->clusters;
  if (listeners) {
    HOMING_CONFIG_RETURN_IF_ERROR(
        ParseListeners(*listeners, context, &bootstrap->listeners));
  }
  return absl::OkStatus();
}

absl::StatusOr<Bootstrap> ParseBootstrap(const Node& root) {
  HOMING_CONFIG_ASSIGN_OR_RETURN(Object object, root.AsObject());
  Bootstrap bootstrap;
  LoadContext context;
  if (std::optional<Node> resolver = object.Get("typed_dns_resolver_config")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(bootstrap.dns_resolver,
                                   ParseDnsResolverConfig(*resolver));
    context.default_resolver = bootstrap.dns_resolver;
  }
  if (std::optional<Node> admin = object.Get("admin")) {
    HOMING_CONFIG_ASSIGN_OR_RETURN(bootstrap.admin, ParseAdmin(*admin));
  }
  if (std::optional<Node> resources = object.Get("static_resources")) {
    HOMING_CONFIG_RETURN_IF_ERROR(ParseStaticResources(*resources, context, &bootstrap));
  }
  HOMING_CONFIG_RETURN_IF_ERROR(object.Finish(
      {"node", "node_context_params", "dynamic_resources", "cluster_manager",
       "hds_config", "flags_path", "stats_sinks", "deferred_stat_options",
       "stats_config", "stats_flush_interval", "stats_flush_on_admin", "watchdog",
       "watchdogs", "tracing", "layered_runtime", "overload_manager",
       "enable_dispatcher_stats", "header_prefix", "stats_server_version_override",
       "use_tcp_for_dns_lookups", "dns_resolution_config", "bootstrap_extensions",
       "fatal_actions", "config_sources", "default_config_source",
       "default_socket_interface", "certificate_provider_instances",
       "inline_headers", "perf_tracing_file_path", "default_regex_engine",
       "xds_delegate_extension", "xds_config_tracker_extension",
       "listener_manager", "application_log_config",
       "grpc_async_client_manager_config", "memory_allocator_manager"}));
  return bootstrap;
}

}  // namespace

const ClusterSpec* LoadContext::FindCluster(std::string_view name) const {
  if (clusters == nullptr) return nullptr;
  for (const ClusterSpec& cluster : *clusters) {
    if (cluster.name == name) return &cluster;
  }
  return nullptr;
}

}  // namespace config_internal

namespace {

// Finds the line of a second document's root node without building either
// document. yaml-cpp 0.7's LoadAll() cannot be used: on a stray ',' at
// document level ("{},") every pass yields an empty document and consumes
// nothing, so it loops forever, growing without bound (found by
// tests/fuzz/config_loader_fuzzer). Two passes of the parser are bounded.
class SecondDocumentFinder final : public YAML::EventHandler {
 public:
  static std::optional<int> Find(const std::string& text) {
    std::istringstream input(text);
    YAML::Parser parser(input);
    SecondDocumentFinder finder;
    if (!parser.HandleNextDocument(finder) || !parser.HandleNextDocument(finder)) {
      return std::nullopt;
    }
    return finder.line_.value_or(finder.second_start_line_);
  }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ == 2) second_start_line_ = mark.line + 1;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { OnNode(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { OnNode(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    OnNode(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    OnNode(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    OnNode(mark);
  }
  void OnMapEnd() override {}

 private:
  void OnNode(const YAML::Mark& mark) {
    if (documents_ == 2 && !line_) line_ = mark.line + 1;
  }

  int documents_ = 0;
  int second_start_line_ = 0;
  std::optional<int> line_;  // of the second document's root node
};

}  // namespace

absl::StatusOr<Bootstrap> ParseConfig(std::string_view text,
                                      std::string_view source_name) {
  const std::string input(text);
  YAML::Node document;
  try {
    document = YAML::Load(input);
    if (std::optional<int> line = SecondDocumentFinder::Find(input)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bootstrap (line ", *line, "): a config is one YAML document; this is a second"));
    }
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) {
      return absl::InvalidArgumentError(
          absl::StrCat(internal::ToAbsl(source_name), ": ", e.msg));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(internal::ToAbsl(source_name), ":", e.mark.line + 1, ":",
                     e.mark.column + 1, ": ", e.msg));
  }
  return config_internal::ParseBootstrap(config_internal::Node::Root(document));
}

absl::StatusOr<Bootstrap> LoadConfigFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(absl::StrCat("cannot read config file ", path, ": ",
                                            std::strerror(errno)));
  }
  std::ostringstream text;
  text << file.rdbuf();
  return ParseConfig(text.str(), path);
}

}  // namespace homing
