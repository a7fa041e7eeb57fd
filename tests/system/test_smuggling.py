#!/usr/bin/env python3
"""Request smuggling: classic desync attacks against homing-proxy, sent raw.

Each row of ROWS names a file of the request codec's seed corpus
(tests/fuzz/corpus/request_codec/, the attack's exact bytes) and the outcome
homing must give it. Every row runs twice: in one write on the STATIC route,
and split across three writes on the affinity route (an x-affinity-key
header, which makes the proxy hold the request during a resolver lookup).
Behind the proxy, tests/support/capture_backend.py records every byte.

Whatever the row, the invariant is the same: the backend received exactly
the requests the proxy answered and logged, each well framed by the
backend's own strict parser, and nothing else (no fragment left on an open
connection); each carries the headers homing adds (x-forwarded-for,
x-request-id) and no Connection or Upgrade; a rejection is one local reply
with a JSON {"error", "detail"} body, and a 400 closes the connection.
"""

import dataclasses
import json
import sys
import unittest

from capture_proxy import AFFINITY_HEADER, SOURCE_ROOT, CaptureProxy

PROXY_IP = "127.0.2.6"      # system test block 6 (see Layout.for_tests)
BACKEND_IP = "127.0.1.160"
CLIENT_IP = "127.0.0.1"     # the source address of a client of 127.0.2.6
CORPUS = SOURCE_ROOT / "tests" / "fuzz" / "corpus" / "request_codec"


@dataclasses.dataclass(frozen=True)
class Row:
    file: str
    forwarded: tuple = ()    # the targets the backend must receive
    rejected: int = None     # the status of homing's local reply, if any
    then: tuple = ()         # targets that may follow the rejection (a declined
                             # upgrade leaves the connection in HTTP/1.1)
    half_close: bool = False  # the client shuts down its side after sending


ROWS = [
    # Content-Length against Transfer-Encoding.
    Row("attack-cl-te", rejected=400),
    Row("attack-te-cl", rejected=400),
    # TE.TE: a Transfer-Encoding one parser might not see as chunked.
    Row("attack-te-xchunked", rejected=400),
    Row("attack-te-xchunked-with-cl", rejected=400),
    Row("attack-te-leading-space-with-cl", rejected=400),
    Row("attack-te-chunked-identity", rejected=400),
    Row("attack-te-identity-chunked-with-cl", rejected=400),
    Row("attack-te-duplicated", rejected=400),
    Row("attack-te-duplicated-identity", rejected=400),
    Row("attack-te-space-before-colon", rejected=400),
    Row("attack-te-tab-before-colon", rejected=400),
    Row("attack-te-obs-fold", rejected=400),
    Row("attack-te-vertical-tab", rejected=400),
    # Content-Length that two parsers could read two ways.
    Row("attack-cl-duplicate-equal", rejected=400),
    Row("attack-cl-duplicate-differing", rejected=400),
    Row("attack-cl-comma-list", rejected=400),
    Row("attack-cl-plus-sign", rejected=400),
    Row("attack-cl-minus-sign", rejected=400),
    Row("attack-cl-inner-space", rejected=400),
    Row("attack-cl-overflow", rejected=400),
    # Header syntax that parsers disagree on.
    Row("attack-obs-fold", rejected=400),
    Row("attack-bare-lf", rejected=400),
    Row("attack-bare-lf-chunked", rejected=400),
    Row("attack-bare-cr", rejected=400),
    Row("attack-nul-in-header-value", rejected=400),
    Row("attack-nul-in-header-name", rejected=400),
    Row("attack-space-in-header-name", rejected=400),
    Row("attack-non-token-header-name", rejected=400),
    Row("attack-two-host-headers", rejected=400),
    Row("attack-absolute-form-host-mismatch", rejected=400),
    Row("attack-missing-host", rejected=400),
    # Request lines another parser might read otherwise.
    Row("attack-bad-version", rejected=400),
    Row("attack-http09-request-line", rejected=505),
    Row("attack-space-in-target", rejected=400),
    # RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty
    # framing; it is served, then the connection closes.
    Row("attack-http10-chunked", forwarded=("/http10-chunked",)),
    Row("attack-cl-hex", rejected=400),
    # Heads beyond the bounds (max_request_headers_kb, 100 headers).
    Row("attack-request-line-oversized", rejected=431),
    Row("attack-header-count-excess", rejected=431),
    # Chunked bodies.
    Row("attack-chunk-extension-oversized", rejected=400),
    Row("attack-chunk-size-overflow", rejected=400),
    Row("attack-chunk-size-invalid", rejected=400),
    Row("attack-chunk-size-negative", rejected=400),
    Row("attack-chunk-data-too-long", rejected=400),
    # Upgrades that would turn the rest of the write into a tunnel.
    Row("attack-upgrade-websocket-smuggled", rejected=403, then=("/smuggled",)),
    Row("attack-upgrade-h2c-smuggled", forwarded=("/h2c-smuggle", "/smuggled")),
    # Pipelining around an error.
    Row("attack-pipelined-after-error", rejected=400),
    Row("attack-pipelined-good-then-bad", forwarded=("/good",), rejected=400),
    # Well-formed traffic keeps the invariant too.
    Row("valid-pipelined-pair", forwarded=("/first", "/second")),
    Row("valid-pipelined-chunked-then-get", forwarded=("/first", "/second")),
    Row("valid-chunked-extensions", forwarded=("/chunked-ext",)),
    Row("valid-chunked-trailers", forwarded=("/chunked-trailers",)),
    Row("valid-te-leading-space", forwarded=("/te-ows",)),
    Row("valid-http10-keep-alive-pair", forwarded=("/old1", "/old2")),
    Row("valid-get", forwarded=("/index.html",), half_close=True),
]


