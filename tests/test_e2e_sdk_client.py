"""The Agents SDK as a *client*: an agent whose model is a gateway model, via chat completions."""

from __future__ import annotations

import pytest
from agents import Agent, OpenAIChatCompletionsModel, RunConfig, Runner, function_tool
from openai import AsyncOpenAI

from tests.fake_upstream import FakeUpstream, TextReply, ToolCall, ToolCallReply

pytestmark = pytest.mark.asyncio


async def test_sdk_agent_uses_a_gateway_model(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("Sunny in Nice, 22C."))
    outer = Agent(name="Caller", instructions="Ask the weather model.", model=OpenAIChatCompletionsModel(model="default/weather", openai_client=client))
    result = await Runner.run(outer, "Weather in Nice?", run_config=RunConfig(tracing_disabled=True))
    assert result.final_output == "Sunny in Nice, 22C."
    # The caller's own instructions arrived at the gateway as a system message and reached the upstream.
    contents = [m.get("content") for m in upstream.last_request().messages]
    assert "Ask the weather model." in contents


# A declarative agent forwards the client's tools; a drop-in offers them beside its own
# (services/executor/client_tools.py). Either way the client runs them.
@pytest.mark.parametrize(("model", "upstream_model"), [("default/helpdesk", "helpdesk-model"), ("default/weather", None)], ids=["declarative", "drop-in"])
async def test_sdk_client_side_tools_round_trip(client: AsyncOpenAI, upstream: FakeUpstream, model: str, upstream_model: str | None) -> None:
    calls: list[str] = []

    @function_tool
    def lookup_order(order_id: str) -> str:
        """Look up an order."""
        calls.append(order_id)
        return f"order {order_id}: shipped"

    upstream.queue(ToolCallReply([ToolCall("lookup_order", {"order_id": "A7"})]), TextReply("Your order A7 has shipped."), model=upstream_model)
    outer = Agent(name="Client", tools=[lookup_order], model=OpenAIChatCompletionsModel(model=model, openai_client=client))
    stream = Runner.run_streamed(outer, "Where is order A7?", run_config=RunConfig(tracing_disabled=True))
    async for _ in stream.stream_events():
        pass
    assert calls == ["A7"]  # the client ran its own tool, as OpenAI semantics require
    assert stream.final_output == "Your order A7 has shipped."
    tool_message = upstream.last_request().messages[-1]
    assert tool_message["role"] == "tool" and tool_message["content"] == "order A7: shipped"


# The SDK's default model class speaks the Responses API: pointed at the gateway, a namespaced
# id reaches it with MultiProvider(unknown_prefix_mode="model_id") (docs/api.md).
async def test_sdk_default_responses_model_runs_and_continues_with_previous_response_id(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    from agents import MultiProvider

    upstream.queue(TextReply("Hello Ada."), TextReply("You are Ada."))
    config = RunConfig(model_provider=MultiProvider(openai_client=client, unknown_prefix_mode="model_id"), tracing_disabled=True)
    outer = Agent(name="Caller", model="default/helpdesk")
    first = await Runner.run(outer, "I am Ada.", run_config=config)
    assert first.final_output == "Hello Ada." and first.last_response_id and first.last_response_id.startswith("resp_")
    second = Runner.run_streamed(outer, "Who am I?", run_config=config, previous_response_id=first.last_response_id)
    deltas = [e.data.delta async for e in second.stream_events() if e.type == "raw_response_event" and e.data.type == "response.output_text.delta"]
    assert "".join(deltas) == second.final_output == "You are Ada."
    history = [(m["role"], m["content"]) for m in upstream.last_request().messages if m["role"] != "system"]
    assert history == [("user", "I am Ada."), ("assistant", "Hello Ada."), ("user", "Who am I?")]


# The plain form: the SDK reads "default/weather" as a provider prefix ("Unknown prefix"), so
# agents of the default namespace answer to their bare name too. MultiProvider with the
# gateway's client is what set_default_openai_client gives the default provider.
async def test_sdk_agent_names_a_default_namespace_agent_by_its_bare_name(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    from agents import MultiProvider

    upstream.queue(TextReply("Bare names work."), TextReply("Streamed too."))
    config = RunConfig(model_provider=MultiProvider(openai_client=client), tracing_disabled=True)
    result = await Runner.run(Agent(name="Caller", model="helpdesk"), "hi", run_config=config)
    assert result.final_output == "Bare names work."
    streamed = Runner.run_streamed(Agent(name="Caller", model="helpdesk"), "again", run_config=config)
    async for _ in streamed.stream_events():
        pass
    assert streamed.final_output == "Streamed too."
    assert upstream.last_request().body["model"] == "helpdesk-model"  # routed as default/helpdesk


async def test_models_list_the_bare_name_as_an_alias(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    models = {m.id: m for m in (await client.models.list()).data}
    assert "weather" in models["default/weather"].aliases  # type: ignore[attr-defined]
    assert "weather" not in models  # one entry per agent: the alias is not a second model
    upstream.queue(TextReply("chat by bare name"))
    reply = await client.chat.completions.create(model="weather", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "chat by bare name"
