#!/usr/bin/env python3
"""The parts that do I/O, on an Engine, against real servers (python_support
.Fixture: dnsmasq, two homing-servers as owners, resolver_server.py): the
router's whole pipeline blocking, in asyncio and with callbacks; the DNS
cache; the affinity lookup; cancellation, timeouts and shutdown while
operations wait. Then the router on an AsyncioLoop, driven by asyncio
itself: the same pipeline without the engine thread."""

import asyncio
import socket
import threading
import time
import unittest

from python_support import (OWNER, Fixture, missing_cluster_binaries, needs_cluster,
                            router_config_text, wait_until)

import homing
from homing import HomingError, LookupFailure, Outcome, Source, Status
from homing.aio import _calls
from homing.engine import _operations

ALLOWED = "*.server-headless.poc-routing.svc.cluster.local:8081"
fixture = None


def setUpModule():
    global fixture
    if not missing_cluster_binaries():
        fixture = Fixture(block=7).start()


def tearDownModule():
    if fixture is not None:
        problems = fixture.stop()
        if problems:
            raise AssertionError("on the way out:\n" + "\n".join(problems))


class EngineTestCase(unittest.TestCase):
    def setUp(self):
        fixture.control(reset=True, reset_stats=True)
        self.engine = homing.Engine()
        self.addCleanup(self.engine.close)

    def assertFails(self, status, fragment, call):
        with self.assertRaises(HomingError) as caught:
            call()
        self.assertEqual(caught.exception.status, status, str(caught.exception))
        self.assertIn(fragment, caught.exception.message)

    def assertNoOperationsLeft(self):
        self.assertTrue(wait_until(lambda: not _operations, 2.0), dict(_operations))

    def owner_address(self, index):
        return f"{fixture.owner_ip(index)}:8081"


