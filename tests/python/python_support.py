"""What the python suite's modules share: the import path of the `homing`
package, and `Fixture`, the real servers the engine tests talk to.

Environment (set by tests/python/meson.build; for a manual run, set them the
same way):
    PYTHONPATH           bindings/python (else taken from the source tree)
    HOMING_LIBRARY       the libhoming.so under test
    LD_PRELOAD           sanitizer runtimes, for a sanitized libhoming
    HOMING_SOURCE_ROOT   the source tree
    HOMING_PROXY, HOMING_SERVER, DNSMASQ   for the LocalCluster fixtures

`Fixture` is examples/local-cluster's LocalCluster (dnsmasq, homing-servers,
homing-proxy) plus tests/support/resolver_server.py as a resolver whose
answers the tests control, on one test address block. It writes the config
the C API's tests and examples run (tests/capi/examples/router.yaml.in) with
its ports:

    /join?client_id=K -> affinity lookup of K on resolver_server.py, then the
                         owner's name through the DNS cache; the owners are
                         the cluster's homing-servers
    /pool?client_id=K -> STATIC cluster pool, RING_HASH on client_id
    /where            -> the resolver cluster
"""

import gc
import json
import os
import signal
import sys
import time
import unittest
import urllib.request
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree clean
SOURCE_ROOT = Path(os.environ.get("HOMING_SOURCE_ROOT")
                   or Path(__file__).resolve().parents[2])
if not any(Path(p or ".").resolve() == SOURCE_ROOT / "bindings" / "python"
           for p in sys.path):
    sys.path.insert(0, str(SOURCE_ROOT / "bindings" / "python"))
sys.path.insert(0, str(SOURCE_ROOT / "examples" / "local-cluster"))

from local_cluster import ClusterError, Layout, LocalCluster  # noqa: E402,F401

# Under sanitizers meson preloads their runtimes into this interpreter (the
# sanitized libhoming needs them first). Only Python processes that import
# homing need them too (python_env()); dnsmasq and the rest must not get them.
SANITIZER_PRELOAD = os.environ.pop("LD_PRELOAD", None)

RESOLVER_SERVER = SOURCE_ROOT / "tests" / "support" / "resolver_server.py"
CONFIG_TEMPLATE = SOURCE_ROOT / "tests" / "capi" / "examples" / "router.yaml.in"
RESOLVER_NAME = "resolver.capi.cluster.local"
OWNER = "server-{}.server-headless.poc-routing.svc.cluster.local:8081"

# meson ends a test that runs out of time with SIGTERM: leave the way Ctrl-C
# does, through the clusters' stop() at exit.
signal.signal(signal.SIGTERM, signal.default_int_handler)


def python_env(**changes):
    """The environment for a Python child that imports homing: this one,
    with the package on PYTHONPATH, the sanitizer runtimes if any, and
    `changes` (None removes a variable)."""
    env = dict(os.environ)
    bindings = str(SOURCE_ROOT / "bindings" / "python")
    env["PYTHONPATH"] = os.pathsep.join(
        dict.fromkeys(filter(None, [bindings, env.get("PYTHONPATH")])))
    if SANITIZER_PRELOAD:
        env["LD_PRELOAD"] = SANITIZER_PRELOAD
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def missing_cluster_binaries():
    """The variables naming the cluster's binaries that are not set."""
    return [name for name in ("HOMING_PROXY", "HOMING_SERVER")
            if not os.environ.get(name)]


def needs_cluster():
    """Skips a test class when the cluster's binaries are not given."""
    missing = missing_cluster_binaries()
    return unittest.skipIf(missing, f"{', '.join(missing)} not set (run with "
                                    f"meson test --suite python)")


class Fixture(LocalCluster):
    """A LocalCluster on test address block `block` with 2 servers, plus
    resolver_server.py (named RESOLVER_NAME in the cluster DNS) on the
    block's own address. After start(): `config_path`, `resolver_address`,
    `dns_address`, and the HOMING_EXAMPLE_* variables docs/c-api.md uses."""

    def __init__(self, block):
        super().__init__(2, layout=Layout.for_tests(block))
        self.resolver_ip = self.layout.dns_ip
        self.resolver_port = None

    def dns_records(self, servers):
        records = super().dns_records(servers)
        records[RESOLVER_NAME] = [self.resolver_ip]
        return records

    def start(self):
        super().start()
        try:
            self._start_resolver()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_resolver(self):
        process = self.spawn("resolver", [
            sys.executable, str(RESOLVER_SERVER), "--address", self.resolver_ip,
            "--port", "0", "--shards", "2"],
            ready=lambda: self.extra["resolver"].log().strip().isdigit())
        self.resolver_port = int(process.log().split()[0])
        self.resolver_address = f"{self.resolver_ip}:{self.resolver_port}"
        self.dns_address = f"{self.layout.dns_ip}:{self.dns_port}"
        self.config_path = self.workdir / "router.yaml"
        self.config_path.write_text(router_config_text(self.dns_address,
                                                       self.resolver_port))
        os.environ.update(HOMING_EXAMPLE_CONFIG=str(self.config_path),
                          HOMING_EXAMPLE_DNS=self.dns_address,
                          HOMING_EXAMPLE_RESOLVER=self.resolver_address)

    def control(self, **settings):
        """POST /_control to the resolver (see resolver_server.py)."""
        request = urllib.request.Request(
            f"http://{self.resolver_address}/_control",
            data=json.dumps(settings).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            answer.read()

    def resolver_total(self):
        """How many lookups the resolver has answered."""
        with urllib.request.urlopen(f"http://{self.resolver_address}/_stats",
                                    timeout=5) as answer:
            return json.loads(answer.read())["total"]

    def owner_ip(self, index):
        return self.layout.server_ip(index)


def wait_until(predicate, timeout=5.0):
    """Polls `predicate` until true; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.01)


def rss_bytes():
    """This process's resident set size (/proc/self/statm)."""
    gc.collect()
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def router_config_text(dns_address="127.0.0.1:53", resolver_port=8081):
    """tests/capi/examples/router.yaml.in with the DNS server and the
    resolver's port filled in (the template's DNS server is 127.0.0.1; a
    cluster's listens on its block's address). Parsing needs no server."""
    dns_ip, dns_port = dns_address.rsplit(":", 1)
    text = CONFIG_TEMPLATE.read_text()
    dns_template = "address: 127.0.0.1, port_value: @DNS_PORT@"
    if text.count(dns_template) != 1:
        raise ClusterError(f"{CONFIG_TEMPLATE} has changed: expected one "
                           f"{dns_template!r}; update python_support.py")
    text = text.replace(dns_template, f"address: {dns_ip}, port_value: {dns_port}")
    return text.replace("@RESOLVER_PORT@", str(resolver_port))


# A listener whose routes need no DNS and no resolver: /pool balances over a
# STATIC cluster (RING_HASH on client_id); anything else is a 404.
STATIC_CONFIG = """\
static_resources:
  listeners:
  - name: edge
    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: edge
          route_config:
            virtual_hosts:
            - name: local
              domains: ["*"]
              routes:
              - name: pool
                match: {prefix: /pool}
                route:
                  cluster: pool
                  hash_policy: [{query_parameter: {name: client_id}}]
          http_filters:
          - name: envoy.filters.http.router
  clusters:
  - name: pool
    type: STATIC
    lb_policy: RING_HASH
    load_assignment:
      cluster_name: pool
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.1.81, port_value: 8080}}}
        - endpoint: {address: {socket_address: {address: 127.0.1.82, port_value: 8080}}}
"""
