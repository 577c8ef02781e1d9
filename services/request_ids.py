"""The request id: accepted from the caller or generated, then carried for the whole request.

One rule for every entry point (the shim's ``x-request-id`` header, gRPC ``x-request-id``
metadata): 1–128 of ``A-Za-z0-9._:-``, else a fresh id. The id the entry point settled on is
bound to the serving task's context (``bind``); whatever runs in that context — the run's
tasks, tool threads (``asyncio.to_thread`` copies the context), the upstream clients — reads
it with ``current()``: log lines carry it (services/log.py) and upstream requests send it as
``x-request-id`` (services/upstreams.py, services/executor/chat_http.py). Tasks that outlive
the request that started them (MCP sessions) start from an empty context instead.
"""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Iterable

__all__ = ["HEADER", "accept", "bind", "current", "from_metadata"]

HEADER = "x-request-id"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_current: contextvars.ContextVar[str] = contextvars.ContextVar("agentgateway_request_id", default="")


def accept(incoming: str | None) -> str:
    """``incoming`` if it is a valid id, else a new one (uuid4().hex's format, without the UUID object)."""
    return incoming if incoming and _VALID.match(incoming) else os.urandom(16).hex()


def from_metadata(metadata: Iterable[tuple[str, str | bytes]]) -> str:
    """The id in gRPC metadata (``x-request-id``), or a new one."""
    for key, value in metadata:
        if key == HEADER and isinstance(value, str):
            return accept(value)
    return accept(None)


def bind(request_id: str) -> None:
    """The id of the request served from this context on."""
    _current.set(request_id)


def current() -> str:
    """The id of the request being served here; "" outside a request."""
    return _current.get()
