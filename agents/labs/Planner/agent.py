"""Planner: turns a goal into a short numbered plan (Agent Builder style workflow export)."""

from __future__ import annotations

from agents import Agent, Runner
from pydantic import BaseModel

__gateway__ = {
    "description": "Turns a goal into a short numbered plan.",
    "aliases": ["planner"],
}

planner_agent = Agent(
    name="Planner",
    instructions="Turn the user's goal into a numbered plan of at most five concrete steps.",
)


class WorkflowInput(BaseModel):
    input_as_text: str


async def run_workflow(workflow_input: WorkflowInput) -> dict[str, str]:
    result = await Runner.run(
        planner_agent,
        input=[{"role": "user", "content": [{"type": "input_text", "text": workflow_input.input_as_text}]}],
    )
    return {"output_text": result.final_output_as(str)}
