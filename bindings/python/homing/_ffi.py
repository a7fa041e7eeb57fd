"""The C ABI of libhoming, as ctypes sees it.

Everything that touches ctypes directly lives here: loading the library,
one opaque pointer type per handle, the one declaration table of every
function of ``include/homing/homing.h``, the status checks that turn failed
calls into :class:`HomingError`, and :class:`Handle`, the base class of every
object that owns a C handle.

The library is looked for, in order, at ``$HOMING_LIBRARY`` (when set, only
there), in this package's directory (``libhoming.so.0`` or ``libhoming.so``
copied next to this file), and by the system loader (``libhoming.so.0``,
after ``meson install``). Its ``homing_version()`` is checked on load.

Thread safety: the table and the enumerations are immutable. ctypes releases
the GIL around every call, so a call that waits for homing's engine thread
never keeps a callback on that thread from running.
"""

from __future__ import annotations

import ctypes
import enum
import os
import sys
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_int, c_int64,
                    c_size_t, c_uint16, c_uint32, c_uint64, c_void_p)
from pathlib import Path
from typing import Any, Iterable, Optional, Self, Union

# The oldest library this package works with, and its ABI (the soname).
REQUIRED_VERSION = (0, 1, 0)
SONAME = "libhoming.so.0"

Text = Union[str, bytes, bytearray, memoryview]


# ---------------------------------------------------------------------------
# Status codes and the exception every failed call raises


class Status(enum.IntEnum):
    """homing_status: the outcome of a fallible call (numbers never change)."""

    OK = 0
    INVALID_ARGUMENT = 1
    NOT_FOUND = 2
    UNAVAILABLE = 3
    TIMEOUT = 4
    OVERFLOW = 5
    CANCELLED = 6
    PERMISSION_DENIED = 7
    FAILED_PRECONDITION = 8
    WRONG_THREAD = 9
    REENTRANT = 10
    NO_MEMORY = 11
    INTERNAL = 12


class HomingError(Exception):
    """A homing call failed.

    ``status`` is the :class:`Status` (a plain ``int`` for a code this
    package does not know yet); ``message`` is what homing said, or the
    status's description when it said nothing more.
    """

    def __init__(self, status: int, message: str = "") -> None:
        try:
            status = Status(status)
        except ValueError:
            pass
        self.status: Union[Status, int] = status
        self.message: str = message or strerror(status)
        super().__init__(status, self.message)

    def __str__(self) -> str:
        return f"{strerror(self.status)}: {self.message}"


class LibraryError(ImportError):
    """libhoming could not be loaded, or is not a version this package
    works with. The message says where it looked and what it found."""


# Tracebacks and reprs name them where users import them from.
HomingError.__module__ = LibraryError.__module__ = "homing"


# ---------------------------------------------------------------------------
# Loading


def _candidates() -> list[str]:
    explicit = os.environ.get("HOMING_LIBRARY")
    if explicit:
        return [explicit]
    here = Path(__file__).resolve().parent
    local = [str(here / name) for name in (SONAME, "libhoming.so")
             if (here / name).exists()]
    return local + [SONAME]


def _load() -> tuple[ctypes.CDLL, str]:
    tried = []
    for candidate in _candidates():
        try:
            return ctypes.CDLL(candidate), candidate
        except OSError as error:
            tried.append(f"{candidate}: {error}")
    raise LibraryError(
        "cannot load libhoming (set HOMING_LIBRARY to the library's path, "
        "copy libhoming.so.0 into the homing package directory, or install "
        "it with `meson install`):\n  " + "\n  ".join(tried))


_lib, library_path = _load()


# ---------------------------------------------------------------------------
# Handle types: one distinct pointer type per opaque C type (llvmlite's way),
# so that passing a config where a router is expected fails in ctypes.


def _opaque(name: str) -> Any:
    return POINTER(type(name, (Structure,), {}))


