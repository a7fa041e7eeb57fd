#!/usr/bin/env python3
"""A WebSocket (RFC 6455) echo server for homing's tests, standard library only.

A GET with ``Upgrade: websocket``, ``Connection: Upgrade``,
``Sec-WebSocket-Version: 13`` and a ``Sec-WebSocket-Key`` gets ``101
Switching Protocols`` with the matching ``Sec-WebSocket-Accept``; then every
text or binary message (fragmented or not) is sent back whole, pings get
pongs, and a close frame is answered with one before the connection closes.
Client frames must be masked (RFC 6455 5.1); an unmasked one ends the
connection with close code 1002.

A handshake it cannot take is refused the way RFC 6455 4.2.2 says: another
``Sec-WebSocket-Version`` gets ``426 Upgrade Required`` (naming version 13),
a missing or malformed key ``400 Bad Request``; the connection closes after
either.

``GET /_stats`` (a plain request) answers ``{"name": …, "handshakes": n,
"refused": n, "messages": n, "paths": [request targets of handshakes]}``.

With ``--port 0`` the chosen port is the first line printed on stdout.
"""

import argparse
import base64
import hashlib
import json
import socketserver
import struct
import sys
import threading

ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD = 64 * 1024

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


def accept_value(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + ACCEPT_GUID).digest()).decode()


def frame(opcode, payload):
    """One unmasked, final server frame."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return head + payload


class Closed(Exception):
    """The peer closed the connection in the middle of something."""


class EchoHandler(socketserver.StreamRequestHandler):
    def read_exactly(self, n):
        data = self.rfile.read(n)
        if len(data) != n:
            raise Closed()
        return data

    def read_head(self):
        lines = []
        size = 0
        while True:
            line = self.rfile.readline(MAX_HEAD)
            if not line:
                raise Closed()
            size += len(line)
            if size > MAX_HEAD:
                raise Closed()
            if line in (b"\r\n", b"\n"):
                return lines
            lines.append(line.decode("latin-1").rstrip("\r\n"))

    def send_response(self, status, reason, headers=(), body=b""):
        head = [f"HTTP/1.1 {status} {reason}"]
        head += [f"{name}: {value}" for name, value in headers]
        if status != 101:
            head.append(f"Content-Length: {len(body)}")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        self.wfile.flush()

    def count(self, field, path=None):
        with self.server.lock:
            self.server.stats[field] += 1
            if path is not None:
                self.server.stats["paths"].append(path)

    def handle(self):
        try:
            lines = self.read_head()
            if not lines:
                return
            method, target, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers.setdefault(name.strip().lower(), value.strip())
            if headers.get("upgrade", "").lower() != "websocket":
                self.plain(method, target)
                return
            if not self.handshake(method, target, headers):
                return
            self.echo()
        except (Closed, ConnectionError):
            pass

    def plain(self, method, target):
        if method == "GET" and target == "/_stats":
            with self.server.lock:
                body = json.dumps(self.server.stats).encode()
            self.send_response(200, "OK", [("Content-Type", "application/json"),
                                           ("Connection", "close")], body)
        else:
            self.send_response(404, "Not Found", [("Connection", "close")])

    def handshake(self, method, target, headers):
        connection = [t.strip().lower() for t in headers.get("connection", "").split(",")]
        key = headers.get("sec-websocket-key", "")
        try:
            key_ok = len(base64.b64decode(key, validate=True)) == 16
        except ValueError:
            key_ok = False
        if headers.get("sec-websocket-version") != "13":
            self.count("refused")
            self.send_response(426, "Upgrade Required",
                               [("Sec-WebSocket-Version", "13"), ("Connection", "close")])
            return False
        if method != "GET" or "upgrade" not in connection or not key_ok:
            self.count("refused")
            self.send_response(400, "Bad Request", [("Connection", "close")])
            return False
        self.count("handshakes", target)
        self.send_response(101, "Switching Protocols",
                           [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                            ("Sec-WebSocket-Accept", accept_value(key))])
        return True

    def read_frame(self):
        first, second = self.read_exactly(2)
        fin, opcode = first & 0x80, first & 0x0F
        masked, length = second & 0x80, second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self.read_exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self.read_exactly(8))
        if not masked:
            return None
        mask = self.read_exactly(4)
        data = bytearray(self.read_exactly(length))
        for i in range(length):
            data[i] ^= mask[i % 4]
        return bool(fin), opcode, bytes(data)

    def echo(self):
        message_opcode, parts = None, []
        while True:
            received = self.read_frame()
            if received is None:
                self.wfile.write(frame(OP_CLOSE, struct.pack("!H", 1002)))
                return
            fin, opcode, payload = received
            if opcode == OP_CLOSE:
                self.wfile.write(frame(OP_CLOSE, payload[:2]))
                return
            if opcode == OP_PING:
                self.wfile.write(frame(OP_PONG, payload))
                continue
            if opcode == OP_PONG:
                continue
            if opcode != OP_CONTINUATION:
                message_opcode, parts = opcode, []
            parts.append(payload)
            if fin:
                self.wfile.write(frame(message_opcode, b"".join(parts)))
                self.wfile.flush()
                self.count("messages")


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, name):
        super().__init__(address, EchoHandler)
        self.lock = threading.Lock()
        self.stats = {"name": name, "handshakes": 0, "refused": 0, "messages": 0,
                      "paths": []}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="echo")
    args = parser.parse_args()

    server = EchoServer((args.address, args.port), args.name)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
