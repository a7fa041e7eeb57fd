#!/usr/bin/env python3
"""homing's request framing against a second HTTP/1.1 implementation.

Every file of the request codec's seed corpus (tests/fuzz/corpus/
request_codec/) goes through homing-proxy, with
tests/support/capture_backend.py behind it, and through h11 (Debian's
python3-h11) as a server. The two must agree on whether the bytes are
accepted and on the requests they frame: method, target (origin-form; homing
forwards an absolute-form target's path) and body, and how many. DISAGREEMENTS
lists the files where they may not, each with why homing's choice is the
safe one; a listed file must really disagree, so the table stays true.

Apart from agreement, what the backend got must frame cleanly by its own
strict parser for every file: a framing bug is never an accepted
disagreement.
"""

import dataclasses
import re
import sys
import unittest

from capture_proxy import SOURCE_ROOT, CaptureProxy

sys.path.append("/usr/lib/python3/dist-packages")  # Debian's h11 for pyenv's python
try:
    import h11
except ImportError:
    sys.exit("test_codec_differential needs h11: apt-get install python3-h11 (.ci/deps)")

PROXY_IP = "127.0.2.7"      # system test block 7 (see Layout.for_tests)
BACKEND_IP = "127.0.1.170"
CORPUS = SOURCE_ROOT / "tests" / "fuzz" / "corpus" / "request_codec"

# file -> why homing's answer is the safe one where h11 answers otherwise.
DISAGREEMENTS = {
    "attack-cl-te":
        "h11 lets Transfer-Encoding override Content-Length (RFC 9112 6.3 allows it); "
        "homing refuses the pair, the classic CL.TE desync, as Envoy does",
    "attack-te-leading-space-with-cl":
        "the same CL+TE pair; h11 reads the chunked body and waits for more",
    "attack-te-obs-fold":
        "h11 unfolds the folded Transfer-Encoding and ignores the Content-Length beside "
        "it; homing refuses both obs-fold and the CL+TE pair",
    "attack-obs-fold":
        "h11 unfolds obs-fold (RFC 9112 5.2 allows it); homing refuses it, since a "
        "next hop may read the folded line as a header of its own",
    "attack-cl-duplicate-equal":
        "h11 merges equal Content-Length values (RFC 9110 8.6 allows it); homing "
        "refuses any second Content-Length",
    "attack-cl-overflow":
        "h11 takes a 20-digit Content-Length and waits for the body; homing refuses "
        "a length that overflows 64 bits",
    "attack-chunk-size-overflow":
        "h11 takes a 17-hex-digit chunk size and waits for the data; homing refuses "
        "a size that overflows 64 bits",
    "attack-chunk-extension-oversized":
        "h11 takes a chunk line of any length; homing bounds chunk extensions (4 KiB "
        "per line) so a client cannot make it buffer without limit",
    "attack-bare-lf":
        "h11 takes a bare LF as a line end (RFC 9112 2.2 allows it); homing refuses "
        "it, since a next hop that does not would see other headers",
    "attack-bad-version":
        "h11 serves HTTP/1.2 as HTTP/1.1; homing refuses a version it does not know",
    "attack-absolute-form-host-mismatch":
        "h11 does not compare an absolute-form authority with Host; homing refuses a "
        "request that names two different hosts",
    "attack-upgrade-websocket-smuggled":
        "not a framing difference: h11 declines the upgrade by answering 200, while "
        "homing refuses upgrades on a route without upgrade_configs (403)",
    "valid-upgrade-websocket":
        "as above: the upgrade is refused by route policy (403)",
    "attack-request-line-oversized":
        "h11 bounds only a head still incomplete in its buffer (16 KiB); homing bounds "
        "every head (max_request_headers_kb, 60 KiB by default) and answers 431",
    "attack-header-count-excess":
        "h11 takes any number of header fields; homing takes at most 100 (431)",
    "valid-http10-keep-alive-pair":
        "h11 does not implement HTTP/1.0 keep-alive and stops after the first "
        "request; homing serves both, each framed by its (absent) Content-Length",
}


