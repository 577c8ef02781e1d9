"""Ending in-flight responses cleanly when the shutdown grace runs out.

After SIGTERM the shim stops accepting and in-flight responses get the grace period to
finish. A stream longer than that would otherwise be cut by the server mid-chunk (a broken
chunked body every client reports differently). Near the end of the grace the gateway calls
``cut_all()``: each executor call a response is waiting on is cancelled, and the response
ends with a ``shutting_down`` error — in-band for a stream that already started, as a 503
otherwise — which a client can retry on another replica.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import grpc

from services.errors import GatewayError

__all__ = ["OpenCalls", "shutting_down"]


def shutting_down() -> GatewayError:
    """A new error each time: one exception object raised by many requests would carry the
    traceback (and the frames) of the last one."""
    return GatewayError("UNAVAILABLE", "SHUTTING_DOWN", "the gateway is shutting down; send the request again")


class OpenCalls:
    """The executor calls in-flight responses are waiting on."""

    def __init__(self) -> None:
        self._calls: set[grpc.aio.Call] = set()
        self.cut = False

    @contextlib.contextmanager
    def open(self, call: Any) -> Iterator[None]:
        if self.cut:
            call.cancel()
        self._calls.add(call)
        try:
            yield
        finally:
            self._calls.discard(call)

    def cut_all(self) -> None:
        self.cut = True
        for call in list(self._calls):
            call.cancel()
