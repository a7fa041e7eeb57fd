"""Configurations, requests and route tables: routing without a loop.

Example::

    config = Config.load("proxy.yaml")
    table = RouteTable(config)
    route = table.match(Request("GET", "proxy.local", "/join?client_id=42"))
    print(route.name, route.cluster)

Thread safety: a Config, a RouteTable and its Routes are immutable and may be
used from any thread. A Request belongs to one thread at a time.
"""

from __future__ import annotations

import enum
import os
from ctypes import byref, c_size_t, c_uint64, c_void_p, cast
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Union

from . import _ffi
from ._ffi import Handle, HomingError, Status, Text, decode, encode, lib


class Config(Handle):
    """A validated homing configuration (Envoy's v3 bootstrap subset, YAML or
    JSON; docs/configuration.md). Build one with :meth:`load` or
    :meth:`parse`; errors raise :class:`HomingError` whose message names the
    path and line of the problem."""

    @classmethod
    def parse(cls, text: Text, source_name: Optional[str] = None) -> "Config":
        """Parses YAML or JSON text. `source_name` appears in YAML syntax
        errors ("name:line:column: ..."); the default is "config"."""
        data = encode(text, "text")
        name = None if source_name is None else encode(source_name, "source_name")
        out = _ffi.config_p()
        lib.config_parse(data, len(data), name, byref(out))
        return cls(out)

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "Config":
        """Reads and parses a file (NOT_FOUND when it cannot be read)."""
        out = _ffi.config_p()
        lib.config_load_file(os.fsencode(path), byref(out))
        return cls(out)

    def _dispose(self, pointer) -> None:
        lib.config_free(pointer)

    @property
    def listeners(self) -> list[str]:
        """Listener names in configuration order; routers and route tables
        take a listener's index or name."""
        ref = self._ref
        return [decode(lib.config_listener_name(ref, i))
                for i in range(lib.config_listener_count(ref))]

    @property
    def clusters(self) -> list[str]:
        """Cluster names in configuration order."""
        ref = self._ref
        return [decode(lib.config_cluster_name(ref, i))
                for i in range(lib.config_cluster_count(ref))]

    def listener_index(self, listener: Union[int, str]) -> int:
        """The index of a listener given by index or name."""
        if isinstance(listener, str):
            names = self.listeners
            if listener not in names:
                raise HomingError(Status.NOT_FOUND,
                                  f"no listener named {listener!r} (the config "
                                  f"has {', '.join(map(repr, names)) or 'none'})")
            return names.index(listener)
        if listener < 0:
            raise HomingError(Status.INVALID_ARGUMENT,
                              f"listener index {listener} is negative")
        return listener

    def __repr__(self) -> str:
        if self.closed:
            return "<homing.Config closed>"
        return f"<homing.Config listeners={self.listeners} clusters={self.clusters}>"


class Request(Handle):
    """What routing looks at: method, authority (Host, maybe with a port),
    path with its query string, and headers (pairs, or a mapping).

    Build one, route it, change it and reuse it: homing keeps its buffers, so
    a reused request stops allocating. Strings may be str (sent as UTF-8) or
    bytes.
    """

    def __init__(self, method: Text = "GET", authority: Text = "",
                 path: Text = "/",
                 headers: Union[Iterable[tuple[Text, Text]],
                                Mapping[Text, Text]] = ()) -> None:
        super().__init__(lib.request_new())
        self._headers: list[tuple[Text, Text]] = []
        self.method = method
        self.authority = authority
        self.path = path
        for name, value in headers.items() if isinstance(headers, Mapping) else headers:
            self.add_header(name, value)

    def _dispose(self, pointer) -> None:
        lib.request_free(pointer)

    @property
    def method(self) -> Text:
        """The method, e.g. "GET"."""
        return self._method

    @method.setter
    def method(self, value: Text) -> None:
        data = encode(value, "method")
        lib.request_set_method(self._ref, data, len(data))
        self._method = value

    @property
    def authority(self) -> Text:
        """The Host the client asked for ("" when it sent none)."""
        return self._authority

    @authority.setter
    def authority(self, value: Text) -> None:
        data = encode(value, "authority")
        lib.request_set_authority(self._ref, data, len(data))
        self._authority = value

    @property
    def path(self) -> Text:
        """The path, including the query string."""
        return self._path

    @path.setter
    def path(self, value: Text) -> None:
        data = encode(value, "path")
        lib.request_set_path(self._ref, data, len(data))
        self._path = value

    @property
    def headers(self) -> list[tuple[Text, Text]]:
        """The headers added so far, in order."""
        return list(self._headers)

    def add_header(self, name: Text, value: Text) -> None:
        """Appends a header. Names compare case-insensitively; a repeated
        header matches as its values joined with ','. An empty name is
        INVALID_ARGUMENT."""
        raw_name, raw_value = encode(name, "header name"), encode(value, "header value")
        lib.request_add_header(self._ref, raw_name, len(raw_name), raw_value,
                               len(raw_value))
        self._headers.append((name, value))

    def reset(self) -> None:
        """Clears every field and header (method "", path "")."""
        lib.request_reset(self._ref)
        self._method = self._authority = self._path = ""
        self._headers.clear()

    def __repr__(self) -> str:
        return (f"<homing.Request {self._method!r} {self._path!r} "
                f"authority={self._authority!r} headers={len(self._headers)}>")


