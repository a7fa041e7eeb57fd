#include "homing/upstream.h"

namespace homing {

Host::Host(SocketAddress address, std::string hostname, uint32_t weight)
    : address_(address),
      address_string_(address.ToString()),
      hostname_(std::move(hostname)),
      weight_(weight) {}

}  // namespace homing
