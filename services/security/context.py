"""Who is calling, for the duration of one RPC.

The auth interceptor sets these before a servicer runs; tasks the servicer starts (the
agent run, tool invocations inside it) inherit them, which is how governance deep inside
an SDK run knows the caller without the SDK passing anything through.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from services.security.keys import Principal

__all__ = ["CallContext", "caller", "current_call"]


@dataclass(frozen=True)
class CallContext:
    principal: Principal | None
    request_id: str


current_call: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar("agentgateway_call", default=None)

_ANONYMOUS = CallContext(principal=None, request_id="")


def caller() -> CallContext:
    """The current RPC's caller; outside an authenticated RPC, an anonymous one (every check denies it)."""
    return current_call.get() or _ANONYMOUS