@needs_cluster()
class RouterTest(EngineTestCase):
    def setUp(self):
        super().setUp()
        self.stats = homing.Stats()
        self.router = homing.Router(self.engine, homing.Config.load(fixture.config_path),
                                    stats=self.stats)
        self.router.wait_ready(5)

    def request(self, path):
        return homing.Request("GET", "proxy.local", path)

    def test_join_goes_to_the_owner_the_resolver_names_then_from_cache(self):
        fixture.control(mapping={"123": OWNER.format(1)})
        first = self.router.route(self.request("/join?client_id=123"), 5)
        self.assertEqual(
            (first.forward, first.upstream, first.authority, first.key, first.lookup_source,
             first.route_name, first.cluster, first.status, first.error, first.detail),
            (True, self.owner_address(1), OWNER.format(1), b"123", Source.RESOLVER,
             "join", "dynamic_forward_proxy_cluster", 0, "", ""))
        seen = []
        pending = self.router.route_callback(
            self.request("/join?client_id=123"),
            lambda decision: seen.append((decision, threading.get_ident())))
        self.assertTrue(pending.done)  # cached: decided before route_callback returned
        decision, thread = seen[0]
        self.assertEqual(decision.lookup_source, Source.CACHE)
        self.assertNotEqual(thread, threading.get_ident())  # on the engine thread
        self.assertEqual(fixture.resolver_total(), 1)

    def test_misdirected_sends_the_next_request_to_the_resolver(self):
        fixture.control(mapping={"m": OWNER.format(0)})
        first = self.router.route(self.request("/join?client_id=m"))
        fixture.control(mapping={"m": OWNER.format(1)})  # the client moved
        self.assertEqual(self.router.route(self.request("/join?client_id=m")).upstream,
                         self.owner_address(0))
        self.router.misdirected(first)
        moved = self.router.route(self.request("/join?client_id=m"))
        self.assertEqual((moved.upstream, moved.lookup_source),
                         (self.owner_address(1), Source.RESOLVER))
        self.assertEqual(fixture.resolver_total(), 2)

    def test_misdirected_naming_the_owner_skips_the_resolver(self):
        fixture.control(mapping={"n": OWNER.format(0)})
        first = self.router.route(self.request("/join?client_id=n"))
        asked = fixture.resolver_total()
        self.router.misdirected(first, OWNER.format(1))
        moved = self.router.route(self.request("/join?client_id=n"))
        self.assertEqual((moved.upstream, moved.lookup_source),
                         (self.owner_address(1), Source.CACHE))
        self.assertEqual(fixture.resolver_total(), asked)
        # A named owner outside the allow-list is not taken.
        self.router.misdirected(moved, "evil.example.com:8081")
        again = self.router.route(self.request("/join?client_id=n"))
        self.assertEqual((again.upstream, again.lookup_source),
                         (self.owner_address(0), Source.RESOLVER))

    def test_route_async_decides_many_requests_at_once(self):
        # Not more at once: resolver_server.py listens with a backlog of 5.
        keys = [f"client-{i}" for i in range(4)]
        fixture.control(delay_ms=200, mapping={k: OWNER.format(i % 2)
                                               for i, k in enumerate(keys)})

        async def route_all():
            tasks = [asyncio.create_task(self.router.route_async(
                self.request(f"/join?client_id={key}"))) for key in keys]
            await asyncio.sleep(0)  # every task has started its request
            waiting = len(_operations)
            return waiting, await asyncio.gather(*tasks)
        waiting, decisions = asyncio.run(route_all())
        # All in flight at once, while the event loop kept running.
        self.assertEqual(waiting, len(keys))
        self.assertEqual([d.upstream for d in decisions],
                         [self.owner_address(i % 2) for i in range(len(keys))])
        self.assertEqual({d.lookup_source for d in decisions}, {Source.RESOLVER})
        waiting, again = asyncio.run(route_all())
        # From cache: answered before route_async() waited at all.
        self.assertEqual(waiting, 0)
        self.assertEqual({d.lookup_source for d in again}, {Source.CACHE})
        self.assertNoOperationsLeft()

    def test_cancelling_route_async_cancels_the_request(self):
        fixture.control(delay_ms=300)

        async def cancel_one():
            task = asyncio.create_task(self.router.route_async(
                self.request("/join?client_id=slow")))
            await asyncio.sleep(0.05)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
        asyncio.run(cancel_one())
        self.assertNoOperationsLeft()

    def test_a_cancelled_callback_never_runs(self):
        fixture.control(delay_ms=300)
        calls = []
        pending = self.router.route_callback(self.request("/join?client_id=never"),
                                             calls.append)
        self.assertFalse(pending.done)
        self.assertEqual(repr(pending), "<homing.Pending waiting>")
        pending.cancel()
        self.assertTrue(pending.done)
        time.sleep(0.5)
        self.assertEqual(calls, [])
        self.assertNoOperationsLeft()

    def test_a_callback_runs_even_when_its_pending_is_dropped(self):
        fixture.control(delay_ms=100)
        calls = []
        self.router.route_callback(self.request("/join?client_id=dropped"), calls.append)
        self.assertTrue(wait_until(lambda: calls))
        self.assertEqual(calls[0].lookup_source, Source.RESOLVER)

    def test_route_gives_up_after_its_timeout(self):
        fixture.control(delay_ms=600)
        self.assertFails(Status.TIMEOUT, "no decision within 50 ms",
                         lambda: self.router.route(self.request("/join?client_id=late"), 0.05))

    def test_local_replies_are_decisions(self):
        cases = [("/join", {}, 400, "missing_key", 'query parameter "client_id" is required'),
                 ("/join?client_id=", {}, 400, "empty_key", "is empty"),
                 ("/join?client_id=evil", {"hostport": "evil.example.com:8081"}, 502,
                  "hostport_rejected", "not in allowed_hostports"),
                 ("/join?client_id=seven", {"hostport": OWNER.format(7)}, 503,
                  "dns_resolution_failed", 'DNS resolution of "server-7.'),
                 ("/join?client_id=down", {"status": 500}, 503, "resolver_unavailable", "500")]
        for path, control, status, error, detail in cases:
            with self.subTest(path=path):
                fixture.control(reset=True, **control)
                decision = self.router.route(self.request(path))
                self.assertEqual((decision.forward, decision.status, decision.error,
                                  decision.upstream), (False, status, error, ""))
                self.assertIn(detail, decision.detail)
        self.assertEqual(self.stats.counter("http.ingress_http.rq_local_reply"), len(cases))

    def test_keys_are_bytes(self):
        fixture.control(mapping={"a\u0000b": OWNER.format(0)})
        decision = self.router.route(self.request("/join?client_id=a%00b"))
        self.assertEqual((decision.key, decision.upstream), (b"a\0b", self.owner_address(0)))

    def test_closing_the_router_ends_waiting_coroutines(self):
        fixture.control(delay_ms=2000)

        async def close_while_waiting():
            task = asyncio.create_task(self.router.route_async(
                self.request("/join?client_id=waiting")))
            await asyncio.sleep(0.1)
            await asyncio.to_thread(self.router.close)
            await task
        self.assertFails(Status.CANCELLED, "was closed before an answer came",
                         lambda: asyncio.run(close_while_waiting()))
        self.assertFails(Status.FAILED_PRECONDITION, "the Router is closed",
                         lambda: self.router.ready)
        self.assertNoOperationsLeft()

    def test_stopping_the_engine_ends_blocked_callers(self):
        fixture.control(delay_ms=2000)
        outcome = []

        def wait_for_decision():
            try:
                self.router.route(self.request("/join?client_id=stuck"))
            except HomingError as error:
                outcome.append(error)
        thread = threading.Thread(target=wait_for_decision)
        thread.start()
        self.assertTrue(wait_until(lambda: fixture.resolver_total() == 1))
        self.engine.close()
        thread.join(5)
        self.assertEqual([(e.status, e.message) for e in outcome],
                         [(Status.CANCELLED, "the router was shut down before deciding")])
        self.assertFails(Status.FAILED_PRECONDITION, "the loop of this object was freed",
                         lambda: self.router.route(self.request("/where")))

    def test_the_routers_stats(self):
        self.router.route(self.request("/where?client_id=1"))
        text = self.stats.render(filter=r"^dns_cache\.dfp_cache\.num_hosts$")
        self.assertRegex(text, r"^dns_cache\.dfp_cache\.num_hosts: \d+\n$")
        self.assertEqual(self.stats.gauge("cluster.resolver.membership_total"), 1)


