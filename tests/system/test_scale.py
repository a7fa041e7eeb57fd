#!/usr/bin/env python3
"""Membership changes live, while the proxy's caches are warm: 2 -> 3 and
3 -> 2 servers.

Every client lands on its new owner; a client whose owner changed costs
exactly one 421 Misdirected Request and one retry (the old owner refuses it,
the proxy forgets the cached answer, asks again and retries); nobody else
sees a 421. Jump hash moves only the keys that the new server takes.
"""

import unittest

from system_support import ClusterTestCase, binomial_bounds, error_code

import seed_checks
from local_cluster import SERVICE_NAME

CLIENTS = 600
DFP_POOL = "cluster.dynamic_forward_proxy_cluster.pool."


class ScaleUp(ClusterTestCase):
    BLOCK = 3
    SERVERS = 2
    OPTIONS = {"fast_dns": True}  # the proxy's resolver cluster follows within 1s

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cluster = cls.cluster
        cls.ids = [f"user-{n}" for n in range(CLIENTS)]
        cls.before = {c: cluster.get(f"/join?client_id={c}") for c in cls.ids}
        cls.stats_before = cluster.stats()
        cls.marks = cluster.log_marks()
        cls.scaled = cluster.scale(3)
        cls.after = {c: cluster.get(f"/join?client_id={c}") for c in cls.ids}
        cls.stats_after = cluster.stats()
        cls.owners = {}
        for client in cls.ids:
            hostport = cluster.get(f"/where?client_id={client}").json()["hostport"]
            cls.owners[client] = int(hostport.split(".")[0].removeprefix("server-"))

    def assigned_before(self, client):
        return self.before[client].json()["assigned"]

    def moved(self):
        return [c for c in self.ids if self.assigned_before(c) != self.assigned(self.owners[c])]

    def delta(self, suffix):
        names = [n for n in self.stats_after if n == suffix or n.endswith("." + suffix)]
        self.assertEqual(len(names), 1, f"stats named {suffix!r}: {names}")
        return self.stats_after[names[0]] - self.stats_before.get(names[0], 0)

    def test_every_client_joined_before_the_change(self):
        self.assertTrue(all(j.status == 200 for j in self.before.values()))

    def test_every_client_lands_on_its_new_owner(self):
        wrong = [f"{c}: {self.after[c].status} {self.after[c].body}, owner "
                 f"server-{self.owners[c]}" for c in self.ids
                 if self.after[c].status != 200
                 or self.after[c].json()["assigned"] != self.assigned(self.owners[c])]
        self.assertEqual(wrong[:10], [], f"{len(wrong)} of {CLIENTS}")

    def test_only_clients_of_the_new_server_moved(self):
        moved = self.moved()
        self.assertTrue(all(self.owners[c] == 2 for c in moved))
        self.assertEqual(sorted(moved), sorted(c for c in self.ids if self.owners[c] == 2))
        low, high = binomial_bounds(CLIENTS, 1 / 3)
        self.assertTrue(low <= len(moved) <= high, f"{len(moved)} of {CLIENTS} moved")

    def test_each_moved_client_cost_exactly_one_misdirect_and_retry(self):
        # The owners answer 421 and nothing else in 4xx; a second 421 would
        # have reached the client, and every client got a 200. Each 421
        # named the new owner, so no client needed a second lookup.
        moved = self.moved()
        self.assertEqual(self.delta(DFP_POOL + "upstream_rq_4xx"), len(moved))
        self.assertEqual(self.delta(DFP_POOL + "upstream_rq_total"), CLIENTS + len(moved))
        self.assertEqual(self.delta("affinity.owner_redirect_accepted"), len(moved))
        self.assertEqual(self.delta("affinity.lookup_attempt"), 0)

    def test_the_access_log_shows_the_moved_clients_sent_to_their_new_owner(self):
        lines = [line for line in self.cluster.access_log(self.marks, at_least=CLIENTS)
                 if line.target.startswith("/join?")]
        self.assertEqual(len(lines), CLIENTS)
        self.assertEqual([line.fields["key"] for line in lines
                          if line.fields["lookup"] != "hit"], [])
        moved = set(self.moved())
        for line in lines:
            owner = self.owners[line.fields["key"]]
            self.assertTrue(line.fields["upstream"].startswith(f"server-{owner}."),
                            line.text)
            self.assertEqual(line.fields["key"] in moved, owner == 2, line.text)

    def test_the_new_server_logged_the_moved_joins_and_the_old_ones_the_rest(self):
        moved = set(self.moved())
        logged = [line.client_id for line in self.cluster.join_lines(
            2, self.marks, at_least=len(moved))]
        self.assertEqual(sorted(logged), sorted(moved))
        for index in (0, 1):
            owned = sorted(c for c in self.ids if self.owners[c] == index)
            logged = [line.client_id for line in self.cluster.join_lines(
                index, self.marks, at_least=len(owned))]
            self.assertEqual(sorted(logged), owned)

    def test_scaling_reports_what_it_did(self):
        text = "\n".join(self.scaled)
        self.assertIn("started server-2 on " + self.cluster.layout.server_address(2), text)
        self.assertIn("membership reloaded (3 members)", text)
        self.assertIn("cluster.resolver.membership_total = 3", text)
        self.assertEqual(self.stat("cluster.resolver.membership_total"), 3)


class ScaleDown(ClusterTestCase):
    """3 -> 2 servers: the leaving server re-reads the members file first and
    answers 421 to every /join while it still runs (its termination grace
    period), so its clients find their new owners; then it stops, and they
    stay served. The demo's `scale` action, run as a test."""
    BLOCK = 3
    SERVERS = 3
    OPTIONS = {"fast_dns": True}

    def test_scale_down_moves_every_client_of_the_leaving_server(self):
        lines = []
        self.assertTrue(seed_checks.scale_demo(self.cluster, 2, lines.append, clients=300),
                        "\n".join(lines))
        self.assertEqual(sorted(self.cluster.servers), [0, 1])
        self.assertEqual(self.cluster.resolve(SERVICE_NAME).addresses,
                         [self.cluster.layout.server_ip(0), self.cluster.layout.server_ip(1)])
        # The proxy's resolver cluster let go of the stopped server first.
        for n in range(30):
            answer = self.cluster.get(f"/where?client_id=after-{n}")
            self.assertEqual(answer.status, 200, answer.body)



class ScaleDownAfterCrash(ClusterTestCase):
    """server-2 crashes and the membership shrinks without it ever answering
    421: each of its clients gets one 503 (the cached owner refuses the
    connection), which makes the proxy forget that owner, and the client's
    next request finds its new owner."""
    BLOCK = 3
    SERVERS = 3
    OPTIONS = {"fast_dns": True}

    def test_clients_of_a_crashed_server_find_their_new_owner_next_time(self):
        ids = [f"crash-{n}" for n in range(300)]
        owners = {c: self.where_owner(c) for c in ids}
        for client in ids:
            self.assertEqual(self.join(client).status, 200)
        victims = [c for c in ids if owners[c] == 2]
        self.assertTrue(victims)
        unreachable = "affinity.owner_unreachable"
        before = self.stat(unreachable)

        self.cluster.scale(2, grace=False)
        for client in victims:
            first = self.join(client)
            self.assertEqual(first.status, 503, first.body)
            self.assertEqual(error_code(first), "upstream_connect_failure", first.body)
            second = self.join(client)
            self.assertEqual((second.status, second.json().get("assigned")),
                             (200, self.assigned(self.where_owner(client))), second.body)
        self.assertEqual(self.stat(unreachable) - before, len(victims))


if __name__ == "__main__":
    unittest.main(verbosity=2)
