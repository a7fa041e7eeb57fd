"""The router: the whole pipeline of one listener of a config.

Route match, then for affinity routes the affinity lookup and the DNS
cache, else the cluster's load balancer. The answer is a :class:`Decision`:
forward to an address (with the Host to send), or answer locally (404
no_route, 400 missing_key / empty_key / invalid_key, 503
resolver_unavailable / resolver_timeout / lookup_overflow /
dns_resolution_failed / dns_overflow / no_healthy_upstream, 502
bad_resolver_answer / hostport_rejected). A local reply is a decision, not
an error.

Example::

    with Engine() as engine:
        router = Router(engine, Config.load("proxy.yaml"))
        router.wait_ready(timeout=5)
        decision = router.route(Request("GET", "proxy.local", "/join?client_id=1"))
        if decision.forward:
            print("connect to", decision.upstream, "Host:", decision.authority)
        else:
            print(decision.status, decision.error, decision.detail)

    # in a coroutine:
    decision = await router.route_async(request)

Thread safety: a Router may be used from any thread and from several
coroutines at once; a Decision is immutable.
"""

from __future__ import annotations

import enum
from ctypes import byref, c_size_t
from typing import Any, Callable, Optional, Union

from . import _ffi
from ._ffi import Handle, Text, decode, encode, lib, milliseconds
from .balancer import Outcome
from .config import Config, Request
from .engine import AsyncWait, Engine, EngineObject, Pending, decision_trampoline, start
from .stats import Stats


class Source(enum.IntEnum):
    """Where an owner (an affinity answer) came from."""

    NONE = -1            #: no owner is known
    CACHE = 0
    STALE = 1            #: served stale while a refresh runs
    RESOLVER = 2
    DEFAULT_TARGET = 3


class Decision(Handle):
    """Where a request goes. Decisions come from a :class:`Router`; pass one
    back to :meth:`Router.report` or :meth:`Router.misdirected`."""

    @classmethod
    def _copy(cls, borrowed: Any) -> "Decision":
        return cls(lib.decision_copy(borrowed))

    def _dispose(self, pointer: Any) -> None:
        lib.decision_free(pointer)

    @property
    def forward(self) -> bool:
        """True to forward the request, False for a local reply."""
        return bool(lib.decision_forward(self._ref))

    @property
    def status(self) -> int:
        """The local reply's HTTP status (0 when forwarding)."""
        return lib.decision_status(self._ref)

    @property
    def error(self) -> str:
        """The local reply's code ("no_route", ...; "" when forwarding)."""
        return decode(lib.decision_error(self._ref))

    @property
    def detail(self) -> str:
        """A human-readable reason for the local reply ("" when forwarding)."""
        return decode(lib.decision_detail(self._ref))

    @property
    def upstream(self) -> str:
        """The address to connect to, "ip:port" ("[v6]:port"); "" for a
        local reply."""
        return decode(lib.decision_upstream(self._ref))

    @property
    def authority(self) -> str:
        """The Host to send ("" keeps the client's)."""
        return decode(lib.decision_authority(self._ref))

    @property
    def key(self) -> bytes:
        """The affinity key (bytes; b"" for other routes)."""
        length = c_size_t()
        pointer = lib.decision_key(self._ref, byref(length))
        return _ffi.ctypes.string_at(pointer, length.value) if pointer else b""

    @property
    def lookup_source(self) -> Source:
        """Where the owner came from, or Source.NONE."""
        return Source(lib.decision_lookup_source(self._ref))

    @property
    def route_name(self) -> str:
        """The matched route ("" for no_route)."""
        return decode(lib.decision_route_name(self._ref))

    @property
    def cluster(self) -> str:
        """The matched route's cluster ("" for no_route)."""
        return decode(lib.decision_cluster(self._ref))

    def __repr__(self) -> str:
        if self.closed:
            return "<homing.Decision closed>"
        if self.forward:
            return (f"<homing.Decision forward to {self.upstream} (Host "
                    f"{self.authority or '<client>'}) route={self.route_name!r}>")
        return f"<homing.Decision local reply {self.status} {self.error}>"


DecisionCallback = Callable[[Decision], None]


