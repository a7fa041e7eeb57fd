// The configuration structs' few methods, apart from the loader so that
// components running a configuration do not link yaml-cpp.

#include "homing/config_spec.h"

namespace homing {

const ClusterSpec* Bootstrap::FindCluster(std::string_view name) const {
  for (const ClusterSpec& cluster : clusters) {
    if (cluster.name == name) return &cluster;
  }
  return nullptr;
}

}  // namespace homing
