#!/usr/bin/env python3
"""The homing package without servers: loading the library, the declaration
table, errors, configs, requests, route tables, placement, load balancers,
stats, handles, and the engine's life cycle (on answers that need no
network: IP literals and STATIC clusters)."""

import asyncio
import gc
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest
from pathlib import Path

from python_support import (SOURCE_ROOT, STATIC_CONFIG, python_env, router_config_text,
                            wait_until)

import homing
from homing import HomingError, Status, _ffi

HEADER = SOURCE_ROOT / "include" / "homing" / "homing.h"
SEED = SOURCE_ROOT / "examples" / "proxy" / "seed.yaml"
PACKAGE = SOURCE_ROOT / "bindings" / "python"


def run_python(code, **env_changes):
    """Runs `code` in a fresh interpreter; returns (exit status, stdout+stderr)."""
    done = subprocess.run([sys.executable, "-c", code], env=python_env(**env_changes),
                          text=True, capture_output=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


class ErrorAssertions(unittest.TestCase):
    def assertFails(self, status, fragment=""):
        """A context manager: the block raises HomingError(status) whose
        message contains `fragment`."""
        test = self

        class Check:
            def __enter__(self):
                return self

            def __exit__(self, kind, error, traceback):
                test.assertIsNotNone(kind, f"no HomingError({status.name}) raised")
                test.assertTrue(issubclass(kind, HomingError), repr(error))
                test.assertEqual(error.status, status, str(error))
                test.assertIn(fragment, error.message)
                self.error = error
                return True
        return Check()


class LibraryTest(ErrorAssertions):
    def test_the_loaded_library_is_the_one_under_test(self):
        self.assertEqual(homing.library_path, os.environ["HOMING_LIBRARY"])
        self.assertEqual(homing.version(), homing.__version__)
        self.assertEqual(".".join(map(str, homing.library_version())), homing.version())

    def test_every_function_of_the_header_is_declared_once(self):
        declared = {"homing_" + name for name in vars(_ffi.lib)}
        in_header = set(re.findall(r"HOMING_EXTERN\s+[^;(]*?\b(homing_\w+)\s*\(",
                                   HEADER.read_text()))
        self.assertGreater(len(in_header), 100)
        self.assertEqual(sorted(in_header - declared - _ffi.NOT_WRAPPED), [])
        self.assertEqual(sorted(declared - in_header), [])
        self.assertEqual(sorted(_ffi.NOT_WRAPPED - in_header), [])

    def test_a_missing_library_is_reported_with_where_it_looked(self):
        status, output = run_python("import homing",
                                    HOMING_LIBRARY="/nonexistent/libhoming.so.0")
        self.assertNotEqual(status, 0)
        self.assertIn("homing.LibraryError: cannot load libhoming", output)
        self.assertIn("/nonexistent/libhoming.so.0", output)

    def test_a_library_that_is_not_libhoming_is_refused(self):
        status, output = run_python("import homing", HOMING_LIBRARY="libc.so.6")
        self.assertNotEqual(status, 0)
        self.assertIn("libc.so.6 lacks homing_version", output)

    def test_the_package_directory_is_searched_without_HOMING_LIBRARY(self):
        with tempfile.TemporaryDirectory() as directory:
            shutil.copytree(PACKAGE / "homing", Path(directory) / "homing")
            copy = Path(directory) / "homing" / "libhoming.so.0"
            shutil.copy(os.environ["HOMING_LIBRARY"], copy)
            status, output = run_python(
                "import homing; print(homing.library_path, homing.version())",
                HOMING_LIBRARY=None, PYTHONPATH=directory)
            self.assertEqual(status, 0, output)
            self.assertEqual(output.split(), [str(copy), homing.version()])

    def test_the_system_loader_is_asked_last(self):
        library_dir = str(Path(os.environ["HOMING_LIBRARY"]).parent)
        status, output = run_python(
            "import homing; print(homing.library_path)", HOMING_LIBRARY=None,
            LD_LIBRARY_PATH=library_dir)
        self.assertEqual(status, 0, output)
        self.assertEqual(output.strip(), "libhoming.so.0")

    def test_status_codes_and_their_descriptions(self):
        self.assertEqual([s.value for s in Status], list(range(13)))
        self.assertEqual(homing.strerror(Status.TIMEOUT), "timed out")
        self.assertEqual(homing.strerror(999), "unknown status")
        error = HomingError(Status.NOT_FOUND, "no such thing")
        self.assertEqual((error.status, error.message), (Status.NOT_FOUND, "no such thing"))
        self.assertEqual(str(error), "not found: no such thing")
        self.assertEqual(HomingError(Status.OVERFLOW).message, "limit reached")
        unknown = HomingError(77)
        self.assertEqual((unknown.status, str(unknown)), (77, "unknown status: unknown status"))


class LogTest(ErrorAssertions):
    def tearDown(self):
        homing.set_log_level(homing.LogLevel.INFO)

    def test_the_level_is_process_wide(self):
        homing.set_log_level(homing.LogLevel.WARN)
        self.assertIs(homing.log_level(), homing.LogLevel.WARN)
        with self.assertFails(Status.INVALID_ARGUMENT):
            homing.set_log_level(42)
        self.assertIs(homing.log_level(), homing.LogLevel.WARN)


class ConfigTest(ErrorAssertions):
    def test_parse_names_listeners_and_clusters_in_order(self):
        config = homing.Config.parse(router_config_text())
        self.assertEqual(config.listeners, ["listener_0"])
        self.assertEqual(config.clusters, ["resolver", "pool",
                                           "dynamic_forward_proxy_cluster"])
        self.assertEqual(config.listener_index("listener_0"), 0)
        with self.assertFails(Status.NOT_FOUND, "no listener named 'other' "
                                                "(the config has 'listener_0')"):
            config.listener_index("other")

    def test_json_and_bytes_parse_too(self):
        config = homing.Config.parse(b'{"static_resources": {"clusters": []}}')
        self.assertEqual((config.listeners, config.clusters), ([], []))

    def test_errors_name_the_path_and_the_line(self):
        with self.assertFails(Status.INVALID_ARGUMENT,
                              'static_resources.clusters[0].lb_policy (line 4): '
                              'unknown value "FOO"'):
            homing.Config.parse("static_resources:\n  clusters:\n  - name: a\n"
                                "    lb_policy: FOO\n", "x.yaml")

    def test_yaml_syntax_errors_name_the_source(self):
        with self.assertFails(Status.INVALID_ARGUMENT, "broken.yaml:"):
            homing.Config.parse("a: [1, 2\nb: c\n", "broken.yaml")
        with self.assertFails(Status.INVALID_ARGUMENT, "config:"):
            homing.Config.parse("a: [1, 2\nb: c\n")

    def test_load_reads_files_by_str_or_path(self):
        self.assertEqual(homing.Config.load(SEED).listeners, ["listener_0"])
        self.assertEqual(homing.Config.load(str(SEED)).clusters,
                         ["resolver", "dynamic_forward_proxy_cluster"])
        with self.assertFails(Status.NOT_FOUND, "/nonexistent/homing.yaml"):
            homing.Config.load("/nonexistent/homing.yaml")

    def test_text_must_be_text(self):
        with self.assertRaisesRegex(TypeError, "text must be str or bytes, not int"):
            homing.Config.parse(42)


class HandleTest(ErrorAssertions):
    def test_close_releases_once_and_later_use_raises(self):
        config = homing.Config.parse(STATIC_CONFIG)
        self.assertFalse(config.closed)
        config.close()
        config.close()
        self.assertTrue(config.closed)
        self.assertEqual(repr(config), "<homing.Config closed>")
        with self.assertFails(Status.FAILED_PRECONDITION, "the Config is closed"):
            config.listeners

    def test_with_closes_on_the_way_out_even_on_errors(self):
        with self.assertRaises(KeyError):
            with homing.Stats() as stats:
                raise KeyError("boom")
        self.assertTrue(stats.closed)

    def test_objects_outlive_what_they_were_made_from(self):
        config = homing.Config.parse(STATIC_CONFIG)
        table = homing.RouteTable(config)
        balancer = homing.LoadBalancer.from_config(config, "pool")
        config.close()
        route = table.routes[0]
        del table
        gc.collect()
        self.assertEqual(route.name, "pool")  # the route keeps its table
        self.assertIn(balancer.pick("k").address, ("127.0.1.81:8080", "127.0.1.82:8080"))

    def test_the_garbage_collector_closes_forgotten_handles(self):
        freed = []
        original = _ffi.lib.stats_free
        _ffi.lib.stats_free = lambda pointer: (freed.append(True), original(pointer))
        try:
            homing.Stats()
            gc.collect()
        finally:
            _ffi.lib.stats_free = original
        self.assertEqual(freed, [True])


class RequestTest(ErrorAssertions):
    def test_fields_and_headers(self):
        request = homing.Request("POST", "api.local", "/x?y=1", [("X-A", "1")])
        request.add_header(b"x-b", b"2")
        self.assertEqual((request.method, request.authority, request.path),
                         ("POST", "api.local", "/x?y=1"))
        self.assertEqual(request.headers, [("X-A", "1"), (b"x-b", b"2")])
        request.path = "/other"
        self.assertEqual(request.path, "/other")
        request.reset()
        self.assertEqual((request.method, request.path, request.headers), ("", "", []))

    def test_an_empty_header_name_is_refused(self):
        request = homing.Request()
        with self.assertFails(Status.INVALID_ARGUMENT, "homing_request_add_header"):
            request.add_header("", "v")
        self.assertEqual(request.headers, [])


class RouteTableTest(ErrorAssertions):
    @classmethod
    def setUpClass(cls):
        cls.table = homing.RouteTable(homing.Config.parse(router_config_text()))

    def request(self, path, **headers):
        return homing.Request("GET", "proxy.local:10000", path, headers.items())

    def test_routes_in_order_with_their_settings(self):
        join, pool, where = self.table.routes
        self.assertEqual(len(self.table), 3)
        self.assertEqual([(r.name, r.virtual_host, r.cluster) for r in self.table.routes],
                         [("join", "local", "dynamic_forward_proxy_cluster"),
                          ("pool", "local", "pool"), ("where", "local", "resolver")])
        self.assertEqual((join.timeout, pool.timeout), (15.0, 2.0))  # Envoy's default: 15s
        self.assertEqual(join.affinity, homing.Affinity(
            "resolver", "/where", homing.KeySource.QUERY_PARAMETER, "client_id"))
        self.assertIsNone(pool.affinity)

    def test_the_first_matching_route_wins(self):
        route = self.table.match(self.request("/join?client_id=a%20b"))
        self.assertEqual(route, self.table.routes[0])
        self.assertEqual(hash(route), hash(self.table.routes[0]))
        self.assertNotEqual(route, self.table.routes[1])
        self.assertEqual(repr(route), "<homing.Route 'join' -> 'dynamic_forward_proxy_cluster'>")
        self.assertIsNone(self.table.match(self.request("/nowhere")))

    def test_affinity_keys_are_decoded_bytes(self):
        join = self.table.routes[0]
        self.assertEqual(join.affinity_key(self.request("/join?client_id=a%20b")), b"a b")
        self.assertEqual(join.affinity_key(self.request("/join?client_id=a%00b")), b"a\0b")
        with self.assertFails(Status.NOT_FOUND, 'query parameter "client_id" is required'):
            join.affinity_key(self.request("/join"))
        with self.assertFails(Status.INVALID_ARGUMENT, 'query parameter "client_id" is empty'):
            join.affinity_key(self.request("/join?client_id="))
        with self.assertFails(Status.INVALID_ARGUMENT, 'route "pool" has no affinity policy'):
            self.table.routes[1].affinity_key(self.request("/pool"))

    def test_hash_policies_hash_as_key_hash_does(self):
        pool = self.table.routes[1]
        self.assertEqual(pool.hash(self.request("/pool?client_id=123")), homing.key_hash("123"))
        with self.assertFails(Status.NOT_FOUND, "homing_route_hash failed"):
            pool.hash(self.request("/pool"))

    def test_header_keys_and_header_matches(self):
        table = homing.RouteTable(homing.Config.parse(HEADER_CONFIG), "api")
        tenant = table.routes[0]
        self.assertEqual(tenant.affinity, homing.Affinity(
            "lookup", "/owner", homing.KeySource.HEADER, "x-client-id"))
        blue = homing.Request("GET", "api.local", "/", [("X-Tenant", "blue"),
                                                          ("x-client-id", "c1")])
        self.assertEqual(table.match(blue), tenant)
        self.assertIsNone(tenant.timeout)  # timeout: 0s
        self.assertEqual(tenant.affinity_key(blue), b"c1")
        long_key = homing.Request("GET", "api.local", "/", [("x-client-id", "too-long-key")])
        with self.assertFails(Status.INVALID_ARGUMENT, "is longer than 8 bytes"):
            tenant.affinity_key(long_key)
        red = homing.Request("GET", "api.local", "/", [("x-tenant", "red")])
        self.assertEqual(table.match(red).name, "api/1")
        blue.add_header("X-Tenant", "red")  # repeated: matched as "blue,red"
        self.assertEqual(table.match(blue).name, "api/1")
        self.assertIsNone(table.match(homing.Request("GET", "other.local", "/")))

    def test_a_listener_out_of_range_is_refused(self):
        with self.assertFails(Status.INVALID_ARGUMENT, "listener index 1 is out of range"):
            homing.RouteTable(homing.Config.parse(STATIC_CONFIG), 1)

    def test_routes_of_a_closed_table_are_gone(self):
        table = homing.RouteTable(homing.Config.parse(STATIC_CONFIG))
        route = table.routes[0]
        table.close()
        with self.assertFails(Status.FAILED_PRECONDITION, "the RouteTable is closed"):
            route.name
        self.assertEqual(repr(route), "<homing.Route of a closed table>")


HEADER_CONFIG = """\
static_resources:
  listeners:
  - name: api
    address: {socket_address: {address: 127.0.0.1, port_value: 10001}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: api
          route_config:
            virtual_hosts:
            - name: api
              domains: ["api.local"]
              routes:
              - name: tenant
                match:
                  prefix: /
                  headers: [{name: x-tenant, string_match: {exact: blue}}]
                route: {cluster: dfp, timeout: 0s}
                typed_per_filter_config:
                  homing.filters.http.affinity:
                    lookup_cluster: lookup
                    lookup_path: /owner
                    key: {header: x-client-id}
                    max_key_length: 8
                    allowed_hostports: ["*.local:80"]
              - match: {prefix: /}
                route: {cluster: lookup}
          http_filters:
          - name: homing.filters.http.affinity
          - name: envoy.filters.http.dynamic_forward_proxy
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig
              dns_cache_config: {name: c}
          - name: envoy.filters.http.router
  clusters:
  - name: lookup
    load_assignment:
      cluster_name: lookup
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.1.90, port_value: 80}}}
  - name: dfp
    lb_policy: CLUSTER_PROVIDED
    cluster_type:
      name: envoy.clusters.dynamic_forward_proxy
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig
        dns_cache_config: {name: c}
"""


class PlacementTest(ErrorAssertions):
    MEMBERS = [f"server-{i}.server-headless:8081" for i in range(3)]

    def test_key_hash_is_xxh64_with_seed_0(self):
        self.assertEqual(homing.key_hash(""), 0xEF46DB3751D8E999)  # XXH64's test vector
        self.assertEqual(homing.key_hash("123"), homing.key_hash(b"123"))
        self.assertNotEqual(homing.key_hash("123"), homing.key_hash("124"))

    def test_strategies_by_name(self):
        self.assertEqual([s.label for s in homing.Strategy],
                         ["jump", "rendezvous", "maglev", "modulo"])
        self.assertIs(homing.Strategy.from_name("maglev"), homing.Strategy.MAGLEV)
        with self.assertFails(Status.INVALID_ARGUMENT):
            homing.Strategy.from_name("random")
        self.assertIs(homing.Placement(self.MEMBERS, "rendezvous").strategy,
                      homing.Strategy.RENDEZVOUS)

    def test_every_strategy_is_deterministic_and_spreads_keys(self):
        for strategy in homing.Strategy:
            placement = homing.Placement(self.MEMBERS, strategy)
            again = homing.Placement(self.MEMBERS, strategy)
            owners = [placement.owner(f"client-{i}") for i in range(300)]
            self.assertEqual(owners, [again.owner(f"client-{i}") for i in range(300)])
            for index, member in owners:
                self.assertEqual(member, self.MEMBERS[index])
            self.assertEqual({index for index, _ in owners}, {0, 1, 2}, strategy)

    def test_jump_scale_out_moves_keys_only_to_the_new_member(self):
        placement = homing.Placement(self.MEMBERS)
        before = [placement.owner(str(i)).index for i in range(1000)]
        placement.set_members(self.MEMBERS + ["server-3.server-headless:8081"])
        self.assertEqual(len(placement), 4)
        after = [placement.owner(str(i)).index for i in range(1000)]
        moved = [(b, a) for b, a in zip(before, after) if b != a]
        self.assertTrue(moved)
        self.assertEqual({a for _, a in moved}, {3})

    def test_invalid_memberships_are_refused_and_the_old_one_stays(self):
        placement = homing.Placement(self.MEMBERS)
        with self.assertFails(Status.INVALID_ARGUMENT, "duplicate"):
            placement.set_members(["a", "a"])
        with self.assertFails(Status.INVALID_ARGUMENT, "contains a NUL byte"):
            placement.set_members(["a\0b"])
        self.assertEqual(placement.members, self.MEMBERS)
        with self.assertFails(Status.INVALID_ARGUMENT):
            homing.Placement([])
        with self.assertFails(Status.INVALID_ARGUMENT):
            homing.Placement(["a", ""])

    def test_owner_from_many_threads_at_once(self):
        placement = homing.Placement(self.MEMBERS, "maglev")
        expected = [placement.owner(str(i)) for i in range(2000)]
        results = {}

        def work(n):
            results[n] = [placement.owner(str(i)) for i in range(2000)]
        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(list(results.values()), [expected] * 4)


class LoadBalancerTest(ErrorAssertions):
    HOSTS = ["127.0.1.81:8080", "127.0.1.82:8080", "[::1]:8080"]

    def test_ring_hash_keeps_a_key_on_its_host_until_it_is_ejected(self):
        stats = homing.Stats()
        balancer = homing.LoadBalancer("backends", self.HOSTS, homing.LbPolicy.RING_HASH,
                                       weights=[1, 1, 2], stats=stats)
        self.assertEqual(balancer.hosts, self.HOSTS)
        first = balancer.pick("client-42")
        self.assertEqual(first.address, self.HOSTS[first.index])
        balancer.report(first.index, homing.Outcome.SUCCESS)
        for _ in range(5):  # Envoy's default: 5 consecutive 5xx eject
            pick = balancer.pick("client-42")
            self.assertEqual(pick, first)
            balancer.report(pick.index, homing.Outcome.SERVER_ERROR)
        self.assertFalse(balancer.healthy(first.index))
        self.assertEqual(sum(balancer.healthy(i) for i in range(3)), 2)
        moved = balancer.pick("client-42")
        balancer.report(moved.index, homing.Outcome.SUCCESS)
        self.assertNotEqual(moved.index, first.index)
        self.assertEqual(stats.counter("cluster.backends.upstream_rq_total"), 7)
        self.assertEqual(stats.counter("cluster.backends.upstream_rq_5xx"), 5)
        self.assertEqual(stats.gauge("cluster.backends.membership_healthy"), 2)
        self.assertFalse(balancer.healthy(99))
        self.assertFalse(balancer.healthy(-1))

    def test_round_robin_without_a_key(self):
        balancer = homing.LoadBalancer("rr", self.HOSTS[:2], "round_robin")
        picks = [balancer.pick().index for _ in range(4)]
        self.assertEqual(sorted(picks), [0, 0, 1, 1])

    def test_from_config_takes_the_cluster_settings(self):
        config = homing.Config.parse(router_config_text())
        balancer = homing.LoadBalancer.from_config(config, "pool")
        self.assertEqual(balancer.hosts, ["127.0.1.81:8080", "127.0.1.82:8080"])
        pick = balancer.pick("123")
        self.assertEqual(balancer.pick("123"), pick)  # RING_HASH, from the config
        with self.assertFails(Status.NOT_FOUND):
            homing.LoadBalancer.from_config(config, "nope")
        with self.assertFails(Status.INVALID_ARGUMENT):
            homing.LoadBalancer.from_config(config, "resolver")  # STRICT_DNS

    def test_argument_errors(self):
        with self.assertFails(Status.INVALID_ARGUMENT, "not-an-address"):
            homing.LoadBalancer("x", ["not-an-address"])
        with self.assertFails(Status.INVALID_ARGUMENT):
            homing.LoadBalancer("x", [])
        with self.assertFails(Status.INVALID_ARGUMENT):
            homing.LoadBalancer("", self.HOSTS)
        with self.assertFails(Status.INVALID_ARGUMENT, "2 weights for 3 hosts"):
            homing.LoadBalancer("x", self.HOSTS, weights=[1, 1])
        with self.assertFails(Status.INVALID_ARGUMENT):
            homing.LoadBalancer("x", self.HOSTS, weights=[1, 0, 1])
        with self.assertFails(Status.INVALID_ARGUMENT, "weights must be at least 1"):
            homing.LoadBalancer("x", self.HOSTS, weights=[1, -1, 1])
        balancer = homing.LoadBalancer("x", self.HOSTS)
        with self.assertFails(Status.INVALID_ARGUMENT):
            balancer.report(3, homing.Outcome.SUCCESS)
        with self.assertFails(Status.INVALID_ARGUMENT):
            balancer.report(0, 9)
        with self.assertFails(Status.INVALID_ARGUMENT, "host index -1 < 0"):
            balancer.report(-1, homing.Outcome.SUCCESS)


class StatsTest(ErrorAssertions):
    def setUp(self):
        self.stats = homing.Stats()
        balancer = homing.LoadBalancer("b", ["127.0.0.1:1"], stats=self.stats)
        balancer.report(balancer.pick().index, homing.Outcome.SUCCESS)

    def test_three_renderings(self):
        text = self.stats.render(filter="upstream_rq_total")
        self.assertEqual(text.strip(), "cluster.b.upstream_rq_total: 1")
        parsed = json.loads(self.stats.render("json", "upstream_rq_total"))
        self.assertEqual(parsed, {"stats": [{"name": "cluster.b.upstream_rq_total",
                                             "value": 1}]})
        prometheus = self.stats.render(homing.StatsFormat.PROMETHEUS, "upstream_rq_total")
        self.assertIn("homing_cluster_b_upstream_rq_total", prometheus)
        self.assertIn("cluster.b.membership_total: 1", self.stats.render())

    def test_errors(self):
        with self.assertFails(Status.INVALID_ARGUMENT, "missing )"):
            self.stats.render(filter="(")
        with self.assertFails(Status.NOT_FOUND):
            self.stats.counter("no.such.stat")
        with self.assertFails(Status.INVALID_ARGUMENT):
            self.stats.counter("cluster.b.membership_total")  # a gauge
        with self.assertFails(Status.INVALID_ARGUMENT):
            self.stats.gauge("cluster.b.upstream_rq_total")  # a counter
        with self.assertRaises(KeyError):
            self.stats.render("xml")


class EngineTest(ErrorAssertions):
    """The engine's life cycle, on answers that need no network."""

    def test_objects_on_a_stopped_engine_are_inert(self):
        engine = homing.Engine()
        cache = homing.DnsCache(engine, "inert")
        router = homing.Router(engine, homing.Config.parse(STATIC_CONFIG))
        self.assertEqual(repr(engine), "<homing.Engine running>")
        engine.stop()
        self.assertEqual(repr(engine), "<homing.Engine stopped>")
        with self.assertFails(Status.FAILED_PRECONDITION, "the loop of this object was freed"):
            cache.load("127.0.0.1")
        with self.assertFails(Status.FAILED_PRECONDITION):
            router.route(homing.Request("GET", "x", "/pool"))
        with self.assertFails(Status.FAILED_PRECONDITION, "the Engine is closed"):
            homing.DnsCache(engine, "late")
        cache.close()
        router.close()

    def test_cached_answers_come_before_the_call_returns_on_the_engine_thread(self):
        with homing.Engine() as engine:
            cache = homing.DnsCache(engine, "literal")
            seen = []
            pending = cache.load_callback("127.0.0.1:8080", 80, lambda host: seen.append(
                (host, threading.get_ident())))
            self.assertTrue(pending.done)
            self.assertEqual(len(seen), 1)
            host, thread = seen[0]
            self.assertNotEqual(thread, threading.get_ident())
            self.assertEqual((host.name, host.port, host.addresses, host.status, host.ok),
                             ("127.0.0.1", 8080, ("127.0.0.1:8080",), Status.OK, True))
            self.assertEqual(cache.load("[::1]", 443).addresses, ("[::1]:443",))
            self.assertEqual(asyncio.run(cache.load_async("127.0.0.2")).addresses,
                             ("127.0.0.2:80",))
            self.assertEqual(len(cache), 3)
            self.assertEqual(cache.find("127.0.0.1:8080").addresses, ("127.0.0.1:8080",))
            invalid = cache.load("not a name!")
            self.assertEqual((invalid.status, invalid.ok), (Status.INVALID_ARGUMENT, False))
            self.assertIn("contains whitespace", invalid.error)

    def test_blocking_calls_inside_a_callback_are_refused(self):
        with homing.Engine() as engine:
            cache = homing.DnsCache(engine, "inner")
            router = homing.Router(engine, homing.Config.parse(STATIC_CONFIG))
            errors = []

            def inside(_host):
                for call in (lambda: cache.load("127.0.0.9"),
                             lambda: router.route(homing.Request("GET", "x", "/pool")),
                             lambda: router.wait_ready(1)):
                    try:
                        call()
                    except HomingError as error:
                        errors.append(error.status)
            cache.load_callback("127.0.0.1", 80, inside)
            self.assertEqual(errors, [Status.WRONG_THREAD] * 3)

    def deferred_stops(self):
        """Records the engines stopped by the helper thread."""
        stopped = []
        original = homing.Engine._stop_elsewhere

        def record(engine, pointer):
            original(engine, pointer)
            stopped.append(threading.current_thread().name)
        homing.Engine._stop_elsewhere = record
        self.addCleanup(setattr, homing.Engine, "_stop_elsewhere", original)
        return stopped

    def test_an_engine_closed_from_its_own_thread_stops_right_after(self):
        stopped = self.deferred_stops()
        engine = homing.Engine()
        cache = homing.DnsCache(engine, "self-stop")
        cache.load_callback("127.0.0.1", 80, lambda _host: engine.close())
        self.assertTrue(engine.closed)
        # A helper thread stops it once the callback has returned.
        self.assertTrue(wait_until(lambda: stopped))
        self.assertEqual(stopped, ["homing-engine-stop"])
        with self.assertFails(Status.FAILED_PRECONDITION):
            cache.load("127.0.0.1")

    def test_the_last_reference_dropped_inside_a_callback(self):
        # The engine's __del__ runs on the engine thread: deferred, no crash.
        # A name sent to a DNS server that never answers: the failure comes
        # after the query timeout, on the engine thread.
        stopped = self.deferred_stops()
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        cache = homing.DnsCache(homing.Engine(), "orphan", query_timeout=0.3,
                                resolvers=[f"127.0.0.1:{silent.getsockname()[1]}"])
        box = [cache]
        del cache
        box[0].load_callback("nowhere.test", 80, lambda _host: box.clear())
        self.assertTrue(wait_until(lambda: stopped, timeout=10))
        self.assertEqual(box, [])
        self.assertEqual(stopped, ["homing-engine-stop"])

    def test_engines_left_running_are_stopped_at_exit(self):
        # An operation still waiting (a DNS server that never answers) and a
        # log callback: the interpreter stops the engine first, and exits.
        status, output = run_python(
            "import socket, homing\n"
            "silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "silent.bind(('127.0.0.1', 0))\n"
            "homing.set_log_callback(lambda level, message: None)\n"
            "engine = homing.Engine()\n"
            "cache = homing.DnsCache(engine, 'exit', query_timeout=30, resolvers=[\n"
            "    f'127.0.0.1:{silent.getsockname()[1]}'])\n"
            "pending = cache.load_callback('a.test', 80, print)\n"
            "print('waiting', pending.done)\n")
        self.assertEqual((status, output), (0, "waiting False\n"))

    def test_dns_cache_option_errors(self):
        with homing.Engine() as engine:
            cases = [({"refresh_rate": -1}, "homing_dns_cache_options_set_refresh_rate_ms"),
                     ({"family": 9}, "homing_dns_cache_options_set_lookup_family"),
                     ({"max_hosts": -1}, "max_hosts -1 is out of range"),
                     ({"resolvers": ["not an address"]}, "")]
            for options, fragment in cases:
                with self.subTest(options=options):
                    with self.assertFails(Status.INVALID_ARGUMENT, fragment):
                        homing.DnsCache(engine, "bad", **options)
            with self.assertFails(Status.INVALID_ARGUMENT):
                homing.DnsCache(engine, "")
            with self.assertFails(Status.INVALID_ARGUMENT, "min_refresh_rate"):
                homing.DnsCache(engine, "bad", min_refresh_rate=0)
            cache = homing.DnsCache(engine, "ok", failure_refresh_rate=(1, 10),
                                    host_ttl=300, query_timeout=2, max_pending_requests=8,
                                    preresolve=["127.0.0.1:80"])
            with self.assertFails(Status.INVALID_ARGUMENT, "default_port 70000 is not a port"):
                cache.load("x", 70000)
            with self.assertFails(Status.NOT_FOUND, "no DNS cache entry for 'x:1'"):
                cache.find("x:1")
            with self.assertRaisesRegex(TypeError, "a number of seconds"):
                homing.DnsCache(engine, "t", host_ttl="5m")

    def test_lookup_option_errors(self):
        with homing.Engine() as engine:
            cases = [({"lookup_hosts": []}, "at least one lookup host is required"),
                     ({"lookup_hosts": ["resolver:80"]}, ""),
                     ({"lookup_path": "where"}, ""),
                     ({"max_age": 30, "stale_age": 10}, "stale_age"),
                     ({"allowed_hostports": ["*"]}, ""),
                     ({"lookup_timeout": -1}, "homing_lookup_options_set_lookup_timeout_ms"),
                     ({"max_entries": -1}, "max_entries must not be negative")]
            for options, fragment in cases:
                options = {"lookup_hosts": ["127.0.0.1:1"], **options}
                with self.subTest(options=options):
                    with self.assertFails(Status.INVALID_ARGUMENT, fragment):
                        homing.Lookup(engine, "resolver", **options)
            with self.assertFails(Status.INVALID_ARGUMENT):
                homing.Lookup(engine, "", ["127.0.0.1:1"])

    def test_a_router_on_static_clusters(self):
        stats = homing.Stats()
        with homing.Engine() as engine:
            router = homing.Router(engine, homing.Config.parse(STATIC_CONFIG), "edge", stats)
            self.assertTrue(router.ready)
            router.wait_ready(0)
            pooled = router.route(homing.Request("GET", "x", "/pool?client_id=7"), 5)
            self.assertEqual((pooled.forward, pooled.status, pooled.route_name,
                              pooled.cluster, pooled.authority, pooled.key,
                              pooled.lookup_source),
                             (True, 0, "pool", "pool", "", b"", homing.Source.NONE))
            self.assertIn(pooled.upstream, ("127.0.1.81:8080", "127.0.1.82:8080"))
            router.report(pooled, homing.Outcome.SERVER_ERROR)
            self.assertEqual(stats.counter("cluster.pool.upstream_rq_5xx"), 1)
            router.misdirected(pooled)  # not an affinity route: nothing to forget
            with self.assertFails(Status.INVALID_ARGUMENT, "unknown outcome 9"):
                router.report(pooled, 9)

            missing = asyncio.run(router.route_async(homing.Request("GET", "x", "/nowhere")))
            self.assertEqual((missing.forward, missing.status, missing.error, missing.upstream,
                              missing.route_name),
                             (False, 404, "no_route", "", ""))
            self.assertEqual(missing.detail, 'no route matches GET /nowhere for host "x"')
            self.assertEqual(repr(missing), "<homing.Decision local reply 404 no_route>")

            other = homing.Router(engine, homing.Config.parse(STATIC_CONFIG))
            with self.assertFails(Status.INVALID_ARGUMENT,
                                  "the decision comes from another router"):
                other.report(pooled, homing.Outcome.SUCCESS)
            with self.assertFails(Status.INVALID_ARGUMENT, "listener index 3 is out of range"):
                homing.Router(engine, homing.Config.parse(STATIC_CONFIG), 3)
            with self.assertFails(Status.NOT_FOUND, "no listener named 'x'"):
                homing.Router(engine, homing.Config.parse(STATIC_CONFIG), "x")
            pooled.close()
            with self.assertFails(Status.FAILED_PRECONDITION, "the Decision is closed"):
                router.report(pooled, homing.Outcome.SUCCESS)


if __name__ == "__main__":
    unittest.main()