class _RouterMethods:
    """What :class:`Router` and AsyncRouter share: the handle's release,
    readiness, and how forwarded requests ended, told back to the router."""

    _ref: Any

    def _dispose(self, pointer: Any) -> None:
        lib.router_free(pointer)

    @property
    def ready(self) -> bool:
        """True once every STRICT_DNS cluster has had its first DNS answer
        (the admin /ready)."""
        return bool(lib.router_ready(self._ref))

    def report(self, decision: Decision, outcome: Union[Outcome, int]) -> None:
        """How the forwarded request ended: feeds the passive health of
        load-balanced routes; for an affinity route, CONNECT_FAILURE forgets
        the key's owner so the next request asks the resolver again (nothing
        to do for local replies). INVALID_ARGUMENT for an unknown outcome or
        a decision of another router."""
        lib.router_report(self._ref, decision._ref, int(outcome))

    def misdirected(self, decision: Decision, owner: Optional[Text] = None) -> None:
        """The target answered 421 Misdirected Request: the next request for
        the decision's key asks the resolver again, or, when the 421 named
        the new owner (`owner`, from its ``x-homing-owner`` header) and that
        hostport passes the route's allow-list, goes there directly."""
        if owner is None:
            lib.router_misdirected(self._ref, decision._ref)
            return
        data = encode(owner, "owner")
        lib.router_misdirected_to(self._ref, decision._ref, data, len(data))


class Router(_RouterMethods, EngineObject):
    """A router for listener `listener` (index or name) of `config`, on
    `engine`. It owns the config's clusters and DNS caches (STRICT_DNS
    clusters start resolving now); the config may be closed afterwards.
    Its stats ("http.<stat_prefix>.*", "cluster.<name>.*",
    "dns_cache.<name>.*") go to `stats` (None: a private store).
    INVALID_ARGUMENT for a listener out of range or a config the router
    cannot run."""

    def __init__(self, engine: Engine, config: Config,
                 listener: Union[int, str] = 0,
                 stats: Optional[Stats] = None) -> None:
        out = _ffi.router_p()
        lib.router_new(engine._loop_ref, config._ref, config.listener_index(listener),
                       stats._ref if stats is not None else None, byref(out))
        super().__init__(engine, out)

    def wait_ready(self, timeout: Optional[float] = None) -> None:
        """Blocks until ready, at most `timeout` seconds (None: no limit).
        TIMEOUT when it passes; WRONG_THREAD inside an engine callback."""
        lib.router_wait_ready(self._ref, milliseconds(timeout, "timeout"))

    def route(self, request: Request, timeout: Optional[float] = None) -> Decision:
        """Decides where `request` goes, waiting at most `timeout` seconds
        (None: until decided; lookups and DNS queries have timeouts of their
        own). TIMEOUT cancels the request; CANCELLED when the engine stops
        meanwhile; WRONG_THREAD inside an engine callback."""
        out = _ffi.decision_p()
        lib.router_route_sync(self._ref, request._ref,
                              milliseconds(timeout, "timeout"), byref(out))
        return Decision(out)

    async def route_async(self, request: Request) -> Decision:
        """Decides where `request` goes, in asyncio: a cached decision is
        returned at once; otherwise the coroutine waits for it without
        blocking the event loop. Cancelling the coroutine cancels the
        request. The request may be changed or reused as soon as the
        coroutine was first resumed (homing copies what it keeps)."""
        waiter = AsyncWait()
        pending = self._start(request, waiter.deliver)
        return await waiter.wait(pending)

    def route_callback(self, request: Request,
                       callback: DecisionCallback) -> Pending:
        """Decides where `request` goes and calls ``callback(decision)``:
        before this returns when everything needed is cached, else later on
        the engine thread (do not block there). The returned Pending can
        cancel the callback. The callback is not called when the router or
        its engine is closed first."""
        def deliver(decision: Any, error: Optional[BaseException]) -> None:
            if error is None:
                callback(decision)
        return self._start(request, deliver)

    def _start(self, request: Request,
               deliver: Callable[[Any, Optional[BaseException]], None]) -> Pending:
        ref, request_ref = self._ref, request._ref
        return start(self, lambda token, out: lib.router_route(
            ref, request_ref, decision_trampoline, token, out),
            Decision._copy, deliver)

    def __repr__(self) -> str:
        if self.closed:
            return "<homing.Router closed>"
        return f"<homing.Router ready={self.ready}>"
