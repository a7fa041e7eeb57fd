#!/usr/bin/env python3
"""WebSocket through homing-proxy's affinity route, end to end.

Real processes on address block 8: homing-proxy on 127.0.2.8, the resolver
stand-in (tests/support/resolver_server.py) on 127.0.1.189, and two
RFC 6455 echo servers (tests/support/websocket_echo_server.py) on
127.0.1.181 and 127.0.1.182; every port is chosen by the kernel. The
resolver names the first echo server as the owner of every key the tests
use, by its IP literal, so no DNS server is needed.

The connection manager enables websocket; route /ws keeps it (with a route
timeout shorter than the tests' pauses), route /closed turns it off with a
route-level `enabled: false`. Checked: a real handshake (the accept value
verified) and masked text and binary frames of every length encoding,
echoed by the owner only; the 403 refusal, counted, logged and never sent
to the resolver; and the owner's own refusal (426) relayed, after which
the connection closes.
"""

import base64
import hashlib
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

from system_support import RESOLVER_SERVER, SOURCE_ROOT, error_code

import local_cluster

ECHO_SERVER = SOURCE_ROOT / "tests" / "support" / "websocket_echo_server.py"
PROXY_IP = "127.0.2.8"
OWNER_IP, OTHER_IP, RESOLVER_IP = "127.0.1.181", "127.0.1.182", "127.0.1.189"
ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ROUTE_TIMEOUT = 0.3  # seconds; the tunnel must outlive it

CONFIG = """
admin: {{address: {{socket_address: {{address: {proxy_ip}, port_value: 0}}}}}}
typed_dns_resolver_config:
  name: envoy.network.dns_resolver.cares
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig
    resolvers: [{{socket_address: {{address: {proxy_ip}, port_value: 53}}}}]
static_resources:
  listeners:
  - name: listener_0
    address: {{socket_address: {{address: {proxy_ip}, port_value: 0}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          upgrade_configs: [{{upgrade_type: websocket}}]
          route_config:
            virtual_hosts:
            - name: backend
              domains: ["*"]
              routes:
              - name: ws
                match: {{prefix: /ws}}
                route: {{cluster: owners, timeout: {timeout}s}}
                typed_per_filter_config:
                  homing.filters.http.affinity: &affinity
                    lookup_cluster: resolver
                    allowed_hostports: ["{owner}", "{other}"]
              - name: closed
                match: {{prefix: /closed}}
                route:
                  cluster: owners
                  upgrade_configs: [{{upgrade_type: websocket, enabled: false}}]
                typed_per_filter_config: {{homing.filters.http.affinity: *affinity}}
          http_filters:
          - name: homing.filters.http.affinity
          - name: envoy.filters.http.dynamic_forward_proxy
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig
              dns_cache_config: {{name: owners_cache, dns_lookup_family: V4_ONLY}}
          - name: envoy.filters.http.router
  clusters:
  - name: resolver
    type: STATIC
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: {resolver_ip}, port_value: {resolver_port}}}}}}}
  - name: owners
    lb_policy: CLUSTER_PROVIDED
    cluster_type:
      name: envoy.clusters.dynamic_forward_proxy
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig
        dns_cache_config: {{name: owners_cache, dns_lookup_family: V4_ONLY}}
"""


def accept_value(key):
    return base64.b64encode(hashlib.sha1(key.encode() + ACCEPT_GUID).digest()).decode()


