# A drop-in with tool input and output guardrails and tool_use_behavior=StopAtTools: guardrails
# run as the SDK runs them, and calling `final_answer` ends the run with that tool's output.
from agents import (
    Agent,
    StopAtTools,
    ToolGuardrailFunctionOutput,
    ToolInputGuardrailData,
    ToolOutputGuardrailData,
    function_tool,
    tool_input_guardrail,
    tool_output_guardrail,
)


@tool_input_guardrail
def no_privileged_accounts(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
    arguments = data.context.tool_arguments or ""
    if '"root"' in arguments:
        return ToolGuardrailFunctionOutput.raise_exception(output_info="root")
    if '"admin"' in arguments:
        return ToolGuardrailFunctionOutput.reject_content("Looking up admin accounts is not allowed.")
    return ToolGuardrailFunctionOutput.allow()


@tool_output_guardrail
def no_secrets_out(data: ToolOutputGuardrailData) -> ToolGuardrailFunctionOutput:
    if "SECRET" in str(data.output):
        return ToolGuardrailFunctionOutput.reject_content("The lookup returned something that cannot be shown.")
    return ToolGuardrailFunctionOutput.allow()


@function_tool(tool_input_guardrails=[no_privileged_accounts], tool_output_guardrails=[no_secrets_out])
def lookup_account(account: str) -> str:
    """Look an account up."""
    if account == "vault":
        return "vault: SECRET=hunter2"
    return f"{account}: active"


@function_tool
def final_answer(text: str) -> str:
    """Give the final answer."""
    return f"FINAL {text}"


agent = Agent(
    name="ToolGuarded",
    instructions="Look accounts up, then give the final answer.",
    tools=[lookup_account, final_answer],
    tool_use_behavior=StopAtTools(stop_at_tool_names=["final_answer"]),
)
