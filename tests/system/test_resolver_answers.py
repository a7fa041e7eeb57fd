#!/usr/bin/env python3
"""What the proxy does with every kind of resolver answer.

The Service name (server.poc-routing.svc.cluster.local) points at
tests/support/resolver_server.py instead of the servers, so the resolver can
be told to misbehave: garbage, a wrong shape, an error, silence, or a
hostport outside the allow-list. Each case uses keys of its own, since
answers and failures are cached per key.
"""

import json
import sys
import unittest
import urllib.request

from system_support import RESOLVER_SERVER, ClusterTestCase, error_code

import local_cluster

BLOCK = 5
RESOLVER_INDEX = 9  # the block's last server address is the fake resolver's


class ResolverAnswers(ClusterTestCase):
    BLOCK = BLOCK
    SERVERS = 2
    OPTIONS = {"service_ips": [local_cluster.Layout.for_tests(BLOCK).server_ip(RESOLVER_INDEX)]}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        layout = cls.cluster.layout
        cls.resolver_ip = layout.server_ip(RESOLVER_INDEX)
        cls.resolver = cls.cluster.spawn(
            "resolver", [sys.executable, str(RESOLVER_SERVER), "--address", cls.resolver_ip,
                         "--port", str(layout.server_port), "--shards", "2"],
            f"{cls.resolver_ip}:{layout.server_port}",
            ready=lambda: local_cluster.http_get(cls.resolver_ip, layout.server_port,
                                                 "/_stats", timeout=1).status == 200)

    def setUp(self):
        self.control({"reset": True})

    def control(self, settings):
        request = urllib.request.Request(
            f"http://{self.resolver_ip}:{self.cluster.layout.server_port}/_control",
            data=json.dumps(settings).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            self.assertEqual(answer.status, 200)

    def assertLocalReply(self, client_id, status, code):
        answer = self.join(client_id)
        self.assertEqual((answer.status, error_code(answer)), (status, code), answer.body)
        self.assertEqual(answer.header("content-type"), "application/json")
        self.assertTrue(answer.json()["detail"])
        return answer

    def dns_hosts_added(self):
        """How many hosts the proxy's DNS caches have added (each one queried)."""
        stats = self.cluster.stats(r"^dns_cache\..*\.host_added$")
        self.assertTrue(stats, "no dns_cache host_added counter in the proxy's stats")
        return sum(stats.values())

    def owner(self, client_id):
        hostport = self.cluster.server_get(0, f"/where?client_id={client_id}").json()["hostport"]
        return hostport, int(hostport.split(".")[0][len("server-"):])

    def test_a_good_answer_routes_to_the_owner(self):
        hostport, owner = self.owner("good-1")
        self.control({"mapping": {"good-1": hostport}})
        answer = self.join("good-1")
        self.assertEqual((answer.status, answer.json()["assigned"]),
                         (200, self.assigned(owner)), answer.body)

    def test_garbage_is_a_502(self):
        self.control({"mode": "garbage"})
        self.assertLocalReply("garbage-1", 502, "bad_resolver_answer")

    def test_an_answer_without_the_hostport_field_is_a_502(self):
        self.control({"mode": "missing_field"})
        self.assertLocalReply("missing-1", 502, "bad_resolver_answer")

    def test_a_json_array_is_a_502(self):
        self.control({"mode": "non_object"})
        self.assertLocalReply("array-1", 502, "bad_resolver_answer")

    def test_a_hostport_outside_the_allow_list_is_refused(self):
        # The dynamic forward proxy's SSRF hole: the admin listener, or any
        # host on the internet, is never dialled.
        # The check comes before the DNS cache: it adds (and queries) no host.
        hosts_before = self.dns_hosts_added()
        for client, hostport in (("evil-1", "evil.example.com:80"),
                                 ("evil-2", self.cluster.layout.admin_address),
                                 ("evil-3", "server-0.server-headless.poc-routing.svc."
                                            "cluster.local:9901")):
            self.control({"mapping": {client: hostport}})
            self.assertLocalReply(client, 502, "hostport_rejected")
        self.assertEqual(self.dns_hosts_added(), hosts_before)

    def test_an_allowed_name_that_does_not_resolve_is_a_503(self):
        self.control({"hostport": "server-7.server-headless.poc-routing.svc.cluster.local:8081"})
        self.assertLocalReply("nxdomain-1", 503, "dns_resolution_failed")

    def test_a_resolver_error_is_a_503(self):
        self.control({"status": 500})
        self.assertLocalReply("error-1", 503, "resolver_unavailable")

    def test_a_silent_resolver_times_out_with_a_503(self):
        self.control({"delay_ms": 3000})  # lookup_timeout is 1s
        self.assertLocalReply("slow-1", 503, "resolver_timeout")

    def test_z_a_resolver_that_is_down_is_a_503(self):
        self.resolver.popen.terminate()
        self.resolver.popen.wait(10)
        self.assertLocalReply("down-1", 503, "resolver_unavailable")


if __name__ == "__main__":
    unittest.main(verbosity=2)