class WebSocketClient:
    """The client side of RFC 6455 on a raw socket: handshake, masked
    frames out, unmasked frames in."""

    def __init__(self, address, timeout=10.0):
        self.sock = socket.create_connection(address, timeout=timeout)
        self.buffer = b""

    def close(self):
        self.sock.close()

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the connection closed")
        self.buffer += data

    def read_exactly(self, n):
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_head(self):
        """(status, {lowercased name: value}) of the next response head."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(lines[0].split(" ")[1]), headers

    def read_body(self, headers):
        return self.read_exactly(int(headers.get("content-length", "0")))

    def request_upgrade(self, target, key, version="13"):
        self.sock.sendall((f"GET {target} HTTP/1.1\r\nHost: proxy.test\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: {version}\r\n\r\n").encode())
        return self.read_head()

    def send_frame(self, opcode, payload, fin=True):
        mask = os.urandom(4)
        length = len(payload)
        first = (0x80 if fin else 0) | opcode
        if length < 126:
            head = struct.pack("!BB", first, 0x80 | length)
        elif length < 1 << 16:
            head = struct.pack("!BBH", first, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", first, 0x80 | 127, length)
        masked = (int.from_bytes(payload, "big") ^
                  int.from_bytes((mask * (length // 4 + 1))[:length], "big")
                  ).to_bytes(length, "big") if length else b""
        self.sock.sendall(head + mask + masked)

    def read_frame(self):
        """(fin, opcode, payload) of a server frame, which must be unmasked."""
        first, second = self.read_exactly(2)
        if second & 0x80:
            raise AssertionError("a server frame was masked")
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self.read_exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self.read_exactly(8))
        return bool(first & 0x80), first & 0x0F, self.read_exactly(length)

    def closed(self):
        """True once the peer closes with nothing more to read."""
        try:
            while True:
                self._fill()
                if self.buffer:
                    return False
        except EOFError:
            return True
        except ConnectionResetError:
            return not self.buffer


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


class Services:
    """The processes of one test class; stop() ends every one of them."""

    def __init__(self):
        self.workdir = Path(tempfile.mkdtemp(prefix="homing-websocket-"))
        self.processes = []

    def spawn(self, name, argv, **kwargs):
        log = open(self.workdir / f"{name}.log", "wb")
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=log, **kwargs)
        log.close()
        self.processes.append(process)
        return process

    def spawn_with_port(self, name, argv):
        """A helper that prints its port as the first line of stdout."""
        process = self.spawn(name, argv, stdout=subprocess.PIPE)
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"{name} exited: {self.log(name)}")
        return process, int(line)

    def log(self, name):
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        statuses = [process.wait(10) for process in self.processes]
        for process in self.processes:
            if process.stdout:
                process.stdout.close()
        return statuses


class WebSocketThroughAffinityRoute(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.services = Services()
        try:
            cls.start()
        except BaseException:
            cls.services.stop()
            raise

    @classmethod
    def start(cls):
        services = cls.services
        _, cls.resolver_port = services.spawn_with_port(
            "resolver", [sys.executable, str(RESOLVER_SERVER), "--address", RESOLVER_IP,
                         "--port", "0"])
        _, owner_port = services.spawn_with_port(
            "owner", [sys.executable, str(ECHO_SERVER), "--address", OWNER_IP,
                      "--port", "0", "--name", "owner"])
        _, other_port = services.spawn_with_port(
            "other", [sys.executable, str(ECHO_SERVER), "--address", OTHER_IP,
                      "--port", "0", "--name", "other"])
        cls.owner = (OWNER_IP, owner_port)
        cls.other = (OTHER_IP, other_port)
        cls.owner_hostport = f"{OWNER_IP}:{owner_port}"
        config = services.workdir / "proxy.yaml"
        config.write_text(CONFIG.format(
            proxy_ip=PROXY_IP, timeout=ROUTE_TIMEOUT, owner=cls.owner_hostport,
            other=f"{OTHER_IP}:{other_port}", resolver_ip=RESOLVER_IP,
            resolver_port=cls.resolver_port))
        cls.access_log = services.workdir / "access.log"
        cls.proxy = services.spawn(
            "homing-proxy", [os.environ["HOMING_PROXY"], "--config", str(config),
                             "--access-log", str(cls.access_log)])
        cls.proxy_address, cls.admin_address = cls.wait_for_proxy()
        # Every key this module uses is owned by the first echo server.
        cls.resolver_control({"hostport": cls.owner_hostport})

    @classmethod
    def tearDownClass(cls):
        statuses = cls.services.stop()
        sys.stderr.write(f"--- homing-proxy log ---\n{cls.services.log('homing-proxy')}\n")
        if statuses[-1] != 0:
            raise AssertionError(f"homing-proxy exited with {statuses[-1]} after SIGTERM")

    @classmethod
    def wait_for_proxy(cls):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if cls.proxy.poll() is not None:
                raise RuntimeError(f"homing-proxy exited: {cls.services.log('homing-proxy')}")
            log = cls.services.log("homing-proxy")
            listener = re.search(r"listener_0 listening on (\S+):(\d+)", log)
            admin = re.search(r"admin listening on (\S+):(\d+)", log)
            if listener and admin and "homing-proxy started" in log:
                return ((listener[1], int(listener[2])), (admin[1], int(admin[2])))
            time.sleep(0.02)
        raise RuntimeError(f"homing-proxy did not start: {cls.services.log('homing-proxy')}")

    @classmethod
    def resolver_control(cls, settings):
        request = urllib.request.Request(
            f"http://{RESOLVER_IP}:{cls.resolver_port}/_control",
            data=json.dumps(settings).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200

    def resolver_lookups(self):
        return local_cluster.http_get(RESOLVER_IP, self.resolver_port, "/_stats").json()

    def echo_stats(self, address):
        return local_cluster.http_get(*address, "/_stats").json()

    def stat(self, name):
        answer = local_cluster.http_get(*self.admin_address, f"/stats?filter=%5E{name}%24")
        return local_cluster.parse_stats_text(answer.body).get(name)

    def access_line(self, target):
        """The access-log line of `target`, once the proxy wrote it."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = self.access_log.read_text() if self.access_log.exists() else ""
            lines = [line for line in local_cluster.parse_access_lines(text)
                     if line.target == target]
            if lines:
                return lines[-1]
            time.sleep(0.02)
        self.fail(f"no access-log line for {target}")

    def connect(self):
        client = WebSocketClient(self.proxy_address)
        self.addCleanup(client.close)
        return client

    def test_frames_echo_through_the_owner_only(self):
        target = "/ws/chat?client_id=alice"
        client = self.connect()
        key = new_key()
        status, headers = client.request_upgrade(target, key)
        self.assertEqual(status, 101)
        self.assertEqual(headers.get("upgrade", "").lower(), "websocket")
        self.assertEqual(headers.get("sec-websocket-accept"), accept_value(key))

        rng = random.Random(6455)
        messages = [
            (0x1, b"hello through homing"),                              # 7-bit length
            (0x2, bytes(rng.randrange(256) for _ in range(300))),         # 16-bit length
            (0x1, ("\u00e9\u6f22" * 12000).encode()),                     # 64-bit: 96,000 bytes
            (0x2, bytes(rng.randrange(256) for _ in range(70 * 1024))),   # 64-bit, binary
            (0x2, b""),
        ]
        for number, (opcode, payload) in enumerate(messages):
            if number == 2:
                time.sleep(2 * ROUTE_TIMEOUT)  # longer than the route timeout
            client.send_frame(opcode, payload)
            self.assertEqual(client.read_frame(), (True, opcode, payload),
                             f"message {number}")
        # A fragmented message comes back whole; a ping gets its pong.
        client.send_frame(0x1, b"frag", fin=False)
        client.send_frame(0x0, b"mented")
        self.assertEqual(client.read_frame(), (True, 0x1, b"fragmented"))
        client.send_frame(0x9, b"are you there")
        self.assertEqual(client.read_frame(), (True, 0xA, b"are you there"))

        client.send_frame(0x8, struct.pack("!H", 1000))
        self.assertEqual(client.read_frame(), (True, 0x8, struct.pack("!H", 1000)))
        self.assertTrue(client.closed())

        owner, other = self.echo_stats(self.owner), self.echo_stats(self.other)
        self.assertEqual(owner["paths"], [target])
        self.assertEqual(owner["messages"], len(messages) + 1)
        self.assertEqual((other["handshakes"], other["refused"], other["messages"]), (0, 0, 0))
        line = self.access_line(target)
        self.assertEqual(line.status, 101, line.text)
        self.assertEqual((line.fields["route"], line.fields["key"], line.fields["upstream"],
                          line.fields["error"]), ("ws", "alice", self.owner_hostport, "-"),
                         line.text)

    def test_a_route_that_turns_websocket_off_answers_403_without_a_lookup(self):
        before = self.resolver_lookups()["total"]
        refused = self.stat("http.ingress_http.downstream_rq_ws_on_non_ws_route") or 0
        target = "/closed/chat?client_id=refused-1"
        client = self.connect()
        status, headers = client.request_upgrade(target, new_key())
        body = client.read_body(headers)
        self.assertEqual(status, 403)
        self.assertEqual(headers.get("content-type"), "application/json")
        answer = json.loads(body)
        self.assertEqual(answer, {
            "error": "upgrade_not_enabled",
            "detail": 'upgrade to "websocket" is not enabled on route "closed" '
                      '(see upgrade_configs)'})
        self.assertTrue(client.closed())
        self.assertEqual(self.stat("http.ingress_http.downstream_rq_ws_on_non_ws_route"),
                         refused + 1)
        lookups = self.resolver_lookups()
        self.assertEqual(lookups["total"], before)
        self.assertNotIn("refused-1", lookups["per_key"])
        line = self.access_line(target)
        self.assertEqual((line.status, line.fields["route"], line.fields["error"]),
                         (403, "closed", "upgrade_not_enabled"), line.text)
        # The same route still serves plain requests (here: the owner's 404).
        plain = local_cluster.http_get(*self.proxy_address, "/closed/x?client_id=refused-2")
        self.assertIsNone(error_code(plain), plain.body)
        self.assertEqual(plain.status, 404)

    def test_the_owners_refusal_is_relayed_and_the_connection_closes(self):
        refused = self.echo_stats(self.owner)["refused"]
        client = self.connect()
        status, headers = client.request_upgrade("/ws/old?client_id=bob", new_key(),
                                                 version="8")
        self.assertEqual(status, 426)
        self.assertEqual(headers.get("sec-websocket-version"), "13")
        client.read_body(headers)
        self.assertTrue(client.closed())
        self.assertEqual(self.echo_stats(self.owner)["refused"], refused + 1)
        self.assertEqual(self.echo_stats(self.other)["refused"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