loop_p = _opaque("homing_loop_t")
engine_p = _opaque("homing_engine_t")
pending_p = _opaque("homing_pending_t")
stats_p = _opaque("homing_stats_t")
config_p = _opaque("homing_config_t")
request_p = _opaque("homing_request_t")
route_table_p = _opaque("homing_route_table_t")
route_p = _opaque("homing_route_t")
placement_p = _opaque("homing_placement_t")
lb_p = _opaque("homing_lb_t")
dns_options_p = _opaque("homing_dns_cache_options_t")
dns_cache_p = _opaque("homing_dns_cache_t")
dns_host_p = _opaque("homing_dns_host_t")
lookup_options_p = _opaque("homing_lookup_options_t")
lookup_p = _opaque("homing_lookup_t")
lookup_result_p = _opaque("homing_lookup_result_t")
router_p = _opaque("homing_router_t")
decision_p = _opaque("homing_decision_t")

# Callback types. Every callback's last argument is `void *user_data`.
log_cb = CFUNCTYPE(None, c_int, c_void_p, c_size_t, c_void_p)
dns_cb = CFUNCTYPE(None, dns_host_p, c_void_p)
lookup_cb = CFUNCTYPE(None, lookup_result_p, c_void_p)
decision_cb = CFUNCTYPE(None, decision_p, c_void_p)
ready_cb = CFUNCTYPE(None, router_p, c_void_p)
watch_cb = CFUNCTYPE(None, c_int, c_int, c_void_p)
timer_cb = CFUNCTYPE(None, c_int, c_void_p)

# `char **errmsg` and other `char **` outputs: a c_void_p, passed by
# reference, read with ctypes.string_at() and released with homing_free().
errmsg_p = POINTER(c_void_p)
char_pp = POINTER(c_void_p)
const_char_pp = POINTER(c_char_p)


# ---------------------------------------------------------------------------
# Status checks (ctypes errcheck functions)


def _take_message(holder: c_void_p) -> str:
    """The text of a `char *` homing handed over, then frees it."""
    if not holder.value:
        return ""
    try:
        return ctypes.string_at(holder.value).decode("utf-8", "replace")
    finally:
        lib.free(holder)
        holder.value = None


def _check_status(result: int, func: Any, args: tuple) -> int:
    if result != Status.OK:
        raise HomingError(result, f"{func.__name__} failed")
    return result


def _check_status_message(result: int, func: Any, args: tuple) -> int:
    # The last argument is the c_void_p that received `*errmsg`.
    message = _take_message(args[-1])
    if result != Status.OK:
        raise HomingError(result, message)
    return result


def _check_new(result: Any, func: Any, args: tuple) -> Any:
    if not result:
        raise HomingError(Status.NO_MEMORY, f"{func.__name__}: out of memory")
    return result


class _Functions:
    """The declared functions, by name without the ``homing_`` prefix."""


lib = _Functions()

# Functions of the header that this package does not wrap. The external loop
# is driven by asyncio (aio.AsyncioLoop), which keeps its own per-descriptor
# state and its own timer: it needs neither the watch slot of
# homing_loop_new_external2() nor homing_loop_timeout_ms(), which are for
# hosts that poll. A decision's sockaddr is for C hosts' connect(); Python
# has Decision.upstream.
NOT_WRAPPED = frozenset({
    "homing_loop_new_external2", "homing_loop_timeout_ms",
    "homing_decision_upstream_sockaddr",
    "homing_router_retry",  # mutates a decision; Python's are immutable
    "homing_pending_on_cancel",  # futures and tasks say "cancelled" already
})

STATUS = "status"            # returns homing_status, no errmsg
STATUS_MESSAGE = "message"   # returns homing_status, last argument errmsg
NEW = "new"                  # returns a handle, NULL only without memory


def _fn(name: str, restype: Any, argtypes: Iterable[Any],
        check: Optional[str] = None) -> None:
    """Declares `homing_<name>`: its types and how failure is reported."""
    try:
        function = getattr(_lib, "homing_" + name)
    except AttributeError:
        raise LibraryError(f"{library_path} lacks homing_{name}: it is older "
                           f"than this package or not libhoming") from None
    function.restype = restype
    function.argtypes = list(argtypes)
    if check is STATUS:
        function.errcheck = _check_status
    elif check is NEW:
        function.errcheck = _check_new
    elif check is STATUS_MESSAGE:
        function.errcheck = _check_status_message
        raw = function

        def function(*args: Any, _raw: Any = raw) -> int:
            return _raw(*args, c_void_p())
        function.__name__ = raw.__name__
    setattr(lib, name, function)


