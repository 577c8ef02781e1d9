# A drop-in whose tool_use_behavior is a function: a tool result starting with "DONE:" is the
# final answer; anything else goes back to the model.
from typing import Any

from agents import Agent, FunctionToolResult, RunContextWrapper, ToolsToFinalOutputResult, function_tool


@function_tool
def check(item: str) -> str:
    """Check an item."""
    return f"DONE: {item} is in stock" if item == "apples" else f"{item}: unknown"


def decide(context: RunContextWrapper[Any], results: list[FunctionToolResult]) -> ToolsToFinalOutputResult:
    for result in results:
        if str(result.output).startswith("DONE:"):
            return ToolsToFinalOutputResult(is_final_output=True, final_output=str(result.output).removeprefix("DONE: "))
    return ToolsToFinalOutputResult(is_final_output=False)


agent = Agent(name="Chooser", instructions="Check items.", tools=[check], tool_use_behavior=decide)
