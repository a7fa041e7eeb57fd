// ExtractAffinityKey(): the affinity key from a query parameter or a header.

#include "homing/affinity_lookup.h"
#include "homing/query_string.h"

namespace homing {

KeyStatus ExtractAffinityKey(const AffinityPolicy& policy,
                             const RequestView& request, std::string* key) {
  if (policy.key.kind == KeySource::Kind::kHeader) {
    std::optional<std::string_view> value = request.FindHeader(policy.key.name);
    if (!value) return KeyStatus::kMissing;
    if (value->empty()) return KeyStatus::kEmpty;
    if (value->size() > policy.max_key_length) return KeyStatus::kTooLong;
    key->assign(*value);
    return KeyStatus::kOk;
  }

  std::string_view raw;
  if (!FindQueryParameter(request.Query(), policy.key.name, &raw)) {
    return KeyStatus::kMissing;
  }
  if (raw.empty()) return KeyStatus::kEmpty;
  std::string decoded = PercentDecode(raw);
  if (decoded.size() > policy.max_key_length) return KeyStatus::kTooLong;
  *key = std::move(decoded);
  return KeyStatus::kOk;
}

}  // namespace homing
