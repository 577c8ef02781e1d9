# An output guardrail that trips after the reply has streamed (finish_reason content_filter).
from agents import Agent, GuardrailFunctionOutput, RunContextWrapper, output_guardrail


@output_guardrail(name="no_forbidden_words")
async def no_forbidden_words(ctx: RunContextWrapper, agent: Agent, output: str) -> GuardrailFunctionOutput:
    return GuardrailFunctionOutput(output_info=None, tripwire_triggered="forbidden" in output.lower())


agent = Agent(name="OutputGuarded", instructions="Say anything.", output_guardrails=[no_forbidden_words])
