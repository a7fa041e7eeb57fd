#include "router/owner_hosts.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/string_util.h"

namespace homing::internal {
namespace {

// Does owner key "host:port" (as the resolver spelled it) name `info`?
bool OwnerMatches(std::string_view hostport, const DnsHostInfo& info) {
  const size_t colon = hostport.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = hostport.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return EqualsIgnoreCase(host, info.host) &&
         hostport.substr(colon + 1) == absl::StrCat(info.port);
}

}  // namespace

OwnerHosts::OwnerHosts(const Cluster& cluster, DnsCache& cache,
                       DrainCallbacks& drain)
    : cluster_(cluster), cache_(cache), drain_(drain) {
  subscription_ = cache.AddUpdateCallback([this](const DnsHostInfoSharedPtr& info) {
    if (info != nullptr) OnAddressChange(*info);
  });
}

HostSharedPtr OwnerHosts::Get(std::string_view hostport,
                              const SocketAddress& address) {
  auto it = owners_.find(ToAbsl(hostport));
  if (it != owners_.end() && it->second->address() == address) {
    return it->second;
  }
  auto host = std::make_shared<Host>(address, std::string(hostport));
  if (it != owners_.end()) {
    it->second = host;
    return host;
  }
  if (owners_.size() >= 2 * size_t{cache_.config().max_hosts}) {
    absl::erase_if(owners_, [&](const auto& entry) {
      return entry.second->stats().rq_active.load(std::memory_order_relaxed) == 0 &&
             cache_.Find(entry.first) == nullptr;
    });
  }
  owners_.emplace(std::string(hostport), host);
  return host;
}

std::vector<HostSharedPtr> OwnerHosts::hosts() const {
  std::vector<HostSharedPtr> out;
  out.reserve(owners_.size());
  for (const auto& [hostport, host] : owners_) out.push_back(host);
  return out;
}

void OwnerHosts::OnAddressChange(const DnsHostInfo& info) {
  std::vector<HostSharedPtr> left;
  for (const auto& [hostport, host] : owners_) {
    if (!OwnerMatches(hostport, info)) continue;
    const bool kept = std::find(info.addresses.begin(), info.addresses.end(),
                                host->address()) != info.addresses.end();
    if (!kept) left.push_back(host);
  }
  for (const HostSharedPtr& host : left) {
    if (!drain_.Run(cluster_, *host)) return;
  }
}

}  // namespace homing::internal
