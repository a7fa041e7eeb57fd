"""homing for Python: route each client's requests to the one backend
instance that owns the client.

A ctypes binding of libhoming's C ABI (include/homing/homing.h). Routing
without I/O (:class:`Config`, :class:`RouteTable`, :class:`Placement`,
:class:`LoadBalancer`, :class:`Stats`) works anywhere; the parts that do I/O
(:class:`Router`, :class:`DnsCache`, :class:`Lookup`) run on an
:class:`Engine`, homing's own loop thread, and answer blocking callers,
asyncio coroutines or callbacks; or, for asyncio without a thread hop, the
router runs on the event loop itself (:class:`AsyncioLoop`,
:class:`AsyncRouter`).

Example::

    import homing

    with homing.Engine() as engine:
        router = homing.Router(engine, homing.Config.load("proxy.yaml"))
        router.wait_ready(timeout=5)
        request = homing.Request("GET", "proxy.local", "/join?client_id=123")
        print(router.route(request).upstream)

Every failed call raises :class:`HomingError`. The library is found through
``$HOMING_LIBRARY``, this package's directory, or the system loader; see
docs/python.md.
"""

from ._ffi import (HomingError, LibraryError, Status, library_path,
                   library_version, strerror)
from ._ffi import lib as _lib
from .aio import AsyncioLoop, AsyncRouter
from .balancer import LbPolicy, LoadBalancer, Outcome, Pick
from .config import Affinity, Config, KeySource, Request, Route, RouteTable
from .dns import DnsCache, DnsFamily, DnsHost
from .engine import Engine, Pending
from .log import LogLevel, log_level, set_log_callback, set_log_level
from .lookup import Lookup, LookupFailure, LookupResult
from .placement import Owner, Placement, Strategy, key_hash
from .router import Decision, Router, Source
from .stats import Stats, StatsFormat

__version__ = "0.1.0"


def version() -> str:
    """The loaded libhoming's version, "MAJOR.MINOR.PATCH"."""
    return _lib.version().decode()


__all__ = [
    "Affinity", "AsyncRouter", "AsyncioLoop", "Config", "Decision",
    "DnsCache", "DnsFamily", "DnsHost", "Engine", "HomingError", "KeySource",
    "LbPolicy", "LibraryError", "LoadBalancer", "LogLevel", "Lookup",
    "LookupFailure", "LookupResult", "Outcome", "Owner", "Pending", "Pick",
    "Placement", "Request", "Route", "RouteTable", "Router", "Source",
    "Stats", "StatsFormat", "Status", "Strategy", "key_hash", "library_path",
    "library_version", "log_level", "set_log_callback", "set_log_level",
    "strerror", "version",
]
