#include "http/head_line_scanner.h"

namespace homing::internal {

void HeadLineScanner::StartHead() {
  state_ = State::kScanning;
  before_start_line_ = true;
  line_start_ = true;
  line_empty_ = true;
  previous_cr_ = false;
  error_ = nullptr;
}

void HeadLineScanner::StartTrailers() {
  StartHead();
  before_start_line_ = false;
}

HeadLineScanner::Result HeadLineScanner::Scan(std::string_view data,
                                              size_t* used) {
  *used = 0;
  if (state_ == State::kEnd) return Result::kEnd;
  if (state_ == State::kError) return Result::kError;
  for (size_t i = 0; i < data.size(); ++i) {
    const char c = data[i];
    if (c == '\n') {
      if (!previous_cr_) {
        state_ = State::kError;
        error_ = "Bare LF in message head";
        *used = i;
        return Result::kError;
      }
      previous_cr_ = false;
      if (line_empty_ && !before_start_line_) {
        state_ = State::kEnd;
        *used = i + 1;
        return Result::kEnd;
      }
      before_start_line_ = before_start_line_ && line_empty_;
      line_start_ = true;
      line_empty_ = true;
      continue;
    }
    if (previous_cr_) {
      // RFC 9112 §2.2: a bare CR is invalid. llhttp 8.1 ends a head at
      // CRLF CR and whatever byte follows, so "\r\n\rX" would end it early.
      state_ = State::kError;
      error_ = "Bare CR in message head";
      *used = i;
      return Result::kError;
    }
    if (c == '\r') {
      previous_cr_ = true;
      line_start_ = false;
      continue;
    }
    if (line_start_ && !before_start_line_ && (c == ' ' || c == '\t')) {
      state_ = State::kError;
      error_ = "Header line folded (obs-fold)";
      *used = i;
      return Result::kError;
    }
    previous_cr_ = false;
    line_start_ = false;
    line_empty_ = false;
  }
  *used = data.size();
  return Result::kMore;
}

}  // namespace homing::internal
