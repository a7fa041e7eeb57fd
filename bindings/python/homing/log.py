"""homing's log: a process-wide level, and where the lines go.

Example::

    set_log_level(LogLevel.DEBUG)
    set_log_callback(lambda level, message: print(level.name, message))
    ...
    set_log_callback(None)   # back to stderr

By default homing writes lines at INFO and above to stderr.

Thread safety: any thread. The callback may be called from any thread that
logs (often the engine thread), concurrently, and also for a moment after it
was replaced; keep it short and do not block in it.
"""

from __future__ import annotations

import enum
from typing import Callable, Optional, Union

from . import _ffi
from ._ffi import lib

LogCallback = Callable[["LogLevel", str], None]


class LogLevel(enum.IntEnum):
    """Log levels, from the most verbose."""

    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4
    OFF = 5


def set_log_level(level: Union[LogLevel, int]) -> None:
    """Drops messages below `level` (default INFO). INVALID_ARGUMENT for a
    number that is not a level."""
    lib.set_log_level(int(level))


def log_level() -> LogLevel:
    """The current level."""
    return LogLevel(lib.log_level())


_callback: Optional[LogCallback] = None


def _deliver(level: int, message: Optional[int], length: int, _user_data) -> None:
    callback = _callback
    if callback is not None and message:
        text = _ffi.ctypes.string_at(message, length).decode("utf-8", "replace")
        callback(LogLevel(level), text)


# Created once and never released: homing may call it a moment after it
# was unset.
_trampoline = _ffi.log_cb(_deliver)


def set_log_callback(callback: Optional[LogCallback]) -> None:
    """Sends every log line to ``callback(level, message)`` instead of
    stderr; None restores stderr. Exceptions raised by the callback are
    reported by ctypes and otherwise ignored."""
    global _callback
    _callback = callback
    lib.set_log_callback(_trampoline if callback is not None else _ffi.log_cb(),
                         None)


def reset_callback() -> None:
    """Restores stderr (at interpreter exit: no Python callback may run
    once the interpreter is shutting down)."""
    if _callback is not None:
        set_log_callback(None)
