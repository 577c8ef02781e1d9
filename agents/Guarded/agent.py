"""Guarded: a helpful assistant that refuses requests containing secrets (input guardrail)."""

from __future__ import annotations

from typing import Any

from agents import Agent, GuardrailFunctionOutput, RunContextWrapper, TResponseInputItem, input_guardrail

SECRET_WORDS = ("password",)


def _text_of(input: str | list[TResponseInputItem]) -> str:
    if isinstance(input, str):
        return input
    parts: list[str] = []
    for item in input:
        content: Any = item.get("content") if isinstance(item, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return "\n".join(parts)


@input_guardrail(name="no_secrets", run_in_parallel=False)  # checked before the model sees the input
def no_secrets(ctx: RunContextWrapper[Any], agent: Agent[Any], input: str | list[TResponseInputItem]) -> GuardrailFunctionOutput:
    text = _text_of(input).lower()
    found = [word for word in SECRET_WORDS if word in text]
    return GuardrailFunctionOutput(output_info={"found": found}, tripwire_triggered=bool(found))


agent = Agent(
    name="Guarded",
    instructions="You are a helpful assistant.",
    input_guardrails=[no_secrets],
)