# The declaration table: every function of include/homing/homing.h except
# NOT_WRAPPED, in the header's order.
S, M = STATUS, STATUS_MESSAGE
_fn("version", c_char_p, [])
_fn("version_num", c_uint32, [])
_fn("strerror", c_char_p, [c_int])
_fn("free", None, [c_void_p])
_fn("set_log_level", c_int, [c_int], S)
_fn("log_level", c_int, [])
_fn("set_log_callback", None, [log_cb, c_void_p])
_fn("loop_new_external", c_int, [watch_cb, timer_cb, c_void_p, POINTER(loop_p),
                                 errmsg_p], M)
_fn("loop_free", None, [loop_p])
_fn("loop_process_fd", c_int, [loop_p, c_int, c_int], S)
_fn("loop_process_timers", c_int, [loop_p], S)
_fn("engine_start", c_int, [POINTER(engine_p), errmsg_p], M)
_fn("engine_loop", loop_p, [engine_p])
_fn("engine_stop", c_int, [engine_p])
_fn("pending_cancel", c_int, [pending_p], S)
_fn("pending_done", c_int, [pending_p])
_fn("pending_free", None, [pending_p])
_fn("stats_new", stats_p, [], NEW)
_fn("stats_free", None, [stats_p])
_fn("stats_render", c_int, [stats_p, c_int, c_char_p, char_pp,
                            POINTER(c_size_t), errmsg_p], M)
_fn("stats_counter", c_int, [stats_p, c_char_p, POINTER(c_uint64), errmsg_p], M)
_fn("stats_gauge", c_int, [stats_p, c_char_p, POINTER(c_int64), errmsg_p], M)
_fn("config_parse", c_int, [c_char_p, c_size_t, c_char_p, POINTER(config_p),
                            errmsg_p], M)
_fn("config_load_file", c_int, [c_char_p, POINTER(config_p), errmsg_p], M)
_fn("config_free", None, [config_p])
_fn("config_listener_count", c_size_t, [config_p])
_fn("config_listener_name", c_char_p, [config_p, c_size_t])
_fn("config_cluster_count", c_size_t, [config_p])
_fn("config_cluster_name", c_char_p, [config_p, c_size_t])
_fn("request_new", request_p, [], NEW)
_fn("request_free", None, [request_p])
_fn("request_reset", None, [request_p])
_fn("request_set_method", c_int, [request_p, c_char_p, c_size_t], S)
_fn("request_set_authority", c_int, [request_p, c_char_p, c_size_t], S)
_fn("request_set_path", c_int, [request_p, c_char_p, c_size_t], S)
_fn("request_add_header", c_int, [request_p, c_char_p, c_size_t, c_char_p,
                                  c_size_t], S)
_fn("route_table_new", c_int, [config_p, c_size_t, POINTER(route_table_p),
                               errmsg_p], M)
_fn("route_table_free", None, [route_table_p])
_fn("route_table_route_count", c_size_t, [route_table_p])
_fn("route_table_route", route_p, [route_table_p, c_size_t])
_fn("route_table_match", route_p, [route_table_p, request_p])
_fn("route_name", c_char_p, [route_p])
_fn("route_virtual_host", c_char_p, [route_p])
_fn("route_cluster", c_char_p, [route_p])
_fn("route_timeout_ms", c_int64, [route_p])
_fn("route_has_affinity", c_int, [route_p])
_fn("route_affinity_lookup_cluster", c_char_p, [route_p])
_fn("route_affinity_lookup_path", c_char_p, [route_p])
_fn("route_affinity_key_source", c_int, [route_p])
_fn("route_affinity_key_name", c_char_p, [route_p])
_fn("route_affinity_key", c_int, [route_p, request_p, char_pp,
                                  POINTER(c_size_t), errmsg_p], M)
