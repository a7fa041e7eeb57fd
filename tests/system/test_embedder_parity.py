#!/usr/bin/env python3
"""A C embedder and homing-proxy, driven with the same requests, decide the
same, count under the same names and learn the same about owners' health.

parity_gateway.c is a minimal gateway on libhoming's C ABI (route, forward,
report; a 421 is misdirected() and one retry). It runs on the cluster's own
proxy config beside homing-proxy. Every request goes to both, in the same
order; the test compares statuses, local-reply codes and serving instances,
then the stats both keep: every name the embedder has is one homing-proxy
has, and the counters the router feeds from outcomes move alike, through a
crashed owner and its return."""

import json
import os
import subprocess
import unittest

from system_support import ClusterTestCase, error_code

CLIENTS = 60
DFP = "cluster.dynamic_forward_proxy_cluster."
# Counters the router keeps from decisions and reported outcomes, which both
# embedders must move alike (the resolver cluster's also count lookups,
# whose number depends on how many workers homing-proxy runs).
OUTCOME_COUNTERS = [
    DFP + "upstream_rq_total", DFP + "upstream_rq_5xx", DFP + "upstream_cx_connect_fail",
    "http.ingress_http.no_route", "http.ingress_http.affinity.owner_unreachable",
]


class Gateway:
    """parity_gateway on `config`: one request target in, one JSON line out."""

    def __init__(self, config):
        self.process = subprocess.Popen(
            [os.environ["HOMING_PARITY_GATEWAY"], str(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = self.process.stdout.readline()
        if ready != "READY\n":
            self.stop()
            raise AssertionError(f"parity_gateway did not start: {ready!r}")

    def get(self, target):
        self.process.stdin.write(target + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stats(self):
        self.process.stdin.write("STATS\n")
        self.process.stdin.flush()
        stats = {}
        for line in iter(self.process.stdout.readline, "END\n"):
            name, _, value = line.rstrip("\n").partition(": ")
            stats[name] = int(value) if value.lstrip("-").isdigit() else value
        return stats

    def stop(self):
        self.process.stdin.close()
        try:
            return self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


class EmbedderParity(ClusterTestCase):
    BLOCK = 10
    SERVERS = 3

    def setUp(self):
        self.gateway = Gateway(self.cluster.proxy_config_path)

    def tearDown(self):
        self.assertEqual(self.gateway.stop(), 0, "parity_gateway exited with an error")

    def both(self, target):
        """(proxy's, embedder's) answer to `target` as (status, error, body):
        `error` is the local reply's code, the router's or the instance's;
        `body` the instance's JSON answer."""
        proxied = self.cluster.get(target)
        embedded = self.gateway.get(target)
        proxy_error = error_code(proxied) or ""
        embedder_error = embedded["error"]
        embedder_body = json.loads(embedded["body"]) if embedded["body"] else None
        if isinstance(embedder_body, dict) and set(embedder_body) == {"error", "detail"}:
            embedder_error, embedder_body = embedder_body["error"], None
        proxy_body = None if proxy_error else json.loads(proxied.body)
        return ((proxied.status, proxy_error, proxy_body),
                (embedded["status"], embedder_error, embedder_body))

    def assert_same(self, target):
        proxied, embedded = self.both(target)
        self.assertEqual(proxied, embedded, target)
        return proxied

    def owner(self, client):
        answer = self.cluster.server_get(0, f"/where?client_id={client}")
        return int(answer.json()["hostport"].split(".")[0].removeprefix("server-"))

    def counters(self, stats):
        return {name: stats.get(name, 0) for name in OUTCOME_COUNTERS}

    def test_same_requests_same_decisions_stats_and_owner_health(self):
        clients = [f"parity-{n}" for n in range(CLIENTS)]
        owners = {client: self.owner(client) for client in clients}
        self.assertEqual(set(owners.values()), {0, 1, 2})
        for client in clients:
            status, _, body = self.assert_same(f"/join?client_id={client}")
            self.assertEqual((status, body["assigned"]),
                             (200, self.assigned(owners[client])))
        for target in ["/join", "/join?client_id=", "/join?client_id=" + "k" * 300,
                       "/where", "/nowhere"]:
            self.assert_same(target)
        before = self.counters(self.cluster.stats())
        self.assertEqual(before, self.counters(self.gateway.stats()))

        # server-2 crashes: both refuse its clients with the same reply,
        # feed the same connect failures to its owner host, and forget the
        # owner each time (the resolver still names it).
        self.cluster.kill_server(2)
        victims = [c for c in clients if owners[c] == 2]
        for client in victims:
            proxied = self.assert_same(f"/join?client_id={client}")
            self.assertEqual(proxied[:2], (503, "upstream_connect_failure"))
        after_crash = self.counters(self.cluster.stats())
        self.assertEqual(after_crash, self.counters(self.gateway.stats()))
        self.assertEqual(after_crash[DFP + "upstream_cx_connect_fail"]
                         - before[DFP + "upstream_cx_connect_fail"], len(victims))

        self.cluster.restart_server(2)
        for client in victims:
            status, _, body = self.assert_same(f"/join?client_id={client}")
            self.assertEqual((status, body["assigned"]), (200, self.assigned(2)))
        proxy_stats, embedder_stats = self.cluster.stats(), self.gateway.stats()
        self.assertEqual(self.counters(proxy_stats), self.counters(embedder_stats))
        missing = sorted(set(embedder_stats) - set(proxy_stats))
        self.assertFalse(missing, f"stats the embedder has and homing-proxy lacks: {missing}")
        for name in ("http.ingress_http.affinity.cache_hit", DFP + "upstream_rq_total",
                     "dns_cache.dynamic_forward_proxy_cache.num_hosts"):
            self.assertIn(name, embedder_stats)


if __name__ == "__main__":
    unittest.main(verbosity=2)
