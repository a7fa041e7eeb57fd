"""homing driven by asyncio itself: no engine thread, no thread hop.

An :class:`AsyncioLoop` is homing's host-driven loop (the C API's external
loop) run by an asyncio event loop: homing names the descriptors it wants
watched and when it wants to wake up, and the AsyncioLoop hands those to
``loop.add_reader()`` / ``add_writer()`` and ``loop.call_later()``; when
asyncio finds a descriptor ready or the timer due, it calls
``homing_loop_process_fd()`` / ``homing_loop_process_timers()``, inside
which homing does its I/O and calls back. An :class:`AsyncRouter` routes on
it: ``await router.route(request)`` returns a decision homing had cached
before the coroutine ever suspends (one C call on the event loop's thread),
and otherwise waits for a future that homing's callback resolves from inside
the event loop.

Example::

    async def main():
        with homing.AsyncioLoop() as loop:
            router = homing.AsyncRouter(loop, homing.Config.load("proxy.yaml"))
            await router.wait_ready(timeout=5)
            decision = await router.route(
                homing.Request("GET", "proxy.local", "/join?client_id=7"))

    asyncio.run(main())

Errors: a failed homing_loop_process_*() (it does not fail in practice)
raises HomingError inside asyncio's reader or timer handle, so it reaches the
event loop's exception handler, as any failing callback does; the same goes
for an exception in the watch or timer callbacks (reported with
``loop.call_exception_handler()``, since ctypes cannot raise through C).

Lifetimes: an AsyncioLoop lives until ``close()`` (also at interpreter
exit), which shuts down the routers still on it: they raise HomingError
(FAILED_PRECONDITION) from then on, and coroutines still waiting get
HomingError (CANCELLED). Close it before its event loop closes; if the event
loop closed first, ``close()`` still releases everything.

Thread safety: none. An AsyncioLoop and its routers belong to the thread
that runs their event loop (homing refuses other threads: WRONG_THREAD).
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import weakref
from ctypes import byref
from typing import Any, Callable, Optional, Union

from . import _ffi
from ._ffi import Handle, HomingError, Status, lib
from .config import Config, Request
from .router import Decision, _RouterMethods
from .stats import Stats

_EV_READ, _EV_WRITE = 1, 2


class AsyncioLoop(Handle):
    """homing's host-driven loop on the asyncio event loop `loop` (None:
    the running one). Create it on the thread that runs that event loop."""

    def __init__(self, loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        self._asyncio = loop if loop is not None else asyncio.get_running_loop()
        self._interest: dict[int, int] = {}  # fd -> HOMING_EV_* bits watched
        self._timer: Optional[asyncio.Handle] = None
        self._token = next(_tokens)
        _loops[self._token] = self  # watch_cb runs before the loop exists
        out = _ffi.loop_p()
        try:
            lib.loop_new_external(_watch_trampoline, _timer_trampoline,
                                  self._token, byref(out))
        except BaseException:
            _loops.pop(self._token, None)
            raise
        super().__init__(out)

    @property
    def event_loop(self) -> asyncio.AbstractEventLoop:
        """The asyncio event loop that drives homing."""
        return self._asyncio

    def _dispose(self, pointer: Any) -> None:
        lib.loop_free(pointer)  # every watch ends through _watch() first
        _loops.pop(self._token, None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        _abandon(lambda router: router._loop is self)

    # homing -> asyncio (inside homing calls: only (un)register here)

    def _watch(self, fd: int, events: int) -> None:
        old = self._interest.pop(fd, 0)
        if events:
            self._interest[fd] = events
        changed = old ^ events
        if changed & _EV_READ:
            if events & _EV_READ:
                self._asyncio.add_reader(fd, self._ready, fd, _EV_READ)
            else:
                self._asyncio.remove_reader(fd)
        if changed & _EV_WRITE:
            if events & _EV_WRITE:
                self._asyncio.add_writer(fd, self._ready, fd, _EV_WRITE)
            else:
                self._asyncio.remove_writer(fd)

    def _arm(self, timeout_ms: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if timeout_ms >= 0 and not self._asyncio.is_closed():
            self._timer = self._asyncio.call_later(timeout_ms / 1000, self._expire)

    # asyncio -> homing

    def _ready(self, fd: int, events: int) -> None:
        pointer = self._pointer
        if pointer:
            lib.loop_process_fd(pointer, fd, events)

    def _expire(self) -> None:
        self._timer = None
        pointer = self._pointer
        if pointer:
            lib.loop_process_timers(pointer)

    def __repr__(self) -> str:
        if self.closed:
            return "<homing.AsyncioLoop closed>"
        return f"<homing.AsyncioLoop watching {len(self._interest)} descriptors>"


# Loops not yet closed, by the token homing passes back to the watch and
# timer callbacks; closed at interpreter exit.
_loops: dict[int, AsyncioLoop] = {}
_tokens = itertools.count(1)


def _report(loop: AsyncioLoop, what: str, error: BaseException) -> None:
    loop._asyncio.call_exception_handler(
        {"message": f"homing.AsyncioLoop: {what} failed", "exception": error})


def _on_watch(fd: int, events: int, token: Optional[int]) -> None:
    loop = _loops.get(token or 0)
    if loop is not None:
        try:
            loop._watch(fd, events)
        except Exception as error:  # ctypes cannot raise through C
            _report(loop, f"watching descriptor {fd}", error)


def _on_timer(timeout_ms: int, token: Optional[int]) -> None:
    loop = _loops.get(token or 0)
    if loop is not None:
        try:
            loop._arm(timeout_ms)
        except Exception as error:
            _report(loop, "arming the timer", error)


_watch_trampoline = _ffi.watch_cb(_on_watch)
_timer_trampoline = _ffi.timer_cb(_on_timer)


# ---------------------------------------------------------------------------
# Routes in flight
#
# One trampoline per callback type; `void *user_data` is a token naming a
# _Call in `_calls`, popped exactly once: by the callback, by the waiting
# coroutine when it is cancelled, or by `_abandon()` when the router or its
# loop is closed (homing then ends the route without a callback).


class _Call:
    __slots__ = ("owner", "future", "decision")

    def __init__(self, owner: "AsyncRouter") -> None:
        self.owner = owner
        self.future: Optional[asyncio.Future] = None  # None: still starting
        self.decision: Optional[Decision] = None


_calls: dict[int, _Call] = {}


def _on_decision(decision: Any, token: Optional[int]) -> None:
    call = _calls.pop(token or 0, None)
    if call is None:
        return
    value = Decision._copy(decision)
    future = call.future
    if future is None:
        call.decision = value  # decided before homing_router_route() returned
    elif not future.done():
        future.set_result(value)


def _abandon(matches: Callable[["AsyncRouter"], bool]) -> None:
    """Ends what the routers `matches` picks wait for: homing shut them down."""
    error = HomingError(Status.CANCELLED, "the object (or its loop) was closed "
                                          "before an answer came")
    for token, call in list(_calls.items()):
        if matches(call.owner) and _calls.pop(token, None) is call:
            if call.future is not None and not call.future.done():
                call.future.set_exception(error)
    for router in list(_routers.values()):
        if matches(router):
            router._settle_ready(error)


_decision_trampoline = _ffi.decision_cb(_on_decision)
_route = _ffi.unchecked("router_route")  # route() checks its status itself


class AsyncRouter(_RouterMethods, Handle):
    """A router for listener `listener` (index or name) of `config`, on the
    AsyncioLoop `loop`: :class:`Router`'s pipeline, answering coroutines
    from the event loop's own thread. The config may be closed afterwards;
    `stats` as for Router. INVALID_ARGUMENT for a listener out of range or
    a config the router cannot run."""

    def __init__(self, loop: AsyncioLoop, config: Config,
                 listener: Union[int, str] = 0,
                 stats: Optional[Stats] = None) -> None:
        out = _ffi.router_p()
        lib.router_new(loop._ref, config._ref, config.listener_index(listener),
                       stats._ref if stats is not None else None, byref(out))
        super().__init__(out)
        self._loop = loop
        self._ready_waiters: list[asyncio.Future] = []
        self._errmsg = _ffi.c_void_p()  # route()'s, reused: one thread
        self._token = next(_tokens)
        _routers[self._token] = self

    @property
    def loop(self) -> AsyncioLoop:
        """The AsyncioLoop the router runs on."""
        return self._loop

    def close(self) -> None:
        """Shuts the router down and releases it. Coroutines still waiting
        get HomingError (CANCELLED)."""
        was_open = not self.closed
        super().close()
        if was_open:
            _routers.pop(self._token, None)
            _abandon(lambda router: router is self)

    async def wait_ready(self, timeout: Optional[float] = None) -> None:
        """Waits until ready, at most `timeout` seconds (None: no limit),
        while the event loop runs. TIMEOUT when it passes."""
        ref = self._ref
        if lib.router_ready(ref):
            return
        future = self._loop._asyncio.create_future()
        self._ready_waiters.append(future)
        try:
            # One callback per router settles every waiter, so a later
            # registration replacing this one loses nothing.
            lib.router_on_ready(ref, _ready_trampoline, self._token)
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise HomingError(Status.TIMEOUT,
                              f"not ready within {timeout:g} s") from None
        finally:
            if future in self._ready_waiters:
                self._ready_waiters.remove(future)

    def _settle_ready(self, error: Optional[BaseException]) -> None:
        waiters, self._ready_waiters = self._ready_waiters, []
        for future in waiters:
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    async def route(self, request: Request) -> Decision:
        """Decides where `request` goes. A decision homing has cached is
        returned without suspending; otherwise the coroutine waits while the
        event loop runs homing's I/O. Cancelling the coroutine cancels the
        request. The request may be changed or reused once the coroutine
        first suspends (homing copies what it keeps)."""
        call = _Call(self)
        token = next(_tokens)
        _calls[token] = call
        out = _ffi.pending_p()
        try:
            status = _route(self._ref, request._ref, _decision_trampoline, token,
                            byref(out), byref(self._errmsg))
        except BaseException:
            _calls.pop(token, None)
            raise
        if status:
            _calls.pop(token, None)
            _ffi.raise_status(status, self._errmsg)
        if call.decision is not None:
            return call.decision
        call.future = self._loop._asyncio.create_future()
        try:
            return await call.future
        finally:
            _calls.pop(token, None)
            lib.pending_free(out)  # cancels when the waiting task was cancelled

    def __repr__(self) -> str:
        if self.closed:
            return "<homing.AsyncRouter closed>"
        return f"<homing.AsyncRouter ready={self.ready}>"


# Open routers, by the token homing_router_on_ready() passes back.
_routers: "weakref.WeakValueDictionary[int, AsyncRouter]" = \
    weakref.WeakValueDictionary()


def _on_ready(router: Any, token: Optional[int]) -> None:
    owner = _routers.get(token or 0)
    if owner is not None:
        owner._settle_ready(None)


_ready_trampoline = _ffi.ready_cb(_on_ready)


def _close_loops_at_exit() -> None:
    for loop in list(_loops.values()):
        loop.close()


atexit.register(_close_loops_at_exit)
