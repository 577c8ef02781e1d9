# A drop-in that uses the caller's request info: as its run context (built by the gateway
# through __gateway__["context"]), deeper down through request_info(), and module RunHooks.
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from agents import Agent, RunContextWrapper, RunHooks, function_tool

from agentgateway import RequestInfo, request_info


@dataclass
class Caller:
    key_id: str
    roles: tuple[str, ...]


async def build_context(info: RequestInfo) -> Caller:
    return Caller(info.key_id, tuple(sorted(info.roles)))


def instructions(ctx: RunContextWrapper[Caller], agent: Agent[Caller]) -> str:
    return f"You serve {ctx.context.key_id} (roles: {', '.join(ctx.context.roles) or 'none'})."


@function_tool
def whoami() -> str:
    """Who is asking."""
    info = request_info()
    return f"{info.key_id}|{info.request_id}|{info.user}|{dict(info.metadata)}|{info.model_id}"


class LoggingHooks(RunHooks[Any]):
    async def on_agent_start(self, context: RunContextWrapper[Any], agent: Agent[Any]) -> None:
        with open(os.environ["GW_HOOKS_LOG"], "a") as log:
            log.write(f"start {agent.name} {request_info().request_id}\n")


hooks = LoggingHooks()
__gateway__ = {"context": build_context}
agent = Agent[Caller](name="Contextual", instructions=instructions, tools=[whoami])
