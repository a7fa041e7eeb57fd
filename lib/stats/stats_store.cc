#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <variant>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/string_util.h"
#include "homing/stats.h"
#include "re2/re2.h"
#include "stats/render.h"

namespace homing {
namespace {

using internal::ToAbsl;

// One name registered as two types is a programming error.
[[noreturn]] void DieOnStatTypeMismatch(std::string_view name) {
  std::fprintf(stderr, "homing: stat \"%.*s\" requested with a second type\n",
               static_cast<int>(name.size()), name.data());
  std::abort();
}

}  // namespace

struct StatsStore::Impl {
  // unique_ptr keeps every stat's address stable across rehashing: callers
  // hold references for the store's lifetime.
  using Stat = std::variant<std::unique_ptr<homing::Counter>,
                            std::unique_ptr<homing::Gauge>,
                            std::unique_ptr<homing::Histogram>>;
  mutable absl::Mutex mutex;
  absl::flat_hash_map<std::string, Stat> stats ABSL_GUARDED_BY(mutex);

  template <typename T>
  T& GetOrCreate(std::string_view name) {
    absl::MutexLock lock(&mutex);
    auto [it, inserted] = stats.try_emplace(ToAbsl(name));
    if (inserted) it->second = std::make_unique<T>();
    auto* stat = std::get_if<std::unique_ptr<T>>(&it->second);
    if (stat == nullptr) DieOnStatTypeMismatch(name);
    return **stat;
  }
};

StatsStore::StatsStore() : impl_(std::make_unique<Impl>()) {}
StatsStore::~StatsStore() = default;

homing::Counter& StatsStore::Counter(std::string_view name) {
  return impl_->GetOrCreate<homing::Counter>(name);
}
homing::Gauge& StatsStore::Gauge(std::string_view name) {
  return impl_->GetOrCreate<homing::Gauge>(name);
}
homing::Histogram& StatsStore::Histogram(std::string_view name) {
  return impl_->GetOrCreate<homing::Histogram>(name);
}

StatsScope StatsStore::Scope(std::string_view prefix) {
  return StatsScope(*this, std::string(prefix));
}

absl::StatusOr<std::vector<StatValue>> StatsStore::Snapshot(
    std::string_view filter_regex) const {
  std::unique_ptr<RE2> filter;
  if (!filter_regex.empty()) {
    filter = std::make_unique<RE2>(re2::StringPiece(filter_regex.data(), filter_regex.size()),
                                   RE2::Quiet);
    if (!filter->ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid stats filter regex \"", ToAbsl(filter_regex),
                       "\": ", filter->error()));
    }
  }
  std::vector<StatValue> values;
  {
    absl::MutexLock lock(&impl_->mutex);
    values.reserve(impl_->stats.size());
    for (const auto& [name, stat] : impl_->stats) {
      if (filter && !RE2::PartialMatch(name, *filter)) continue;
      StatValue value;
      value.name = name;
      if (auto* counter = std::get_if<0>(&stat)) {
        value.type = StatType::kCounter;
        value.value = static_cast<int64_t>((*counter)->value());
      } else if (auto* gauge = std::get_if<1>(&stat)) {
        value.type = StatType::kGauge;
        value.value = (*gauge)->value();
      } else {
        value.type = StatType::kHistogram;
        value.summary = std::get<2>(stat)->Summarize();
      }
      values.push_back(std::move(value));
    }
  }
  std::sort(values.begin(), values.end(),
            [](const StatValue& a, const StatValue& b) { return a.name < b.name; });
  return values;
}

absl::StatusOr<std::string> StatsStore::Render(StatsFormat format,
                                               std::string_view filter_regex) const {
  absl::StatusOr<std::vector<StatValue>> values = Snapshot(filter_regex);
  if (!values.ok()) return values.status();
  switch (format) {
    case StatsFormat::kText: return internal::RenderText(*values);
    case StatsFormat::kJson: return internal::RenderJson(*values);
    case StatsFormat::kPrometheus: return internal::RenderPrometheus(*values);
  }
  return absl::InvalidArgumentError("unknown stats format");
}

homing::Counter& StatsScope::Counter(std::string_view name) const {
  return store_->Counter(absl::StrCat(prefix_, ToAbsl(name)));
}
homing::Gauge& StatsScope::Gauge(std::string_view name) const {
  return store_->Gauge(absl::StrCat(prefix_, ToAbsl(name)));
}
homing::Histogram& StatsScope::Histogram(std::string_view name) const {
  return store_->Histogram(absl::StrCat(prefix_, ToAbsl(name)));
}
StatsScope StatsScope::Scope(std::string_view prefix) const {
  return StatsScope(*store_, absl::StrCat(prefix_, ToAbsl(prefix)));
}

}  // namespace homing
