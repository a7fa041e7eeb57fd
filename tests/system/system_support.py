"""What every system test module shares: the LocalCluster of
examples/local-cluster, built from the binaries meson passes in the
environment, and a TestCase base that starts one cluster per class.

Environment (set by tests/system/meson.build):
    HOMING_PROXY, HOMING_SERVER   the binaries under test
    DNSMASQ                       the DNS server (default /usr/sbin/dnsmasq)
    HOMING_SOURCE_ROOT            the source tree (for seed.yaml and fixtures)

Each module passes its own address block to `Layout.for_tests()`, so the
modules run in parallel and never on a running demo's addresses.
"""

import json
import math
import os
import signal
import sys
import unittest
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree clean
SOURCE_ROOT = Path(os.environ.get("HOMING_SOURCE_ROOT")
                   or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(SOURCE_ROOT / "examples" / "local-cluster"))

from local_cluster import Layout, LocalCluster  # noqa: E402  (needs the path above)

RESOLVER_SERVER = SOURCE_ROOT / "tests" / "support" / "resolver_server.py"

# meson ends a test that runs out of time with SIGTERM: leave the way Ctrl-C
# does, through the clusters' stop() at exit.
signal.signal(signal.SIGTERM, signal.default_int_handler)


def make_cluster(block, servers, **options):
    """A LocalCluster on test address block `block` (not started)."""
    for variable in ("HOMING_PROXY", "HOMING_SERVER"):
        if not os.environ.get(variable):
            raise RuntimeError(f"{variable} is not set; run the system tests "
                               f"with meson test --suite integration")
    return LocalCluster(servers, layout=Layout.for_tests(block),
                        seed_config=SOURCE_ROOT / "examples" / "proxy" / "seed.yaml",
                        **options)


def error_code(response):
    """The `error` of a homing local reply ({"error":…,"detail":…}), else None."""
    try:
        body = json.loads(response.body)
    except ValueError:
        return None
    if isinstance(body, dict) and set(body) == {"error", "detail"}:
        return body["error"]
    return None


def binomial_bounds(trials, probability, sigmas=6):
    """A range a binomial count falls outside of about once in 10^9 runs."""
    mean = trials * probability
    spread = sigmas * math.sqrt(trials * probability * (1 - probability))
    return math.floor(mean - spread), math.ceil(mean + spread)


class ClusterTestCase(unittest.TestCase):
    """Starts `cls.cluster` (block BLOCK, SERVERS servers, OPTIONS) before the
    class's tests and stops it after them; the processes' last log lines go
    to stderr (meson keeps them in the test log)."""

    BLOCK = None
    SERVERS = 2
    OPTIONS = {}

    @classmethod
    def setUpClass(cls):
        cls.cluster = make_cluster(cls.BLOCK, cls.SERVERS, **cls.OPTIONS)
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        """Stops the cluster; fails the class when homing-proxy or a server
        did not exit cleanly on SIGTERM or a sanitizer reported an error."""
        cluster = cls.cluster
        try:
            for process in cluster.processes():
                sys.stderr.write(f"--- {cls.__name__}: last lines of {process.name} "
                                 f"(pid {process.pid}) ---\n{process.log_tail(8)}\n")
        finally:
            problems = cluster.stop()
        if problems:
            raise AssertionError("on the way out:\n" + "\n".join(problems))

    def join(self, client_id):
        return self.cluster.get(f"/join?client_id={client_id}")

    def where_owner(self, client_id):
        """The owner's server index, as /where through the proxy names it."""
        answer = self.cluster.get(f"/where?client_id={client_id}")
        self.assertEqual(answer.status, 200, answer.body)
        return int(answer.json()["hostport"].split(".")[0].removeprefix("server-"))

    def assigned(self, index):
        return f"server-{index}:{self.cluster.layout.server_port}"

    def stat(self, suffix):
        """The sum of the proxy's stats named `suffix` or ending in it."""
        stats = self.cluster.stats()
        values = [value for name, value in stats.items()
                  if name == suffix or name.endswith("." + suffix)]
        self.assertTrue(values, f"no stat ends in {suffix!r}: {sorted(stats)}")
        return sum(values)
