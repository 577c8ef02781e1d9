"""Govern the SDK's own tools: every invocation is checked against the caller's tool allowlist.

The agent's ``FunctionTool``s (and those of every agent reachable through handoffs) keep
their schemas and bodies as the author wrote them; only ``on_invoke_tool`` is wrapped, once,
at first use. A denied call never runs the tool body: the model gets an error string it can
act on, and the decision is audited.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agents.handoffs import Handoff

from agents import Agent, FunctionTool
from services.security.context import current_call
from services.security.gatekeeper import Gatekeeper

__all__ = ["govern_agent"]

_MARK = "_agentgateway_governed"


def govern_agent(agent: Agent[Any], gatekeeper: Gatekeeper) -> None:
    for reachable in _agents_reachable_from(agent):
        for tool in reachable.tools:
            if isinstance(tool, FunctionTool) and not getattr(tool, _MARK, False):
                _wrap(tool, gatekeeper)
                setattr(tool, _MARK, True)  # FunctionTool is an unhashable dataclass: mark it instead


def _agents_reachable_from(root: Agent[Any]) -> Iterator[Agent[Any]]:
    seen: set[int] = set()
    stack = [root]
    while stack:
        agent = stack.pop()
        if id(agent) in seen:
            continue
        seen.add(id(agent))
        yield agent
        for target in agent.handoffs:
            if isinstance(target, Agent):
                stack.append(target)
            elif isinstance(target, Handoff):
                ref = getattr(target, "_agent_ref", None)
                resolved = ref() if ref is not None else None
                if isinstance(resolved, Agent):
                    stack.append(resolved)


def _wrap(tool: FunctionTool, gatekeeper: Gatekeeper) -> None:
    invoke = tool.on_invoke_tool
    name = tool.name

    async def governed(ctx: Any, arguments: str) -> Any:
        call = current_call.get()
        principal = call.principal if call is not None else None
        decision = await gatekeeper.authorize(principal, "use_tool", name, call.request_id if call else "")
        if not decision.allowed:
            return f"Error: the tool {name!r} is not allowed for this caller (policy: {decision.policy}). Do not call it again."
        return await invoke(ctx, arguments)

    tool.on_invoke_tool = governed
