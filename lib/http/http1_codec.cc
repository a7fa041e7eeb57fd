#include "http/http1_codec.h"

#include "absl/strings/str_cat.h"
#include "common/string_util.h"
#include "http/wire.h"

namespace homing::internal {
namespace {

Http1Decoder* Self(llhttp_t* parser) {
  return static_cast<Http1Decoder*>(parser->data);
}

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         EqualsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

// RFC 9110 §5.6.2: a token is one or more tchar. llhttp 8.1 lets a space
// into a header name ("X Y: z", "X : z") and an empty name (": z").
bool IsToken(std::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                       (c >= 'A' && c <= 'Z');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) ==
                      std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// The rule a complete request head breaks that llhttp does not check, or
// nullptr.
const char* HeadViolation(const HeaderCollector& collector,
                          const Http1Head& head, bool absolute_form,
                          bool transfer_encoding) {
  for (const HttpHeader& header : head.headers) {
    if (!IsToken(header.name)) return "Invalid character in header name";
  }
  // llhttp refuses this only after on_headers_complete, that is after the
  // caller would have seen (and a proxy forwarded) the head.
  if (transfer_encoding && !head.chunked) {
    return "Request has invalid `Transfer-Encoding`";
  }
  const size_t hosts = collector.Count("host");
  if (hosts > 1) return "Multiple Host headers";
  // RFC 9112 §3.2.2 lets a server ignore such a Host; a proxy that did would
  // route by one authority while a server behind it may use the other.
  if (absolute_form && hosts == 1 &&
      !EqualsIgnoreCase(collector.Find("host"), head.authority)) {
    return "Host header does not match the request target";
  }
  if (head.http_minor >= 1 && head.authority.empty()) {
    return "missing Host header";
  }
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------
// Http1Decoder: llhttp trampolines

const llhttp_settings_t* Http1Decoder::Settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &Http1Decoder::OnMessageBeginCb;
    s.on_url = &Http1Decoder::OnUrlCb;
    s.on_header_field = &Http1Decoder::OnHeaderFieldCb;
    s.on_header_value = &Http1Decoder::OnHeaderValueCb;
    s.on_headers_complete = &Http1Decoder::OnHeadersCompleteCb;
    s.on_body = &Http1Decoder::OnBodyCb;
    s.on_message_complete = &Http1Decoder::OnMessageCompleteCb;
    s.on_chunk_header = &Http1Decoder::OnChunkHeaderCb;
    s.on_chunk_extension_name = &Http1Decoder::OnChunkExtensionCb;
    s.on_chunk_extension_value = &Http1Decoder::OnChunkExtensionCb;
    s.on_chunk_extension_name_complete =
        &Http1Decoder::OnChunkExtensionCompleteCb;
    s.on_chunk_extension_value_complete =
        &Http1Decoder::OnChunkExtensionCompleteCb;
    return s;
  }();
  return &settings;
}

Http1Decoder::Http1Decoder(Type type, const Limits& limits,
                           Http1DecoderCallbacks& callbacks)
    : type_(type),
      limits_(limits),
      callbacks_(callbacks),
      collector_(limits.max_head_bytes, limits.max_headers) {
  // Every llhttp_set_lenient_*() flag stays off: llhttp refuses CL with TE,
  // duplicate Content-Length, a request Transfer-Encoding not ending in
  // chunked and bytes outside the grammar; the scanner and BuildHead() add
  // what llhttp 8.1 lets through.
  llhttp_init(&parser_, type == Type::kRequest ? HTTP_REQUEST : HTTP_RESPONSE,
              Settings());
  parser_.data = this;
}

void Http1Decoder::Reset() {
  llhttp_reset(&parser_);
  collector_.Reset();
  scanner_.StartHead();
  head_ = Http1Head();
  error_ = Http1Error();
  scanned_ = 0;
  error_detail_ = nullptr;
  head_too_large_ = false;
  stop_requested_ = false;
  pending_ = false;
  in_head_ = false;
  in_message_ = false;
  head_request_ = false;
  final_ = Status::kOk;
}

int Http1Decoder::OnMessageBeginCb(llhttp_t* parser) {
  Http1Decoder* self = Self(parser);
  self->collector_.Reset();
  self->head_ = Http1Head();
  self->in_head_ = true;
  self->callbacks_.OnMessageBegin();
  return 0;
}

int Http1Decoder::OnUrlCb(llhttp_t* parser, const char* at, size_t length) {
  Http1Decoder* self = Self(parser);
  return self->collector_.AddTarget(at, length) ? 0 : self->HeadTooLarge();
}

// Header callbacks outside a head are trailers: parsed and dropped.
int Http1Decoder::OnHeaderFieldCb(llhttp_t* parser, const char* at,
                                  size_t length) {
  Http1Decoder* self = Self(parser);
  if (!self->in_head_) return 0;
  return self->collector_.AddName(at, length) ? 0 : self->HeadTooLarge();
}

int Http1Decoder::OnHeaderValueCb(llhttp_t* parser, const char* at,
                                  size_t length) {
  Http1Decoder* self = Self(parser);
  if (!self->in_head_) return 0;
  return self->collector_.AddValue(at, length) ? 0 : self->HeadTooLarge();
}

int Http1Decoder::OnHeadersCompleteCb(llhttp_t* parser) {
  return Self(parser)->HandleHeadersComplete();
}

int Http1Decoder::OnBodyCb(llhttp_t* parser, const char* at, size_t length) {
  // llhttp flushes an open span at the end of every execute, so a resumed
  // parser given no new bytes reports an empty piece: not an event.
  if (length == 0) return 0;
  Http1Decoder* self = Self(parser);
  return self->ToLlhttp(self->callbacks_.OnBody(std::string_view(at, length)));
}

int Http1Decoder::OnMessageCompleteCb(llhttp_t* parser) {
  return Self(parser)->HandleMessageComplete();
}

int Http1Decoder::OnChunkHeaderCb(llhttp_t* parser) {
  Http1Decoder* self = Self(parser);
  self->chunk_extension_bytes_ = 0;
  if (parser->content_length != 0 || !self->limits_.strict_head_lines) return 0;
  // The last chunk: its trailer section is scanned like a head, from where
  // llhttp stops (after the chunk line); Decode() resumes at once.
  self->scanner_.StartTrailers();
  return HPE_PAUSED;
}

int Http1Decoder::OnChunkExtensionCb(llhttp_t* parser, const char* /*at*/,
                                     size_t length) {
  return Self(parser)->AddChunkExtensionBytes(length);
}

// Counts the ';' or '=' before each name or value, so that empty extensions
// (";;;;") are bounded too.
int Http1Decoder::OnChunkExtensionCompleteCb(llhttp_t* parser) {
  return Self(parser)->AddChunkExtensionBytes(1);
}

int Http1Decoder::AddChunkExtensionBytes(size_t length) {
  chunk_extension_bytes_ += length;
  if (limits_.max_chunk_extension_bytes == 0 ||
      chunk_extension_bytes_ <= limits_.max_chunk_extension_bytes) {
    return 0;
  }
  error_detail_ = "Chunk extensions exceed 4096 bytes";
  return HPE_USER;
}

int Http1Decoder::HeadTooLarge() {
  head_too_large_ = true;
  return HPE_USER;
}

// ---------------------------------------------------------------------------
// Http1Decoder: messages

int Http1Decoder::HandleHeadersComplete() {
  in_head_ = false;
  collector_.Finish();
  if (!BuildHead()) return HPE_USER;
  in_message_ = true;
  if (type_ == Type::kResponse) {
    // What returning 1 (no body) or 2 (upgrade) from on_headers_complete
    // does, set here so that the callback may still pause.
    // llhttp 8.1 reads a Content-Length body after a 304 or 204; RFC 9112
    // §6.3 says they never have one (a "body" there is the next response).
    if (head_request_ || head_.status == 204 || head_.status == 304) {
      parser_.flags |= F_SKIPBODY;
    }
    if (head_.status == 101) {
      parser_.flags |= F_SKIPBODY;
      parser_.upgrade = 1;
    }
  }
  return ToLlhttp(callbacks_.OnHead(head_));
}

bool Http1Decoder::BuildHead() {
  head_.http_minor = parser_.http_minor;
  head_.headers = collector_.headers();
  const bool transfer_encoding = (parser_.flags & F_TRANSFER_ENCODING) != 0;
  head_.chunked = (parser_.flags & F_CHUNKED) != 0;
  head_.content_length =
      (parser_.flags & F_CONTENT_LENGTH) != 0 && !head_.chunked
          ? std::optional<uint64_t>(parser_.content_length)
          : std::nullopt;
  // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing; the
  // connection closes after the message.
  head_.keep_alive = llhttp_should_keep_alive(&parser_) != 0 &&
                     !(head_.http_minor == 0 && transfer_encoding);
  if (type_ == Type::kResponse) {
    head_.status = parser_.status_code;
    head_.upgrade = head_.status == 101;
    return true;
  }

  head_.upgrade = parser_.upgrade != 0;
  head_.method =
      llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
  head_.target = collector_.target();
  head_.path = head_.target;
  head_.authority = collector_.Find("host");
  bool absolute_form = false;
  for (std::string_view scheme : {std::string_view("http://"),
                                  std::string_view("https://")}) {
    if (!StartsWithIgnoreCase(head_.target, scheme)) continue;
    const std::string_view rest = head_.target.substr(scheme.size());
    const size_t end = rest.find_first_of("/?#");
    head_.authority = rest.substr(0, end);
    head_.path = end == std::string_view::npos ? std::string_view("/")
                                               : rest.substr(end);
    absolute_form = true;
    break;
  }

  error_ = Http1Error();
  error_.in_head_rules = true;
  if (parser_.http_major != 1) {
    error_.status = 505;
    error_.code = "http_version_not_supported";
    error_.detail = "only HTTP/1.0 and HTTP/1.1 are supported";
    return false;
  }
  if (parser_.method == HTTP_CONNECT) {
    error_.status = 405;
    error_.code = "method_not_allowed";
    error_.detail = "CONNECT is not supported";
    return false;
  }
  const char* violation =
      HeadViolation(collector_, head_, absolute_form, transfer_encoding);
  if (violation != nullptr) {
    error_.detail = violation;
    return false;
  }
  error_.in_head_rules = false;
  return true;
}

int Http1Decoder::HandleMessageComplete() {
  // What follows an upgrade request is the other protocol until the caller
  // says otherwise (ResumeAfterUpgrade()): it is not scanned as a head, so
  // kUpgrade comes first however the input was cut.
  if (!parser_.upgrade) scanner_.StartHead();
  in_message_ = false;
  const int result = ToLlhttp(callbacks_.OnMessageComplete());
  // Paused even to continue: Decode() scans the next head before llhttp
  // parses it.
  return result == 0 ? HPE_PAUSED : result;
}

int Http1Decoder::ToLlhttp(Http1Action action) {
  switch (action) {
    case Http1Action::kContinue:
      return 0;
    case Http1Action::kPause:
      pause_requested_ = true;
      return HPE_PAUSED;
    case Http1Action::kStop:
      stop_requested_ = true;
      return HPE_USER;
  }
  return 0;
}

void Http1Decoder::RemoveHeader(std::string_view name) {
  collector_.Remove(name);
  head_.headers = collector_.headers();
}

// ---------------------------------------------------------------------------
// Http1Decoder: the loop

bool Http1Decoder::ScanHead(std::string_view data) {
  if (!limits_.strict_head_lines || scanner_.done() || scanned_ >= data.size()) {
    return true;
  }
  size_t used = 0;
  const HeadLineScanner::Result result =
      scanner_.Scan(data.substr(scanned_), &used);
  scanned_ += used;
  if (result != HeadLineScanner::Result::kError) return true;
  error_detail_ = scanner_.error();
  return false;
}

Http1Decoder::Status Http1Decoder::Fail(llhttp_errno_t error) {
  pending_ = false;
  if (stop_requested_) {
    final_ = Status::kStopped;
    return final_;
  }
  final_ = Status::kError;
  if (error_.in_head_rules) return final_;
  error_ = Http1Error();
  if (head_too_large_) {
    error_.status = 431;
    error_.code = "request_header_fields_too_large";
    error_.detail = absl::StrCat(
        type_ == Type::kRequest ? "request" : "response", " headers exceed ",
        limits_.max_head_bytes, " bytes or ", limits_.max_headers, " fields");
    return final_;
  }
  const char* reason =
      error_detail_ != nullptr ? error_detail_ : llhttp_get_error_reason(&parser_);
  error_.detail = reason != nullptr ? reason : llhttp_errno_name(error);
  return final_;
}

Http1Decoder::Status Http1Decoder::Decode(std::string_view data,
                                          size_t* consumed) {
  *consumed = 0;
  if (final_ != Status::kOk) return final_;
  for (;;) {
    if (!ScanHead(data)) return Fail(HPE_USER);
    // A paused parser may have transitions left to run even without input
    // (a request that ended with its head); llhttp wants a pointer anyway.
    static const char kNoInput = 0;
    const char* at = data.empty() ? &kNoInput : data.data();
    pending_ = false;
    pause_requested_ = false;
    const llhttp_errno_t error = llhttp_execute(&parser_, at, data.size());
    const size_t used =
        error == HPE_OK ? data.size()
                        : static_cast<size_t>(llhttp_get_error_pos(&parser_) - at);
    data.remove_prefix(used);
    *consumed += used;
    scanned_ = scanned_ > used ? scanned_ - used : 0;
    switch (error) {
      case HPE_OK:
        return Status::kOk;
      case HPE_PAUSED:
        llhttp_resume(&parser_);
        pending_ = true;
        if (pause_requested_) return Status::kPaused;
        continue;  // the decoder's own pause: scan, then go on
      case HPE_PAUSED_UPGRADE:
        return Status::kUpgrade;
      default:
        return Fail(error);
    }
  }
}

void Http1Decoder::ResumeAfterUpgrade() {
  scanner_.StartHead();
  scanned_ = 0;
  llhttp_resume_after_upgrade(&parser_);
  pending_ = true;
}

bool Http1Decoder::FinishAtEof() {
  if (final_ != Status::kOk || !in_message_ ||
      llhttp_message_needs_eof(&parser_) == 0) {
    return false;
  }
  // Runs on_message_complete (whose pause is the result then).
  llhttp_finish(&parser_);
  return !in_message_;
}

// ---------------------------------------------------------------------------
// Encoding

void EncodeRequestHead(const UpstreamRequestHead& head, bool chunked,
                       std::string* out) {
  std::string_view nominated;
  std::string_view upgrade_value;
  bool has_request_id = false;
  bool has_forwarded_for = false;
  for (const HttpHeader& header : head.headers) {
    if (EqualsIgnoreCase(header.name, "connection")) {
      nominated = header.value;
    } else if (EqualsIgnoreCase(header.name, "upgrade")) {
      upgrade_value = header.value;
    } else if (EqualsIgnoreCase(header.name, "x-request-id")) {
      has_request_id = true;
    } else if (EqualsIgnoreCase(header.name, "x-forwarded-for")) {
      has_forwarded_for = true;
    }
  }
  const bool merge_forwarded_for = !head.forwarded_for.empty();

  out->append(head.method);
  out->push_back(' ');
  out->append(head.path.empty() ? std::string_view("/") : head.path);
  out->append(" HTTP/1.1\r\nhost: ");
  out->append(head.authority);
  out->append("\r\n");
  for (const HttpHeader& header : head.headers) {
    if (IsHopByHopHeader(header.name) ||
        EqualsIgnoreCase(header.name, "host") ||
        EqualsIgnoreCase(header.name, "content-length") ||
        EqualsIgnoreCase(header.name, "expect") ||
        (merge_forwarded_for &&
         EqualsIgnoreCase(header.name, "x-forwarded-for")) ||
        (!nominated.empty() && ConnectionNominates(nominated, header.name)) ||
        HasUnsafeHeaderBytes(header.name) ||
        HasUnsafeHeaderBytes(header.value)) {
      continue;
    }
    AppendHeader(out, header.name, header.value);
  }
  for (const HttpHeader& header : head.extra_headers) {
    if (HasUnsafeHeaderBytes(header.name) || HasUnsafeHeaderBytes(header.value)) {
      continue;
    }
    AppendHeader(out, header.name, header.value);
  }
  if (merge_forwarded_for) {
    out->append("x-forwarded-for: ");
    if (has_forwarded_for) {
      for (const HttpHeader& header : head.headers) {
        if (EqualsIgnoreCase(header.name, "x-forwarded-for") &&
            !HasUnsafeHeaderBytes(header.value)) {
          out->append(header.value);
          out->append(", ");
        }
      }
    }
    out->append(head.forwarded_for);
    out->append("\r\n");
  }
  if (head.add_request_id && !has_request_id) {
    char id[kRequestIdLength];
    FormatRequestId(id);
    AppendHeader(out, "x-request-id", std::string_view(id, sizeof(id)));
  }
  if (head.content_length) {
    out->append("content-length: ");
    AppendDecimal(out, *head.content_length);
    out->append("\r\n");
  } else if (chunked) {
    out->append("transfer-encoding: chunked\r\n");
  }
  if (head.upgrade) {
    out->append("connection: upgrade\r\n");
    if (!upgrade_value.empty() && !HasUnsafeHeaderBytes(upgrade_value)) {
      AppendHeader(out, "upgrade", upgrade_value);
    }
  }
  out->append("\r\n");
}

Http1BodyFraming EncodeResponseHead(const Http1ResponseHead& head,
                                    std::string* out) {
  using Kind = Http1BodyFraming::Kind;
  Http1BodyFraming framing;
  framing.close = head.close;
  std::string_view nominated;  // names listed in the response's Connection
  std::string_view upgrade_value;
  bool handler_close = false;
  std::optional<uint64_t> length = head.content_length;
  for (const HttpHeader& header : head.headers) {
    if (EqualsIgnoreCase(header.name, "connection")) {
      nominated = header.value;
      // The handler may ask for the connection to close after this response.
      if (ConnectionNominates(header.value, "close")) handler_close = true;
    } else if (EqualsIgnoreCase(header.name, "upgrade")) {
      upgrade_value = header.value;
    } else if (!head.content_length &&
               EqualsIgnoreCase(header.name, "content-length")) {
      length = ParseContentLength(header.value);
    }
  }

  AppendStatusLine(out, head.status);
  for (const HttpHeader& header : head.headers) {
    if (IsHopByHopHeader(header.name) ||
        EqualsIgnoreCase(header.name, "content-length") ||
        (!nominated.empty() && ConnectionNominates(nominated, header.name)) ||
        HasUnsafeHeaderBytes(header.name) ||
        HasUnsafeHeaderBytes(header.value)) {
      continue;
    }
    AppendHeader(out, header.name, header.value);
  }

  if (head.status == 101) {
    framing.kind = Kind::kTunnel;
    framing.close = framing.close || handler_close;
    out->append("connection: upgrade\r\n");
    if (!upgrade_value.empty() && !HasUnsafeHeaderBytes(upgrade_value)) {
      AppendHeader(out, "upgrade", upgrade_value);
    }
    out->append("\r\n");
    return framing;
  }
  framing.close = framing.close || handler_close;
  const bool no_body = head.head_request || head.status == 204 ||
                       head.status == 304 || head.status < 200;
  if (no_body) {
    framing.kind = Kind::kNone;
    if (length && head.status != 204 && head.status >= 200) {
      out->append("content-length: ");
      AppendDecimal(out, *length);
      out->append("\r\n");
    }
  } else if (length) {
    framing.kind = Kind::kLength;
    framing.length = *length;
    out->append("content-length: ");
    AppendDecimal(out, *length);
    out->append("\r\n");
  } else if (head.request_http_minor >= 1) {
    framing.kind = Kind::kChunked;
    out->append("transfer-encoding: chunked\r\n");
  } else {
    framing.kind = Kind::kCloseDelimited;
    framing.close = true;
  }
  if (framing.close) {
    out->append("connection: close\r\n");
  } else if (head.request_http_minor == 0) {
    out->append("connection: keep-alive\r\n");
  }
  out->append("\r\n");
  return framing;
}

void EncodeChunk(std::string_view data, std::string* out) {
  AppendChunkHeader(out, data.size());
  out->append(data);
  out->append("\r\n", 2);
}

void EncodeLastChunk(std::string* out) { out->append("0\r\n\r\n"); }

}  // namespace homing::internal
