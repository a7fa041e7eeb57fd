// File: tests/fuzz/fuzz_target.h
//
// What every fuzz target shares: libFuzzer's entry point, and Require(),
// which aborts when a property the target checks does not hold (assert()
// would vanish under NDEBUG; libFuzzer and the replay test both report an
// abort as a failure, with the input that caused it).
//
// Thread safety: targets run one input at a time.

#ifndef HOMING_TESTS_FUZZ_FUZZ_TARGET_H_
#define HOMING_TESTS_FUZZ_FUZZ_TARGET_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace homing::fuzz {

inline void Require(bool property, const char* what) {
  if (property) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", what);
  std::abort();
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// NextLine()
//
// Splits the first line (up to '\n', which is dropped) off `*input`; the
// targets whose input has several fields take them one per line, so that
// seed files stay readable.
inline std::string_view NextLine(std::string_view* input) {
  size_t end = input->find('\n');
  std::string_view line = input->substr(0, end);
  input->remove_prefix(end == std::string_view::npos ? input->size() : end + 1);
  return line;
}

}  // namespace homing::fuzz

#endif  // HOMING_TESTS_FUZZ_FUZZ_TARGET_H_
