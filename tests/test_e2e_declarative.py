"""Declarative agents (agents.yaml): upstream chat completions streamed straight through."""

from __future__ import annotations

import json

import pytest
from openai import AsyncOpenAI

from tests.fake_upstream import FakeUpstream, TextReply, ToolCall, ToolCallReply

pytestmark = pytest.mark.asyncio

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


async def test_declarative_non_streaming_uses_its_instructions_and_model(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("Ticket 42 is closed."), model="helpdesk-model")
    reply = await client.chat.completions.create(model="default/helpdesk", messages=[{"role": "user", "content": "Ticket 42?"}])
    assert reply.choices[0].message.content == "Ticket 42 is closed."
    assert reply.usage is not None and reply.usage.completion_tokens == 4
    sent = upstream.last_request()
    assert sent.body["model"] == "helpdesk-model"
    assert sent.messages[0] == {"role": "system", "content": "You answer tickets."}
    assert sent.messages[1] == {"role": "user", "content": "Ticket 42?"}


async def test_declarative_streaming_passthrough(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("a b c d e", chunks=5), model="helpdesk-model")
    stream = await client.chat.completions.create(
        model="default/helpdesk", messages=[{"role": "user", "content": "go"}], stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert deltas == ["a ", "b ", "c ", "d ", "e"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    assert upstream.last_request().stream is True


async def test_client_tools_come_back_as_tool_calls(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("lookup_weather", {"city": "Rome"}, id="call_r")]), model="helpdesk-model")
    reply = await client.chat.completions.create(
        model="default/helpdesk",
        messages=[{"role": "user", "content": "Rome?"}],
        tools=[WEATHER_TOOL],
        tool_choice="auto",  # type: ignore[list-item]
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.id == "call_r" and call.function.name == "lookup_weather"
    assert json.loads(call.function.arguments) == {"city": "Rome"}
    sent = upstream.last_request().body
    assert sent["tools"][0]["function"]["name"] == "lookup_weather"
    assert sent["tool_choice"] == "auto"


async def test_client_tools_stream_as_tool_call_deltas_and_the_loop_continues(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("lookup_weather", {"city": "Rome"}, id="call_s")], fragments=3), model="helpdesk-model")
    stream = await client.chat.completions.create(
        model="default/helpdesk",
        messages=[{"role": "user", "content": "Rome?"}],
        tools=[WEATHER_TOOL],
        stream=True,  # type: ignore[list-item]
    )
    ids, names, args, finish = [], [], "", None
    async for chunk in stream:
        for delta in chunk.choices[0].delta.tool_calls or []:
            ids.append(delta.id)
            if delta.function and delta.function.name:
                names.append(delta.function.name)
            args += (delta.function.arguments or "") if delta.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert [i for i in ids if i] == ["call_s"] and names == ["lookup_weather"]
    assert json.loads(args) == {"city": "Rome"}
    # The client runs the tool and sends the result back: a normal second turn.
    upstream.queue(TextReply("Rome: 25 degrees."), model="helpdesk-model")
    follow_up = await client.chat.completions.create(
        model="default/helpdesk",
        messages=[
            {"role": "user", "content": "Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_s", "type": "function", "function": {"name": "lookup_weather", "arguments": args}}],
            },
            {"role": "tool", "tool_call_id": "call_s", "content": "25C"},
        ],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    assert follow_up.choices[0].message.content == "Rome: 25 degrees."
    assert upstream.last_request().messages[-1] == {"role": "tool", "tool_call_id": "call_s", "content": "25C"}
