"""Load balancers: a fixed set of hosts with one of Envoy's policies and
passive health (consecutive failures eject a host for a while).

Example::

    balancer = LoadBalancer("backends", ["127.0.1.81:8080", "127.0.1.82:8080"],
                            policy=LbPolicy.RING_HASH)
    pick = balancer.pick("client-42")
    ...  # send the request to pick.address
    balancer.report(pick.index, Outcome.SUCCESS)

Match every pick with one report: LEAST_REQUEST counts the picks not yet
reported as requests in flight.

Thread safety: one thread at a time.
"""

from __future__ import annotations

import enum
from ctypes import byref, c_char_p, c_size_t, c_uint32
from typing import Iterable, NamedTuple, Optional, Sequence, Union

from . import _ffi
from ._ffi import Handle, HomingError, Status, Text, decode, encode, lib
from .config import Config
from .stats import Stats


class LbPolicy(enum.IntEnum):
    """A load-balancing policy (Envoy's lb_policy)."""

    ROUND_ROBIN = 0
    LEAST_REQUEST = 1
    RANDOM = 2
    RING_HASH = 3
    MAGLEV = 4


class Outcome(enum.IntEnum):
    """How a request to a host ended."""

    SUCCESS = 0          #: any non-5xx answer
    SERVER_ERROR = 1     #: a 5xx answer
    CONNECT_FAILURE = 2  #: connect refused or timed out
    RESET = 3            #: connection reset mid-request
    TIMEOUT = 4          #: no answer in time


class Pick(NamedTuple):
    """A host chosen by :meth:`LoadBalancer.pick`."""

    index: int
    address: str


class LoadBalancer(Handle):
    """A balancer named `name` (its stats: "cluster.<name>.*") over `hosts`
    ("ip:port", IPv6 as "[::1]:80"), with optional `weights` (one >= 1 per
    host) and Envoy's default outlier detection (5 consecutive 5xx or
    local-origin failures eject a host for 30 s, growing with each
    ejection). `stats` is where its stats go (None: a private store)."""

    def __init__(self, name: str, hosts: Iterable[Text],
                 policy: Union[LbPolicy, str] = LbPolicy.ROUND_ROBIN,
                 weights: Optional[Sequence[int]] = None,
                 stats: Optional[Stats] = None) -> None:
        if isinstance(policy, str):
            policy = LbPolicy[policy.upper()]
        array, count = _ffi.string_array(hosts, "host")
        weight_array = None
        if weights is not None:
            if len(weights) != count:
                raise HomingError(Status.INVALID_ARGUMENT,
                                  f"{len(weights)} weights for {count} hosts")
            if any(weight < 0 for weight in weights):
                raise HomingError(Status.INVALID_ARGUMENT,
                                  f"weights must be at least 1, got {list(weights)}")
            weight_array = (c_uint32 * count)(*weights)
        out = _ffi.lb_p()
        lib.lb_new(encode(name, "name"), int(policy), array, weight_array, count,
                   stats._ref if stats is not None else None, byref(out))
        super().__init__(out)

    @classmethod
    def from_config(cls, config: Config, cluster: str,
                    stats: Optional[Stats] = None) -> "LoadBalancer":
        """A balancer for STATIC cluster `cluster` of `config`, with its
        policy, weights and outlier detection. NOT_FOUND for an unknown
        cluster, INVALID_ARGUMENT for one that is not STATIC."""
        out = _ffi.lb_p()
        lib.lb_new_from_config(config._ref, encode(cluster, "cluster"),
                               stats._ref if stats is not None else None,
                               byref(out))
        balancer = cls.__new__(cls)
        Handle.__init__(balancer, out)
        return balancer

    def _dispose(self, pointer) -> None:
        lib.lb_free(pointer)

    def pick(self, hash_key: Optional[Text] = None) -> Pick:
        """Chooses a host. RING_HASH and MAGLEV send the same `hash_key` to
        the same host (hashed as :func:`key_hash` does); without a key they
        fall back to round robin. UNAVAILABLE when there is no host."""
        key = None if hash_key is None else encode(hash_key, "hash_key")
        index, address = c_size_t(), c_char_p()
        lib.lb_pick(self._ref, key, len(key) if key is not None else 0,
                    byref(index), byref(address))
        return Pick(index.value, decode(address.value))

    def report(self, index: int, outcome: Union[Outcome, int]) -> None:
        """How the request sent to host `index` ended. Feeds passive health
        and the stats. INVALID_ARGUMENT for an index out of range or an
        unknown outcome."""
        if index < 0:
            raise HomingError(Status.INVALID_ARGUMENT, f"host index {index} < 0")
        lib.lb_report(self._ref, index, int(outcome))

    @property
    def hosts(self) -> list[str]:
        """The hosts, "ip:port", in order."""
        ref = self._ref
        return [decode(lib.lb_host(ref, i)) for i in range(lib.lb_host_count(ref))]

    def healthy(self, index: int) -> bool:
        """Whether host `index` is in service (False while ejected, and for
        an index out of range)."""
        return index >= 0 and bool(lib.lb_host_healthy(self._ref, index))

    def __repr__(self) -> str:
        if self.closed:
            return "<homing.LoadBalancer closed>"
        return f"<homing.LoadBalancer hosts={self.hosts}>"
