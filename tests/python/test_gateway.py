#!/usr/bin/env python3
"""examples/python-gateway end to end: the asyncio gateway, routing through
homing, in front of the local cluster (examples/local-cluster: dnsmasq and
homing-servers; homing-proxy runs too, as the reference the gateway must
agree with). The gateway loads the proxy's own configuration."""

import json
import re
import socket
import sys
import unittest

from python_support import (SOURCE_ROOT, Layout, LocalCluster, missing_cluster_binaries,
                            needs_cluster, python_env)
from local_cluster import HttpClient

GATEWAY = SOURCE_ROOT / "examples" / "python-gateway" / "gateway.py"
BLOCK = 9
ACCESS_LINE = re.compile(r'^"GET (?P<target>\S+)" (?P<status>\d{3}) (?P<fields>.*)$')


class GatewayTestCase(unittest.TestCase):
    """Starts a cluster of SERVERS servers and the gateway in front of it."""

    SERVERS = 2

    @classmethod
    def setUpClass(cls):
        if missing_cluster_binaries():
            raise unittest.SkipTest("no cluster binaries")
        cls.cluster = LocalCluster(cls.SERVERS, layout=Layout.for_tests(BLOCK),
                                   fast_dns=True)
        cls.cluster.start()
        try:
            cls.gateway = cls.start_gateway()
        except BaseException:
            cls.cluster.stop()
            raise
        cls.client = HttpClient(cls.cluster.layout.proxy_ip, cls.gateway_port)

    @classmethod
    def start_gateway(cls):
        config = cls.cluster.workdir / "gateway.yaml"
        config.write_text(cls.cluster.proxy_config_text())
        process = cls.cluster.spawn(
            "gateway", [sys.executable, str(GATEWAY), "--config", str(config),
                        "--listen", f"{cls.cluster.layout.proxy_ip}:0"],
            env=python_env(), ready=lambda: "listening on" in cls.cluster.extra["gateway"].log())
        first_line = process.log().splitlines()[0]
        cls.gateway_port = int(first_line.rsplit(":", 1)[1])
        return process

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        try:
            cls.gateway.popen.terminate()
            cls.gateway_status = cls.gateway.popen.wait(10)
            sys.stderr.write(f"--- last lines of the gateway ---\n"
                             f"{cls.gateway.log_tail(8)}\n")
        finally:
            problems = cls.cluster.stop()
        if problems:
            raise AssertionError("on the way out:\n" + "\n".join(problems))
        if cls.gateway_status != 0:
            raise AssertionError(f"the gateway exited with {cls.gateway_status} on SIGTERM")

    def get(self, target):
        return self.client.get(target)

    def owner(self, client_id, through=None):
        """The owner's index, as /where through the gateway (or the proxy:
        `through=self.cluster`) names it."""
        answer = (through or self).get(f"/where?client_id={client_id}")
        self.assertEqual(answer.status, 200, answer.body)
        return int(answer.json()["hostport"].split(".")[0].removeprefix("server-"))

    def access_log(self, since=0):
        lines = self.gateway.log(since).splitlines()
        return [match.groupdict() for match in map(ACCESS_LINE.match, lines) if match]

    def client_of(self, index, prefix):
        """A client id that server `index` owns."""
        for number in range(1000):
            if self.owner(f"{prefix}{number}") == index:
                return f"{prefix}{number}"
        self.fail(f"no client of server-{index}")