_fn("route_hash", c_int, [route_p, request_p, POINTER(c_uint64)], S)
_fn("key_hash", c_uint64, [c_char_p, c_size_t])
_fn("placement_strategy_name", c_char_p, [c_int])
_fn("placement_strategy_from_name", c_int, [c_char_p, POINTER(c_int)], S)
_fn("placement_new", c_int, [c_int, const_char_pp, c_size_t,
                             POINTER(placement_p), errmsg_p], M)
_fn("placement_free", None, [placement_p])
_fn("placement_set_members", c_int, [placement_p, const_char_pp, c_size_t,
                                     errmsg_p], M)
_fn("placement_owner", c_int, [placement_p, c_char_p, c_size_t,
                               POINTER(c_size_t), const_char_pp], S)
_fn("placement_member_count", c_size_t, [placement_p])
_fn("placement_member", c_char_p, [placement_p, c_size_t])
_fn("placement_strategy", c_int, [placement_p])
_fn("lb_new", c_int, [c_char_p, c_int, const_char_pp, POINTER(c_uint32),
                      c_size_t, stats_p, POINTER(lb_p), errmsg_p], M)
_fn("lb_new_from_config", c_int, [config_p, c_char_p, stats_p, POINTER(lb_p),
                                  errmsg_p], M)
_fn("lb_free", None, [lb_p])
_fn("lb_pick", c_int, [lb_p, c_char_p, c_size_t, POINTER(c_size_t),
                       const_char_pp], S)
_fn("lb_report", c_int, [lb_p, c_size_t, c_int], S)
_fn("lb_host_count", c_size_t, [lb_p])
_fn("lb_host", c_char_p, [lb_p, c_size_t])
_fn("lb_host_healthy", c_int, [lb_p, c_size_t])
_fn("dns_cache_options_new", dns_options_p, [], NEW)
_fn("dns_cache_options_free", None, [dns_options_p])
_fn("dns_cache_options_set_name", c_int, [dns_options_p, c_char_p], S)
_fn("dns_cache_options_set_lookup_family", c_int, [dns_options_p, c_int], S)
_fn("dns_cache_options_add_resolver", c_int, [dns_options_p, c_char_p], S)
_fn("dns_cache_options_set_refresh_rate_ms", c_int, [dns_options_p, c_int64], S)
_fn("dns_cache_options_set_min_refresh_rate_ms", c_int,
    [dns_options_p, c_int64], S)
_fn("dns_cache_options_set_failure_refresh_rate_ms", c_int,
    [dns_options_p, c_int64, c_int64], S)
_fn("dns_cache_options_set_host_ttl_ms", c_int, [dns_options_p, c_int64], S)
_fn("dns_cache_options_set_max_hosts", c_int, [dns_options_p, c_uint32], S)
_fn("dns_cache_options_set_max_pending_requests", c_int,
    [dns_options_p, c_uint32], S)
_fn("dns_cache_options_set_query_timeout_ms", c_int, [dns_options_p, c_int64], S)
_fn("dns_cache_options_add_preresolve_hostname", c_int,
    [dns_options_p, c_char_p], S)
_fn("dns_cache_new", c_int, [loop_p, dns_options_p, stats_p,
                             POINTER(dns_cache_p), errmsg_p], M)
_fn("dns_cache_free", None, [dns_cache_p])
_fn("dns_cache_load", c_int, [dns_cache_p, c_char_p, c_size_t, c_uint16, dns_cb,
                              c_void_p, POINTER(pending_p), errmsg_p], M)
_fn("dns_cache_find", c_int, [dns_cache_p, c_char_p, c_size_t,
                              POINTER(dns_host_p)], S)
