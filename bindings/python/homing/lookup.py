"""The affinity lookup: "which instance owns this key?", asked of a resolver
service (``GET <path>?<param>=<key>``) and cached with gRPC RLS's semantics:
fresh until `max_age`, served stale while one background refresh runs until
`stale_age`, LRU bounded, one lookup in flight per key, backoff after
failures, an optional default target, and an allow-list every answer must
pass. Runs on an engine.

Example::

    with Engine() as engine:
        lookup = Lookup(engine, "resolver", ["10.0.0.2:8081"],
                        allowed_hostports=["*.server-headless.local:8081"])
        result = lookup.owner("123", timeout=2)
        if result.ok:
            print(result.hostport, result.source.name)
        else:
            print(result.failure.name, result.error)

Thread safety: any thread; callbacks run on the engine thread.
"""

from __future__ import annotations

import enum
from ctypes import byref, c_size_t
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Union

from . import _ffi
from ._ffi import HomingError, Status, Text, decode, encode, lib, milliseconds
from .config import KeySource
from .engine import (AsyncWait, BlockingWait, Engine, EngineObject, Pending,
                     lookup_trampoline, start)
from .router import Source
from .stats import Stats


class LookupFailure(enum.IntEnum):
    """Why a lookup found no usable owner."""

    OK = 0
    RESOLVER_UNAVAILABLE = 1  #: no host, connect failure, 5xx
    RESOLVER_TIMEOUT = 2
    BAD_ANSWER = 3            #: not 200, not JSON, no field
    HOSTPORT_REJECTED = 4     #: outside the allow-list
    OVERFLOW = 5              #: too many lookups or waiters


@dataclass(frozen=True)
class LookupResult:
    """How a lookup ended: `ok` when an owner is known, its `hostport`
    ("" when none) and `source`; `failure` says why the resolver's answer
    was not used (with Source.DEFAULT_TARGET too), `status` and `error` say
    it as a status and message (OK and "" on success)."""

    ok: bool
    hostport: str
    source: Source
    failure: LookupFailure
    status: Union[Status, int]
    error: str

    @classmethod
    def _from(cls, pointer: Any) -> "LookupResult":
        status = lib.lookup_result_status(pointer)
        try:
            status = Status(status)
        except ValueError:
            pass
        return cls(bool(lib.lookup_result_ok(pointer)),
                   decode(lib.lookup_result_hostport(pointer)),
                   Source(lib.lookup_result_source(pointer)),
                   LookupFailure(lib.lookup_result_failure(pointer)),
                   status, decode(lib.lookup_result_error(pointer)))


LookupCallback = Callable[[LookupResult], None]


