# A drop-in with AgentHooks and tool_use_behavior="stop_on_first_tool": its tool's output is
# the answer, and the hooks record what ran.
import os
from typing import Any

from agents import Agent, AgentHooks, RunContextWrapper, Tool, function_tool


@function_tool
def ticket_status(ticket_id: int) -> str:
    """The status of a ticket."""
    return f"ticket {ticket_id}: open"


class LogHooks(AgentHooks[Any]):
    async def on_start(self, context: RunContextWrapper[Any], agent: Agent[Any]) -> None:
        self._write(f"agent_start {agent.name}")

    async def on_tool_end(self, context: RunContextWrapper[Any], agent: Agent[Any], tool: Tool, result: str) -> None:
        self._write(f"tool_end {tool.name} {result}")

    @staticmethod
    def _write(line: str) -> None:
        with open(os.environ["GW_HOOKS_LOG"], "a") as log:
            log.write(line + "\n")


agent = Agent(name="Stopper", instructions="Look tickets up.", tools=[ticket_status], tool_use_behavior="stop_on_first_tool", hooks=LogHooks())
