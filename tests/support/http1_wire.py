"""Strict HTTP/1.1 framing of raw bytes, for tests that look at the wire.

A parser of its own, written from RFC 9112 and independent of homing's
(llhttp), so a test can check what homing sent against a second opinion:

    framing = frame_requests(raw_bytes)
    framing.requests   # [Request(method, target, version, headers, body)]
    framing.leftover   # bytes after the last whole request (b"" when clean)
    framing.error      # why the bytes stop being HTTP/1.1, else None

and the other direction, what a client got back:

    responses, leftover = frame_responses(raw_bytes)

Strict means: CRLF line ends only, a token method and header names, no
obs-fold, no control bytes in values, exactly one Host, at most one
Content-Length (digits only), Transfer-Encoding only as a lone "chunked" and
never beside Content-Length, chunk sizes of at most 16 hex digits and chunk
extensions in the RFC's grammar. Anything else is an error, never a guess.

Standard library only.
"""

import dataclasses
import re

TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
REQUEST_LINE = re.compile(rb"(?P<method>[!#$%&'*+\-.^_`|~0-9A-Za-z]+) "
                          rb"(?P<target>[\x21-\x7e]+) HTTP/(?P<version>1\.[01])")
STATUS_LINE = re.compile(rb"HTTP/1\.[01] (?P<status>\d{3}) [\t \x21-\x7e\x80-\xff]*")
FIELD_VALUE = re.compile(rb"[\t \x21-\x7e\x80-\xff]*")
CHUNK_EXT = re.compile(rb"(?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
                       rb"(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
                       rb"|\"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*\"))?)*")
CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
MAX_HEAD = 64 * 1024


class FramingError(Exception):
    """The bytes are not a well-framed HTTP/1.1 message."""


@dataclasses.dataclass
class Request:
    method: str
    target: str
    version: str
    headers: list  # [(name bytes, value bytes)] in wire order
    body: bytes
    raw: bytes  # the message's bytes as received

    def header(self, name):
        """The values of header `name` (case-insensitive), in order."""
        name = name.lower().encode()
        return [value for key, value in self.headers if key.lower() == name]


@dataclasses.dataclass
class Response:
    status: int
    headers: list
    body: bytes

    def header(self, name):
        name = name.lower().encode()
        values = [value for key, value in self.headers if key.lower() == name]
        return values[0].decode("latin-1") if values else None


@dataclasses.dataclass
class Framing:
    requests: list
    leftover: bytes
    error: str  # None when every byte up to `leftover` framed


class _Incomplete(Exception):
    """More bytes are needed to finish the message."""


def _line(data, at):
    """(line without CRLF, index after it); a bare LF is an error."""
    end = data.find(b"\n", at)
    if end < 0:
        if len(data) - at > MAX_HEAD:
            raise FramingError("line longer than 64 KiB")
        raise _Incomplete()
    if end == at or data[end - 1:end] != b"\r":
        raise FramingError(f"bare LF at byte {end}")
    line = data[at:end - 1]
    if b"\r" in line:
        raise FramingError(f"bare CR in line {line[:80]!r}")
    return line, end + 1


def _fields(data, at):
    """Header (or trailer) fields up to the empty line: ([(name, value)], index)."""
    fields = []
    while True:
        line, at = _line(data, at)
        if not line:
            return fields, at
        if line[:1] in (b" ", b"\t"):
            raise FramingError(f"obs-fold line {line!r}")
        name, colon, value = line.partition(b":")
        if not colon or not TOKEN.fullmatch(name):
            raise FramingError(f"bad header name in {line!r}")
        value = value.strip(b" \t")
        if not FIELD_VALUE.fullmatch(value):
            raise FramingError(f"control byte in the value of {name!r}")
        fields.append((name, value))


