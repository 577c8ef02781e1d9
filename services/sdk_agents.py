"""What an SDK agent graph holds: the agents reachable from one through handoffs (and agents
used as tools), and the hosted tools among their tools.

Shared by the registry (a load-time diagnostic, offloading sync callables) and the executor
(governance, model settings, the first-use check), so both judge an agent the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agents import Agent, FunctionTool
from agents.handoffs import Handoff

__all__ = ["agents_reachable_from", "hosted_tool_problem", "hosted_tools"]


def agents_reachable_from(root: Agent[Any], *, through_agent_tools: bool = False) -> Iterator[Agent[Any]]:
    """``root`` and the agents its handoffs reach; with ``through_agent_tools``, also the agents
    it uses as tools (``Agent.as_tool``), whose nested runs execute their code too."""
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
        if through_agent_tools:
            stack.extend(t._agent_instance for t in agent.tools if isinstance(t, FunctionTool) and isinstance(t._agent_instance, Agent))


def hosted_tools(root: Agent[Any]) -> tuple[str, ...]:
    """Tools the model provider runs (web search, file search, code interpreter, hosted MCP...):
    anything but a FunctionTool. Only the Responses API can offer them."""
    return tuple(sorted({getattr(t, "name", type(t).__name__) for a in agents_reachable_from(root) for t in a.tools if not isinstance(t, FunctionTool)}))


def hosted_tool_problem(agent_id: str, tools: tuple[str, ...], upstream: str) -> str:
    """Why such an agent cannot run on a Chat Completions upstream, and what to change."""
    return (
        f"agent {agent_id!r} uses the hosted tool(s) {', '.join(map(repr, tools))}, which need an upstream speaking the Responses API;"
        f" upstream {upstream!r} speaks Chat Completions (set `api: responses` on it in upstreams.yaml, or route the agent to an upstream that does)"
    )
