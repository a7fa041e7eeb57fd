#!/usr/bin/env python3
"""The seed's Kubernetes system on one machine.

Every "pod" of the seed ("Envoy Configuration Explained") is a process on its
own loopback address, and every server uses the same port, as pods do:

    dnsmasq        the cluster DNS (a free port on 127.0.0.1)
    server-i       homing-server on 127.0.1.(10+i):8081, named
                   server-i.server-headless.poc-routing.svc.cluster.local
    homing-proxy   127.0.0.1:10000, admin 127.0.0.1:9901 (the seed's Envoy)

The DNS server answers the StatefulSet's names: each server-i name, the
Service name server.poc-routing.svc.cluster.local with every server's address
(the proxy's resolver cluster resolves it), the headless Service name the
same way, and homing-proxy.poc-routing.svc.cluster.local with the proxy's
address. The proxy runs examples/proxy/seed.yaml with those addresses and the
local DNS server as its resolver.

Usage:
    local_cluster.py [--servers N] [--keep] [--build-dir DIR]
        start the cluster, run the seed's verification commands 1-7, print
        request, answer and verdict for each; exit 0 when every check
        passed. --keep leaves the cluster up until Ctrl-C (or `stop`).
    local_cluster.py scale N
        change a kept cluster's membership live to N servers (DNS records,
        members file, SIGHUP) and show that clients follow their new owner.
    local_cluster.py stop
        stop a kept cluster.

The system tests (tests/system) start clusters with the same `LocalCluster`
class, on addresses of their own (`Layout.for_tests`).

Standard library only (Python 3.11).
"""

import argparse
import atexit
import contextlib
import ctypes
import dataclasses
import errno
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[2]
SEED_CONFIG = SOURCE_ROOT / "examples" / "proxy" / "seed.yaml"

NAMESPACE_DOMAIN = "poc-routing.svc.cluster.local"
SERVICE_NAME = f"server.{NAMESPACE_DOMAIN}"
HEADLESS_NAME = f"server-headless.{NAMESPACE_DOMAIN}"
PROXY_NAME = f"homing-proxy.{NAMESPACE_DOMAIN}"


def server_name(index):
    """The StatefulSet pod's DNS name: server-1.server-headless.poc-routing…"""
    return f"server-{index}.{HEADLESS_NAME}"


def server_hostport(index, port=8081):
    return f"{server_name(index)}:{port}"


class ClusterError(Exception):
    """Something the cluster could not do; the message says what and why."""


# --------------------------------------------------------------------------
# Addresses


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where everything listens. The defaults are the demo's."""

    proxy_ip: str = "127.0.0.1"
    proxy_port: int = 10000
    admin_ip: str = "127.0.0.1"
    admin_port: int = 9901
    dns_ip: str = "127.0.0.1"
    server_prefix: str = "127.0.1."  # server i listens on prefix + (first + i)
    first_server_host: int = 10
    max_servers: int = 90
    server_port: int = 8081

    @classmethod
    def for_tests(cls, block):
        """Block `block` (1-15) of addresses for one system test module.

        Proxy and admin on 127.0.2.<block>, servers on 127.0.1.<100 + 10 *
        block> and the nine after it: never the demo's addresses, never
        another block's.
        """
        if not 1 <= block <= 15:
            raise ValueError(f"test address block must be 1-15, got {block}")
        return cls(proxy_ip=f"127.0.2.{block}", admin_ip=f"127.0.2.{block}",
                   dns_ip=f"127.0.2.{block}", first_server_host=100 + 10 * block,
                   max_servers=10)

    def server_ip(self, index):
        if not 0 <= index < self.max_servers:
            raise ClusterError(f"server-{index} is outside this layout "
                               f"(at most {self.max_servers} servers)")
        return f"{self.server_prefix}{self.first_server_host + index}"

    def server_address(self, index):
        return f"{self.server_ip(index)}:{self.server_port}"

    @property
    def proxy_address(self):
        return f"{self.proxy_ip}:{self.proxy_port}"

    @property
    def admin_address(self):
        return f"{self.admin_ip}:{self.admin_port}"


