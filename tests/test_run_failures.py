"""What an SDK run can raise becomes the documented gateway error (pure translation, in process)."""

from __future__ import annotations

import pytest
from agents import (
    MaxTurnsExceeded,
    ModelTimeoutError,
    ToolGuardrailFunctionOutput,
    ToolInputGuardrailTripwireTriggered,
    ToolOutputGuardrailTripwireTriggered,
    ToolTimeoutError,
    tool_input_guardrail,
    tool_output_guardrail,
)

from services.executor.failures import as_gateway_error


@tool_input_guardrail
def check_in(data: object) -> ToolGuardrailFunctionOutput:
    return ToolGuardrailFunctionOutput.allow()


@tool_output_guardrail
def check_out(data: object) -> ToolGuardrailFunctionOutput:
    return ToolGuardrailFunctionOutput.allow()


@pytest.mark.parametrize(
    ("raised", "code", "reason", "metadata"),
    [
        (
            ToolInputGuardrailTripwireTriggered(check_in, ToolGuardrailFunctionOutput.raise_exception()),
            "INVALID_ARGUMENT",
            "GUARDRAIL_TRIGGERED",
            {"guardrail": "check_in", "kind": "tool_input"},
        ),
        (
            ToolOutputGuardrailTripwireTriggered(check_out, ToolGuardrailFunctionOutput.raise_exception()),
            "INVALID_ARGUMENT",
            "GUARDRAIL_TRIGGERED",
            {"guardrail": "check_out", "kind": "tool_output"},
        ),
        (ToolTimeoutError("slow_tool", 2.0), "DEADLINE_EXCEEDED", "TOOL_TIMEOUT", {}),
        (ModelTimeoutError(5.0), "DEADLINE_EXCEEDED", "UPSTREAM_TIMEOUT", {}),
        (MaxTurnsExceeded("too many"), "INTERNAL", "MAX_TURNS_EXCEEDED", {}),
    ],
)
def test_sdk_exceptions_map_to_their_documented_errors(raised: Exception, code: str, reason: str, metadata: dict[str, str]) -> None:
    error = as_gateway_error(raised, "default/x")
    assert (error.status, error.reason) == (code, reason)
    assert error.metadata == metadata
    assert "Traceback" not in error.message and ("default/x" in error.message or "check_" in error.message)


def test_a_tool_timeout_names_the_tool() -> None:
    assert "'slow_tool'" in as_gateway_error(ToolTimeoutError("slow_tool", 2.0), "default/x").message
