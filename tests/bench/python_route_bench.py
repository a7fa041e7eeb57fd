#!/usr/bin/env python3
"""How long Python waits for the decision of a warm key (its owner cached),
three ways, in one run against python_support.Fixture (address block 6):

    asyncio, AsyncRouter   await router.route() on an AsyncioLoop: homing
                           runs on the event loop, no thread
    asyncio, Engine        await router.route_async() on an Engine: each call
                           is carried to the engine thread and back
    blocking, Engine       router.route() on an Engine, from a plain thread

Each path routes the same warm /join key; the figure is the best of
--repeats rounds of --calls calls (µs per call). Results go to
docs/benchmarks.md by hand. Run by `meson test -C build --suite bench
python_route_bench`, or by hand with tests/python/meson.build's environment.
"""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

SOURCE_ROOT = Path(os.environ.get("HOMING_SOURCE_ROOT")
                   or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(SOURCE_ROOT / "tests" / "python"))

from python_support import OWNER, Fixture  # noqa: E402

import homing  # noqa: E402

WARM = "/join?client_id=warm"


def best(rounds, measure):
    """The fastest of `rounds` measurements (seconds per call)."""
    return min(measure() for _ in range(rounds))


def per_call(calls, run):
    start = time.perf_counter()
    run(calls)
    return (time.perf_counter() - start) / calls


def asyncio_router(config_path, calls, rounds):
    async def measure():
        with homing.AsyncioLoop() as loop:
            router = homing.AsyncRouter(loop, homing.Config.load(config_path))
            await router.wait_ready(5)
            request = homing.Request("GET", "proxy.local", WARM)
            first = await router.route(request)
            assert first.forward, first

            async def many(n):
                for _ in range(n):
                    await router.route(request)

            results = []
            for _ in range(rounds):
                start = time.perf_counter()
                await many(calls)
                results.append((time.perf_counter() - start) / calls)
            decision = await router.route(request)
            assert decision.lookup_source == homing.Source.CACHE, decision
            return min(results)
    return asyncio.run(measure())


def engine_paths(config_path, calls, rounds):
    with homing.Engine() as engine:
        router = homing.Router(engine, homing.Config.load(config_path))
        router.wait_ready(5)
        request = homing.Request("GET", "proxy.local", WARM)
        assert router.route(request, 5).forward

        async def many(n):
            for _ in range(n):
                await router.route_async(request)

        async def hop():
            results = []
            for _ in range(rounds):
                start = time.perf_counter()
                await many(calls)
                results.append((time.perf_counter() - start) / calls)
            return min(results)

        def blocking(n):
            for _ in range(n):
                router.route(request)
        hopping = asyncio.run(hop())
        sync = best(rounds, lambda: per_call(calls, blocking))
        assert router.route(request).lookup_source == homing.Source.CACHE
        return hopping, sync


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000,
                        help="calls per round of the engine paths (the asyncio "
                             "router makes 10 times as many)")
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()

    fixture = Fixture(block=6).start()
    try:
        fixture.control(mapping={"warm": OWNER.format(0)})
        native = asyncio_router(fixture.config_path, options.calls * 10, options.repeats)
        hopping, sync = engine_paths(fixture.config_path, options.calls, options.repeats)
    finally:
        problems = fixture.stop()
    if problems:
        sys.exit("on the way out:\n" + "\n".join(problems))

    rows = [("asyncio, AsyncRouter.route()", native),
            ("asyncio, Router.route_async() (Engine)", hopping),
            ("blocking, Router.route() (Engine)", sync)]
    print(f"warm key {WARM}, best of {options.repeats} rounds, Python "
          f"{sys.version.split()[0]}, {homing.library_path}")
    print(f"{'path':<42}{'µs/call':>10}{'vs AsyncRouter':>16}")
    for name, seconds in rows:
        print(f"{name:<42}{seconds * 1e6:>10.2f}{seconds / native:>15.1f}x")


if __name__ == "__main__":
    main()
