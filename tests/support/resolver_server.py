#!/usr/bin/env python3
"""A stand-in for the seed's resolver service, for homing's tests.

Answers ``GET <path>?<param>=<key>`` the way the seed's servers answer
``/where?client_id=123``::

    {"client_id": "123", "hostport": "server-1.server-headless.poc-routing.svc.cluster.local:8081"}

The hostport comes from a per-key mapping, else from a template in which
``{shard}`` is crc32(key) % shards and ``{key}`` is the key itself.

HTTP/1.1 with keep-alive (ThreadingHTTPServer), standard library only.
With ``--port 0`` the chosen port is the first line printed on stdout.

Control, at run time:

``POST /_control`` with a JSON object; every field is optional and sticks
until changed or reset:

* ``"status": 500``          answer lookups with this status (error body)
* ``"delay_ms": 300``        wait this long before answering a lookup
* ``"mode": "garbage"``      a body that is not JSON; ``"missing_field"``
  omits the hostport field; ``"non_object"`` answers a JSON array;
  ``"normal"`` restores the usual answer
* ``"hostport": "h:1"``      answer this hostport for every key (null clears)
* ``"mapping": {"k": "h:1"}``  per-key hostports (merged; null clears all)
* ``"template": "..."``, ``"shards": 3``
* ``"reset": true``          back to the command-line behaviour
* ``"reset_stats": true``    zero the counters below

``GET /_stats`` returns ``{"total": n, "per_key": {key: n}, "queries":
[raw query strings, as received], "connections": n}`` where ``connections``
counts the TCP connections that carried at least one lookup.
"""

import argparse
import json
import sys
import threading
import time
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_TEMPLATE = "server-{shard}.server-headless.poc-routing.svc.cluster.local:8081"


class Behaviour:
    def __init__(self, args):
        self.template = args.template
        self.shards = args.shards
        self.status = 200
        self.delay_ms = 0
        self.mode = "normal"
        self.hostport = None
        self.mapping = {}

    def update(self, control):
        if "status" in control:
            self.status = int(control["status"])
        if "delay_ms" in control:
            self.delay_ms = int(control["delay_ms"])
        if "mode" in control:
            if control["mode"] not in ("normal", "garbage", "missing_field", "non_object"):
                raise ValueError("unknown mode %r" % control["mode"])
            self.mode = control["mode"]
        if "hostport" in control:
            self.hostport = control["hostport"]
        if "mapping" in control:
            if control["mapping"] is None:
                self.mapping = {}
            else:
                self.mapping.update(control["mapping"])
        if "template" in control:
            self.template = control["template"]
        if "shards" in control:
            self.shards = int(control["shards"])

    def hostport_for(self, key):
        if self.hostport is not None:
            return self.hostport
        if key in self.mapping:
            return self.mapping[key]
        shard = zlib.crc32(key.encode("utf-8", "surrogateescape")) % self.shards
        return self.template.replace("{shard}", str(shard)).replace("{key}", key)


class ResolverServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops the SYNs of a burst of new
    # connections (clients then wait a 1s retransmit): tests open many.
    request_queue_size = 128

    def __init__(self, args):
        super().__init__((args.address, args.port), ResolverHandler)
        self.args = args
        self.lock = threading.Lock()
        self.behaviour = Behaviour(args)
        self.reset_stats()

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client gave up (a timeout, a cancel): expected in tests
        super().handle_error(request, client_address)

    def reset_stats(self):
        self.total = 0
        self.per_key = {}
        self.queries = []
        self.connections = 0


class ResolverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "homing-test-resolver"

    def setup(self):
        super().setup()
        self.carried_lookup = False

    def log_message(self, format, *args):
        if self.server.args.verbose:
            sys.stderr.write("resolver: " + (format % args) + "\n")

    def send_body(self, status, body, content_type="application/json"):
        data = body.encode("utf-8", "surrogateescape")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status, value):
        self.send_body(status, json.dumps(value))

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path == "/_stats":
            with self.server.lock:
                stats = {
                    "total": self.server.total,
                    "per_key": dict(self.server.per_key),
                    "queries": list(self.server.queries),
                    "connections": self.server.connections,
                }
            self.send_json(200, stats)
            return
        if path != self.server.args.path:
            self.send_json(404, {"error": "no route for " + path})
            return
        self.lookup(query)

    def do_POST(self):
        if self.path != "/_control":
            self.send_json(404, {"error": "no route for " + self.path})
            return
        length = int(self.headers.get("Content-Length", "0"))
        try:
            control = json.loads(self.rfile.read(length) or b"{}")
            with self.server.lock:
                if control.get("reset"):
                    self.server.behaviour = Behaviour(self.server.args)
                if control.get("reset_stats"):
                    self.server.reset_stats()
                self.server.behaviour.update(control)
        except (ValueError, TypeError) as error:
            self.send_json(400, {"error": str(error)})
            return
        self.send_json(200, {"ok": True})

    def lookup(self, query):
        param = self.server.args.param
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True,
                                       encoding="utf-8", errors="surrogateescape")
        key = next((value for name, value in pairs if name == param), None)
        with self.server.lock:
            self.server.total += 1
            self.server.queries.append(query)
            if not self.carried_lookup:
                self.carried_lookup = True
                self.server.connections += 1
            if key is not None:
                self.server.per_key[key] = self.server.per_key.get(key, 0) + 1
            behaviour = self.server.behaviour
            status, delay_ms, mode = behaviour.status, behaviour.delay_ms, behaviour.mode
            hostport = behaviour.hostport_for(key) if key is not None else None
        if delay_ms:
            time.sleep(delay_ms / 1000.0)
        if key is None:
            self.send_json(400, {"error": "missing " + param})
        elif status != 200:
            self.send_json(status, {"error": "resolver told to answer %d" % status})
        elif mode == "garbage":
            self.send_body(200, "<html>this is not json</html>", "text/html")
        elif mode == "missing_field":
            self.send_json(200, {param: key})
        elif mode == "non_object":
            self.send_json(200, [key, hostport])
        else:
            self.send_json(200, {param: key, self.server.args.field: hostport})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--path", default="/where")
    parser.add_argument("--param", default="client_id",
                        help="query parameter carrying the key")
    parser.add_argument("--field", default="hostport",
                        help="JSON field carrying the hostport")
    parser.add_argument("--template", default=DEFAULT_TEMPLATE)
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    server = ResolverServer(args)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
