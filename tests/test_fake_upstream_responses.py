"""The fake upstream's Responses API (`POST /v1/responses`) must look like OpenAI's to the
official client and to the Agents SDK's Responses model, which end-to-end tests trust."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
from agents import Agent, ModelSettings, RunConfig, Runner, WebSearchTool, function_tool
from openai import AsyncOpenAI

from services.executor.upstream_models import ResponsesModel, record_finish_reasons
from tests.fake_upstream import RESPONSES_PATH, ErrorReply, FakeUpstream, HangReply, TextReply, ToolCall, ToolCallReply, Usage

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def client(upstream: FakeUpstream) -> AsyncIterator[AsyncOpenAI]:
    """The official client, straight to the session's fake upstream (reset before each test)."""
    async with AsyncOpenAI(base_url=upstream.base_url, api_key="test", max_retries=0) as c:
        yield c


def _sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event line, data) of every SSE event of a raw stream."""
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


async def test_a_unary_reply_is_a_response_object_with_usage(upstream: FakeUpstream, client: AsyncOpenAI) -> None:
    upstream.queue(TextReply("short answer here", usage=Usage(prompt_tokens=11, completion_tokens=3)))
    response = await client.responses.create(model="m", input="hello fake world", instructions="Be kind.", temperature=0.2)
    assert (response.object, response.status, response.output_text, response.model) == ("response", "completed", "short answer here", "m")
    assert response.usage is not None and (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (11, 3, 14)
    assert (response.instructions, response.temperature) == ("Be kind.", 0.2)  # request fields are echoed
    [message] = response.output
    assert message.type == "message" and message.role == "assistant" and message.status == "completed"
    assert upstream.last_request(path=RESPONSES_PATH).body == {"model": "m", "input": "hello fake world", "instructions": "Be kind.", "temperature": 0.2}


async def test_a_stream_is_numbered_named_and_ordered_as_openai_sends_it(upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("one two three", chunks=3))
    async with httpx.AsyncClient(base_url=upstream.base_url) as http:
        raw = (await http.post("/responses", json={"model": "m", "input": "hi", "stream": True})).text
    events = _sse_events(raw)
    assert all(name == data["type"] for name, data in events)  # the `event:` line is the type
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert [name.removeprefix("response.") for name, _ in events] == [
        "created", "in_progress", "output_item.added", "content_part.added",
        "output_text.delta", "output_text.delta", "output_text.delta",
        "output_text.done", "content_part.done", "output_item.done", "completed",
    ]  # fmt: skip
    assert "[DONE]" not in raw
    assert events[0][1]["response"]["status"] == "in_progress" and events[-1][1]["response"]["output"][0]["content"][0]["text"] == "one two three"


async def test_streamed_function_calls_reassemble_in_the_official_client(upstream: FakeUpstream, client: AsyncOpenAI) -> None:
    upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Paris"}, id="call_a"), ToolCall("get_time", '{"tz": "UTC"}')], fragments=3))
    async with client.responses.stream(model="m", input="weather?") as stream:
        deltas = [event.delta async for event in stream if event.type == "response.function_call_arguments.delta"]
        final = await stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.call_id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_a", "get_weather", {"city": "Paris"}),
        (calls[1].call_id, "get_time", {"tz": "UTC"}),
    ]
    assert calls[1].call_id != "call_a" and len(deltas) >= 4


async def test_a_cut_reply_is_an_incomplete_response(upstream: FakeUpstream, client: AsyncOpenAI) -> None:
    upstream.queue(TextReply("It is sun", finish_reason="length"), TextReply("It is sun", finish_reason="content_filter"))
    cut = await client.responses.create(model="m", input="hi", max_output_tokens=16)
    assert (cut.status, cut.incomplete_details and cut.incomplete_details.reason, cut.output_text) == ("incomplete", "max_output_tokens", "It is sun")
    stream = await client.responses.create(model="m", input="hi", stream=True)
    last = [event async for event in stream][-1]
    assert last.type == "response.incomplete" and last.response.incomplete_details is not None
    assert last.response.incomplete_details.reason == "content_filter"


async def test_a_hosted_web_search_and_reasoning_come_before_the_message(upstream: FakeUpstream, client: AsyncOpenAI) -> None:
    upstream.queue(TextReply("Rain today.", web_search="weather", reasoning="Search first."))
    async with client.responses.stream(model="m", input="news?") as stream:
        types = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert [item.type for item in final.output] == ["reasoning", "web_search_call", "message"]
    search = final.output[1]
    assert search.type == "web_search_call" and search.status == "completed" and search.action.type == "search"
    assert {"response.reasoning_summary_text.delta", "response.web_search_call.searching", "response.web_search_call.completed"} <= set(types)
    assert final.output_text == "Rain today."


async def test_the_agents_sdk_responses_model_runs_a_tool_loop_against_it(upstream: FakeUpstream, client: AsyncOpenAI) -> None:
    @function_tool
    def get_weather(city: str) -> str:
        return f"Snow in {city}"

    agent = Agent(name="A", tools=[get_weather, WebSearchTool()], model=ResponsesModel(model="m", openai_client=client), model_settings=ModelSettings())
    untraced = RunConfig(tracing_disabled=True)  # the SDK would export traces to OpenAI
    for stream in (False, True):
        upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Oslo"})], reasoning="Look it up."), TextReply("Snow in Oslo.", web_search="oslo"))
        finishes = record_finish_reasons()
        if stream:
            result: Any = Runner.run_streamed(agent, "Oslo?", max_turns=3, run_config=untraced)
            async for _ in result.stream_events():
                pass
        else:
            result = await Runner.run(agent, "Oslo?", max_turns=3, run_config=untraced)
        assert (result.final_output, finishes) == ("Snow in Oslo.", ["tool_calls", "stop"])
        second = upstream.responses_requests[-1]
        assert [item.get("type", "message") for item in second.input] == ["message", "reasoning", "function_call", "function_call_output"]
        assert second.input[-1]["output"] == "Snow in Oslo" and second.stream is stream


async def test_chat_only_or_out_of_range_parameters_are_the_apis_400s(upstream: FakeUpstream, client: AsyncOpenAI) -> None:
    for extra, param in (({"seed": 7}, "seed"), ({"stop": ["x"]}, "stop"), ({"max_tokens": 5}, "max_tokens"), ({"max_output_tokens": 8}, "max_output_tokens")):
        with pytest.raises(openai.BadRequestError) as caught:
            await client.responses.create(model="m", input="hi", extra_body=extra)
        body: Any = caught.value.body
        assert body["param"] == param and body["code"] in ("unknown_parameter", "integer_below_min_value")
    with pytest.raises(openai.BadRequestError) as missing:
        await client.responses.create(model="m", extra_body={"messages": []})  # type: ignore[call-overload]
    assert (missing.value.body or {}).get("param") in ("input", "messages")  # type: ignore[union-attr]
    assert upstream.pending == 0 and all(r.status == 400 for r in upstream.requests)


async def test_scripted_errors_and_hangs_work_on_the_responses_endpoint(upstream: FakeUpstream, client: AsyncOpenAI) -> None:
    upstream.queue(ErrorReply(429, "Slow down.", "rate_limit_error", headers={"retry-after": "1"}))
    with pytest.raises(openai.RateLimitError):
        await client.responses.create(model="m", input="hi")
    upstream.queue(HangReply("partial words"))
    stream = await client.responses.create(model="m", input="hi", stream=True)
    seen = []
    async for event in stream:
        seen.append(event.type)
        if event.type == "response.output_text.delta":
            break
    await stream.close()
    upstream.wait_for(lambda: upstream.last_request(path=RESPONSES_PATH).disconnected)
    assert "response.completed" not in seen


async def test_unscripted_requests_get_the_demo_models_reply(upstream: FakeUpstream, client: AsyncOpenAI) -> None:
    echo = await client.responses.create(model="m", input=[{"role": "user", "content": [{"type": "input_text", "text": "hello there"}]}])
    assert echo.output_text == "You said: hello there"
    tools: Any = [
        {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
    ]
    called = await client.responses.create(model="m", input="get weather in Lyon", tools=tools)
    [call] = [item for item in called.output if item.type == "function_call"]
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Lyon"})
    answered = await client.responses.create(
        model="m",
        input=[
            {"role": "user", "content": "get weather in Lyon"},
            {"type": "function_call", "call_id": call.call_id, "name": "get_weather", "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny"},
        ],
        tools=tools,
    )
    assert answered.output_text == "get_weather returned: Sunny"
