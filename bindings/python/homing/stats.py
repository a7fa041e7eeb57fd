"""Stats: the counters and gauges of the objects created with a store,
under Envoy's names ("cluster.<name>.upstream_rq_total", ...).

Example::

    stats = Stats()
    balancer = LoadBalancer("backends", ["127.0.0.1:8080"], stats=stats)
    ...
    print(stats.counter("cluster.backends.upstream_rq_total"))
    print(stats.render(filter="upstream_rq"))

Objects keep their store alive, so it may be closed before them.
Thread safety: any thread.
"""

from __future__ import annotations

import enum
from ctypes import byref, c_int64, c_size_t, c_uint64, c_void_p
from typing import Optional, Union

from ._ffi import Handle, encode, lib, take_string


class StatsFormat(enum.IntEnum):
    """How :meth:`Stats.render` writes the stats."""

    TEXT = 0        #: "name: value" lines, Envoy's /stats
    JSON = 1        #: {"stats":[{"name":...,"value":...}]}
    PROMETHEUS = 2  #: text exposition 0.0.4, names prefixed homing_


class Stats(Handle):
    """A stats store. Pass it to the objects whose stats it should hold."""

    def __init__(self) -> None:
        super().__init__(lib.stats_new())

    def _dispose(self, pointer) -> None:
        lib.stats_free(pointer)

    def render(self, format: Union[StatsFormat, str] = StatsFormat.TEXT,
               filter: Optional[str] = None) -> str:
        """Every stat whose name matches `filter` (an RE2 regex, partial
        match as Envoy's /stats?filter=; None for all), sorted by name.
        `format` is a :class:`StatsFormat` or its name ("text", "json",
        "prometheus"). A regex that does not compile is INVALID_ARGUMENT."""
        if isinstance(format, str):
            format = StatsFormat[format.upper()]
        out, length = c_void_p(), c_size_t()
        lib.stats_render(self._ref, int(format),
                         None if filter is None else encode(filter, "filter"),
                         byref(out), byref(length))
        return take_string(out, length.value).decode("utf-8", "replace")

    def counter(self, name: str) -> int:
        """A counter's value; NOT_FOUND when there is none of that name,
        INVALID_ARGUMENT when the stat is a gauge."""
        value = c_uint64()
        lib.stats_counter(self._ref, encode(name, "name"), byref(value))
        return value.value

    def gauge(self, name: str) -> int:
        """A gauge's value; NOT_FOUND when there is none of that name,
        INVALID_ARGUMENT when the stat is a counter."""
        value = c_int64()
        lib.stats_gauge(self._ref, encode(name, "name"), byref(value))
        return value.value

    def __repr__(self) -> str:
        return "<homing.Stats closed>" if self.closed else "<homing.Stats>"
