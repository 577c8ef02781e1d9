# A drop-in whose sync input guardrail blocks (a policy service called synchronously).
import os
import time

from agents import Agent, GuardrailFunctionOutput, input_guardrail

BLOCK_S = float(os.environ.get("GW_GUEST_BLOCK_S", "0.2"))


@input_guardrail
def slow_policy_check(ctx, agent, user_input) -> GuardrailFunctionOutput:
    time.sleep(BLOCK_S)
    return GuardrailFunctionOutput(output_info="ok", tripwire_triggered=False)


agent = Agent(name="SlowGuard", instructions="Answer briefly.", input_guardrails=[slow_policy_check])
