"""Proto enums <-> the lower-case strings the rest of the gateway speaks.

Every enum of ``agentgateway.v1`` is named ``<PREFIX>_<NAME>`` where ``NAME`` lower-cased is
exactly the OpenAI or domain string (``ROLE_USER`` <-> ``"user"``, ``FINISH_REASON_TOOL_CALLS``
<-> ``"tool_calls"``, ``ACTION_USE_MODEL`` <-> ``"use_model"``). ``ProtoEnum`` derives both
directions from the enum descriptor and checks them against the domain's ``Literal`` at import,
so the two can never drift apart: a new value is a proto change plus a ``Literal`` change.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast, get_args

__all__ = ["ProtoEnum"]

N = TypeVar("N", bound=str)  # the domain's Literal of names
V = TypeVar("V", bound=int)  # the generated enum class


class ProtoEnum(Generic[N, V]):
    def __init__(self, enum: Any, names: Any) -> None:
        values = [v for v in enum.DESCRIPTOR.values if v.number != 0]
        prefix = enum.DESCRIPTOR.values[0].name.removesuffix("UNSPECIFIED")
        self._by_name: dict[str, V] = {v.name.removeprefix(prefix).lower(): v.number for v in values}
        self._by_value: dict[int, N] = {number: cast(N, name) for name, number in self._by_name.items()}
        expected = set(get_args(names))
        if expected != set(self._by_name):
            raise TypeError(f"{enum.DESCRIPTOR.full_name} names {sorted(self._by_name)} differ from the domain's {sorted(expected)}")
        self.names: tuple[N, ...] = tuple(cast(N, n) for n in self._by_name)

    def to_proto(self, name: N) -> V:
        return self._by_name[name]

    def from_proto(self, value: int) -> N | None:
        """The name of ``value``; None for ``*_UNSPECIFIED`` and values this build does not know."""
        return self._by_value.get(value)

    def parse(self, text: str | None) -> N | None:
        """``text`` if it is one of the names (e.g. an upstream's ``finish_reason``), else None."""
        return cast(N, text) if text in self._by_name else None