def ensure_port_free(ip, port, what):
    """Raises ClusterError when something listens on ip:port already."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((ip, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ClusterError(
                    f"{what} address {ip}:{port} is already in use. Is a kept "
                    f"cluster still running (local_cluster.py stop), or another "
                    f"program on that port (ss -ltnp 'sport = :{port}')?") from None
            raise ClusterError(f"cannot bind {what} address {ip}:{port}: "
                               f"{error.strerror}") from None


def free_udp_port(ip):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((ip, 0))
        return probe.getsockname()[1]


# --------------------------------------------------------------------------
# DNS: a minimal client for A records


DNS_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN",
              4: "NOTIMP", 5: "REFUSED"}


@dataclasses.dataclass
class DnsAnswer:
    rcode: str
    addresses: list  # sorted IPv4 addresses
    ttl: int | None  # the smallest TTL of the answer records


def dns_query(server_ip, server_port, name, timeout=1.0):
    """Asks `server_ip:server_port` for `name`'s A records over UDP.

    Returns a DnsAnswer; raises TimeoutError when nothing answers and
    ConnectionRefusedError when nothing listens.
    """
    query_id = random.randrange(1 << 16)
    question = b"".join(bytes([len(label)]) + label.encode("ascii")
                        for label in name.rstrip(".").split(".")) + b"\0"
    packet = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + \
        question + struct.pack("!HH", 1, 1)
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((server_ip, server_port))
        sock.send(packet)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no DNS answer for {name} from "
                                   f"{server_ip}:{server_port}")
            sock.settimeout(remaining)
            try:
                data = sock.recv(1500)
            except socket.timeout:
                continue
            answer = _parse_dns_response(data, query_id)
            if answer is not None:
                return answer


def _parse_dns_response(data, query_id):
    if len(data) < 12:
        return None
    ident, flags, questions, answers, _, _ = struct.unpack("!HHHHHH", data[:12])
    if ident != query_id or not flags & 0x8000:
        return None

    def skip_name(at):
        while at < len(data):
            length = data[at]
            if length == 0:
                return at + 1
            if length & 0xC0 == 0xC0:
                return at + 2
            at += 1 + length
        raise ValueError("truncated name")

    rcode = DNS_RCODES.get(flags & 0x0F, str(flags & 0x0F))
    addresses, ttls = [], []
    try:
        at = 12
        for _ in range(questions):
            at = skip_name(at) + 4
        for _ in range(answers):
            at = skip_name(at)
            rtype, _, ttl, length = struct.unpack("!HHIH", data[at:at + 10])
            at += 10
            if rtype == 1 and length == 4:
                addresses.append(socket.inet_ntoa(data[at:at + 4]))
                ttls.append(ttl)
            at += length
    except (ValueError, struct.error):
        return None
    return DnsAnswer(rcode, sorted(addresses, key=socket.inet_aton),
                     min(ttls) if ttls else None)


# --------------------------------------------------------------------------
# HTTP


@dataclasses.dataclass
class Response:
    status: int
    reason: str
    headers: list  # [(name, value)] as received
    body: str

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class HttpClient:
    """GET requests on one keep-alive connection to ip:port.

    A request that fails on a reused connection before any answer (the
    server closed it while idle) is sent once more on a new connection, as
    browsers and curl do; every other failure is raised.
    """

    def __init__(self, ip, port, timeout=10.0):
        self.ip, self.port, self.timeout = ip, port, timeout
        self._connection = None
        self._reused = False

    def get(self, target, headers=None):
        while True:
            if self._connection is None:
                self._connection = http.client.HTTPConnection(
                    self.ip, self.port, timeout=self.timeout)
                self._reused = False
            reused = self._reused
            try:
                self._connection.request("GET", target, headers=headers or {})
                answer = self._connection.getresponse()
                body = answer.read().decode("utf-8", "replace")
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as error:
                self.close()
                if reused:
                    continue  # once more, on a new connection
                raise ConnectionError(f"GET http://{self.ip}:{self.port}{target}: "
                                      f"{error!r}") from error
            except (OSError, http.client.HTTPException):
                self.close()
                raise
            self._reused = True
            if answer.will_close:
                self.close()
            return Response(answer.status, answer.reason, answer.getheaders(), body)

    def close(self):
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def http_get(ip, port, target, headers=None, timeout=10.0):
    """One GET on a new connection."""
    client = HttpClient(ip, port, timeout)
    try:
        return client.get(target, headers)
    finally:
        client.close()


# --------------------------------------------------------------------------
# Logs


SANITIZER_REPORT = re.compile(r"(Address|Leak|Thread|Memory|UndefinedBehavior)Sanitizer"
                              r"|runtime error: ")
JOIN_LINE = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) /join: client_id=(.*) "
                       r"assigned to (\S+)$")
ACCESS_LINE = re.compile(r'^(?P<time>\S+) "(?P<method>\S+) (?P<target>\S+) '
                         r'(?P<protocol>[^"]+)" (?P<status>\d{3})(?P<fields>.*)$')


@dataclasses.dataclass
class JoinLogLine:
    """`2025/09/26 13:21:22 /join: client_id=123 assigned to server-1:8081`"""
    text: str
    client_id: str
    assigned: str


@dataclasses.dataclass
class AccessLogLine:
    """One line of homing-proxy's access log: time, request line, status and
    the key=value fields (route, key, lookup, upstream, addr, dur_ms, …)."""
    text: str
    method: str
    target: str
    status: int
    fields: dict


def parse_join_lines(text):
    """homing-server's /join lines in `text` (other lines are skipped)."""
    lines = []
    for line in text.splitlines():
        match = JOIN_LINE.match(line)
        if match:
            lines.append(JoinLogLine(line, match.group(2), match.group(3)))
    return lines


def parse_access_lines(text):
    """homing-proxy's access-log lines in `text` (other lines are skipped)."""
    lines = []
    for line in text.splitlines():
        match = ACCESS_LINE.match(line)
        if match:
            fields = dict(item.split("=", 1) for item in match.group("fields").split()
                          if "=" in item)
            lines.append(AccessLogLine(line, match.group("method"),
                                       match.group("target"),
                                       int(match.group("status")), fields))
    return lines


def parse_stats_text(text):
    """`name: value` lines into {name: int}; histogram lines are skipped."""
    stats = {}
    for line in text.splitlines():
        name, sep, value = line.partition(": ")
        if sep and value.strip().lstrip("-").isdigit():
            stats[name.strip()] = int(value)
    return stats


def _wait_for_lines(read, at_least, timeout=5.0):
    deadline = time.monotonic() + timeout
    lines = read()
    while len(lines) < at_least and time.monotonic() < deadline:
        time.sleep(0.01)
        lines = read()
    return lines


# --------------------------------------------------------------------------
# Processes