_fn("dns_cache_host_count", c_int, [dns_cache_p, POINTER(c_size_t)], S)
_fn("dns_host_name", c_char_p, [dns_host_p])
_fn("dns_host_port", c_uint16, [dns_host_p])
_fn("dns_host_address_count", c_size_t, [dns_host_p])
_fn("dns_host_address", c_char_p, [dns_host_p, c_size_t])
_fn("dns_host_status", c_int, [dns_host_p])
_fn("dns_host_error", c_char_p, [dns_host_p])
_fn("dns_host_ttl_ms", c_int64, [dns_host_p])
_fn("dns_host_free", None, [dns_host_p])
_fn("lookup_options_new", lookup_options_p, [], NEW)
_fn("lookup_options_free", None, [lookup_options_p])
_fn("lookup_options_set_lookup_cluster", c_int, [lookup_options_p, c_char_p], S)
_fn("lookup_options_add_lookup_host", c_int, [lookup_options_p, c_char_p], S)
_fn("lookup_options_set_lookup_path", c_int, [lookup_options_p, c_char_p], S)
_fn("lookup_options_set_key", c_int, [lookup_options_p, c_int, c_char_p], S)
_fn("lookup_options_set_hostport_field", c_int, [lookup_options_p, c_char_p], S)
_fn("lookup_options_set_lookup_timeout_ms", c_int, [lookup_options_p, c_int64], S)
_fn("lookup_options_set_max_age_ms", c_int, [lookup_options_p, c_int64], S)
_fn("lookup_options_set_stale_age_ms", c_int, [lookup_options_p, c_int64], S)
_fn("lookup_options_set_max_entries", c_int, [lookup_options_p, c_size_t], S)
_fn("lookup_options_set_max_key_length", c_int, [lookup_options_p, c_size_t], S)
_fn("lookup_options_set_max_pending_lookups", c_int,
    [lookup_options_p, c_size_t], S)
_fn("lookup_options_set_max_waiters_per_key", c_int,
    [lookup_options_p, c_size_t], S)
_fn("lookup_options_add_allowed_hostport", c_int, [lookup_options_p, c_char_p], S)
_fn("lookup_options_set_default_target", c_int, [lookup_options_p, c_char_p], S)
_fn("lookup_new", c_int, [loop_p, lookup_options_p, stats_p, POINTER(lookup_p),
                          errmsg_p], M)
_fn("lookup_free", None, [lookup_p])
_fn("lookup_owner", c_int, [lookup_p, c_char_p, c_size_t, lookup_cb, c_void_p,
                            POINTER(pending_p), errmsg_p], M)
_fn("lookup_invalidate", c_int, [lookup_p, c_char_p, c_size_t], S)
_fn("lookup_size", c_int, [lookup_p, POINTER(c_size_t)], S)
_fn("lookup_result_ok", c_int, [lookup_result_p])
_fn("lookup_result_hostport", c_char_p, [lookup_result_p])
_fn("lookup_result_source", c_int, [lookup_result_p])
_fn("lookup_result_failure", c_int, [lookup_result_p])
_fn("lookup_result_status", c_int, [lookup_result_p])
_fn("lookup_result_error", c_char_p, [lookup_result_p])
_fn("router_new", c_int, [loop_p, config_p, c_size_t, stats_p,
                          POINTER(router_p), errmsg_p], M)
_fn("router_free", None, [router_p])
_fn("router_ready", c_int, [router_p])
_fn("router_on_ready", c_int, [router_p, ready_cb, c_void_p, errmsg_p], M)
_fn("router_wait_ready", c_int, [router_p, c_int, errmsg_p], M)
_fn("router_route", c_int, [router_p, request_p, decision_cb, c_void_p,
                            POINTER(pending_p), errmsg_p], M)
_fn("router_route_sync", c_int, [router_p, request_p, c_int,
                                 POINTER(decision_p), errmsg_p], M)
_fn("router_report", c_int, [router_p, decision_p, c_int, errmsg_p], M)
_fn("router_misdirected", c_int, [router_p, decision_p, errmsg_p], M)
_fn("router_misdirected_to", c_int, [router_p, decision_p, c_char_p, c_size_t,
                                     errmsg_p], M)
_fn("decision_copy", decision_p, [decision_p], NEW)
_fn("decision_free", None, [decision_p])
_fn("decision_forward", c_int, [decision_p])
_fn("decision_status", c_int, [decision_p])
_fn("decision_error", c_char_p, [decision_p])
_fn("decision_detail", c_char_p, [decision_p])
_fn("decision_upstream", c_char_p, [decision_p])
_fn("decision_authority", c_char_p, [decision_p])
_fn("decision_key", c_void_p, [decision_p, POINTER(c_size_t)])
_fn("decision_lookup_source", c_int, [decision_p])
_fn("decision_route_name", c_char_p, [decision_p])
_fn("decision_cluster", c_char_p, [decision_p])
del S, M


