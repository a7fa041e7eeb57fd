// Fuzz target: Http1Decoder on responses. Input: raw bytes
// (pipelined responses welcome); the first byte also picks where to split it.
// Properties (see http1_codec_driver.h): the whole input, the input split at
// that offset and the input fed byte by byte give the same events; body
// bytes never exceed the input; no event after an error.

#include "http1_codec_driver.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Byte-by-byte feeding is quadratic in the worst case; long inputs add
  // nothing the split at one offset does not cover.
  if (size > 16 * 1024) return 0;
  const std::string_view input = homing::fuzz::AsText(data, size);
  const size_t cut = size == 0 ? 0 : (static_cast<size_t>(data[0]) * 131) % size;
  homing::fuzz::CheckSplits(homing::internal::Http1Decoder::Type::kResponse, input,
                            cut);
  return 0;
}