class Lookup(EngineObject):
    """An affinity lookup on `engine` asking `lookup_cluster` (a name: its
    stats go under "cluster.<name>." and "affinity.<name>.") at
    `lookup_hosts` ("ip:port", round robin, one retry on another host after
    a connect failure). Options left None keep the affinity filter's
    defaults: lookup_path "/where", key from query parameter "client_id",
    hostport_field "hostport", lookup_timeout 1 s, max_age = stale_age =
    30 s, 100000 entries, keys up to 256 bytes, 1024 pending lookups and 1024
    waiters per key. Nothing is allowed unless `allowed_hostports`
    ("host:port" or "*.suffix:port") says so. Durations are seconds.
    Invalid options raise INVALID_ARGUMENT."""

    def __init__(self, engine: Engine, lookup_cluster: str,
                 lookup_hosts: Iterable[str], *,
                 lookup_path: Optional[str] = None,
                 key_source: KeySource = KeySource.QUERY_PARAMETER,
                 key_name: Optional[str] = None,
                 hostport_field: Optional[str] = None,
                 lookup_timeout: Optional[float] = None,
                 max_age: Optional[float] = None,
                 stale_age: Optional[float] = None,
                 max_entries: Optional[int] = None,
                 max_key_length: Optional[int] = None,
                 max_pending_lookups: Optional[int] = None,
                 max_waiters_per_key: Optional[int] = None,
                 allowed_hostports: Iterable[str] = (),
                 default_target: Optional[str] = None,
                 stats: Optional[Stats] = None) -> None:
        options = lib.lookup_options_new()
        try:
            lib.lookup_options_set_lookup_cluster(options, encode(lookup_cluster,
                                                                  "lookup_cluster"))
            for host in lookup_hosts:
                lib.lookup_options_add_lookup_host(options, encode(host, "lookup host"))
            if lookup_path is not None:
                lib.lookup_options_set_lookup_path(options, encode(lookup_path,
                                                                   "lookup_path"))
            if key_name is not None or key_source != KeySource.QUERY_PARAMETER:
                lib.lookup_options_set_key(options, int(key_source),
                                           encode(key_name or "", "key_name"))
            if hostport_field is not None:
                lib.lookup_options_set_hostport_field(
                    options, encode(hostport_field, "hostport_field"))
            for seconds, setter, what in (
                    (lookup_timeout, lib.lookup_options_set_lookup_timeout_ms,
                     "lookup_timeout"),
                    (max_age, lib.lookup_options_set_max_age_ms, "max_age"),
                    (stale_age, lib.lookup_options_set_stale_age_ms, "stale_age")):
                if seconds is not None:
                    setter(options, milliseconds(seconds, what))
            for value, setter, what in (
                    (max_entries, lib.lookup_options_set_max_entries, "max_entries"),
                    (max_key_length, lib.lookup_options_set_max_key_length,
                     "max_key_length"),
                    (max_pending_lookups, lib.lookup_options_set_max_pending_lookups,
                     "max_pending_lookups"),
                    (max_waiters_per_key, lib.lookup_options_set_max_waiters_per_key,
                     "max_waiters_per_key")):
                if value is not None:
                    if value < 0:
                        raise HomingError(Status.INVALID_ARGUMENT,
                                          f"{what} must not be negative, got {value}")
                    setter(options, value)
            for pattern in allowed_hostports:
                lib.lookup_options_add_allowed_hostport(options, encode(
                    pattern, "allowed hostport"))
            if default_target is not None:
                lib.lookup_options_set_default_target(options, encode(
                    default_target, "default_target"))
            out = _ffi.lookup_p()
            lib.lookup_new(engine._loop_ref, options,
                           stats._ref if stats is not None else None, byref(out))
        finally:
            lib.lookup_options_free(options)
        super().__init__(engine, out)

    def _dispose(self, pointer: Any) -> None:
        lib.lookup_free(pointer)

    def owner(self, key: Text, timeout: Optional[float] = None) -> LookupResult:
        """The owner of `key`: from cache at once, else from the resolver,
        waiting at most `timeout` seconds (None: the lookup timeout
        decides). A failed lookup is a result too (``ok`` False); TIMEOUT
        only when `timeout` passes; WRONG_THREAD inside an engine
        callback."""
        waiter = BlockingWait(self._engine)
        pending = self._start(key, waiter.deliver)
        return waiter.wait(pending, timeout, f"the owner of {key!r}")

    async def owner_async(self, key: Text) -> LookupResult:
        """:meth:`owner` for asyncio (cancelling the coroutine cancels it)."""
        waiter = AsyncWait()
        pending = self._start(key, waiter.deliver)
        return await waiter.wait(pending)

    def owner_callback(self, key: Text, callback: LookupCallback) -> Pending:
        """:meth:`owner` with ``callback(result)``: before this returns for
        a cached key, else on the engine thread."""
        def deliver(result: Any, error: Optional[BaseException]) -> None:
            if error is None:
                callback(result)
        return self._start(key, deliver)

    def _start(self, key: Text,
               deliver: Callable[[Any, Optional[BaseException]], None]) -> Pending:
        ref, data = self._ref, encode(key, "key")
        return start(self, lambda token, out: lib.lookup_owner(
            ref, data, len(data), lookup_trampoline, token, out),
            LookupResult._from, deliver)

    def invalidate(self, key: Text) -> None:
        """Forgets `key`'s answer (its owner answered 421 Misdirected
        Request): the next :meth:`owner` asks the resolver."""
        data = encode(key, "key")
        lib.lookup_invalidate(self._ref, data, len(data))

    def __len__(self) -> int:
        size = c_size_t()
        lib.lookup_size(self._ref, byref(size))
        return size.value

    def __repr__(self) -> str:
        return "<homing.Lookup closed>" if self.closed else "<homing.Lookup>"