def with_affinity_key(data, key):
    """`data` with an x-affinity-key header after its first line."""
    end = data.index(b"\n") + 1
    return data[:end] + b"%s: %s\r\n" % (AFFINITY_HEADER.encode(), key.encode()) + data[end:]


def three_writes(data):
    """`data` cut in the middle of the first head, at its end, and in the
    middle of the rest: the proxy must frame across reads."""
    head_end = min((i + len(m) for m in (b"\r\n\r\n", b"\n\n") if (i := data.find(m)) >= 0),
                   default=len(data))
    cuts = sorted({head_end // 2, head_end, head_end + (len(data) - head_end) // 2})
    pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    return [piece for piece in pieces if piece]


class Smuggling(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.setup = CaptureProxy(PROXY_IP, BACKEND_IP).__enter__()

    @classmethod
    def tearDownClass(cls):
        problems = cls.setup.stop()
        sys.stderr.write(f"--- last lines of homing-proxy ---\n"
                         f"{''.join(cls.setup.log().splitlines(True)[-8:])}\n")
        if problems:
            raise AssertionError("on the way out:\n" + "\n".join(problems))

    def run_row(self, row, writes):
        exchange = self.setup.exchange(
            writes, expect=len(row.forwarded) + (row.rejected is not None),
            half_close=row.half_close)
        context = (f"\nsent {exchange.sent!r}\nclient got {exchange.client_bytes!r}"
                   f"\nbackend got {exchange.backend_bytes!r}"
                   f"\naccess log {[line.text for line in exchange.access_lines]!r}")
        self.assertEqual(exchange.backend_problems, [], context)
        targets = sorted(request.target for request in exchange.forwarded)
        allowed = [sorted(row.forwarded)]
        if row.then:
            allowed.append(sorted(row.forwarded + row.then))
        self.assertIn(targets, allowed, "the backend got other requests" + context)
        for request in exchange.forwarded:
            self.assertEqual([value.decode() for value in request.header("x-forwarded-for")],
                             [CLIENT_IP], f"x-forwarded-for of {request.target}" + context)
            self.assertEqual(len(request.header("x-request-id")), 1,
                             f"x-request-id of {request.target}" + context)
            self.assertEqual(request.header("connection") + request.header("upgrade"), [],
                             f"{request.target} was forwarded as an upgrade" + context)

        answered = exchange.backend_responses()
        self.assertEqual(len(answered), len(targets),
                         "the client did not get one response per forwarded request" + context)
        logged = sorted(line.target for line in exchange.access_lines if line.status == 200)
        self.assertEqual(logged, targets, "the access log does not list the forwarded requests"
                         + context)

        replies = exchange.local_replies()
        self.assertEqual([reply.status for reply in replies],
                         [row.rejected] if row.rejected else [], context)
        for reply in replies:
            self.assertEqual(reply.header("content-type"), "application/json", context)
            body = json.loads(reply.body)
            self.assertEqual(sorted(body), ["detail", "error"], context)
            self.assertTrue(body["error"] and body["detail"], context)
        if row.rejected == 400:
            self.assertTrue(exchange.closed, "a 400 must close the connection" + context)


def add_row_tests():
    for number, row in enumerate(ROWS):
        def one_write(self, row=row):
            self.run_row(row, [(CORPUS / row.file).read_bytes()])

        def split_affinity(self, row=row, key=f"smuggle-{number}"):
            self.run_row(row, three_writes(with_affinity_key((CORPUS / row.file).read_bytes(),
                                                             key)))
        name = row.file.replace("-", "_") + ("_then_half_close" if row.half_close else "")
        setattr(Smuggling, f"test_{name}_in_one_write", one_write)
        setattr(Smuggling, f"test_{name}_split_on_the_affinity_route", split_affinity)


add_row_tests()


if __name__ == "__main__":
    unittest.main(verbosity=2)
