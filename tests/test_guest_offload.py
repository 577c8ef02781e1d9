"""Sync agent callables are offloaded without changing what the SDK sees, and a run's
``asyncio.to_thread`` lands in its agent's pool."""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any

import pytest
from agents import Agent, GuardrailFunctionOutput, RunContextWrapper, function_tool, handoff, input_guardrail

from services.guest.offload import is_sync_callable, offload_agent_graph
from services.guest.pools import GuestPool, install_routing_executor, serving_agent


async def test_sync_callables_become_async_with_the_same_signature_result_and_exception() -> None:
    seen: list[str] = []

    def instructions(ctx: RunContextWrapper[Any], agent: Agent[Any]) -> str:
        seen.append(threading.current_thread().name)
        if ctx.context == "fail":
            raise LookupError("no prompt")
        return f"be {ctx.context}"

    @input_guardrail
    def check(ctx: RunContextWrapper[Any], agent: Agent[Any], data: Any) -> GuardrailFunctionOutput:
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered=False)

    async def async_enabled(ctx: RunContextWrapper[Any], agent: Any) -> bool:
        return True

    @function_tool(is_enabled=async_enabled)
    def tool() -> str:
        """A tool."""
        return "x"

    target = Agent(name="Target", instructions=lambda ctx, agent: "target")
    agent = Agent(name="A", instructions=instructions, input_guardrails=[check], tools=[tool], handoffs=[handoff(target, on_handoff=lambda ctx: None)])
    assert offload_agent_graph(agent) == 4  # instructions, guardrail, the target's instructions, on_handoff
    assert offload_agent_graph(agent) == 0  # idempotent
    assert inspect.iscoroutinefunction(agent.instructions) and list(inspect.signature(agent.instructions).parameters) == ["ctx", "agent"]
    assert agent.tools[0].is_enabled is async_enabled  # type: ignore[union-attr]  # async: left alone
    assert check.get_name() == "check"
    assert await agent.get_system_prompt(RunContextWrapper("kind")) == "be kind"
    with pytest.raises(LookupError, match="no prompt"):
        await agent.get_system_prompt(RunContextWrapper("fail"))
    assert seen and all(name != threading.current_thread().name for name in seen)


async def test_a_runs_to_thread_goes_to_its_agents_pool_and_a_full_pool_says_so() -> None:
    install_routing_executor()
    pool = GuestPool("default/x", threads=1, queue=0)
    entered, release = threading.Event(), threading.Event()

    def in_thread() -> str:
        entered.set()
        release.wait(5)
        return threading.current_thread().name

    async def run() -> str:
        serving_agent(pool)
        return await asyncio.to_thread(in_thread)

    task = asyncio.ensure_future(run())
    assert await asyncio.to_thread(entered.wait, 5)
    assert pool.full
    outside = await asyncio.to_thread(lambda: threading.current_thread().name)  # not in a run: the shared pool
    release.set()
    assert (await task).startswith("guest default/x") and not outside.startswith("guest")
    await asyncio.sleep(0.01)
    assert pool.held == 0 and not pool.full
    pool.close()


def test_what_counts_as_sync() -> None:
    async def coroutine_function() -> None: ...

    class AsyncCall:
        async def __call__(self) -> None: ...

    assert is_sync_callable(lambda: None) and not is_sync_callable(coroutine_function) and not is_sync_callable(AsyncCall())
    assert not is_sync_callable("instructions") and not is_sync_callable(Agent)
