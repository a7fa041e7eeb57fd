"""The engine: homing's own event loop, on a thread of its own.

The DNS cache, the affinity lookup and the router do I/O; in Python they run
on an :class:`Engine`. Any thread may call them: each call is carried to the
engine thread and returns once it has run there. Their answers come three
ways, all built on one mechanism here:

- blocking (``Router.route()``, ``DnsCache.load()``, ``Lookup.owner()``),
  for threads that may wait;
- awaitable (``route_async()``, ...), for asyncio: the answer is handed to
  the event loop with ``loop.call_soon_threadsafe()``, or returned at once
  when homing had it cached;
- callbacks (``route_callback()``, ...), which run on the engine thread and
  return a :class:`Pending` that can cancel them.

Example::

    with Engine() as engine:
        router = Router(engine, Config.load("proxy.yaml"))
        router.wait_ready(5)
        print(router.route(Request("GET", "proxy.local", "/join?client_id=7")))

Lifetimes: objects keep their engine alive. ``Engine.close()`` (also at
interpreter exit) shuts down the objects still on it; they stay usable as
Python objects but every call raises HomingError (FAILED_PRECONDITION), and
operations still waiting end: awaiting and blocking callers get a
HomingError (CANCELLED), callbacks are not called. Closing an engine from its
own thread (inside a callback, or a garbage collection that runs there) is
completed by a helper thread, since homing refuses to stop an engine from
the engine thread.

Thread safety: every class here may be used from any thread.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import threading
import weakref
from ctypes import byref
from typing import Any, Callable, Optional

from . import _ffi, log
from ._ffi import Handle, HomingError, Status, lib


class Engine(Handle):
    """Starts homing's loop on a new thread (UNAVAILABLE when it cannot)."""

    def __init__(self) -> None:
        out = _ffi.engine_p()
        lib.engine_start(byref(out))
        super().__init__(out)
        self._loop = lib.engine_loop(out)
        _engines.add(self)

    @property
    def _loop_ref(self) -> Any:
        self._ref  # raises once closed
        return self._loop

    def stop(self) -> None:
        """The same as :meth:`close`."""
        self.close()

    def _dispose(self, pointer: Any) -> None:
        _engines.discard(self)
        if lib.engine_stop(pointer) == Status.WRONG_THREAD:
            # Closed from the engine thread itself: stop it from a helper
            # thread once the current callback has returned. Not a daemon,
            # so the interpreter waits for it at exit.
            threading.Thread(target=self._stop_elsewhere, args=(pointer,),
                             name="homing-engine-stop").start()
            return
        _abandon(lambda operation: operation.engine is self)

    def _stop_elsewhere(self, pointer: Any) -> None:
        lib.engine_stop(pointer)
        _abandon(lambda operation: operation.engine is self)

    def __repr__(self) -> str:
        return "<homing.Engine stopped>" if self.closed else "<homing.Engine running>"


# Engines not yet closed, stopped at interpreter exit: their thread must not
# call into an interpreter that is shutting down.
_engines: "weakref.WeakSet[Engine]" = weakref.WeakSet()


class EngineObject(Handle):
    """Base of the objects that live on an engine: keeps the engine alive,
    and ends the object's waiting operations when it is closed."""

    def __init__(self, engine: Engine, pointer: Any) -> None:
        super().__init__(pointer)
        self._engine = engine

    @property
    def engine(self) -> Engine:
        """The engine the object lives on."""
        return self._engine

    def close(self) -> None:
        """Shuts the object down and releases it. Operations still waiting
        end: awaiting and blocking callers get HomingError (CANCELLED)."""
        was_open = not self.closed
        super().close()
        if was_open:
            _abandon(lambda operation: operation.owner is self)


# ---------------------------------------------------------------------------
# Operations in flight
#
# One trampoline per callback type, created once, so no ctypes callback
# object can be collected while homing still holds it. The `void *user_data`
# homing passes back is a token naming an _Operation in `_operations`; the
# operation is popped exactly once: by its callback, by a cancel, or by
# `_abandon()` when its object or engine shuts down (which ends operations
# without a callback).


class _Operation:
    __slots__ = ("owner", "engine", "convert", "deliver", "pending")

    def __init__(self, owner: EngineObject,
                 convert: Callable[[Any], Any],
                 deliver: Callable[[Any, Optional[BaseException]], None]) -> None:
        self.owner = owner
        self.engine = owner._engine
        self.convert = convert    # borrowed C result -> Python value
        self.deliver = deliver    # (value, error) -> None; any thread
        self.pending: Optional[Pending] = None


_operations: dict[int, _Operation] = {}
_tokens = itertools.count(1)
_callback_state = threading.local()  # .engine: whose callback runs here


def _abandon(matches: Callable[[_Operation], bool]) -> None:
    for token, operation in list(_operations.items()):
        if matches(operation) and _operations.pop(token, None) is operation:
            operation.deliver(None, HomingError(
                Status.CANCELLED, "the object (or its engine) was closed "
                "before an answer came"))


