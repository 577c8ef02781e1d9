"""How long a call has waited on its upstream: what the ``x-gateway-overhead-ms`` header
subtracts from the request's total time (docs/api.md).

The servicer starts a clock for each call (``start_upstream_clock``); the run's tasks inherit
it (a context variable holding one mutable object), and every upstream call adds its time to
it through ``upstream_call`` / ``upstream_stream`` (services/executor/failures.py), the
wrappers every upstream path — passthrough and the SDK's models — already goes through (and
which count the upstream's requests too). A new upstream path must go through them.

What counts as upstream time: from sending a request to its response (or its next stream
chunk), including the upstream client's own encoding and parsing of that exchange. Time the
gateway spends between chunks is not counted. Cost: two ``perf_counter`` calls and a context
variable read per upstream call or chunk.
"""

from __future__ import annotations

import contextvars
from typing import TypeVar

__all__ = ["UpstreamClock", "current_upstream_clock", "start_upstream_clock"]

T = TypeVar("T")


class UpstreamClock:
    """Seconds spent waiting on upstream calls, summed."""

    __slots__ = ("seconds",)

    def __init__(self) -> None:
        self.seconds = 0.0

    @property
    def nanoseconds(self) -> int:
        return int(self.seconds * 1e9)


_clock: contextvars.ContextVar[UpstreamClock | None] = contextvars.ContextVar("agentgateway_upstream_clock", default=None)


def start_upstream_clock() -> UpstreamClock:
    """A fresh clock for the call being served from this context on."""
    clock = UpstreamClock()
    _clock.set(clock)
    return clock


def current_upstream_clock() -> UpstreamClock | None:
    return _clock.get()
