// The access log: line formatting (allocation-free) and the shared writer.

#include <poll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <ctime>

#include "common/address_format.h"
#include "homing/proxy.h"
#include "proxy/access_log_buffer.h"

namespace homing {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void AppendOrDash(std::string* out, std::string_view text) {
  if (text.empty()) {
    out->push_back('-');
  } else {
    out->append(text);
  }
}

// Bytes written as they are: printable ASCII but space, '"' and '\\'.
constexpr std::array<bool, 256> kVerbatim = [] {
  std::array<bool, 256> verbatim{};
  for (int c = 0x21; c < 0x7f; ++c) verbatim[c] = c != '"' && c != '\\';
  return verbatim;
}();

// Escapes what would break a space-separated, double-quoted field. Runs of
// verbatim bytes (all of a well-formed path, key or hostport) are appended
// in one go.
void AppendEscaped(std::string* out, std::string_view text) {
  if (text.empty()) {
    out->push_back('-');
    return;
  }
  size_t run = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (kVerbatim[c]) continue;
    out->append(text.data() + run, i - run);
    const char escaped[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
    out->append(escaped, sizeof(escaped));
    run = i + 1;
  }
  out->append(text.data() + run, text.size() - run);
}

void AppendUnsigned(std::string* out, uint64_t value, int min_digits = 1) {
  char digits[24];
  int n = 0;
  do {
    digits[sizeof(digits) - 1 - n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (n < min_digits) digits[sizeof(digits) - 1 - n++] = '0';
  out->append(digits + sizeof(digits) - n, static_cast<size_t>(n));
}

// "2026-11-26T10:00:00.123Z". gmtime_r() runs once per second per thread.
void AppendTimestamp(std::string* out,
                     std::chrono::system_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch -
                                                            seconds);
  thread_local int64_t cached_second = -1;
  thread_local char cached[64];  // "2026-11-26T10:00:00"
  if (seconds.count() != cached_second) {
    const time_t t = static_cast<time_t>(seconds.count());
    tm parts{};
    gmtime_r(&t, &parts);
    std::snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d",
                  parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                  parts.tm_hour, parts.tm_min, parts.tm_sec);
    cached_second = seconds.count();
  }
  out->append(cached, 19);
  out->push_back('.');
  AppendUnsigned(out, static_cast<uint64_t>(millis.count()), 3);
  out->push_back('Z');
}

// "127.0.1.11:8081" or "[::1]:80", without allocating.
void AppendAddress(std::string* out, const SocketAddress& address) {
  char ip[internal::kMaxIpLength];
  const size_t length = internal::FormatIp(address, ip);
  if (length == 0) {
    out->push_back('-');
    return;
  }
  const bool v6 = address.family() == AF_INET6;
  if (v6) out->push_back('[');
  out->append(ip, length);
  if (v6) out->push_back(']');
  out->push_back(':');
  AppendUnsigned(out, address.port());
}

}  // namespace

void AppendAccessLogLine(std::string* out, const AccessLogRecord& record) {
  AppendTimestamp(out, record.start);
  out->append(" \"");
  AppendEscaped(out, record.method);
  out->push_back(' ');
  AppendEscaped(out, record.path);
  out->append(record.http_minor == 0 ? " HTTP/1.0\" " : " HTTP/1.1\" ");
  AppendUnsigned(out, static_cast<uint64_t>(record.status < 0 ? 0 : record.status));
  out->append(" route=");
  AppendEscaped(out, record.route);
  out->append(" key=");
  AppendEscaped(out, record.key);
  out->append(" lookup=");
  AppendOrDash(out, record.lookup);
  out->append(" upstream=");
  AppendEscaped(out, record.upstream);
  if (!record.upstream.empty() && record.upstream_port != 0) {
    out->push_back(':');
    AppendUnsigned(out, record.upstream_port);
  }
  out->append(" addr=");
  if (record.address != nullptr && record.address->valid()) {
    AppendAddress(out, *record.address);
  } else {
    out->push_back('-');
  }
  out->append(" dur_ms=");
  const int64_t micros =
      std::chrono::duration_cast<std::chrono::microseconds>(record.duration)
          .count();
  const uint64_t positive = micros < 0 ? 0 : static_cast<uint64_t>(micros);
  AppendUnsigned(out, positive / 1000);
  out->push_back('.');
  AppendUnsigned(out, positive % 1000, 3);
  out->append(" error=");
  AppendOrDash(out, record.error);
  out->push_back('\n');
}

void AccessLog::Write(std::string_view lines) {
  std::lock_guard<std::mutex> lock(mu_);
  while (!lines.empty()) {
    const ssize_t n = ::write(fd_, lines.data(), lines.size());
    if (n > 0) {
      lines.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd writable{fd_, POLLOUT, 0};
      poll(&writable, 1, -1);
      continue;
    }
    return;  // closed or broken: the access log never fails a request
  }
}

namespace proxy_internal {

AccessLogBuffer::AccessLogBuffer(Dispatcher& dispatcher, AccessLog* sink)
    : sink_(sink) {
  if (sink_ == nullptr) return;
  flush_timer_ = dispatcher.CreateTimer([this] { Flush(); });
}

AccessLogBuffer::~AccessLogBuffer() { Flush(); }

void AccessLogBuffer::Add(const AccessLogRecord& record) {
  if (sink_ == nullptr) return;
  if (buffer_.empty()) flush_timer_->Arm(Duration::zero());
  AppendAccessLogLine(&buffer_, record);
  if (buffer_.size() >= kFlushBytes) Flush();
}

void AccessLogBuffer::Flush() {
  if (buffer_.empty()) return;
  sink_->Write(buffer_);
  buffer_.clear();
  if (flush_timer_->armed()) flush_timer_->Disarm();
}

}  // namespace proxy_internal
}  // namespace homing