@needs_cluster()
class DnsCacheTest(EngineTestCase):
    def cache(self, **options):
        options.setdefault("resolvers", [fixture.dns_address])
        options.setdefault("family", homing.DnsFamily.V4_ONLY)
        return homing.DnsCache(self.engine, "test", **options)

    def test_first_from_the_server_then_from_the_cache(self):
        stats = homing.Stats()
        cache = self.cache(stats=stats)
        host = cache.load(OWNER.format(0), 80, timeout=5)
        self.assertEqual((host.name, host.port, host.addresses, host.status, host.error),
                         (OWNER.format(0).split(":")[0], 8081, (self.owner_address(0),),
                          Status.OK, ""))
        self.assertEqual(host.ttl, fixture.dns_ttl)
        seen = []
        self.assertTrue(cache.load_callback(OWNER.format(0), 80, seen.append).done)
        self.assertEqual(seen, [host])
        self.assertEqual(cache.find(OWNER.format(0)), host)
        self.assertEqual(len(cache), 1)
        self.assertEqual(stats.counter("dns_cache.test.dns_query_success"), 1)

    def test_a_name_the_server_does_not_know(self):
        cache = self.cache()
        name = "server-9.server-headless.poc-routing.svc.cluster.local"
        missing = asyncio.run(cache.load_async(name, 8081))
        self.assertEqual((missing.status, missing.ok, missing.addresses),
                         (Status.NOT_FOUND, False, ()))
        self.assertIn(f'DNS lookup of "{name}" failed', missing.error)

    def test_max_hosts_bounds_the_cache(self):
        cache = self.cache(max_hosts=1)
        cache.load(OWNER.format(0))
        self.assertFails(Status.OVERFLOW, "", lambda: cache.load(OWNER.format(1)))
        self.assertNoOperationsLeft()

    def test_waiting_loads_time_out_or_are_cancelled(self):
        # A DNS server that never answers.
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        cache = self.cache(resolvers=[f"127.0.0.1:{silent.getsockname()[1]}"],
                           query_timeout=5)
        self.assertFails(Status.TIMEOUT, "no answer for DNS load of 'a.test' within 0.1 s",
                         lambda: cache.load("a.test", timeout=0.1))
        calls = []
        pending = cache.load_callback("b.test", 80, calls.append)
        self.assertFalse(pending.done)
        pending.close()
        self.assertTrue(pending.done)
        self.assertNoOperationsLeft()
        self.assertEqual(calls, [])


