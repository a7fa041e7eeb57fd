#!/usr/bin/env python3
"""1,000 random clients through a 3-server cluster: every /join lands on the
owner that /where names, only that owner logs it, owners spread evenly, and
repeated joins come from the proxy's caches."""

import os
import random
import string
import unittest
import urllib.parse

from system_support import ClusterTestCase, binomial_bounds

import local_cluster

CLIENTS = 1000
SEED = int(os.environ.get("HOMING_TEST_SEED", random.randrange(1 << 32)))


def random_client_ids(count, rng):
    alphabet = string.ascii_letters + string.digits + "-_.~"
    ids = set()
    while len(ids) < count:
        ids.add("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))))
    return sorted(ids)


class RandomClients(ClusterTestCase):
    BLOCK = 2
    SERVERS = 3

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ids = random_client_ids(CLIENTS, random.Random(SEED))
        cls.marks = cls.cluster.log_marks()
        cls.owners = {}   # client id -> server index, per /where
        cls.joins = {}    # client id -> Response of the first /join
        for client in cls.ids:
            answer = cls.cluster.get(f"/where?client_id={client}")
            hostport = answer.json()["hostport"] if answer.status == 200 else "?"
            cls.owners[client] = int(hostport.split(".")[0].removeprefix("server-")) \
                if hostport.startswith("server-") else None
            cls.joins[client] = cls.cluster.get(f"/join?client_id={client}")

    def setUp(self):
        self.note = f"(random seed {SEED}: rerun with HOMING_TEST_SEED={SEED})"

    def test_every_join_lands_on_the_owner_where_names(self):
        wrong = [f"{client}: /where server-{self.owners[client]}, /join "
                 f"{join.status} {join.body}"
                 for client, join in self.joins.items()
                 if self.owners[client] is None or join.status != 200
                 or join.json() != {"assigned": self.assigned(self.owners[client]),
                                    "client_id": client, "status": "ok"}]
        self.assertEqual(wrong[:10], [], f"{len(wrong)} of {CLIENTS} {self.note}")

    def test_each_server_logged_exactly_the_joins_of_its_own_clients(self):
        for index in range(self.SERVERS):
            owned = sorted(c for c, owner in self.owners.items() if owner == index)
            lines = self.cluster.join_lines(index, self.marks, at_least=len(owned))
            logged = sorted(line.client_id for line in lines)
            self.assertEqual(logged, owned, f"server-{index} {self.note}")
            self.assertTrue(all(line.assigned == self.assigned(index) for line in lines))

    def test_owners_spread_evenly(self):
        low, high = binomial_bounds(CLIENTS, 1 / self.SERVERS)
        for index in range(self.SERVERS):
            owned = sum(1 for owner in self.owners.values() if owner == index)
            self.assertTrue(low <= owned <= high,
                            f"server-{index} owns {owned} of {CLIENTS} clients, "
                            f"expected {low}-{high} {self.note}")

    def test_where_requests_are_balanced_over_every_server(self):
        # The resolver cluster is round robin over the Service's addresses;
        # the affinity lookups share its balancer, so the split is not exact.
        lines = [line for line in self.cluster.access_log(self.marks, at_least=2 * CLIENTS)
                 if line.target.startswith("/where?")]
        self.assertEqual(len(lines), CLIENTS)
        per_address = {}
        for line in lines:
            per_address[line.fields.get("addr")] = per_address.get(line.fields.get("addr"), 0) + 1
        servers = {self.cluster.layout.server_address(i) for i in range(self.SERVERS)}
        self.assertEqual(set(per_address), servers)
        for address, count in per_address.items():
            self.assertGreaterEqual(count, CLIENTS // (2 * self.SERVERS), per_address)

    def test_repeated_joins_are_answered_from_the_caches(self):
        hits, attempts = self.stat("affinity.cache_hit"), self.stat("affinity.lookup_attempt")
        hosts_added = self.stat("dns_cache.dynamic_forward_proxy_cache.host_added")
        sample = self.ids[:200]
        for client in sample:
            join = self.join(client)
            self.assertEqual(join.status, 200, join.body)
            self.assertEqual(join.json()["assigned"], self.assigned(self.owners[client]))
        self.assertEqual(self.stat("affinity.cache_hit") - hits, len(sample))
        self.assertEqual(self.stat("affinity.lookup_attempt") - attempts, 0)
        self.assertEqual(self.stat("dns_cache.dynamic_forward_proxy_cache.host_added"),
                         hosts_added)


class EncodedClientIds(ClusterTestCase):
    """Keys that need percent-encoding reach the owner intact: the proxy's
    lookup key, the resolver's key and the owner's key are the same."""
    BLOCK = 2
    SERVERS = 2

    def test_encoded_ids_join_their_owner_and_are_logged_decoded(self):
        ids = ["a b", "x+y", "über", "a/b?c", "k=v&w=z", "%41", "日本", "semi;colon"]
        marks = self.cluster.log_marks()
        expected = {}
        for client in ids:
            quoted = urllib.parse.quote(client, safe="")
            where = self.cluster.get(f"/where?client_id={quoted}")
            self.assertEqual(where.status, 200, where.body)
            self.assertEqual(where.json()["client_id"], client)
            owner = int(where.json()["hostport"].split(".")[0].removeprefix("server-"))
            join = self.cluster.get(f"/join?client_id={quoted}")
            self.assertEqual((join.status, join.json()),
                             (200, {"assigned": self.assigned(owner), "client_id": client,
                                    "status": "ok"}), client)
            expected.setdefault(owner, []).append(client)
        for index in range(self.SERVERS):
            logged = [line.client_id for line in self.cluster.join_lines(
                index, marks, at_least=len(expected.get(index, [])))]
            self.assertEqual(sorted(logged), sorted(expected.get(index, [])))


class TwoWorkers(ClusterTestCase):
    """Two proxy workers, each with its own caches, share the listener:
    requests on new connections land on either, and all reach the owner."""
    BLOCK = 2
    SERVERS = 2
    OPTIONS = {"proxy_args": ["--concurrency", "2"]}

    def test_joins_on_new_connections_reach_the_owner_on_any_worker(self):
        layout = self.cluster.layout
        for round_ in range(2):
            for n in range(100):
                client = f"w-{n}"
                owner = self.cluster.server_get(0, f"/where?client_id={client}").json()
                join = local_cluster.http_get(layout.proxy_ip, layout.proxy_port,
                                              f"/join?client_id={client}")
                self.assertEqual((join.status, join.json()["assigned"]),
                                 (200, self.assigned(int(owner["hostport"].split(".")[0]
                                                         .removeprefix("server-")))))
        # Each worker asked the resolver for the clients it saw first: some
        # clients landed on both.
        self.assertGreater(self.stat("affinity.lookup_attempt"), 100)
        self.assertLessEqual(self.stat("affinity.lookup_attempt"), 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