@needs_cluster()
class Routing(GatewayTestCase):
    def test_every_join_lands_on_the_owner_where_names(self):
        marks = self.cluster.log_marks()
        owners = {f"c{i}": self.owner(f"c{i}") for i in range(20)}
        self.assertEqual(set(owners.values()), {0, 1})
        for client, index in owners.items():
            answer = self.get(f"/join?client_id={client}")
            self.assertEqual((answer.status, answer.json()),
                             (200, {"assigned": f"server-{index}:8081", "client_id": client,
                                    "status": "ok"}))
            self.assertEqual(answer.body, self.cluster.get(f"/join?client_id={client}").body)
        for index in (0, 1):
            mine = sorted(c for c, owner in owners.items() if owner == index)
            # Each owner logged every join twice (gateway, then proxy), and
            # nobody else's.
            lines = self.cluster.join_lines(index, marks, at_least=2 * len(mine))
            self.assertEqual(sorted(line.client_id for line in lines),
                             sorted(mine + mine))

    def test_repeated_joins_come_from_the_gateways_cache(self):
        since = self.gateway.log_size()
        for _ in range(3):
            self.assertEqual(self.get("/join?client_id=cached").status, 200)
        joins = [line for line in self.access_log(since) if line["target"].startswith("/join")]
        self.assertEqual([re.search(r"lookup=(\w+)", j["fields"]).group(1) for j in joins],
                         ["resolver", "cache", "cache"])
        self.assertTrue(all("upstream=127.0.1." in j["fields"] for j in joins))

    def test_local_replies_match_homing_proxys(self):
        for target in ("/join", "/join?client_id="):
            with self.subTest(target=target):
                answer = self.get(target)
                reference = self.cluster.get(target)
                self.assertEqual(answer.status, reference.status)
                self.assertEqual(answer.body, reference.body)
                self.assertEqual(answer.header("Content-Type"), "application/json")

    def test_keep_alive_and_http_1_0(self):
        self.assertEqual(self.get("/where?client_id=1").header("Connection"), "keep-alive")
        with socket.create_connection((self.cluster.layout.proxy_ip, self.gateway_port),
                                      timeout=10) as sock:
            sock.sendall(b"GET /where?client_id=1 HTTP/1.0\r\nHost: gateway\r\n\r\n")
            received = b""
            while chunk := sock.recv(65536):  # HTTP/1.0: the gateway closes
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), head)
        self.assertIn(b"Connection: close", head)
        self.assertEqual(json.loads(body)["client_id"], "1")

    def test_a_malformed_request_is_refused(self):
        with socket.create_connection((self.cluster.layout.proxy_ip, self.gateway_port),
                                      timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nno colon here\r\n\r\n")
            received = sock.recv(65536)
        self.assertTrue(received.startswith(b"HTTP/1.1 400 Bad Request"), received)
        self.assertIn(b'{"error":"bad_request","detail":"malformed header line', received)
        with socket.create_connection((self.cluster.layout.proxy_ip, self.gateway_port),
                                      timeout=10) as sock:
            sock.sendall(b"HELLO\r\n\r\n")
            received = sock.recv(65536)
        self.assertIn(b'"detail":"malformed request line \'HELLO\'"', received)


@needs_cluster()
class MovedClient(GatewayTestCase):
    SERVERS = 3

    def test_a_client_whose_owner_leaves_is_retried_on_the_new_owner(self):
        client = self.client_of(2, "moved-")
        self.assertEqual(self.get(f"/join?client_id={client}").json()["assigned"],
                         "server-2:8081")
        during = []
        # While server-2 drains it answers 421 to every /join: the gateway
        # asks the resolver again and retries on the new owner.
        self.cluster.scale(2, while_leaving=lambda: during.append(
            self.get(f"/join?client_id={client}")))
        # The proxy's resolver cluster has dropped server-2 (scale() waits
        # for it); the gateway's may still pick it for a second.
        new_owner = self.owner(client, through=self.cluster)
        self.assertIn(new_owner, (0, 1))
        self.assertEqual((during[0].status, during[0].json()["assigned"]),
                         (200, f"server-{new_owner}:8081"))


@needs_cluster()
class CrashedOwner(GatewayTestCase):
    SERVERS = 3

    def test_an_owner_that_refuses_connections_is_forgotten(self):
        client = self.client_of(2, "crashed-")
        self.assertEqual(self.get(f"/join?client_id={client}").status, 200)
        self.cluster.scale(2, grace=False)  # server-2 crashes: no 421
        first = self.get(f"/join?client_id={client}")
        self.assertEqual((first.status, first.json()["error"]),
                         (503, "upstream_connect_failure"))
        second = self.get(f"/join?client_id={client}")
        self.assertEqual((second.status, second.json()["assigned"]),
                         (200, f"server-{self.owner(client, through=self.cluster)}:8081"))


if __name__ == "__main__":
    unittest.main()
