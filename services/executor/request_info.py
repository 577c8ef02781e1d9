"""Who is asking, for agent code: the request-info object of the run being served.

Drop-in code reads it with ``agentgateway.request_info()`` anywhere inside a run (tools,
guardrails, hooks, dynamic instructions), and a module can build its own run ``context`` from
it with ``__gateway__ = {"context": build_context}``. It carries the caller's key id and
roles, never the key.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["RequestInfo", "current_request_info", "request_info", "serving"]


@dataclass(frozen=True)
class RequestInfo:
    model_id: str  # the model id the client asked for, e.g. "default/weather"
    request_id: str
    key_id: str  # the caller's key id ("" when the gateway serves without keys)
    roles: frozenset[str] = frozenset()
    user: str = ""  # the request's OpenAI `user` field
    metadata: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # the request's `metadata`


_current: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar("agentgateway_request_info", default=None)


def serving(info: RequestInfo) -> None:
    """Called by the executor in the run's task (tasks the SDK starts inherit it)."""
    _current.set(info)


def current_request_info() -> RequestInfo | None:
    return _current.get()


def request_info() -> RequestInfo:
    """The request being served. Raises ``RuntimeError`` outside a gateway run."""
    info = _current.get()
    if info is None:
        raise RuntimeError("request_info() is only available while the gateway runs an agent")
    return info
