#!/usr/bin/env python3
"""No memory leaks over many calls: the resident set size stays put.

Each test warms up (caches, Python's free lists, malloc's arenas), measures
RSS (/proc/self/statm), makes N more calls, and measures again. The bound,
1 MiB, is far above what Python's allocators drift by, and below what a leak
of 16 bytes per call leaves after 100,000 calls (1.6 MB); the paths through
the engine are slower, so they make fewer calls, but every object they leak
(a decision, a pending handle, an operation) is far larger than 16 bytes.

Skipped under sanitizers: ASan's quarantine keeps freed memory resident.
"""

import asyncio
import os
import unittest

from python_support import STATIC_CONFIG, rss_bytes, router_config_text

import homing

BOUND = 1 << 20
BAD_CONFIG = "static_resources:\n  clusters:\n  - name: a\n    lb_policy: FOO\n"


@unittest.skipIf(os.environ.get("HOMING_SANITIZED"), "RSS means nothing under ASan")
class NoLeaks(unittest.TestCase):
    def assertStable(self, work, calls):
        work(calls // 10)
        before = rss_bytes()
        work(calls)
        growth = rss_bytes() - before
        self.assertLess(growth, BOUND, f"RSS grew by {growth} bytes over {calls} calls")

    def test_placement_owner(self):
        placement = homing.Placement([f"server-{i}:8081" for i in range(5)], "maglev")

        def work(calls):
            for i in range(calls):
                placement.owner(f"client-{i}")
        self.assertStable(work, 100_000)

    def test_route_match_and_affinity_keys(self):
        table = homing.RouteTable(homing.Config.parse(router_config_text()))
        request = homing.Request("GET", "proxy.local", "/")

        def work(calls):
            for i in range(calls):
                request.path = f"/join?client_id={i}"
                table.match(request).affinity_key(request)
        self.assertStable(work, 100_000)

    def test_config_parse_errors(self):
        def work(calls):
            for _ in range(calls):
                try:
                    homing.Config.parse(BAD_CONFIG)
                except homing.HomingError:
                    pass
                else:
                    raise AssertionError("the config was accepted")
        self.assertStable(work, 100_000)

    def test_stats_rendering(self):
        stats = homing.Stats()
        homing.LoadBalancer("b", ["127.0.0.1:1", "127.0.0.1:2"], stats=stats)

        def work(calls):
            for _ in range(calls):
                stats.render(filter="upstream_rq")
        self.assertStable(work, 100_000)

    def test_decisions(self):
        with homing.Engine() as engine:
            router = homing.Router(engine, homing.Config.parse(STATIC_CONFIG))
            request = homing.Request("GET", "x", "/")

            def work(calls):
                for i in range(calls):
                    request.path = f"/pool?client_id={i}" if i % 2 else "/nowhere"
                    decision = router.route(request)
                    decision.upstream, decision.key, decision.detail, decision.route_name
                    if decision.forward:
                        router.report(decision, homing.Outcome.SUCCESS)
            self.assertStable(work, 100_000)

    def test_callbacks_coroutines_and_results(self):
        with homing.Engine() as engine:
            router = homing.Router(engine, homing.Config.parse(STATIC_CONFIG))
            cache = homing.DnsCache(engine, "leaks")
            request = homing.Request("GET", "x", "/pool?client_id=1")
            seen = []

            async def coroutines(calls):
                for _ in range(calls):
                    await router.route_async(request)

            def work(calls):
                for _ in range(calls // 3):
                    router.route_callback(request, seen.append)
                    cache.load_callback("127.0.0.1", 80, seen.append)
                    seen.clear()
                asyncio.run(coroutines(calls // 3))
            self.assertStable(work, 30_000)

    def test_asyncio_routes(self):
        async def routes(calls):
            with homing.AsyncioLoop() as loop:
                router = homing.AsyncRouter(loop, homing.Config.parse(STATIC_CONFIG))
                await router.wait_ready(1)
                request = homing.Request("GET", "x", "/")
                for i in range(calls):
                    request.path = f"/pool?client_id={i}" if i % 2 else "/nowhere"
                    decision = await router.route(request)
                    if decision.forward:
                        router.report(decision, homing.Outcome.SUCCESS)
                router.close()
        self.assertStable(lambda calls: asyncio.run(routes(calls)), 100_000)


if __name__ == "__main__":
    unittest.main()