def _body_framing(headers, version):
    """('length', n) or ('chunked', None), by the strict rules above."""
    lengths = [value for name, value in headers if name.lower() == b"content-length"]
    codings = [value for name, value in headers if name.lower() == b"transfer-encoding"]
    if codings:
        if lengths:
            raise FramingError("Transfer-Encoding beside Content-Length")
        if len(codings) > 1 or codings[0].lower() != b"chunked":
            raise FramingError(f"Transfer-Encoding other than one chunked: {codings!r}")
        if version == "1.0":
            raise FramingError("Transfer-Encoding in an HTTP/1.0 request")
        return "chunked", None
    if len(lengths) > 1:
        raise FramingError(f"{len(lengths)} Content-Length headers")
    if lengths:
        if not re.fullmatch(rb"\d{1,18}", lengths[0]):
            raise FramingError(f"bad Content-Length {lengths[0]!r}")
        return "length", int(lengths[0])
    return "length", 0


def _chunked_body(data, at):
    body = bytearray()
    while True:
        line, at = _line(data, at)
        size = CHUNK_SIZE.match(line)
        if not size or not CHUNK_EXT.fullmatch(line, size.end()):
            raise FramingError(f"bad chunk line {line[:80]!r}")
        length = int(size.group(), 16)
        if length == 0:
            _, at = _fields(data, at)  # trailers
            return bytes(body), at
        if len(data) < at + length + 2:
            raise _Incomplete()
        body += data[at:at + length]
        if data[at + length:at + length + 2] != b"\r\n":
            raise FramingError("chunk data not followed by CRLF")
        at += length + 2


def _request(data, at):
    line, at_headers = _line(data, at)
    match = REQUEST_LINE.fullmatch(line)
    if not match:
        raise FramingError(f"bad request line {line[:80]!r}")
    version = match.group("version").decode()
    headers, at_body = _fields(data, at_headers)
    hosts = [value for name, value in headers if name.lower() == b"host"]
    if version == "1.1" and len(hosts) != 1:
        raise FramingError(f"{len(hosts)} Host headers")
    kind, length = _body_framing(headers, version)
    if kind == "chunked":
        body, end = _chunked_body(data, at_body)
    else:
        if len(data) < at_body + length:
            raise _Incomplete()
        body, end = data[at_body:at_body + length], at_body + length
    request = Request(match.group("method").decode(), match.group("target").decode("latin-1"),
                      version, headers, bytes(body), bytes(data[at:end]))
    return request, end


def frame_requests(data):
    """Every whole request in `data`, what is left, and the error if any."""
    requests, at = [], 0
    while at < len(data):
        try:
            request, at = _request(data, at)
        except _Incomplete:
            return Framing(requests, bytes(data[at:]), None)
        except FramingError as error:
            return Framing(requests, bytes(data[at:]), str(error))
        requests.append(request)
    return Framing(requests, b"", None)


def _response(data, at, closed):
    line, at = _line(data, at)
    match = STATUS_LINE.fullmatch(line)
    if not match:
        raise FramingError(f"bad status line {line[:80]!r}")
    status = int(match.group("status"))
    headers, at = _fields(data, at)
    if status in (204, 304) or 100 <= status < 200:
        return Response(status, headers, b""), at
    codings = [v for n, v in headers if n.lower() == b"transfer-encoding"]
    lengths = [v for n, v in headers if n.lower() == b"content-length"]
    if codings:
        body, at = _chunked_body(data, at)
        return Response(status, headers, body), at
    if lengths:
        end = at + int(lengths[0])
        if len(data) < end:
            raise _Incomplete()
        return Response(status, headers, bytes(data[at:end])), end
    if not closed:
        raise _Incomplete()
    return Response(status, headers, bytes(data[at:])), len(data)


def frame_responses(data, closed=False):
    """([Response], leftover) for the bytes a client read; `closed` says the
    server closed the connection (which ends a body without a length)."""
    responses, at = [], 0
    while at < len(data):
        try:
            response, at = _response(data, at, closed)
        except (_Incomplete, FramingError):
            break
        responses.append(response)
    return responses, bytes(data[at:])