class KeySource(enum.IntEnum):
    """Where an affinity key comes from."""

    NONE = -1
    QUERY_PARAMETER = 0
    HEADER = 1


@dataclass(frozen=True)
class Affinity:
    """The affinity settings of a route: the owner of the key named
    `key_name` (a `key_source`) is asked of `lookup_cluster` at
    `lookup_path`."""

    lookup_cluster: str
    lookup_path: str
    key_source: KeySource
    key_name: str


class Route:
    """One route of a :class:`RouteTable` (it keeps the table alive)."""

    def __init__(self, table: "RouteTable", pointer) -> None:
        self._table = table
        self._pointer = pointer
        self._address = cast(pointer, c_void_p).value

    @property
    def _ref(self):
        self._table._ref  # raises once the table is closed: the route is gone
        return self._pointer

    @property
    def name(self) -> str:
        """The configured name, or "<virtual host>/<index>"."""
        return decode(lib.route_name(self._ref))

    @property
    def virtual_host(self) -> str:
        """The name of the route's virtual host."""
        return decode(lib.route_virtual_host(self._ref))

    @property
    def cluster(self) -> str:
        """The cluster the route sends to."""
        return decode(lib.route_cluster(self._ref))

    @property
    def timeout(self) -> Optional[float]:
        """The route timeout in seconds; None when it has none."""
        milliseconds = lib.route_timeout_ms(self._ref)
        return milliseconds / 1000 if milliseconds else None

    @property
    def affinity(self) -> Optional[Affinity]:
        """The affinity settings, or None for a route without affinity."""
        pointer = self._ref
        if not lib.route_has_affinity(pointer):
            return None
        return Affinity(decode(lib.route_affinity_lookup_cluster(pointer)),
                        decode(lib.route_affinity_lookup_path(pointer)),
                        KeySource(lib.route_affinity_key_source(pointer)),
                        decode(lib.route_affinity_key_name(pointer)))

    def affinity_key(self, request: Request) -> bytes:
        """The affinity key of `request` as the router extracts it (query
        parameters percent-decoded; keys are bytes). NOT_FOUND when absent;
        INVALID_ARGUMENT when empty, too long, or for a route without
        affinity."""
        key, length = c_void_p(), c_size_t()
        lib.route_affinity_key(self._ref, request._ref, byref(key),
                               byref(length))
        return _ffi.take_string(key, length.value)

    def hash(self, request: Request) -> int:
        """The request hash of the route's hash policies (what RING_HASH and
        MAGLEV balancers use). NOT_FOUND when no policy applies."""
        value = c_uint64()
        lib.route_hash(self._ref, request._ref, byref(value))
        return value.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Route) and other._address == self._address

    def __hash__(self) -> int:
        return hash(self._address)

    def __repr__(self) -> str:
        if self._table.closed:
            return "<homing.Route of a closed table>"
        return f"<homing.Route {self.name!r} -> {self.cluster!r}>"


class RouteTable(Handle):
    """A listener's virtual hosts and routes, compiled once, with Envoy's
    matching: the virtual host by domain, then the first matching route.
    The config may be closed afterwards."""

    def __init__(self, config: Config, listener: Union[int, str] = 0) -> None:
        out = _ffi.route_table_p()
        lib.route_table_new(config._ref, config.listener_index(listener), byref(out))
        super().__init__(out)

    def _dispose(self, pointer) -> None:
        lib.route_table_free(pointer)

    @property
    def routes(self) -> list[Route]:
        """Every route, in virtual host order, then route order."""
        ref = self._ref
        return [Route(self, lib.route_table_route(ref, i))
                for i in range(lib.route_table_route_count(ref))]

    def __len__(self) -> int:
        return lib.route_table_route_count(self._ref)

    def match(self, request: Request) -> Optional[Route]:
        """The first route that matches `request`, or None (a 404)."""
        pointer = lib.route_table_match(self._ref, request._ref)
        return Route(self, pointer) if pointer else None

    def __repr__(self) -> str:
        if self.closed:
            return "<homing.RouteTable closed>"
        return f"<homing.RouteTable routes={[r.name for r in self.routes]}>"
