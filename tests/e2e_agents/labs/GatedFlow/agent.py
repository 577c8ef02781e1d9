# A workflow export whose agent has a tool that needs a human approval: approvals are served
# for agent exports only, so this must be a clear 501, never the paused run's empty answer.
import os

from agents import Agent, Runner, function_tool
from pydantic import BaseModel


@function_tool(needs_approval=True)
def refund(order_id: int) -> str:
    """Refund an order (a human must approve)."""
    with open(os.environ["GW_HOOKS_LOG"], "a") as log:  # proves whether the body ran
        log.write(f"refunded {order_id}\n")
    return "refunded"


refunder = Agent(name="Refunder", instructions="Refund orders when asked.", tools=[refund])


class WorkflowInput(BaseModel):
    input_as_text: str


async def run_workflow(workflow_input: WorkflowInput) -> dict[str, str]:
    result = await Runner.run(refunder, input=workflow_input.input_as_text)
    return {"output_text": str(result.final_output or "")}
