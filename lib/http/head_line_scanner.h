// File: lib/http/head_line_scanner.h
//
// Checks the line structure of an HTTP/1.1 head where llhttp 8.1 is lenient:
// it accepts a bare LF after the request line and at the end of the head, it
// ends a head at CRLF CR followed by any byte (a bare CR), and it folds a header line that starts with SP or HTAB (obs-fold) into the
// previous value. RFC 9112 lets a server refuse both (§2.2, §5.2), and a
// proxy must: a front end that reads the lines differently sees other
// headers or another end of the head (request smuggling). The scanner is fed
// the bytes of a head, in any pieces, before llhttp parses them, and stops at
// the empty line that ends the head; the same input split anywhere gives the
// same answer.
//
// Thread safety: none; one scanner per parser.

#ifndef HOMING_LIB_HTTP_HEAD_LINE_SCANNER_H_
#define HOMING_LIB_HTTP_HEAD_LINE_SCANNER_H_

#include <cstddef>
#include <string_view>

namespace homing::internal {

class HeadLineScanner {
 public:
  enum class Result { kMore, kEnd, kError };

  // A head with a start line (request or status line) follows; empty lines
  // before the start line are skipped, as llhttp does.
  void StartHead();
  // A trailer section follows (after the last chunk): header lines only, so
  // an empty first line ends it.
  void StartTrailers();

  // Scans the next bytes. kEnd: the head ended within `data`, after `*used`
  // bytes; kMore: all of `data` belongs to the head; kError: see error().
  // After kEnd or kError, further calls return the same result and use
  // nothing until the next Start*().
  Result Scan(std::string_view data, size_t* used);

  bool done() const { return state_ != State::kScanning; }
  // The reason for kError, in llhttp's style ("Bare LF in message head",
  // "Bare CR in message head", "Header line folded (obs-fold)").
  const char* error() const { return error_; }

 private:
  enum class State { kScanning, kEnd, kError };

  State state_ = State::kScanning;
  bool before_start_line_ = true;
  bool line_start_ = true;
  bool line_empty_ = true;  // nothing but a CR so far on this line
  bool previous_cr_ = false;
  const char* error_ = nullptr;
};

}  // namespace homing::internal

#endif  // HOMING_LIB_HTTP_HEAD_LINE_SCANNER_H_
