"""homing-proxy in front of tests/support/capture_backend.py, and a raw
client: what the smuggling and differential tests share.

    with CaptureProxy("127.0.2.6", "127.0.1.160") as setup:
        exchange = setup.exchange([b"GET / HTTP/1.1\\r\\nhost: a\\r\\n\\r\\n"], expect=1)
        exchange.responses        # what the client read, framed
        exchange.forwarded        # the requests the backend framed meanwhile
        exchange.backend_bytes    # every byte the backend received meanwhile
        exchange.access_lines     # the proxy's access-log lines meanwhile

The proxy's access log goes to a file, its stderr to another that the test
prints on failure. Everything stops on exit, failure or not.

Environment: HOMING_PROXY (set by tests/system/meson.build).
"""

import atexit
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree clean
SOURCE_ROOT = Path(os.environ.get("HOMING_SOURCE_ROOT")
                   or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(SOURCE_ROOT / "tests" / "support"))
sys.path.insert(0, str(SOURCE_ROOT / "examples" / "local-cluster"))

import http1_wire  # noqa: E402  (needs the paths above)
from capture_backend import SEQUENCE_HEADER, CaptureBackend  # noqa: E402
from local_cluster import SANITIZER_REPORT, _die_with_parent, parse_access_lines  # noqa: E402

# meson ends a test that runs out of time with SIGTERM: leave the way Ctrl-C
# does, through stop() at exit.
signal.signal(signal.SIGTERM, signal.default_int_handler)

# Two routes to the capture backend: requests with an x-affinity-key header
# take the affinity filter (a lookup on tests/support/resolver_server.py,
# which names the backend, then the dynamic forward proxy cluster), the rest
# a STATIC cluster.
CONFIG = """
admin:
  address: {{socket_address: {{address: {ip}, port_value: 0}}}}
static_resources:
  listeners:
  - name: listener_0
    address: {{socket_address: {{address: {ip}, port_value: 0}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          request_headers_timeout: 2s
          route_config:
            virtual_hosts:
            - name: backend
              domains: ["*"]
              routes:
              - match: {{prefix: /, headers: [{{name: {affinity_header}}}]}}
                route: {{cluster: dynamic_forward_proxy_cluster}}
                typed_per_filter_config:
                  homing.filters.http.affinity:
                    lookup_cluster: resolver
                    key: {{header: {affinity_header}}}
                    allowed_hostports: ["{backend_ip}:{backend_port}"]
              - match: {{prefix: /}}
                route: {{cluster: capture}}
          http_filters:
          - name: homing.filters.http.affinity
          - name: envoy.filters.http.dynamic_forward_proxy
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig
              dns_cache_config: {{name: dns_cache, dns_lookup_family: V4_ONLY}}
          - name: envoy.filters.http.router
  clusters:
  - name: capture
    type: STATIC
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: {backend_ip}, port_value: {backend_port}}}}}}}
  - name: resolver
    type: STATIC
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: {resolver_ip}, port_value: {resolver_port}}}}}}}
  - name: dynamic_forward_proxy_cluster
    lb_policy: CLUSTER_PROVIDED
    cluster_type:
      name: envoy.clusters.dynamic_forward_proxy
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig
        dns_cache_config: {{name: dns_cache, dns_lookup_family: V4_ONLY}}
"""

LISTENING = re.compile(r"listener listener_0 listening on (\S+):(\d+)")
STARTED = "homing-proxy started"
AFFINITY_HEADER = "x-affinity-key"
RESOLVER_SERVER = SOURCE_ROOT / "tests" / "support" / "resolver_server.py"
# How long the wire must stay quiet before an exchange counts as finished
# once the expected responses are in (or the connection closed), and the
# most an exchange waits for them.
QUIET = 0.15
PATIENCE = 3.0


@dataclasses.dataclass
class Exchange:
    sent: bytes
    client_bytes: bytes      # what the client read
    closed: bool             # the proxy closed the client's connection
    responses: list          # http1_wire.Response, framed from client_bytes
    backend_bytes: dict      # backend connection index -> bytes received meanwhile
    forwarded: list          # http1_wire.Request, every whole one the backend framed
    backend_problems: list   # framing errors, and fragments on open connections
    access_lines: list       # local_cluster.AccessLogLine

    def backend_responses(self):
        return [r for r in self.responses if r.header(SEQUENCE_HEADER) is not None]

    def local_replies(self):
        """homing's own final responses (not the backend's, not 1xx)."""
        return [r for r in self.responses
                if r.header(SEQUENCE_HEADER) is None and r.status >= 200]