_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # Runs in the child between fork and exec: the proxy and the servers
    # never outlive the script, even one killed outright. (dnsmasq clears
    # this when it drops its capabilities; see _claim_run_dir().)
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclasses.dataclass
class Process:
    """One process of the cluster: how it starts, where it listens, its log
    (stdout and stderr, kept across restarts)."""
    name: str
    argv: list
    address: str  # what it listens on, ip:port
    log_path: Path
    popen: subprocess.Popen = None
    started: float = 0.0  # time.time()
    restarts: int = 0

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def running(self):
        return self.popen is not None and self.popen.poll() is None

    def log(self, since=0):
        try:
            with open(self.log_path, "rb") as log:
                log.seek(since)
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self):
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_tail(self, lines=15):
        return "\n".join(self.log().splitlines()[-lines:])


# --------------------------------------------------------------------------
# The cluster


def _span(first, end):
    """Servers first..end-1 by name: "server-2", or "server-0..server-3"."""
    return f"server-{first}" if end - first == 1 else f"server-{first}..server-{end - 1}"


def _default_binary(env_name, build_dir, relative):
    if os.environ.get(env_name):
        return Path(os.environ[env_name])
    return Path(build_dir) / relative


class LocalCluster:
    """dnsmasq + N homing-servers + homing-proxy on loopback addresses.

    Example:

        with LocalCluster(servers=2, build_dir="build") as cluster:
            print(cluster.get("/join?client_id=123").body)
            cluster.scale(3)

    `start()` starts everything (stopping what it started if anything
    fails); `stop()` stops everything, and runs at interpreter exit too.
    Per-process logs live in `workdir`, which `stop()` removes unless
    `keep_workdir` is set.

    Binaries: `proxy_binary`/`server_binary` arguments, else $HOMING_PROXY /
    $HOMING_SERVER, else <build_dir>/examples/{proxy,server}/…; dnsmasq is
    $DNSMASQ or /usr/sbin/dnsmasq.

    `dns_ttl` is the TTL of every DNS answer. `fast_dns` makes the proxy's
    DNS refreshes happen every second (dns_min_refresh_rate 1s for the DNS
    cache, dns_refresh_rate 1s for the resolver cluster) instead of Envoy's
    5s, so tests see a refresh without waiting. `service_ips`, when given,
    is what server.poc-routing.svc.cluster.local answers instead of the
    servers' addresses (tests put a fake resolver there).

    With `start_proxy=False` only the DNS server and the servers start: the
    end-to-end benchmark (tests/bench/e2e/run.py) puts several proxies of
    its own in front of them with spawn(). `discard_stdout` sends the
    servers' stdout (one /join line per request) to /dev/null, and so
    join_lines() sees nothing; their diagnostics still reach the log.
    """

    def __init__(self, servers=2, *, build_dir=None, layout=Layout(),
                 proxy_binary=None, server_binary=None, dnsmasq_binary=None,
                 seed_config=SEED_CONFIG, dns_ttl=5, fast_dns=False,
                 service_ips=None, workdir=None, keep_workdir=False,
                 proxy_args=(), start_proxy=True, discard_stdout=False):
        build_dir = Path(build_dir or SOURCE_ROOT / "build")
        self.layout = layout
        self.proxy_binary = Path(proxy_binary or _default_binary(
            "HOMING_PROXY", build_dir, "examples/proxy/homing-proxy"))
        self.server_binary = Path(server_binary or _default_binary(
            "HOMING_SERVER", build_dir, "examples/server/homing-server"))
        self.dnsmasq_binary = Path(dnsmasq_binary or os.environ.get("DNSMASQ")
                                   or "/usr/sbin/dnsmasq")
        self.seed_config = Path(seed_config)
        self.dns_ttl = dns_ttl
        self.fast_dns = fast_dns
        self.service_ips = list(service_ips) if service_ips is not None else None
        self.proxy_args = list(proxy_args)
        self.start_proxy = start_proxy
        self.discard_stdout = discard_stdout
        self.server_count = servers
        self.keep_workdir = keep_workdir
        self._requested_workdir = workdir
        self.workdir = None
        self.dns_port = None
        self._records = {}  # what the DNS server answers: {name: [ip…]}
        self.dns = None     # Process
        self.proxy = None   # Process
        self.servers = {}   # index -> Process
        self.extra = {}     # name -> Process started with spawn()
        self._order = []    # every Process, in start order
        self._proxy_client = None
        self._server_processes = []  # every server Process ever started
        self._unclean_exits = []
        self._started = False
        self._stopped = False
        self._validate()

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        if self._started:
            raise ClusterError("the cluster was started already")
        self._started = True
        atexit.register(self.stop)
        try:
            self._check_prerequisites()
            self.workdir = Path(self._requested_workdir or tempfile.mkdtemp(
                prefix="homing-local-cluster-"))
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._write_members(self.server_count)
            self._write_hosts(self.server_count)
            self._start_dns()
            for index in range(self.server_count):
                self._start_server(index)
            if self.start_proxy:
                self._start_proxy()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Stops every process (SIGTERM, then SIGKILL after 5s). Idempotent.

        Returns what went wrong on the way out (`problems()`)."""
        if self._stopped or not self._started:
            return self.problems()
        self._stopped = True
        if self._proxy_client:
            self._proxy_client.close()
        running = [p for p in reversed(self._order) if p.running()]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.popen.send_signal(signal.SIGCONT)
                process.popen.terminate()
        for process in running:
            self._reap(process)
        problems = self.problems()
        if self.workdir and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        return problems

    def problems(self):
        """homing-proxy or a homing-server that exited with a status other
        than 0 after SIGTERM (a drain that failed, a crash on the way out),
        and sanitizer reports in their logs. Empty when all went well."""
        found = list(self._unclean_exits)
        logs = {p.log_path: p for p in [self.proxy] + self._server_processes if p}
        for process in logs.values():
            for line in process.log().splitlines():
                if SANITIZER_REPORT.search(line):
                    found.append(f"{process.name}: {line.strip()}")
                    break
        return found

    def _reap(self, process, grace=5.0):
        """Waits for a process sent SIGTERM; notes an unclean exit of ours."""
        try:
            process.popen.wait(grace)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait()
            self._unclean_exits.append(f"{process.name} (pid {process.pid}) did not "
                                       f"exit within {grace:g}s of SIGTERM")
            return
        status = process.popen.returncode
        if status != 0 and (process is self.proxy or process in self._server_processes):
            self._unclean_exits.append(f"{process.name} (pid {process.pid}) exited "
                                       f"with status {status} after SIGTERM")

    def _validate(self):
        if not 1 <= self.server_count <= self.layout.max_servers:
            raise ClusterError(f"the number of servers must be 1-"
                               f"{self.layout.max_servers}, got {self.server_count}")

    def _check_prerequisites(self):
        for binary, hint in (
                (self.proxy_binary, "ninja -C build examples/proxy/homing-proxy"),
                (self.server_binary, "ninja -C build examples/server/homing-server"),
                (self.dnsmasq_binary, "apt-get install dnsmasq-base")):
            if not os.access(binary, os.X_OK):
                raise ClusterError(f"{binary} is missing or not executable "
                                   f"(to get it: {hint})")
        if not self.seed_config.is_file():
            raise ClusterError(f"{self.seed_config} is missing")
        layout = self.layout
        if self.start_proxy:
            ensure_port_free(layout.proxy_ip, layout.proxy_port, "the proxy's")
            ensure_port_free(layout.admin_ip, layout.admin_port, "the proxy's admin")
        for index in range(self.server_count):
            ensure_port_free(layout.server_ip(index), layout.server_port,
                             f"server-{index}'s")

    # -- generic processes -------------------------------------------------

    def _launch(self, process, env=None, discard_stdout=False):
        log = open(process.log_path, "ab")
        try:
            process.popen = subprocess.Popen(
                process.argv, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if discard_stdout else log,
                stderr=log if discard_stdout else subprocess.STDOUT,
                env=env, preexec_fn=_die_with_parent)
        except OSError as error:
            raise ClusterError(f"cannot start {process.name} "
                               f"({process.argv[0]}): {error}") from None
        finally:
            log.close()
        process.started = time.time()
        if process not in self._order:
            self._order.append(process)
        return process

    def _wait_until(self, process, ready, what, timeout=10.0):
        """Polls `ready()` until true; fails early if `process` exits."""
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            if not process.running():
                raise ClusterError(
                    f"{process.name} exited with status {process.popen.returncode} "
                    f"before {what}; its log ({process.log_path}):\n"
                    f"{process.log_tail()}")
            try:
                if ready():
                    return
            except (OSError, http.client.HTTPException) as error:
                last_error = error
            time.sleep(0.02)
        raise ClusterError(f"{process.name} did not get {what} within {timeout:g}s"
                           f"{f' ({last_error})' if last_error else ''}; its log "
                           f"({process.log_path}):\n{process.log_tail()}")

    def spawn(self, name, argv, address="", ready=None, env=None,
              discard_stdout=False):
        """Starts a helper process that the cluster stops with the rest.

        `ready`, if given, is polled until it returns true. With
        `discard_stdout`, only stderr goes to the process's log."""
        process = Process(name, list(argv), address, self.workdir / f"{name}.log")
        self.extra[name] = self._launch(process, env, discard_stdout)
        if ready:
            self._wait_until(process, ready, "ready")
        return process

    def processes(self):
        """Every process that is part of the cluster, for `kubectl get pods`."""
        return [p for p in (self.dns, self.proxy) if p] + \
            [self.servers[i] for i in sorted(self.servers)] + list(self.extra.values())

    # -- DNS ---------------------------------------------------------------

    def dns_records(self, servers):
        """{name: [ip…]} that the cluster DNS answers with `servers` servers."""
        ips = [self.layout.server_ip(i) for i in range(servers)]
        records = {server_name(i): [ip] for i, ip in enumerate(ips)}
        records[SERVICE_NAME] = self.service_ips if self.service_ips is not None else ips
        records[HEADLESS_NAME] = ips
        records[PROXY_NAME] = [self.layout.proxy_ip]
        return records

    def _write_hosts(self, servers):
        self._records = self.dns_records(servers)
        lines = [f"{ip} {name}" for name, ips in self._records.items() for ip in ips]
        path = self.workdir / "hosts"
        staging = path.with_suffix(".new")
        staging.write_text("\n".join(lines) + "\n")
        staging.replace(path)

    def _dnsmasq_argv(self, port):
        argv = [str(self.dnsmasq_binary), "--keep-in-foreground", "--no-resolv",
                "--no-hosts", f"--port={port}", f"--listen-address={self.layout.dns_ip}",
                "--bind-interfaces", f"--local-ttl={self.dns_ttl}",
                f"--addn-hosts={self.workdir / 'hosts'}",
                f"--pid-file={self.workdir / 'dnsmasq.pid'}",
                "--log-facility=-", "--log-queries",
                # Unknown names in the cluster domain are NXDOMAIN, as in
                # Kubernetes; nothing is forwarded anywhere.
                "--local=/cluster.local/"]
        if os.geteuid() == 0:
            # Else dnsmasq switches to "nobody", who cannot read the hosts
            # file in our private directory. Other users stay themselves.
            argv.append("--user=root")
        return argv

    def _start_dns(self):
        attempts = 1 if self.dns_port else 20
        last = None
        for _ in range(attempts):
            port = self.dns_port or free_udp_port(self.layout.dns_ip)
            process = self.dns or Process("dnsmasq", [], "", self.workdir / "dnsmasq.log")
            process.argv = self._dnsmasq_argv(port)
            process.address = f"{self.layout.dns_ip}:{port}"
            self.dns = process
            self._launch(process)
            try:
                self._wait_until(process, lambda: self._dns_answers(port),
                                 "answering DNS queries", timeout=5.0)
                self.dns_port = port
                return
            except ClusterError as error:
                # Another program may have taken the port in between.
                last = error
                if process.running():
                    process.popen.kill()
                process.popen.wait()
        raise last

    def _dns_answers(self, port):
        try:
            dns_query(self.layout.dns_ip, port, PROXY_NAME, timeout=0.2)
            return True
        except (TimeoutError, ConnectionRefusedError):
            return False

    def resolve(self, name, timeout=1.0):
        """The cluster DNS's answer for `name` (DnsAnswer)."""
        return dns_query(self.layout.dns_ip, self.dns_port, name, timeout)

    def _wait_for_records(self):
        """After SIGHUP: until dnsmasq serves exactly the new records."""
        def serving():
            for name, ips in self._records.items():
                if self.resolve(name, 0.2).addresses != sorted(ips, key=socket.inet_aton):
                    return False
            return True
        self._wait_until(self.dns, serving, "the new DNS records", timeout=5.0)

    def _set_dns(self, servers):
        self._write_hosts(servers)
        if self.dns.running():
            self.dns.popen.send_signal(signal.SIGHUP)
            self._wait_for_records()

    def stop_dns(self):
        """Stops the DNS server (queries are then refused)."""
        self.dns.popen.terminate()
        self._reap(self.dns)

    def start_dns(self):
        """Restarts a stopped DNS server on its port."""
        if self.dns.running():
            return
        self.dns.restarts += 1
        deadline = time.monotonic() + 5.0
        while True:
            # The old server's sockets may take a moment to be released.
            try:
                self._start_dns()
                return
            except ClusterError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    # -- servers -----------------------------------------------------------

    @property
    def members_file(self):
        return self.workdir / "members"

    def _write_members(self, servers):
        text = "".join(f"{server_hostport(i, self.layout.server_port)}\n"
                       for i in range(servers))
        staging = self.members_file.with_suffix(".new")
        staging.write_text("# The StatefulSet's members; the line number is the "
                           "ordinal.\n" + text)
        staging.replace(self.members_file)

    def _start_server(self, index):
        process = self.servers.get(index)
        if process is None:
            process = Process(f"server-{index}", [], self.layout.server_address(index),
                              self.workdir / f"server-{index}.log")
            self.servers[index] = process
            self._server_processes.append(process)
        else:
            process.restarts += 1
        process.argv = [str(self.server_binary), "--listen", process.address,
                        "--members-file", str(self.members_file), "--self", str(index)]
        env = dict(os.environ, HOSTNAME=f"server-{index}")
        self._launch(process, env, self.discard_stdout)
        client = HttpClient(self.layout.server_ip(index), self.layout.server_port, 1.0)
        try:
            self._wait_until(process, lambda: client.get("/health").status == 200,
                             "healthy (/health)")
        finally:
            client.close()
        return process

    def kill_server(self, index, sig=signal.SIGKILL):
        """Kills server `index` (SIGKILL: no draining, as a crashed pod)."""
        process = self.servers[index]
        process.popen.send_signal(sig)
        process.popen.wait(10)

    def restart_server(self, index):
        """Starts server `index` again after kill_server()."""
        if self.servers[index].running():
            raise ClusterError(f"server-{index} is running")
        self._start_server(index)

    def _reload_servers(self, indices, servers):
        """SIGHUP to each server; waits until each has reloaded the file."""
        marks = {i: self._reload_count(i) for i in indices}
        for i in indices:
            self.servers[i].popen.send_signal(signal.SIGHUP)
        for i in indices:
            process = self.servers[i]
            self._wait_until(
                process, lambda: self._reload_count(i) > marks[i],
                f"the new members file ({servers} members) after SIGHUP")
            last = process.log().splitlines()
            reload = [line for line in last if "membership reload" in line
                      or "members file reload" in line][-1]
            if f"reloaded: {servers} members" not in reload:
                raise ClusterError(f"server-{i} did not take the new members "
                                   f"file: {reload}")

    def _reload_count(self, index):
        text = self.servers[index].log()
        return text.count("membership reloaded") + text.count("members file reload failed")

    def scale(self, servers, while_leaving=None, grace=True):
        """Changes the StatefulSet to `servers` members, live.

        Up: the new servers start (with the new members file), the DNS
        server learns their names, then the old servers re-read the members
        file (SIGHUP). Down: every server re-reads the members file first, so
        the leaving ones answer 421 to every /join and the proxy looks their
        clients' owners up again; the names leave the DNS; `while_leaving()`
        runs, if given, while the leaving servers still answer (a pod's
        termination grace period); then they stop. With grace=False the
        leaving servers crash first (SIGKILL) and never answer 421: the
        proxy finds out when their connections are refused. Returns what
        was done, one line each.
        """
        old = self.server_count
        if not 1 <= servers <= self.layout.max_servers:
            raise ClusterError(f"the number of servers must be 1-"
                               f"{self.layout.max_servers}, got {servers}")
        if servers == old:
            return [f"already {servers} servers: nothing to do"]
        for index in range(old, servers):
            ensure_port_free(self.layout.server_ip(index), self.layout.server_port,
                             f"server-{index}'s")
        self._write_members(servers)
        done = [f"members file {self.members_file}: {servers} members"]
        reloaded = (f"SIGHUP to {_span(0, old)}: membership reloaded "
                    f"({servers} members)")
        if servers > old:
            for index in range(old, servers):
                process = self._start_server(index)
                done.append(f"started server-{index} on {process.address} "
                            f"(pid {process.pid})")
            self._set_dns(servers)
            done.append(self._dns_summary(servers))
            self._reload_servers(range(old), servers)
            done.append(reloaded)
            done.append(self._wait_for_resolver_hosts(servers))
        else:
            staying = old if grace else servers
            if not grace:
                for index in range(servers, old):
                    self.kill_server(index)
                    self.servers.pop(index)
                    done.append(f"killed server-{index} (a crash: no grace period)")
            self._reload_servers(range(staying), servers)
            done.append(f"SIGHUP to {_span(0, staying)}: membership reloaded "
                        f"({servers} members)")
            self._set_dns(servers)
            done.append(self._dns_summary(servers))
            done.append(self._wait_for_resolver_hosts(servers))
            self.server_count = servers
            if grace and while_leaving:
                while_leaving()
                done.append(f"grace period: {_span(servers, old)} kept answering "
                            f"(421 to every /join) until now")
            for index in range(servers, old) if grace else ():
                process = self.servers.pop(index)
                process.popen.terminate()
                self._reap(process)
                done.append(f"stopped server-{index} (pid {process.pid})")
        self.server_count = servers
        return done

    def _wait_for_resolver_hosts(self, servers):
        """Until the proxy's resolver cluster (STRICT_DNS on the Service name)
        has re-resolved to `servers` hosts, so that /where goes to the new
        set: a leaving server must not stop before."""
        name = "cluster.resolver.membership_total"
        expected = servers if self.service_ips is None else len(self.service_ips)
        self._wait_until(self.proxy, lambda: self.stats(name).get(name) == expected,
                         f"{expected} hosts in its resolver cluster", timeout=20.0)
        return f"proxy: {name} = {expected} (STRICT_DNS refresh)"

    def _dns_summary(self, servers):
        return (f"DNS: {SERVICE_NAME} -> "
                f"{' '.join(self._records[SERVICE_NAME])}; names of {_span(0, servers)}")

    # -- the proxy ---------------------------------------------------------

    def proxy_config_text(self):
        """examples/proxy/seed.yaml with this cluster's addresses and DNS."""
        return proxy_config(self.seed_config.read_text(), self.layout,
                            f"{self.layout.dns_ip}:{self.dns_port}",
                            fast_dns=self.fast_dns)

    def _start_proxy(self):
        path = self.workdir / "proxy.yaml"
        path.write_text(self.proxy_config_text())
        check = subprocess.run([str(self.proxy_binary), "--config", str(path), "--check"],
                               capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise ClusterError(f"homing-proxy --check rejected {path}:\n"
                               f"{check.stderr.strip() or check.stdout.strip()}")
        self.proxy = Process("homing-proxy",
                             [str(self.proxy_binary), "--config", str(path)]
                             + self.proxy_args,
                             self.layout.proxy_address, self.workdir / "homing-proxy.log")
        self._launch(self.proxy)

        def ready():
            answer = self.admin_get("/ready", timeout=1.0)
            return answer.status == 200
        self._wait_until(self.proxy, ready, "ready (admin /ready)")

    @property
    def proxy_config_path(self):
        return self.workdir / "proxy.yaml"

    # -- requests ----------------------------------------------------------

    def get(self, target, headers=None):
        """GET through the proxy, on one keep-alive connection."""
        if self._proxy_client is None:
            self._proxy_client = HttpClient(self.layout.proxy_ip, self.layout.proxy_port)
        return self._proxy_client.get(target, headers)

    def admin_get(self, target, timeout=10.0):
        return http_get(self.layout.admin_ip, self.layout.admin_port, target,
                        timeout=timeout)

    def server_get(self, index, target):
        return http_get(self.layout.server_ip(index), self.layout.server_port, target)

    def stats(self, filter_regex=None):
        """The proxy's counters and gauges: {name: value}."""
        target = "/stats"
        if filter_regex:
            target += "?filter=" + filter_regex
        answer = self.admin_get(target)
        if answer.status != 200:
            raise ClusterError(f"admin {target} answered {answer.status}: {answer.body}")
        return parse_stats_text(answer.body)

    # -- logs --------------------------------------------------------------

    def log_marks(self):
        """Where every log ends now; pass to join_lines()/access_log()."""
        return {p.name: p.log_size() for p in self._order}

    def join_lines(self, index, marks=None, at_least=0):
        """server-`index`'s /join log lines (since `marks`, if given).

        A server logs a join just after answering it: with `at_least`, waits
        (up to 5s) until that many lines are there."""
        process = self.servers[index]
        return _wait_for_lines(
            lambda: parse_join_lines(process.log((marks or {}).get(process.name, 0))),
            at_least)

    def access_log(self, marks=None, at_least=0):
        """The proxy's access-log lines (since `marks`, if given).

        The proxy writes them once per turn of its event loop, so a line may
        follow its response by a moment: with `at_least`, waits (up to 5s)
        until that many lines are there."""
        return _wait_for_lines(
            lambda: parse_access_lines(self.proxy.log((marks or {}).get(self.proxy.name, 0))),
            at_least)

    def state(self):
        """What the command line's state file records: addresses, logs, and
        the processes to stop should the script that started them be killed."""
        return {
            "pid": os.getpid(),
            "workdir": str(self.workdir),
            "proxy": self.layout.proxy_address,
            "admin": self.layout.admin_address,
            "dns": self.dns.address,
            "servers": self.server_count,
            "processes": [{"name": p.name, "address": p.address, "pid": p.pid,
                           "log": str(p.log_path)} for p in self.processes()],
        }


# --------------------------------------------------------------------------
# The proxy's configuration


class _Edit:
    """One change to seed.yaml: `pattern` must match `count` times."""

    def __init__(self, what, pattern, replacement, count=1):
        self.what, self.count = what, count
        self.pattern, self.replacement = re.compile(pattern, re.M), replacement

    def apply(self, text):
        text, made = self.pattern.subn(self.replacement, text)
        if made != self.count:
            raise ClusterError(
                f"examples/proxy/seed.yaml has changed: expected {self.count} "
                f"x {self.what}, found {made}; update proxy_config() in "
                f"examples/local-cluster/local_cluster.py")
        return text


def proxy_config(seed_text, layout, dns_address, fast_dns=False):
    """The seed's proxy configuration, moved onto the local cluster.

    Changes, and only these: the admin and listener addresses; the resolver
    cluster's endpoint `server` becomes the Service's full name (no search
    domains outside Kubernetes) and is resolved IPv4-only; and the local DNS
    server becomes the resolver of the whole bootstrap. With `fast_dns`, DNS
    entries refresh every second, and a second after a failure.
    """
    dns_ip, dns_port = dns_address.rsplit(":", 1)
    edits = [
        _Edit("admin address 127.0.0.1:9901",
              r"\{ address: 127\.0\.0\.1, port_value: 9901 \}",
              f"{{ address: {layout.admin_ip}, port_value: {layout.admin_port} }}"),
        _Edit("listener address 0.0.0.0:10000",
              r"^(\s+)address: 0\.0\.0\.0\n(\s+)port_value: 10000$",
              rf"\1address: {layout.proxy_ip}\n\2port_value: {layout.proxy_port}"),
        _Edit("resolver endpoint server:8081",
              r"\{ address: server, port_value: 8081 \}",
              f"{{ address: {SERVICE_NAME}, port_value: {layout.server_port} }}"),
    ]
    if fast_dns:
        edits.append(_Edit("DNS cache dns_lookup_family: V4_ONLY",
                           r"^(\s+)(dns_lookup_family: V4_ONLY)$",
                           r"\1\2\n\1dns_min_refresh_rate: 1s\n\1dns_failure_refresh_rate:"
                           r" { base_interval: 0.5s, max_interval: 1s }", count=2))
    edits.append(_Edit("resolver cluster type: STRICT_DNS",
                       r"^(\s+)(type: STRICT_DNS)$",
                       r"\1\2\n\1dns_lookup_family: V4_ONLY"
                       + (r"\n\1dns_refresh_rate: 1s" if fast_dns else "")))
    text = seed_text
    for edit in edits:
        text = edit.apply(text)
    header = (f"# Generated by examples/local-cluster/local_cluster.py from\n"
              f"# examples/proxy/seed.yaml for the local cluster: listener\n"
              f"# {layout.proxy_address}, admin {layout.admin_address}, cluster "
              f"DNS {dns_address}.\n\n")
    resolver = (
        "\n# The cluster DNS (dnsmasq), for the resolver cluster and the DNS cache.\n"
        "typed_dns_resolver_config:\n"
        "  name: envoy.network.dns_resolver.cares\n"
        "  typed_config:\n"
        '    "@type": type.googleapis.com/envoy.extensions.network.dns_resolver.'
        "cares.v3.CaresDnsResolverConfig\n"
        "    resolvers:\n"
        f"      - socket_address: {{ address: {dns_ip}, port_value: {dns_port} }}\n")
    return header + text.rstrip("\n") + "\n" + resolver


# --------------------------------------------------------------------------
# The command line: run the checks, keep the cluster, scale it


def run_dir():
    """Where the command line keeps its state file and control socket."""
    return Path(os.environ.get("HOMING_LOCAL_CLUSTER_RUN_DIR")
                or Path(tempfile.gettempdir()) / f"homing-local-cluster-{os.getuid()}")


def _command_line(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _claim_run_dir():
    """Makes the run directory ours, or says who has it.

    A script killed with SIGKILL cannot stop its cluster; its proxy and
    servers die with it (parent-death signal), but dnsmasq clears that
    signal when it drops its capabilities. Such leftovers, recorded in the
    dead script's state file, are stopped here.
    """
    directory = run_dir()
    directory.mkdir(mode=0o700, exist_ok=True)
    state_path = directory / "state.json"
    try:
        state = json.loads(state_path.read_text())
    except (FileNotFoundError, ValueError):
        return
    if "local_cluster" in _command_line(state.get("pid")):
        raise ClusterError(f"a cluster started by pid {state['pid']} is running "
                           f"(stop it: local_cluster.py stop, or Ctrl-C where it runs)")
    for process in state.get("processes", []):
        if state.get("workdir", "?") in _command_line(process["pid"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(process["pid"], signal.SIGTERM)
                print(f"stopped {process['name']} (pid {process['pid']}), left running "
                      f"by a killed run", file=sys.stderr)
    state_path.unlink()


def _write_state(cluster):
    path = run_dir() / "state.json"
    staging = path.with_suffix(".new")
    staging.write_text(json.dumps(cluster.state(), indent=2) + "\n")
    staging.replace(path)


def _release_run_dir():
    for name in ("state.json", "control.sock"):
        with contextlib.suppress(FileNotFoundError):
            (run_dir() / name).unlink()


class _ControlHandler(socketserver.StreamRequestHandler):
    """One command per connection ("scale N" or "stop"); the answer streams
    back line by line and ends with "exit <status>"."""

    def handle(self):
        command = self.rfile.readline().decode().split()
        cluster = self.server.cluster

        def say(line=""):
            print(line, flush=True)
            with contextlib.suppress(OSError):
                self.wfile.write((line + "\n").encode())

        status = 0
        try:
            if command[:1] == ["scale"] and len(command) == 2 and command[1].isdigit():
                ok = self.server.checks.scale_demo(cluster, int(command[1]), say)
                status = 0 if ok else 1
            elif command == ["stop"]:
                say("stopping the cluster")
                self.server.stop_requested = True
            else:
                say(f"unknown command {' '.join(command)!r} (scale N | stop)")
                status = 2
        except ClusterError as error:
            say(f"error: {error}")
            status = 1
        with contextlib.suppress(OSError):
            self.wfile.write(f"exit {status}\n".encode())


class _ControlServer(socketserver.UnixStreamServer):
    def __init__(self, path, cluster, checks):
        super().__init__(str(path), _ControlHandler)
        self.cluster = cluster
        self.checks = checks  # the seed_checks module
        self.stop_requested = False


def _send_control(command):
    path = run_dir() / "control.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            print(f"no kept cluster is running (no one listens on {path}); start "
                  f"one with: local_cluster.py --keep", file=sys.stderr)
            return 1
        sock.sendall((command + "\n").encode())
        status = 1
        with sock.makefile("r") as answer:
            for line in answer:
                line = line.rstrip("\n")
                if line.startswith("exit "):
                    status = int(line.split()[1])
                else:
                    print(line, flush=True)
        return status


def _raise_system_exit(signum, _frame):
    raise SystemExit(128 + signum)


def _keep(cluster, checks):
    control = run_dir() / "control.sock"
    with contextlib.suppress(FileNotFoundError):
        control.unlink()  # left by a killed run
    server = _ControlServer(control, cluster, checks)
    layout = cluster.layout
    print(f"""
The cluster stays up. Try, from another terminal:
  curl "http://{layout.proxy_address}/where?client_id=42"
  curl -v "http://{layout.proxy_address}/join?client_id=42"
  curl "http://{layout.admin_address}/stats?filter=dns_cache"
  {Path(__file__).name} scale 3      # membership change, live
  {Path(__file__).name} stop
Logs: {cluster.workdir}   State: {run_dir() / 'state.json'}
Ctrl-C stops everything.""", flush=True)
    try:
        while not server.stop_requested:
            server.handle_request()
            _write_state(cluster)
    finally:
        server.server_close()


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="local_cluster.py",
        description="The seed's Kubernetes system on loopback addresses: "
                    "dnsmasq, N homing-servers and homing-proxy; then the "
                    "seed's verification commands.",
        epilog="actions: `scale N` changes a kept cluster's membership live; "
               "`stop` stops a kept cluster.")
    parser.add_argument("action", nargs="*", metavar="ACTION",
                        help="scale N | stop (against a cluster started with --keep)")
    parser.add_argument("--servers", type=int, default=2, metavar="N",
                        help="StatefulSet replicas (default 2)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the cluster up after the checks, until Ctrl-C")
    parser.add_argument("--build-dir", default=str(SOURCE_ROOT / "build"), metavar="DIR",
                        help="where homing-proxy and homing-server were built "
                             "(default: build/ of the source tree)")
    args = parser.parse_args(argv)

    if args.action:
        if args.action == ["stop"]:
            return _send_control("stop")
        if len(args.action) == 2 and args.action[0] == "scale" and args.action[1].isdigit():
            return _send_control(f"scale {args.action[1]}")
        parser.error(f"unknown action {' '.join(args.action)!r} (scale N | stop)")

    if not 1 <= args.servers <= Layout().max_servers:
        parser.error(f"--servers must be 1-{Layout().max_servers}, got {args.servers}")
    import seed_checks  # from this directory; it imports "local_cluster"

    # Ctrl-C, kill and a closed terminal all stop the cluster. (SIGINT is
    # set explicitly: a shell starts background jobs with it ignored.)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_system_exit)
    signal.signal(signal.SIGHUP, _raise_system_exit)
    cluster = LocalCluster(args.servers, build_dir=args.build_dir, keep_workdir=True)
    passed = False
    try:
        _claim_run_dir()
        print(f"Starting dnsmasq, {args.servers} homing-server(s) and homing-proxy ...",
              flush=True)
        cluster.start()
        _write_state(cluster)
        print(f"Up. Proxy http://{cluster.layout.proxy_address}, admin "
              f"http://{cluster.layout.admin_address}, cluster DNS {cluster.dns.address}; "
              f"proxy config {cluster.proxy_config_path}", flush=True)
        passed = seed_checks.run_all(cluster, print)
        if args.keep:
            _keep(cluster, seed_checks)
    except ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the cluster", file=sys.stderr)
        return 130
    finally:
        for problem in cluster.stop():
            print(f"error: {problem}", file=sys.stderr)
            passed = False
        if cluster.workdir:  # the run directory was ours
            _release_run_dir()
        if cluster.workdir and cluster.workdir.exists():
            if passed:
                shutil.rmtree(cluster.workdir, ignore_errors=True)
            else:
                print(f"logs kept in {cluster.workdir}", file=sys.stderr)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.dont_write_bytecode = True  # keep the source tree clean
    # seed_checks imports "local_cluster": let that be this very module, so
    # there is one ClusterError class, not two.
    sys.modules.setdefault("local_cluster", sys.modules[__name__])
    sys.exit(main())