@dataclasses.dataclass
class Verdict:
    messages: list  # sorted (method, target, body)
    outcome: str    # "accepted", "rejected" or "incomplete"

    def __str__(self):
        return f"{self.outcome} {self.messages}"


ABSOLUTE_FORM = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


def origin_form(target):
    """The path and query of an absolute-form target ("/" if it has none)."""
    match = ABSOLUTE_FORM.match(target)
    if not match:
        return target
    return target[match.end():] or "/"


def h11_verdict(data):
    """What h11, as a server answering each request with an empty 200,
    makes of `data` (with the connection still open after it)."""
    connection = h11.Connection(our_role=h11.SERVER)
    connection.receive_data(data)
    messages, current = [], None
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError:
            return Verdict(sorted(messages), "rejected")
        if isinstance(event, h11.Request):
            current = [event.method.decode(), origin_form(event.target.decode("latin-1")), b""]
        elif isinstance(event, h11.Data):
            current[2] += event.data
        elif isinstance(event, h11.EndOfMessage):
            messages.append(tuple(current))
            current = None
            connection.send(h11.Response(status_code=200, headers=[("content-length", "0")]))
            connection.send(h11.EndOfMessage())
            if connection.our_state is h11.MUST_CLOSE:
                return Verdict(sorted(messages), "accepted")
            connection.start_next_cycle()
        elif event is h11.NEED_DATA:
            return Verdict(sorted(messages), "incomplete" if current else "accepted")
        else:
            raise AssertionError(f"h11 gave {event!r} for {data!r}")


def homing_verdict(exchange):
    messages = sorted((request.method, origin_form(request.target), request.body)
                      for request in exchange.forwarded)
    if exchange.local_replies():
        return Verdict(messages, "rejected")
    answered = len(exchange.backend_responses())
    return Verdict(messages, "accepted" if answered == len(messages) else "incomplete")


class CodecDifferential(unittest.TestCase):
    def test_every_seed_frames_as_h11_frames_it_or_is_a_listed_disagreement(self):
        files = sorted(CORPUS.iterdir())
        self.assertGreater(len(files), 40, f"the seed corpus {CORPUS} is missing")
        self.assertLessEqual(set(DISAGREEMENTS), {path.name for path in files},
                             "DISAGREEMENTS names files that are not in the corpus")
        with CaptureProxy(PROXY_IP, BACKEND_IP) as setup:
            try:
                for path in files:
                    data = path.read_bytes()
                    expected = h11_verdict(data)
                    exchange = setup.exchange(
                        [data], expect=len(expected.messages) + (expected.outcome == "rejected"))
                    with self.subTest(path.name):
                        self.compare(path.name, data, expected, exchange)
            finally:
                problems = setup.stop()
                sys.stderr.write(f"--- last lines of homing-proxy ---\n"
                                 f"{''.join(setup.log().splitlines(True)[-8:])}\n")
        self.assertEqual(problems, [], "on the way out")

    def compare(self, name, data, expected, exchange):
        context = (f"\nsent {data!r}\nclient got {exchange.client_bytes!r}"
                   f"\nbackend got {exchange.backend_bytes!r}")
        self.assertEqual(exchange.backend_problems, [], "homing desynchronised the backend"
                         + context)
        actual = homing_verdict(exchange)
        agree = (actual.outcome, actual.messages) == (expected.outcome, expected.messages)
        if name in DISAGREEMENTS:
            self.assertFalse(agree, f"{name} is listed as a disagreement, but homing and h11 "
                                    f"both say {actual}; drop it from DISAGREEMENTS")
        else:
            self.assertTrue(agree, f"homing: {actual}\nh11:    {expected}" + context)


if __name__ == "__main__":
    unittest.main(verbosity=2)