class CaptureProxy:
    def __init__(self, proxy_ip, backend_ip):
        self.proxy_ip = proxy_ip
        self.backend = CaptureBackend(backend_ip)
        self.workdir = Path(tempfile.mkdtemp(prefix="homing-capture-"))
        self.access_log = self.workdir / "access.log"
        self.proxy_log = self.workdir / "homing-proxy.log"
        self.processes = []
        self.process = None
        self.address = None
        self._final_log = None  # the proxy's log, kept when stop() removes workdir

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        binary = os.environ.get("HOMING_PROXY") or str(
            SOURCE_ROOT / "build" / "examples" / "proxy" / "homing-proxy")
        atexit.register(self.stop)
        self.backend.start()
        backend = f"{self.backend.address[0]}:{self.backend.port}"
        resolver = self._spawn([sys.executable, str(RESOLVER_SERVER),
                                "--address", self.backend.address[0], "--port", "0",
                                "--param", AFFINITY_HEADER, "--template", backend],
                               stdout=subprocess.PIPE)
        resolver_port = int(resolver.stdout.readline())
        config = self.workdir / "proxy.yaml"
        config.write_text(CONFIG.format(
            ip=self.proxy_ip, backend_ip=self.backend.address[0],
            backend_port=self.backend.port, resolver_ip=self.backend.address[0],
            resolver_port=resolver_port, affinity_header=AFFINITY_HEADER))
        with open(self.proxy_log, "wb") as log:
            self.process = self._spawn(
                [binary, "--config", str(config), "--access-log", str(self.access_log)],
                stdout=log)
        deadline = time.monotonic() + 10
        while STARTED not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"homing-proxy did not start:\n{self.log()}")
            time.sleep(0.02)
        ip, port = LISTENING.search(self.log()).groups()
        self.address = (ip, int(port))

    def _spawn(self, argv, stdout):
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout,
                                   stderr=subprocess.STDOUT if stdout != subprocess.PIPE
                                   else None, preexec_fn=_die_with_parent)
        self.processes.append(process)
        return process

    def stop(self):
        """Stops the proxy and the resolver (SIGTERM, then SIGKILL) and the
        backend. Returns what went wrong on the way out: the proxy's exit
        status if not 0, and sanitizer reports in its log. Idempotent; the
        proxy's log stays readable through log()."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout:
                process.stdout.close()
        self.backend.stop()
        self._final_log = self.log()
        shutil.rmtree(self.workdir, ignore_errors=True)
        problems = [line for line in self._final_log.splitlines()
                    if SANITIZER_REPORT.search(line)][:1]
        if self.process is not None and self.process.returncode != 0:
            problems.append(f"homing-proxy exited with status {self.process.returncode} "
                            f"after SIGTERM")
        return problems

    def log(self):
        """homing-proxy's stdout and stderr (all of it, once stopped)."""
        if self._final_log is not None:
            return self._final_log
        try:
            return self.proxy_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def access_text(self):
        try:
            return self.access_log.read_bytes()
        except FileNotFoundError:
            return b""

    def exchange(self, writes, expect, half_close=False):
        """Sends `writes` (one send() each) on a new connection, then with
        `half_close` shuts down its sending side; reads until `expect`
        responses are in and the wire is quiet, or the proxy closes. Returns
        what both ends saw meanwhile."""
        before = {id(c): len(c.received) for c in self.backend.connections()}
        log_mark = len(self.access_text())
        received = bytearray()
        closed = False
        with socket.create_connection(self.address, timeout=PATIENCE) as client:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for data in writes:
                client.sendall(data)
                if len(writes) > 1:
                    time.sleep(0.01)  # separate segments, separate reads
            if half_close:
                client.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + PATIENCE
            while time.monotonic() < deadline:
                enough = len(http1_wire.frame_responses(received)[0]) >= expect
                client.settimeout(QUIET if enough else max(0.01, deadline - time.monotonic()))
                try:
                    data = client.recv(65536)
                except socket.timeout:
                    if enough:
                        break
                    continue
                except ConnectionResetError:
                    closed = True
                    break
                if not data:
                    closed = True
                    break
                received += data
        self._settle_backend()
        responses, _ = http1_wire.frame_responses(received, closed)
        return Exchange(b"".join(writes), bytes(received), closed, responses,
                        *self._backend_since(before),
                        self._access_lines_since(
                            log_mark, sum(r.status >= 200 for r in responses)))

    def _settle_backend(self):
        """Waits until the backend has received nothing new for QUIET."""
        total = self.backend.received_total()
        while True:
            time.sleep(QUIET)
            now = self.backend.received_total()
            if now == total:
                return
            total = now

    def _backend_since(self, before):
        backend_bytes, forwarded, problems = {}, [], []
        for index, connection in enumerate(self.backend.connections()):
            data = connection.received[before.get(id(connection), 0):]
            if not data:
                continue
            backend_bytes[index] = data
            framing = http1_wire.frame_requests(data)
            forwarded += framing.requests
            if framing.error:
                problems.append(f"backend connection {index}: {framing.error}; "
                                f"unframed bytes {framing.leftover[:300]!r}")
            elif framing.leftover and not connection.closed:
                # A request cut short is harmless only on a connection the
                # proxy closed: on an open one, the next bytes would finish it.
                problems.append(f"backend connection {index} stays open after an "
                                f"unfinished message {framing.leftover[:300]!r}")
        if problems:
            # Such a connection would garble the next exchange's requests:
            # start that one clean.
            self.backend.close_connections()
        return backend_bytes, forwarded, problems

    def _access_lines_since(self, mark, responses):
        """The access-log lines after byte `mark`. The proxy writes them once
        per turn of its loop, so wait a little until there is one per
        final response the client got."""
        deadline = time.monotonic() + 1.0
        while True:
            lines = parse_access_lines(self.access_text()[mark:].decode("utf-8", "replace"))
            if len(lines) >= responses or time.monotonic() > deadline:
                return lines
            time.sleep(0.01)