def unchecked(name: str) -> Any:
    """`homing_<name>` as declared, but returning its status instead of
    raising (and taking its `errmsg` argument): for hot paths, where the
    checking wrapper costs as much as the call. Raise with
    :func:`raise_status`."""
    declared = getattr(_lib, "homing_" + name)
    function = _lib["homing_" + name]  # a new function object
    function.restype, function.argtypes = declared.restype, declared.argtypes
    return function


def raise_status(status: int, errmsg: c_void_p) -> None:
    """Raises the HomingError of a failed unchecked() call; frees `errmsg`."""
    raise HomingError(status, _take_message(errmsg))


def strerror(status: int) -> str:
    """homing's short description of a status code (any int)."""
    return lib.strerror(int(status)).decode()


def library_version() -> tuple[int, int, int]:
    """The loaded library's version as (major, minor, patch)."""
    number = lib.version_num()
    return (number >> 16) & 0xFF, (number >> 8) & 0xFF, number & 0xFF


def _check_version() -> None:
    found = library_version()
    text = lib.version().decode()
    if found[0] != REQUIRED_VERSION[0] or found < REQUIRED_VERSION:
        required = ".".join(map(str, REQUIRED_VERSION))
        raise LibraryError(f"{library_path} is libhoming {text}; this package "
                           f"needs {REQUIRED_VERSION[0]}.x, at least {required}")
    if text != ".".join(map(str, found)):
        raise LibraryError(f"{library_path}: homing_version() says {text!r} "
                           f"but homing_version_num() says {found}")


_check_version()


# ---------------------------------------------------------------------------
# Conversions


def encode(value: Text, what: str = "value") -> bytes:
    """Text for homing: str as UTF-8, bytes-like as they are."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def decode(value: Optional[bytes]) -> str:
    """A `const char *` result as str ("" for NULL)."""
    return value.decode("utf-8", "replace") if value else ""


def take_string(holder: c_void_p, length: Optional[int] = None) -> bytes:
    """Bytes homing handed over through a `char **out`, then frees them."""
    if not holder.value:
        return b""
    try:
        if length is None:
            return ctypes.string_at(holder.value)
        return ctypes.string_at(holder.value, length)
    finally:
        lib.free(holder)
        holder.value = None


def string_array(values: Iterable[Text], what: str) -> tuple[Any, int]:
    """A `const char *const *` array and its length."""
    encoded = [encode(value, what) for value in values]
    for value in encoded:
        if b"\0" in value:
            raise HomingError(Status.INVALID_ARGUMENT,
                              f"{what} {value!r} contains a NUL byte")
    return (c_char_p * len(encoded))(*encoded), len(encoded)


def milliseconds(seconds: Optional[float], what: str) -> int:
    """A duration in seconds as homing's int milliseconds."""
    if seconds is None:
        return -1
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not "
                        f"{type(seconds).__name__}")
    return round(seconds * 1000)


# ---------------------------------------------------------------------------
# Handles


class Handle:
    """Owns one C handle: ``close()`` releases it (once), ``with`` closes it
    on the way out, and the garbage collector closes what was forgotten
    (except while the interpreter shuts down, when nothing is safe to call).

    Subclasses implement ``_dispose(pointer)``. Methods reach the pointer
    through ``self._ref``, which raises :class:`HomingError`
    (FAILED_PRECONDITION) once the object is closed.
    """

    _pointer: Any = None

    def __init__(self, pointer: Any) -> None:
        self._pointer = pointer

    @property
    def _ref(self) -> Any:
        pointer = self._pointer
        if not pointer:
            raise HomingError(Status.FAILED_PRECONDITION,
                              f"the {type(self).__name__} is closed")
        return pointer

    @property
    def closed(self) -> bool:
        """True once ``close()`` has run."""
        return not self._pointer

    def close(self) -> None:
        """Releases the C handle; later calls do nothing."""
        pointer, self._pointer = self._pointer, None
        if pointer:
            self._dispose(pointer)

    def _dispose(self, pointer: Any) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if not sys.is_finalizing():
            self.close()

