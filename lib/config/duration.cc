// ParseDuration(): Envoy's JSON duration strings ("5s", "0.25s") and the
// shorter units operators expect to write ("100ms", "2m", "1h", "250us").

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "absl/numeric/int128.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "homing/config.h"

namespace homing {
namespace {

constexpr char kUnitsHint[] = "use ns, us, ms, s, m or h";
constexpr size_t kMaxFractionDigits = 9;

std::optional<uint64_t> UnitNanoseconds(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us") return 1000;
  if (unit == "ms") return 1000 * 1000;
  if (unit == "s") return 1000 * 1000 * 1000;
  if (unit == "m") return uint64_t{60} * 1000 * 1000 * 1000;
  if (unit == "h") return uint64_t{3600} * 1000 * 1000 * 1000;
  return std::nullopt;
}

// Consumes leading ASCII digits into `*value` and returns how many there
// were. The value stops growing past 2^64, which is already far beyond any
// valid duration, so it cannot overflow.
size_t ConsumeDigits(std::string_view& text, absl::uint128* value) {
  size_t count = 0;
  while (count < text.size() && absl::ascii_isdigit(text[count])) {
    if (*value < absl::MakeUint128(1, 0)) *value = *value * 10 + (text[count] - '0');
    ++count;
  }
  text.remove_prefix(count);
  return count;
}

}  // namespace

absl::StatusOr<Duration> ParseDuration(std::string_view text) {
  auto invalid = [text](std::string_view reason) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid duration \"", internal::ToAbsl(text),
                     "\": ", internal::ToAbsl(reason)));
  };
  if (text.empty()) return invalid("empty");
  if (text.front() == '-') return invalid("must not be negative");

  std::string_view rest = text;
  absl::uint128 whole = 0;
  absl::uint128 fraction = 0;
  size_t fraction_digits = 0;
  if (ConsumeDigits(rest, &whole) == 0) {
    return invalid("expected a number followed by a unit, such as 5s, 0.25s or 100ms");
  }
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    fraction_digits = ConsumeDigits(rest, &fraction);
    if (fraction_digits == 0) return invalid("expected digits after '.'");
    if (fraction_digits > kMaxFractionDigits) {
      return invalid("more than 9 fractional digits");
    }
  }
  if (rest.empty()) return invalid(absl::StrCat("missing unit (", kUnitsHint, ")"));
  std::optional<uint64_t> unit = UnitNanoseconds(rest);
  if (!unit) {
    return invalid(absl::StrCat("unknown unit \"", internal::ToAbsl(rest),
                                "\" (", kUnitsHint, ")"));
  }

  absl::uint128 scale = 1;
  for (size_t i = 0; i < fraction_digits; ++i) scale *= 10;
  absl::uint128 fraction_ns = fraction * *unit;
  if (fraction_ns % scale != 0) return invalid("finer than a nanosecond");
  absl::uint128 total = whole * *unit + fraction_ns / scale;
  if (total > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return invalid("too large");
  }
  return Duration(static_cast<int64_t>(absl::Uint128Low64(total)));
}

}  // namespace homing
