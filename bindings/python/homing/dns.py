"""The DNS cache: Envoy's dynamic-forward-proxy cache on c-ares, on an engine.

Entries are keyed "host:port", refreshed at max(min refresh rate, TTL); a
failed refresh keeps the last good addresses; unused hosts are evicted after
`host_ttl`; `max_hosts` bounds the cache.

Example::

    with Engine() as engine:
        cache = DnsCache(engine, "example", resolvers=["127.0.0.1:5353"],
                         family=DnsFamily.V4_ONLY)
        host = cache.load("server-1.example.local", 8081, timeout=5)
        print(host.addresses)          # ['10.0.0.11:8081']

Thread safety: any thread; callbacks run on the engine thread.
"""

from __future__ import annotations

import enum
from ctypes import byref, c_size_t
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Union

from . import _ffi
from ._ffi import Status, Text, decode, encode, lib, milliseconds
from .engine import (AsyncWait, BlockingWait, Engine, EngineObject, Pending,
                     dns_trampoline, start)
from .stats import Stats


class DnsFamily(enum.IntEnum):
    """Which address families a lookup asks for (Envoy's
    dns_lookup_family)."""

    V4_ONLY = 0
    V6_ONLY = 1
    V4_PREFERRED = 2
    AUTO = 3    #: AAAA, else A (Envoy's default)
    ALL = 4


@dataclass(frozen=True)
class DnsHost:
    """A DNS cache entry, as it was when taken: the host (without port), the
    port, the resolved addresses ("ip:port", preferred first), the outcome of
    the latest resolution (`status` NOT_FOUND for NXDOMAIN, TIMEOUT,
    UNAVAILABLE, ...; `error` its message) and the answer's TTL in seconds
    (None when unknown). A failed resolution has no addresses; a failed
    refresh keeps the last good ones."""

    name: str
    port: int
    addresses: tuple[str, ...]
    status: Union[Status, int]
    error: str
    ttl: Optional[float]

    @property
    def ok(self) -> bool:
        """True when the entry has addresses."""
        return bool(self.addresses)

    @classmethod
    def _from(cls, pointer: Any) -> "DnsHost":
        status = lib.dns_host_status(pointer)
        try:
            status = Status(status)
        except ValueError:
            pass
        ttl = lib.dns_host_ttl_ms(pointer)
        return cls(decode(lib.dns_host_name(pointer)), lib.dns_host_port(pointer),
                   tuple(decode(lib.dns_host_address(pointer, i))
                         for i in range(lib.dns_host_address_count(pointer))),
                   status, decode(lib.dns_host_error(pointer)),
                   ttl / 1000 if ttl else None)


DnsCallback = Callable[[DnsHost], None]