@needs_cluster()
class LookupTest(EngineTestCase):
    def lookup(self, **options):
        options.setdefault("allowed_hostports", [ALLOWED])
        options.setdefault("lookup_timeout", 0.3)
        return homing.Lookup(self.engine, "resolver", [fixture.resolver_address],
                             stats=self.stats, **options)

    def setUp(self):
        super().setUp()
        self.stats = homing.Stats()

    def test_owner_from_the_resolver_then_from_the_cache(self):
        fixture.control(mapping={"k1": OWNER.format(1)})
        lookup = self.lookup()
        first = lookup.owner("k1", timeout=5)
        self.assertEqual(first, homing.LookupResult(True, OWNER.format(1), Source.RESOLVER,
                                                    LookupFailure.OK, Status.OK, ""))
        self.assertEqual(lookup.owner("k1").source, Source.CACHE)
        self.assertEqual(len(lookup), 1)
        lookup.invalidate("k1")
        self.assertEqual(len(lookup), 0)
        self.assertEqual(asyncio.run(lookup.owner_async("k1")).source, Source.RESOLVER)
        self.assertEqual(fixture.resolver_total(), 2)

    def test_waiters_of_one_key_share_one_resolver_request(self):
        fixture.control(delay_ms=200)
        lookup = self.lookup()
        results = []
        for _ in range(3):
            lookup.owner_callback("k2", results.append)
        self.assertTrue(wait_until(lambda: len(results) == 3))
        self.assertEqual({r.hostport for r in results}, {results[0].hostport})
        self.assertEqual(fixture.resolver_total(), 1)
        self.assertEqual(self.stats.counter("affinity.resolver.lookup_coalesced"), 2)

    def test_failures_are_results_classified(self):
        lookup = self.lookup()
        cases = [({"status": 500}, LookupFailure.RESOLVER_UNAVAILABLE, Status.UNAVAILABLE,
                  "500"),
                 ({"mode": "garbage"}, LookupFailure.BAD_ANSWER, Status.INVALID_ARGUMENT,
                  "not JSON"),
                 ({"hostport": "evil.example.com:8081"}, LookupFailure.HOSTPORT_REJECTED,
                  Status.PERMISSION_DENIED, "not in allowed_hostports"),
                 ({"delay_ms": 1000}, LookupFailure.RESOLVER_TIMEOUT, Status.TIMEOUT, "")]
        for index, (control, failure, status, fragment) in enumerate(cases):
            with self.subTest(failure=failure.name):
                fixture.control(reset=True, **control)
                result = lookup.owner(f"f{index}")
                self.assertEqual((result.ok, result.hostport, result.source,
                                  result.failure), (False, "", Source.NONE, failure))
                self.assertEqual(result.status, status, result.error)
                self.assertIn(fragment, result.error)

    def test_a_default_target_stands_in(self):
        fixture.control(status=503)
        lookup = self.lookup(default_target="fallback.local:8081")
        result = lookup.owner("d1")
        self.assertEqual((result.ok, result.hostport, result.source, result.failure),
                         (True, "fallback.local:8081", Source.DEFAULT_TARGET,
                          LookupFailure.RESOLVER_UNAVAILABLE))

    def test_header_keys_are_sent_as_a_query_parameter_of_their_name(self):
        fixture.control(mapping={"h1": OWNER.format(0)})
        lookup = self.lookup(key_source=homing.KeySource.HEADER, key_name="client_id",
                             lookup_path="/where", hostport_field="hostport")
        self.assertEqual(lookup.owner("h1").hostport, OWNER.format(0))

    def test_rejected_answers_are_logged_at_debug(self):
        lines = []
        homing.set_log_level(homing.LogLevel.DEBUG)
        homing.set_log_callback(lambda level, message: lines.append((level, message)))
        try:
            fixture.control(hostport="evil.example.com:8081")
            self.lookup().owner("logged")
        finally:
            homing.set_log_callback(None)
            homing.set_log_level(homing.LogLevel.INFO)
        self.assertTrue(any(level == homing.LogLevel.DEBUG and "evil.example.com" in message
                            for level, message in lines), lines)


