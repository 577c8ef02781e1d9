"""Tool call durations measured where tools run, read where events are built.

The executor opens a fresh timing table per run (a context variable); the governed tool
wrappers — which run in tasks the SDK creates, so they inherit the table — record each
call's duration under its call id.
"""

from __future__ import annotations

import contextvars
from typing import Any

from agents import RunContextWrapper

__all__ = ["open_timings", "record_tool_duration", "tool_duration"]

_timings: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("agentgateway_tool_timings", default=None)


def open_timings() -> None:
    _timings.set({})


def record_tool_duration(tool_context: RunContextWrapper[Any], seconds: float) -> None:
    table = _timings.get()
    call_id = getattr(tool_context, "tool_call_id", None)
    if table is not None and call_id:
        table[call_id] = seconds


def tool_duration(call_id: str) -> float | None:
    table = _timings.get()
    return None if table is None else table.get(call_id)
