#!/usr/bin/env python3
"""The seed's "Verification Commands" 1-7 as tests, on a 2-server cluster.

They run the very checks the demo prints (examples/local-cluster/
seed_checks.py), in the seed's order: steps 5-7 verify what steps 3-4 did.
"""

import socket
import unittest

import system_support
from system_support import ClusterTestCase, make_cluster

import local_cluster
import seed_checks
from local_cluster import ClusterError


class SeedVerificationCommands(ClusterTestCase):
    BLOCK = 1
    SERVERS = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.results = {}
        cls.steps = seed_checks.iter_steps(cls.cluster)

    def step(self, number):
        """Runs steps up to `number` (once each, in order) and returns it."""
        while number not in self.results:
            result = next(self.steps)
            self.results[result.number] = result
        result = self.results[number]
        self.assertTrue(result.ok, "\n" + result.render())
        return result

    def test_1_pods_are_running_with_their_addresses(self):
        result = self.step(1)
        table = result.exchanges[0][1]
        layout = self.cluster.layout
        for address in (layout.proxy_address, layout.server_address(0),
                        layout.server_address(1), self.cluster.dns.address):
            self.assertIn(address, table)

    def test_2_dns_resolves_each_server_name(self):
        self.step(2)
        answer = self.cluster.resolve("server-1.server-headless.poc-routing.svc.cluster.local")
        self.assertEqual(answer.addresses, [self.cluster.layout.server_ip(1)])
        unknown = self.cluster.resolve("server-9.server-headless.poc-routing.svc.cluster.local")
        self.assertEqual((unknown.rcode, unknown.addresses), ("NXDOMAIN", []))

    def test_3_internal_routing_where_and_join(self):
        result = self.step(3)
        answers = [answer for _, answer in result.exchanges]
        # The seed's exact shapes: /where names the owner's full hostport,
        # /join answers from the owner with its short name.
        self.assertRegex(answers[0], r'^200 \{"client_id":"123","hostport":"server-[01]\.'
                         r'server-headless\.poc-routing\.svc\.cluster\.local:8081"\}$')
        self.assertRegex(answers[1], r'^200 \{"assigned":"server-[01]:8081",'
                         r'"client_id":"123","status":"ok"\}$')

    def test_4_external_access_with_curl(self):
        result = self.step(4)
        verbose = result.exchanges[-1][1]
        self.assertIn("< HTTP/1.1 200 OK", verbose)

    def test_5_proxy_access_log_shows_the_joins(self):
        self.step(5)

    def test_6_only_the_owner_logged_the_join(self):
        self.step(6)

    def test_7_dns_cache_stats_show_lookups_and_hits(self):
        self.step(7)

    def test_8_a_second_cluster_on_taken_addresses_fails_clearly(self):
        # The proxy's address is taken by the running cluster.
        second = make_cluster(self.BLOCK, 2)
        with self.assertRaises(ClusterError) as caught:
            second.start()
        self.assertIn(f"{self.cluster.layout.proxy_address} is already in use",
                      str(caught.exception))
        self.assertFalse(any(p.running() for p in second.processes()))


class TakenAdminPort(unittest.TestCase):
    def test_admin_port_in_use_is_reported_before_anything_starts(self):
        cluster = make_cluster(6, 2)
        layout = cluster.layout
        with socket.socket() as squatter:
            squatter.bind((layout.admin_ip, layout.admin_port))
            squatter.listen()
            with self.assertRaises(ClusterError) as caught:
                cluster.start()
        self.assertIn(f"the proxy's admin address {layout.admin_address} is already "
                      f"in use", str(caught.exception))
        self.assertEqual(cluster.processes(), [])


class ProxyConfig(unittest.TestCase):
    def test_a_seed_yaml_of_another_shape_is_refused_with_the_reason(self):
        seed = (system_support.SOURCE_ROOT / "examples" / "proxy" / "seed.yaml").read_text()
        changed = seed.replace("port_value: 9901", "port_value: 9902")
        with self.assertRaises(ClusterError) as caught:
            local_cluster.proxy_config(changed, local_cluster.Layout(), "127.0.0.1:5353")
        self.assertIn("examples/proxy/seed.yaml has changed: expected 1 x admin address "
                      "127.0.0.1:9901, found 0", str(caught.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
