#!/usr/bin/env python3
"""Failures of the cluster's parts: a server killed and restarted, the DNS
server stopped while the proxy's caches are warm."""

import time
import unittest

from system_support import ClusterTestCase, error_code

CLIENTS = 300
WAIT = 20.0  # seconds; only bounds a wait for a state, never asserted


def wait_for(condition, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class KilledServer(ClusterTestCase):
    """server-1 crashes (SIGKILL): its clients get a 503 JSON local reply
    right away, as the connection is refused; the others are unaffected; when
    it comes back, its clients are served again."""
    BLOCK = 4
    SERVERS = 3

    def test_killed_server_then_restart(self):
        ids = [f"k-{n}" for n in range(CLIENTS)]
        owners = {c: self.where_owner(c) for c in ids}
        for client in ids:
            self.assertEqual(self.join(client).status, 200)
        victims = [c for c in ids if owners[c] == 1]
        others = [c for c in ids if owners[c] != 1]
        self.assertTrue(victims and others)

        self.cluster.kill_server(1)
        for client in victims:
            answer = self.join(client)
            self.assertEqual(answer.status, 503, answer.body)
            self.assertEqual(error_code(answer), "upstream_connect_failure", answer.body)
        for client in others:
            answer = self.join(client)
            self.assertEqual((answer.status, answer.json()["assigned"]),
                             (200, self.assigned(owners[client])), answer.body)
        # Clients nobody asked about yet: the lookup skips the dead resolver
        # endpoint, and the ones the other servers own are served.
        fresh = [f"fresh-{n}" for n in range(60)]
        fresh_owners = {c: int(self.cluster.server_get(0, f"/where?client_id={c}")
                               .json()["hostport"].split(".")[0][len("server-"):])
                        for c in fresh}
        for client in fresh:
            answer = self.join(client)
            if fresh_owners[client] == 1:
                self.assertEqual(answer.status, 503, answer.body)
            else:
                self.assertEqual(answer.status, 200, answer.body)

        self.cluster.restart_server(1)
        for client in victims:
            answer = self.join(client)
            self.assertEqual((answer.status, answer.json().get("assigned")),
                             (200, self.assigned(1)), answer.body)
        logged = self.cluster.join_lines(1, at_least=2 * len(victims))
        self.assertEqual(sorted(line.client_id for line in logged),
                         sorted(victims + victims))  # before the kill, and after


class DnsServerDown(ClusterTestCase):
    """The DNS server stops while the caches are warm: refreshes fail, the
    proxy keeps the last good addresses, and routing continues, even for
    clients it has not seen (the owners' names are all cached)."""
    BLOCK = 4
    SERVERS = 2
    OPTIONS = {"fast_dns": True, "dns_ttl": 1}

    def test_routing_continues_without_dns(self):
        ids = [f"d-{n}" for n in range(100)]
        owners = {c: self.where_owner(c) for c in ids}
        self.assertEqual(set(owners.values()), {0, 1})
        for client in ids:
            self.assertEqual(self.join(client).status, 200)
        hosts = self.stat("dns_cache.dynamic_forward_proxy_cache.num_hosts")
        self.assertEqual(hosts, 2)

        failures = self.stat("dns_cache.dynamic_forward_proxy_cache.dns_query_failure")
        self.cluster.stop_dns()
        wait_for(lambda: self.stat("dns_cache.dynamic_forward_proxy_cache."
                                   "dns_query_failure") > failures,
                 "a failed DNS refresh")
        for client in ids:
            answer = self.join(client)
            self.assertEqual((answer.status, answer.json().get("assigned")),
                             (200, self.assigned(owners[client])), answer.body)
        for client in [f"new-{n}" for n in range(50)]:
            owner = self.where_owner(client)
            answer = self.join(client)
            self.assertEqual((answer.status, answer.json().get("assigned")),
                             (200, self.assigned(owner)), answer.body)
        self.assertEqual(self.stat("dns_cache.dynamic_forward_proxy_cache.num_hosts"), 2)

        successes = self.stat("dns_cache.dynamic_forward_proxy_cache.dns_query_success")
        self.cluster.start_dns()
        wait_for(lambda: self.stat("dns_cache.dynamic_forward_proxy_cache."
                                   "dns_query_success") > successes,
                 "a DNS refresh after the restart")
        self.assertEqual(self.join(ids[0]).status, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
