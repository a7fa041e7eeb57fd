"""Placement: which member of an ordered membership owns a key.

Example::

    placement = Placement(["server-0:8081", "server-1:8081"], "jump")
    owner = placement.owner("client-42")
    print(owner.index, owner.member)

Deterministic across processes and platforms: every strategy starts from
:func:`key_hash` (XXH64, seed 0).

Thread safety: ``owner()`` may run on several threads at once;
``set_members()`` needs the object to itself.
"""

from __future__ import annotations

import enum
from ctypes import byref, c_char_p, c_int, c_size_t
from typing import Iterable, NamedTuple, Union

from . import _ffi
from ._ffi import Handle, Text, decode, encode, lib


def key_hash(key: Text) -> int:
    """XXH64 of `key` with seed 0: the hash every placement strategy and
    consistent-hash load balancer starts from."""
    data = encode(key, "key")
    return lib.key_hash(data, len(data))


class Strategy(enum.IntEnum):
    """How a :class:`Placement` maps keys to members."""

    JUMP = 0        #: jump consistent hash over ordinals
    RENDEZVOUS = 1  #: highest random weight over names
    MAGLEV = 2      #: Maglev table over names
    MODULO = 3      #: hash % n, for comparison

    @property
    def label(self) -> str:
        """homing's name of the strategy: "jump", "rendezvous", ..."""
        return decode(lib.placement_strategy_name(self.value))

    @classmethod
    def from_name(cls, name: str) -> "Strategy":
        """The strategy homing calls `name` (INVALID_ARGUMENT otherwise)."""
        value = c_int()
        lib.placement_strategy_from_name(encode(name, "strategy name"), byref(value))
        return cls(value.value)


class Owner(NamedTuple):
    """The member owning a key: its ordinal and its name."""

    index: int
    member: str


class Placement(Handle):
    """owner(key) over an ordered membership (e.g. a StatefulSet's pods, in
    ordinal order). `strategy` is a :class:`Strategy` or its name. Empty,
    duplicate or NUL-containing member names are INVALID_ARGUMENT."""

    def __init__(self, members: Iterable[Text],
                 strategy: Union[Strategy, str] = Strategy.JUMP) -> None:
        if isinstance(strategy, str):
            strategy = Strategy.from_name(strategy)
        array, count = _ffi.string_array(members, "member")
        out = _ffi.placement_p()
        lib.placement_new(int(strategy), array, count, byref(out))
        super().__init__(out)

    def _dispose(self, pointer) -> None:
        lib.placement_free(pointer)

    @property
    def strategy(self) -> Strategy:
        """The strategy."""
        return Strategy(lib.placement_strategy(self._ref))

    @property
    def members(self) -> list[str]:
        """The membership, in ordinal order."""
        ref = self._ref
        return [decode(lib.placement_member(ref, i))
                for i in range(lib.placement_member_count(ref))]

    def __len__(self) -> int:
        return lib.placement_member_count(self._ref)

    def set_members(self, members: Iterable[Text]) -> None:
        """Replaces the membership; on error the old one stays."""
        array, count = _ffi.string_array(members, "member")
        lib.placement_set_members(self._ref, array, count)

    def owner(self, key: Text) -> Owner:
        """The member owning `key` (str or bytes)."""
        data = encode(key, "key")
        index, member = c_size_t(), c_char_p()
        lib.placement_owner(self._ref, data, len(data), byref(index), byref(member))
        return Owner(index.value, decode(member.value))

    def __repr__(self) -> str:
        if self.closed:
            return "<homing.Placement closed>"
        return f"<homing.Placement {self.strategy.label} over {len(self)} members>"