class DnsCache(EngineObject):
    """A DNS cache named `name` (its stats: "dns_cache.<name>.*", in `stats`
    or a private store) on `engine`. Every option left None keeps Envoy's
    default: family AUTO, refresh 60 s before the first answer, minimum
    refresh 5 s, failure refresh at the refresh rate, host_ttl 5 min,
    max_hosts 1024, max_pending_requests 1024, query_timeout 5 s, the
    system's resolvers. Durations are seconds; `resolvers` are "ip" or
    "ip:port"; `failure_refresh_rate` is (base, max) of a jittered backoff;
    `preresolve` names "host:port" entries resolved at creation. Invalid
    options raise INVALID_ARGUMENT naming the field."""

    def __init__(self, engine: Engine, name: str, *,
                 family: Optional[DnsFamily] = None,
                 resolvers: Iterable[str] = (),
                 refresh_rate: Optional[float] = None,
                 min_refresh_rate: Optional[float] = None,
                 failure_refresh_rate: Optional[tuple[float, float]] = None,
                 host_ttl: Optional[float] = None,
                 max_hosts: Optional[int] = None,
                 max_pending_requests: Optional[int] = None,
                 query_timeout: Optional[float] = None,
                 preresolve: Iterable[str] = (),
                 stats: Optional[Stats] = None) -> None:
        options = lib.dns_cache_options_new()
        try:
            lib.dns_cache_options_set_name(options, encode(name, "name"))
            if family is not None:
                lib.dns_cache_options_set_lookup_family(options, int(family))
            for resolver in resolvers:
                lib.dns_cache_options_add_resolver(options, encode(resolver, "resolver"))
            for seconds, setter, what in (
                    (refresh_rate, lib.dns_cache_options_set_refresh_rate_ms,
                     "refresh_rate"),
                    (min_refresh_rate, lib.dns_cache_options_set_min_refresh_rate_ms,
                     "min_refresh_rate"),
                    (host_ttl, lib.dns_cache_options_set_host_ttl_ms, "host_ttl"),
                    (query_timeout, lib.dns_cache_options_set_query_timeout_ms,
                     "query_timeout")):
                if seconds is not None:
                    setter(options, milliseconds(seconds, what))
            if failure_refresh_rate is not None:
                base, maximum = failure_refresh_rate
                lib.dns_cache_options_set_failure_refresh_rate_ms(
                    options, milliseconds(base, "failure_refresh_rate"),
                    milliseconds(maximum, "failure_refresh_rate"))
            if max_hosts is not None:
                lib.dns_cache_options_set_max_hosts(options, _count(max_hosts, "max_hosts"))
            if max_pending_requests is not None:
                lib.dns_cache_options_set_max_pending_requests(
                    options, _count(max_pending_requests, "max_pending_requests"))
            for host_port in preresolve:
                lib.dns_cache_options_add_preresolve_hostname(
                    options, encode(host_port, "preresolve"))
            out = _ffi.dns_cache_p()
            lib.dns_cache_new(engine._loop_ref, options,
                              stats._ref if stats is not None else None, byref(out))
        finally:
            lib.dns_cache_options_free(options)
        super().__init__(engine, out)

    def _dispose(self, pointer: Any) -> None:
        lib.dns_cache_free(pointer)

    def load(self, host: Text, default_port: int = 80,
             timeout: Optional[float] = None) -> DnsHost:
        """The entry for `host` ("name", "name:port", "[::1]:80";
        `default_port` applies when it has no port), waiting for its first
        resolution at most `timeout` seconds (None: the query timeout
        decides). OVERFLOW when max_hosts or max_pending_requests is reached;
        TIMEOUT; WRONG_THREAD inside an engine callback."""
        waiter = BlockingWait(self._engine)
        pending = self._start(host, default_port, waiter.deliver)
        return waiter.wait(pending, timeout, f"DNS load of {host!r}")

    async def load_async(self, host: Text, default_port: int = 80) -> DnsHost:
        """:meth:`load` for asyncio (cancelling the coroutine cancels it)."""
        waiter = AsyncWait()
        pending = self._start(host, default_port, waiter.deliver)
        return await waiter.wait(pending)

    def load_callback(self, host: Text, default_port: int,
                      callback: DnsCallback) -> Pending:
        """:meth:`load` with ``callback(host)``: before this returns for a
        cached entry (also a cached failure, an IP literal or an invalid
        name), else on the engine thread after the first resolution."""
        def deliver(entry: Any, error: Optional[BaseException]) -> None:
            if error is None:
                callback(entry)
        return self._start(host, default_port, deliver)

    def _start(self, host: Text, default_port: int,
               deliver: Callable[[Any, Optional[BaseException]], None]) -> Pending:
        ref, data = self._ref, encode(host, "host")
        if not 0 <= default_port <= 0xFFFF:
            raise _ffi.HomingError(Status.INVALID_ARGUMENT,
                                   f"default_port {default_port} is not a port")
        return start(self, lambda token, out: lib.dns_cache_load(
            ref, data, len(data), default_port, dns_trampoline, token, out),
            DnsHost._from, deliver)

    def find(self, host_port: Text) -> DnsHost:
        """The entry for "host:port" (as load keys it) without loading or
        touching it. NOT_FOUND when there is none."""
        data = encode(host_port, "host_port")
        out = _ffi.dns_host_p()
        try:
            lib.dns_cache_find(self._ref, data, len(data), byref(out))
        except _ffi.HomingError as error:
            if error.status == Status.NOT_FOUND:
                raise _ffi.HomingError(Status.NOT_FOUND,
                                       f"no DNS cache entry for {decode(data)!r}") from None
            raise
        try:
            return DnsHost._from(out)
        finally:
            lib.dns_host_free(out)

    def __len__(self) -> int:
        count = c_size_t()
        lib.dns_cache_host_count(self._ref, byref(count))
        return count.value

    def __repr__(self) -> str:
        return "<homing.DnsCache closed>" if self.closed else "<homing.DnsCache>"


def _count(value: int, what: str) -> int:
    if not 0 <= value <= 0xFFFFFFFF:
        raise _ffi.HomingError(Status.INVALID_ARGUMENT, f"{what} {value} is out of range")
    return value
