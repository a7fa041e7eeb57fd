// File: tests/fuzz/http1_codec_driver.h
//
// What the request_codec and response_codec targets share: a transcript of
// Http1Decoder events for one input fed in pieces (bytes not consumed are
// given again, first, with the next piece, as the connections do), and the
// properties every transcript must have.
//
// Thread safety: one input at a time.

#ifndef HOMING_TESTS_FUZZ_HTTP1_CODEC_DRIVER_H_
#define HOMING_TESTS_FUZZ_HTTP1_CODEC_DRIVER_H_

#include <string>
#include <string_view>
#include <vector>

#include "fuzz_target.h"
#include "http/http1_codec.h"

namespace homing::fuzz {

struct Transcript {
  std::string events;  // one line an event, body pieces joined
  size_t body_bytes = 0;
  bool failed = false;
};

class TranscriptRecorder final : public internal::Http1DecoderCallbacks {
 public:
  explicit TranscriptRecorder(Transcript& out) : out_(out) {}
  internal::Http1Action OnHead(const internal::Http1Head& head) override {
    Require(!out_.failed, "no event after an error");
    out_.events += "head " + std::to_string(head.status) + " " +
                   std::string(head.method) + " " + std::string(head.path) +
                   " " + std::to_string(head.headers.size()) + "\n";
    in_body_ = false;
    return internal::Http1Action::kContinue;
  }
  internal::Http1Action OnBody(std::string_view data) override {
    Require(!out_.failed, "no event after an error");
    Require(!data.empty(), "body pieces are not empty");
    if (!in_body_) out_.events += "body:";
    in_body_ = true;
    out_.events.append(data);
    out_.body_bytes += data.size();
    return internal::Http1Action::kContinue;
  }
  internal::Http1Action OnMessageComplete() override {
    Require(!out_.failed, "no event after an error");
    out_.events += "\ncomplete\n";
    in_body_ = false;
    return internal::Http1Action::kContinue;
  }

 private:
  Transcript& out_;
  bool in_body_ = false;
};

// Decodes `input` cut at `cuts` (ascending); an upgrade ends decoding.
inline Transcript Decode(internal::Http1Decoder::Type type,
                         std::string_view input, const std::vector<size_t>& cuts) {
  Transcript out;
  TranscriptRecorder recorder(out);
  internal::Http1Decoder::Limits limits;
  limits.max_head_bytes = 4096;
  limits.max_headers = 32;
  if (type == internal::Http1Decoder::Type::kRequest) {
    limits.max_chunk_extension_bytes = 4096;
    limits.strict_head_lines = true;
  }
  internal::Http1Decoder decoder(type, limits, recorder);
  std::string buffered;
  bool done = false;
  size_t start = 0;
  for (size_t i = 0; i <= cuts.size() && !done; ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : input.size();
    buffered.append(input.substr(start, end - start));
    start = end;
    while (!done) {
      size_t used = 0;
      const auto status = decoder.Decode(buffered, &used);
      Require(used <= buffered.size(), "consumes at most what it was given");
      buffered.erase(0, used);
      if (status == internal::Http1Decoder::Status::kOk) {
        Require(buffered.empty(), "kOk consumes everything");
        break;
      }
      if (status == internal::Http1Decoder::Status::kPaused) continue;
      if (status == internal::Http1Decoder::Status::kError) {
        // Not the status: a head both over a bound and malformed may be
        // refused as either (431 or 400) by where the input was cut, since
        // bounds count bytes as llhttp hands them over and llhttp checks its
        // grammar at its own pace. Which events came before is the same.
        out.events += "error\n";
        out.failed = true;
      } else {
        out.events += "upgrade\n";
      }
      done = true;
    }
  }
  if (!done) decoder.FinishAtEof();
  return out;
}

// Whole input, split at `cut`, and byte by byte give the same transcript,
// and no message carries more body than the input had.
inline void CheckSplits(internal::Http1Decoder::Type type, std::string_view input,
                        size_t cut) {
  const Transcript whole = Decode(type, input, {});
  Require(whole.body_bytes <= input.size(), "body bytes never exceed the input");
  if (cut > 0 && cut < input.size()) {
    Require(Decode(type, input, {cut}).events == whole.events,
            "split at one offset: same events");
  }
  std::vector<size_t> every_byte;
  for (size_t i = 1; i < input.size(); ++i) every_byte.push_back(i);
  Require(Decode(type, input, every_byte).events == whole.events,
          "byte by byte: same events");
}

}  // namespace homing::fuzz

#endif  // HOMING_TESTS_FUZZ_HTTP1_CODEC_DRIVER_H_