def _run_callback(result: Any, token: Optional[int]) -> None:
    operation = _operations.pop(token or 0, None)
    if operation is None:
        return  # cancelled in the meantime
    outer = getattr(_callback_state, "engine", None)
    _callback_state.engine = operation.engine
    try:
        operation.deliver(operation.convert(result), None)
    finally:
        _callback_state.engine = outer


def on_engine_thread(engine: Engine) -> bool:
    """True inside a callback of `engine` (on its thread)."""
    return getattr(_callback_state, "engine", None) is engine


decision_trampoline = _ffi.decision_cb(_run_callback)
dns_trampoline = _ffi.dns_cb(_run_callback)
lookup_trampoline = _ffi.lookup_cb(_run_callback)


class Pending(Handle):
    """An operation started with a ``*_callback()`` method.

    ``done`` tells whether it is over; ``cancel()`` guarantees that its
    callback does not run after it returns (waiting for a callback already
    running on the engine thread). Dropping the Pending does not cancel:
    the operation keeps it until the callback has run.
    """

    def __init__(self, token: int, pointer: Any) -> None:
        super().__init__(pointer)
        self._token = token

    @property
    def done(self) -> bool:
        """True once the callback has run, or the operation was cancelled or
        ended with its object."""
        pointer = self._pointer
        return not pointer or bool(lib.pending_done(pointer))

    def cancel(self) -> None:
        """No callback follows once this returns. Harmless when done."""
        pointer = self._pointer
        if pointer:
            lib.pending_cancel(pointer)
        _operations.pop(self._token, None)

    def _dispose(self, pointer: Any) -> None:
        lib.pending_free(pointer)  # cancels if still pending
        _operations.pop(self._token, None)

    def __repr__(self) -> str:
        return f"<homing.Pending {'done' if self.done else 'waiting'}>"


def start(owner: EngineObject, call: Callable[[int, Any], None],
          convert: Callable[[Any], Any],
          deliver: Callable[[Any, Optional[BaseException]], None]) -> Pending:
    """Starts an operation: `call(token, pending_out)` makes the C call with
    the token as user_data. `deliver` gets the converted result once (on
    the engine thread, or in the caller's thread when homing answers from
    cache), or a HomingError when the operation is abandoned."""
    operation = _Operation(owner, convert, deliver)
    token = next(_tokens)
    _operations[token] = operation
    out = _ffi.pending_p()
    try:
        call(token, byref(out))
    except BaseException:
        _operations.pop(token, None)
        raise
    pending = Pending(token, out if out else None)
    if token in _operations:
        operation.pending = pending  # kept until the callback has run
    return pending


# ---------------------------------------------------------------------------
# Waiting for an operation: blocking, or in asyncio


def _unwrap(outcome: tuple[Any, Optional[BaseException]]) -> Any:
    value, error = outcome
    if error is not None:
        raise error
    return value


class BlockingWait:
    """Hands an operation's outcome to a thread that waits for it."""

    def __init__(self, engine: Engine) -> None:
        if on_engine_thread(engine):
            raise HomingError(Status.WRONG_THREAD,
                              "a blocking call would wait for the engine "
                              "thread it is called on")
        self._event = threading.Event()
        self._outcome: Optional[tuple[Any, Optional[BaseException]]] = None

    def deliver(self, value: Any, error: Optional[BaseException]) -> None:
        self._outcome = (value, error)
        self._event.set()

    def wait(self, pending: Pending, timeout: Optional[float], what: str) -> Any:
        try:
            if not self._event.wait(timeout):
                pending.cancel()  # an answer that raced in still counts
                if self._outcome is None:
                    raise HomingError(Status.TIMEOUT,
                                      f"no answer for {what} within {timeout:g} s")
            return _unwrap(self._outcome)
        finally:
            pending.close()


class AsyncWait:
    """Hands an operation's outcome to an asyncio event loop.

    When homing answers before the starting call returns (from cache), the
    waiter takes the outcome directly and the event loop is not involved;
    otherwise the outcome reaches a future through call_soon_threadsafe().
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._outcome: Optional[tuple[Any, Optional[BaseException]]] = None
        self._future: Optional[asyncio.Future] = None

    def deliver(self, value: Any, error: Optional[BaseException]) -> None:
        with self._lock:
            self._outcome = (value, error)
            future = self._future
        if future is not None:
            try:
                self._loop.call_soon_threadsafe(_settle, future, value, error)
            except RuntimeError:
                pass  # the event loop is closed: nobody waits any more

    async def wait(self, pending: Pending) -> Any:
        try:
            with self._lock:
                if self._outcome is None:
                    self._future = self._loop.create_future()
            if self._future is None:
                return _unwrap(self._outcome)
            return await self._future
        finally:
            pending.close()  # cancels when the waiting task was cancelled


def _settle(future: asyncio.Future, value: Any,
            error: Optional[BaseException]) -> None:
    if future.done():
        return  # the waiting task was cancelled
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


def _stop_engines_at_exit() -> None:
    for engine in list(_engines):
        engine.close()
    log.reset_callback()


atexit.register(_stop_engines_at_exit)
