// The fuzz targets' main() outside libFuzzer: runs LLVMFuzzerTestOneInput over
// every file of the given corpus directories (or the given files), in sorted
// order, so that the normal build and `make asan` replay the corpora as
// regression tests. A directory without inputs is an error, so a misspelt
// corpus path cannot pass quietly.
//
//   config_loader_fuzzer tests/fuzz/corpus/config_loader
//   config_loader_fuzzer build-fuzz/fuzz/crash-1234    # reproduce one input

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_target.h"

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> InputsOf(const fs::path& path) {
  if (!fs::is_directory(path)) return {path};
  std::vector<fs::path> inputs;
  for (const fs::directory_entry& entry : fs::directory_iterator(path)) {
    if (entry.is_regular_file()) inputs.push_back(entry.path());
  }
  std::sort(inputs.begin(), inputs.end());
  return inputs;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
    std::vector<fs::path> inputs = InputsOf(argv[i]);
    if (inputs.empty()) {
      std::fprintf(stderr, "%s: no inputs\n", argv[i]);
      return 1;
    }
    for (const fs::path& input : inputs) {
      std::ifstream file(input, std::ios::binary);
      if (!file) {
        std::fprintf(stderr, "%s: cannot read\n", input.c_str());
        return 1;
      }
      std::string bytes{std::istreambuf_iterator<char>(file),
                        std::istreambuf_iterator<char>()};
      // A crash below names the input on the line before it.
      std::fprintf(stderr, "replaying %s\n", input.c_str());
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()),
                             bytes.size());
    }
    std::printf("%s: %zu inputs replayed\n", argv[i], inputs.size());
  }
  return 0;
}
