"""Make the sync callables of an agent graph run in the agent's thread pool, not on the loop.

The SDK calls many user callables directly on the event loop and awaits the result only if it
is awaitable (``agents/agent.py`` ``get_system_prompt``, ``guardrail.py``, ``tool_guardrails.py``,
``run_internal/turn_resolution.py`` for ``tool_use_behavior`` and handoff ``input_filter``,
``util/_approvals.py`` for ``needs_approval``, ``handoffs/__init__.py`` for ``on_handoff`` and
``is_enabled``): a sync one that blocks stalls every request of the process. Each such sync
callable is replaced, once, at load time, by an ``async`` function that runs it with
``asyncio.to_thread`` — which the gateway's default executor sends to the pool of the agent
being served (``pools.py``). The SDK sees the same signature (``functools.wraps``: it inspects
``instructions``' parameters), gets the same result and the same exception; a sync callable
that returns an awaitable has it awaited, as the SDK would. Async callables, strings, dicts
(``StopAtTools``) and booleans are left alone, so nothing is cloned or rebuilt per request.

Not reachable this way, and documented as such: ``RunHooks``/``AgentHooks`` methods (the SDK
requires ``async def``), ``Agent.as_tool``'s ``custom_output_extractor`` (awaited, so async
already) and a function tool's ``failure_error_function``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

from agents import Agent, FunctionTool
from agents.handoffs import Handoff

from services.sdk_agents import agents_reachable_from

__all__ = ["is_sync_callable", "offload_agent_graph", "offloaded"]

_MARK = "__agentgateway_offloaded__"


def is_sync_callable(value: object) -> bool:
    """A plain callable the SDK would call on the loop; ``False`` for ``async`` ones (also
    callable objects with an ``async __call__`` and partials of coroutine functions)."""
    if not callable(value) or isinstance(value, type) or getattr(value, _MARK, False):
        return False
    return not (inspect.iscoroutinefunction(value) or inspect.iscoroutinefunction(getattr(value, "__call__", None)))  # noqa: B004


def offloaded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as a coroutine function that runs it in a worker thread (the current agent's pool)."""

    @functools.wraps(fn)
    async def in_guest_thread(*args: Any, **kwargs: Any) -> Any:
        result = await asyncio.to_thread(fn, *args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    setattr(in_guest_thread, _MARK, True)
    return in_guest_thread


def _offload_attr(owner: object, name: str) -> int:
    value = getattr(owner, name, None)
    if value is None or not is_sync_callable(value):
        return 0
    setattr(owner, name, offloaded(value))
    return 1


def _offload_closure(fn: object, name: str) -> int:
    """The user callable ``name`` that an SDK-built async function closes over (``handoff()``
    wraps ``on_handoff`` and ``is_enabled`` so). Partials are looked through."""
    count = 0
    candidates = [fn.func, *fn.args] if isinstance(fn, functools.partial) else [fn]
    for candidate in candidates:
        code, cells = getattr(candidate, "__code__", None), getattr(candidate, "__closure__", None)
        if code is None or cells is None or name not in code.co_freevars:
            continue
        cell = cells[code.co_freevars.index(name)]
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if is_sync_callable(value):
            cell.cell_contents = offloaded(value)
            count += 1
    return count


def offload_agent_graph(root: Agent[Any]) -> int:
    """Offload every sync callable reachable from ``root``, in place; returns how many.

    Idempotent (an offloaded callable is marked), so agents shared between graphs are safe.
    """
    count = 0
    for agent in agents_reachable_from(root, through_agent_tools=True):
        for name in ("instructions", "prompt", "tool_use_behavior"):
            count += _offload_attr(agent, name)
        for guardrail in (*agent.input_guardrails, *agent.output_guardrails):
            count += _offload_attr(guardrail, "guardrail_function")
        for tool in agent.tools:
            if not isinstance(tool, FunctionTool):
                continue
            count += _offload_attr(tool, "is_enabled") + _offload_attr(tool, "needs_approval")
            for tool_guardrail in (*(tool.tool_input_guardrails or ()), *(tool.tool_output_guardrails or ())):
                count += _offload_attr(tool_guardrail, "guardrail_function")
        for target in agent.handoffs:
            if isinstance(target, Handoff):
                count += _offload_attr(target, "input_filter") + _offload_attr(target, "is_enabled")
                count += _offload_closure(target.on_invoke_handoff, "on_handoff")
                count += _offload_closure(target.is_enabled, "is_enabled")
    return count