def decided_without_suspending(coroutine):
    """Runs `coroutine` one step: its result if it finished there (it never
    gave the event loop a turn), else None (it is closed)."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return finished.value
    coroutine.close()
    return None


@needs_cluster()
class AsyncRouterTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        fixture.control(reset=True, reset_stats=True)
        self.loop = homing.AsyncioLoop()
        self.addCleanup(self.loop.close)
        self.stats = homing.Stats()
        self.router = homing.AsyncRouter(self.loop, homing.Config.load(fixture.config_path),
                                         stats=self.stats)
        await self.router.wait_ready(5)

    def request(self, path):
        return homing.Request("GET", "proxy.local", path)

    def owner_address(self, index):
        return f"{fixture.owner_ip(index)}:8081"

    async def assertFailsAsync(self, status, fragment, awaitable):
        with self.assertRaises(HomingError) as caught:
            await awaitable
        self.assertEqual(caught.exception.status, status, str(caught.exception))
        self.assertIn(fragment, caught.exception.message)

    async def test_a_cold_key_waits_for_the_resolver_a_warm_one_does_not_wait(self):
        fixture.control(mapping={"123": OWNER.format(1)})
        cold = await self.router.route(self.request("/join?client_id=123"))
        self.assertEqual((cold.forward, cold.upstream, cold.authority, cold.key,
                          cold.lookup_source, cold.route_name),
                         (True, self.owner_address(1), OWNER.format(1), b"123",
                          Source.RESOLVER, "join"))
        self.assertIsNone(decided_without_suspending(
            self.router.route(self.request("/join?client_id=456"))))
        warm = decided_without_suspending(self.router.route(self.request("/join?client_id=123")))
        self.assertEqual((warm.upstream, warm.lookup_source),
                         (self.owner_address(1), Source.CACHE))
        self.assertEqual(fixture.resolver_total(), 1)
        self.assertEqual(_calls, {})

    async def test_many_routes_wait_at_once(self):
        # Not more at once: resolver_server.py listens with a backlog of 5.
        keys = [f"client-{i}" for i in range(4)]
        fixture.control(delay_ms=200, mapping={k: OWNER.format(i % 2)
                                               for i, k in enumerate(keys)})
        tasks = [asyncio.create_task(self.router.route(self.request(f"/join?client_id={k}")))
                 for k in keys]
        await asyncio.sleep(0)
        self.assertEqual(len(_calls), len(keys))
        decisions = await asyncio.gather(*tasks)
        self.assertEqual([d.upstream for d in decisions],
                         [self.owner_address(i % 2) for i in range(len(keys))])
        self.assertEqual(_calls, {})

    async def test_local_replies_are_decisions(self):
        cases = [("/join", {}, 400, "missing_key"),
                 ("/join?client_id=evil", {"hostport": "evil.example.com:8081"}, 502,
                  "hostport_rejected"),
                 ("/join?client_id=seven", {"hostport": OWNER.format(7)}, 503,
                  "dns_resolution_failed"),
                 ("/join?client_id=down", {"status": 500}, 503, "resolver_unavailable"),
                 ("/nowhere", {}, 404, "no_route")]
        for path, control, status, error in cases:
            with self.subTest(path=path):
                fixture.control(reset=True, **control)
                decision = await self.router.route(self.request(path))
                self.assertEqual((decision.forward, decision.status, decision.error),
                                 (False, status, error))
        self.assertEqual(self.stats.counter("http.ingress_http.rq_local_reply"), len(cases))

    async def test_cancelling_the_coroutine_cancels_the_route(self):
        fixture.control(delay_ms=300, mapping={"slow": OWNER.format(0)})
        task = asyncio.create_task(self.router.route(self.request("/join?client_id=slow")))
        await asyncio.sleep(0.05)
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task
        self.assertEqual(_calls, {})
        # The answer that comes later is dropped; the key is routed again.
        decision = await self.router.route(self.request("/join?client_id=slow"))
        self.assertEqual(decision.upstream, self.owner_address(0))

    async def test_a_connect_failure_forgets_the_owner(self):
        fixture.control(mapping={"r": OWNER.format(0)})
        first = await self.router.route(self.request("/join?client_id=r"))
        fixture.control(mapping={"r": OWNER.format(1)})  # the client moved
        self.assertEqual((await self.router.route(self.request("/join?client_id=r"))).upstream,
                         self.owner_address(0))
        self.router.report(first, Outcome.CONNECT_FAILURE)
        moved = await self.router.route(self.request("/join?client_id=r"))
        self.assertEqual((moved.upstream, moved.lookup_source),
                         (self.owner_address(1), Source.RESOLVER))
        self.router.misdirected(moved)
        again = await self.router.route(self.request("/join?client_id=r"))
        self.assertEqual(again.lookup_source, Source.RESOLVER)
        self.assertEqual(fixture.resolver_total(), 3)

    async def test_wait_ready_serves_every_waiter_or_times_out(self):
        router = homing.AsyncRouter(self.loop, homing.Config.load(fixture.config_path))
        self.addCleanup(router.close)
        await asyncio.gather(router.wait_ready(5), router.wait_ready(5))
        self.assertTrue(router.ready)
        await router.wait_ready(0)  # ready: returns at once
        # A DNS server that never answers: the resolver cluster never gets hosts.
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        config = homing.Config.parse(router_config_text(
            f"127.0.0.1:{silent.getsockname()[1]}", fixture.resolver_port))
        stuck = homing.AsyncRouter(self.loop, config)
        self.addCleanup(stuck.close)
        await self.assertFailsAsync(Status.TIMEOUT, "not ready within 0.1 s",
                                    stuck.wait_ready(0.1))
        self.assertFalse(stuck.ready)

    async def test_other_threads_are_refused(self):
        elsewhere = self.router.route(self.request("/where"))
        await self.assertFailsAsync(Status.WRONG_THREAD, "",
                                    asyncio.to_thread(asyncio.run, elsewhere))

    async def test_closing_the_loop_ends_waiting_routes(self):
        fixture.control(delay_ms=2000)
        task = asyncio.create_task(self.router.route(self.request("/join?client_id=waiting")))
        await asyncio.sleep(0.1)
        self.loop.close()
        await self.assertFailsAsync(Status.CANCELLED, "was closed before an answer came", task)
        await self.assertFailsAsync(Status.FAILED_PRECONDITION,
                                    "the loop of this object was freed",
                                    self.router.route(self.request("/where")))
        self.assertEqual((_calls, self.loop._interest), ({}, {}))

    async def test_closing_the_router_ends_its_waiting_routes(self):
        fixture.control(delay_ms=2000)
        task = asyncio.create_task(self.router.route(self.request("/join?client_id=closing")))
        await asyncio.sleep(0.1)
        self.router.close()
        await self.assertFailsAsync(Status.CANCELLED, "was closed before an answer came", task)
        await self.assertFailsAsync(Status.FAILED_PRECONDITION, "the AsyncRouter is closed",
                                    self.router.route(self.request("/where")))
        self.assertEqual(_calls, {})


@needs_cluster()
class AsyncioLoopEndTest(unittest.TestCase):
    def test_the_event_loop_ending_with_a_route_pending(self):
        fixture.control(reset=True, delay_ms=2000)
        outcome = []

        async def leave_one_waiting():
            loop = homing.AsyncioLoop()
            router = homing.AsyncRouter(loop, homing.Config.load(fixture.config_path))
            await router.wait_ready(5)

            async def route():
                try:
                    await router.route(homing.Request("GET", "proxy.local",
                                                      "/join?client_id=left"))
                except asyncio.CancelledError:
                    outcome.append("cancelled")
                    raise
            asyncio.create_task(route())
            await asyncio.sleep(0.1)
            return loop
        # asyncio.run() cancels the task left behind, then closes its loop.
        loop = asyncio.run(leave_one_waiting())
        self.assertEqual((outcome, _calls), (["cancelled"], {}))
        loop.close()  # after its event loop: still releases everything
        self.assertEqual(loop._interest, {})


if __name__ == "__main__":
    unittest.main()
