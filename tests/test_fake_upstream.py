"""The fake upstream must look exactly like the OpenAI API to the official client,
since end-to-end gateway tests trust it as their LLM."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.fake_upstream import (
    DEFAULT_MODEL,
    ErrorReply,
    FakeUpstream,
    HangReply,
    TextReply,
    ToolCall,
    ToolCallReply,
    Usage,
)

USER = [{"role": "user", "content": "hello fake world"}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def _reset(server: FakeUpstream) -> None:
    server.reset()


@pytest.fixture
async def client(server: FakeUpstream) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0) as c:
        yield c


async def _collect(client: AsyncOpenAI, **kwargs: Any) -> list[Any]:
    stream = await client.chat.completions.create(stream=True, **{"model": DEFAULT_MODEL, "messages": USER, **kwargs})
    return [chunk async for chunk in stream]


def _content(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def _finish_reason(chunks: list[Any]) -> str | None:
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(reasons) == 1
    return reasons[0]


# ---------------------------------------------------------------------- scripted replies


async def test_streamed_text_arrives_in_several_flushed_chunks(server: FakeUpstream, client: AsyncOpenAI) -> None:
    content = "one two three four five six"
    server.queue(TextReply(content, chunks=3, chunk_delay=0.1))
    stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
    arrivals: list[tuple[float, str]] = []
    chunks = []
    async for chunk in stream:
        chunks.append(chunk)
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append((time.monotonic(), chunk.choices[0].delta.content))

    assert chunks[0].object == "chat.completion.chunk"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [text for _, text in arrivals] == ["one two ", "three four ", "five six"]
    assert _content(chunks) == content
    assert _finish_reason(chunks) == "stop"
    assert all(c.usage is None for c in chunks)  # include_usage not requested
    # Real flushing: chunks arrive spread over time, not in one buffered burst.
    assert arrivals[-1][0] - arrivals[0][0] >= 0.15


async def test_streamed_tool_calls_reassemble(server: FakeUpstream, client: AsyncOpenAI) -> None:
    server.queue(ToolCallReply([ToolCall("get_weather", {"city": "Paris"}, id="call_a"), ToolCall("get_time", '{"tz": "UTC"}')]))
    chunks = await _collect(client)

    calls: dict[int, dict[str, Any]] = {}
    fragments: dict[int, int] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
            if delta.id:
                assert delta.type == "function"
                call["id"] = delta.id
            if delta.function and delta.function.name:
                call["name"] += delta.function.name
            if delta.function and delta.function.arguments:
                call["arguments"] += delta.function.arguments
                fragments[delta.index] = fragments.get(delta.index, 0) + 1

    assert calls[0] == {"id": "call_a", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert calls[1]["name"] == "get_time" and json.loads(calls[1]["arguments"]) == {"tz": "UTC"}
    assert calls[1]["id"] and calls[1]["id"] != "call_a"
    assert fragments[0] >= 2 and fragments[1] >= 2
    assert _finish_reason(chunks) == "tool_calls"


async def test_non_streaming_replies_include_usage(server: FakeUpstream, client: AsyncOpenAI) -> None:
    server.queue(
        TextReply("short answer here", finish_reason="length"),
        ToolCallReply([ToolCall("lookup", {"q": "x"})]),
    )
    text = await client.chat.completions.create(model="m", messages=USER)
    assert text.object == "chat.completion"
    assert text.choices[0].message.content == "short answer here"
    assert text.choices[0].finish_reason == "length"
    assert text.usage is not None
    assert (text.usage.prompt_tokens, text.usage.completion_tokens, text.usage.total_tokens) == (3, 3, 6)

    tool = await client.chat.completions.create(model="m", messages=USER)
    assert tool.choices[0].finish_reason == "tool_calls"
    [call] = tool.choices[0].message.tool_calls or []
    assert call.function.name == "lookup" and json.loads(call.function.arguments) == {"q": "x"}
    assert tool.usage is not None and tool.usage.completion_tokens >= 1


async def test_include_usage_sends_final_usage_chunk(server: FakeUpstream, client: AsyncOpenAI) -> None:
    server.queue(TextReply("a b c d"), TextReply("x", usage=Usage(prompt_tokens=100, completion_tokens=7)))
    chunks = await _collect(client, stream_options={"include_usage": True})
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (3, 4, 7)
    assert all(c.usage is None for c in chunks[:-1])

    overridden = await _collect(client, stream_options={"include_usage": True})
    assert overridden[-1].usage is not None
    assert (overridden[-1].usage.prompt_tokens, overridden[-1].usage.completion_tokens) == (100, 7)


async def test_scripted_errors_map_to_client_exceptions(server: FakeUpstream, client: AsyncOpenAI) -> None:
    server.queue(
        ErrorReply(500, "boom"),
        ErrorReply(429, "slow down", type="requests", code="rate_limit_exceeded", headers={"retry-after": "1"}),
    )
    with pytest.raises(openai.InternalServerError) as server_error:
        await client.chat.completions.create(model="m", messages=USER, stream=True)
    assert server_error.value.status_code == 500
    assert "boom" in server_error.value.message

    with pytest.raises(openai.RateLimitError) as rate_limited:
        await client.chat.completions.create(model="m", messages=USER)
    assert rate_limited.value.status_code == 429
    assert rate_limited.value.code == "rate_limit_exceeded"
    assert rate_limited.value.response.headers["retry-after"] == "1"
    assert [r.status for r in server.chat_requests] == [500, 429]


async def test_model_bound_scripts_only_match_their_model(server: FakeUpstream, client: AsyncOpenAI) -> None:
    server.queue(TextReply("for alpha"), model="alpha")
    server.queue(TextReply("for anyone"))

    other = await client.chat.completions.create(model="beta", messages=USER)
    assert other.choices[0].message.content == "for anyone"
    demo = await client.chat.completions.create(model="beta", messages=USER)
    assert demo.choices[0].message.content == "You said: hello fake world"
    assert server.pending == 1
    alpha = await client.chat.completions.create(model="alpha", messages=USER)
    assert alpha.choices[0].message.content == "for alpha"
    assert server.pending == 0
    assert [r.reply is not None for r in server.chat_requests] == [True, False, True]

    models = await client.models.list()
    assert {m.id for m in models.data} == {"alpha", DEFAULT_MODEL}


async def test_delay_holds_back_response_headers(server: FakeUpstream, client: AsyncOpenAI) -> None:
    server.queue(TextReply("late", delay=0.3))
    started = time.monotonic()
    reply = await client.chat.completions.create(model="m", messages=USER)
    assert reply.choices[0].message.content == "late"
    assert time.monotonic() - started >= 0.3


# ------------------------------------------------------------------------ demo behaviour


async def test_demo_echoes_last_user_text(client: AsyncOpenAI) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "question"}]},
    ]
    reply = await client.chat.completions.create(model="m", messages=messages)
    assert reply.choices[0].message.content == "You said: second question"
    chunks = await _collect(client, messages=messages)
    assert _content(chunks) == "You said: second question"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 4  # one per word


WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "metric": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "where": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]},
                "extra": {"type": "object", "properties": {"x": {"type": "string"}}},
            },
            "required": ["city", "where"],
        },
    },
}
HANDOFF_TOOL: Any = {
    "type": "function",
    "function": {"name": "transfer_to_billing_agent", "parameters": {"type": "object", "properties": {}}},
}


async def test_demo_calls_mentioned_tool(client: AsyncOpenAI) -> None:
    messages: Any = [{"role": "user", "content": "Please Get Weather for Paris!"}]
    reply = await client.chat.completions.create(model="m", messages=messages, tools=[HANDOFF_TOOL, WEATHER_TOOL])
    assert reply.choices[0].finish_reason == "tool_calls"
    [call] = reply.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    # Required + simple-typed properties; optional complex ones ("tags", "extra") left out.
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 1, "metric": True, "where": {"lat": 1}}

    handoff = await _collect(client, messages=[{"role": "user", "content": "talk to the billing agent"}], tools=[WEATHER_TOOL, HANDOFF_TOOL])
    deltas = [d for c in handoff for d in c.choices[0].delta.tool_calls or []]
    names = [d.function.name for d in deltas if d.function and d.function.name]
    assert names == ["transfer_to_billing_agent"]
    assert _finish_reason(handoff) == "tool_calls"

    unrelated = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "weather?"}], tools=[WEATHER_TOOL])
    assert unrelated.choices[0].message.content == "You said: weather?"


async def test_demo_replies_to_tool_result(client: AsyncOpenAI) -> None:
    messages: Any = [
        {"role": "user", "content": "get weather in Paris"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "call_9", "content": "sunny, 21C"},
    ]
    reply = await client.chat.completions.create(model="m", messages=messages, tools=[WEATHER_TOOL])
    assert reply.choices[0].message.content == "get_weather returned: sunny, 21C"

    orphan = [*messages[:1], {"role": "tool", "tool_call_id": "call_x", "content": "42"}]
    reply = await client.chat.completions.create(model="m", messages=orphan)
    assert reply.choices[0].message.content == "call_x returned: 42"


async def test_demo_json_schema_reply_satisfies_schema(client: AsyncOpenAI) -> None:
    schema = {
        "type": "object",
        "$defs": {
            "Size": {"type": "string", "enum": ["small", "large"]},
            "Point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]},
        },
        "properties": {
            "name": {"type": "string"},
            "size": {"$ref": "#/$defs/Size"},
            "where": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/Point"}]},
            "items": {"type": "array", "items": {"type": "integer"}},
            "maybe": {"type": ["null", "integer"]},
        },
        "required": ["name", "size", "where", "items", "maybe"],
        "additionalProperties": False,
    }
    reply = await client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "describe the tower."}],
        response_format={"type": "json_schema", "json_schema": {"name": "Thing", "schema": schema, "strict": True}},
    )
    assert json.loads(reply.choices[0].message.content or "") == {
        "name": "tower",
        "size": "small",
        "where": {"x": 1},
        "items": [],
        "maybe": 1,
    }


# ----------------------------------------------------------------------------- recording


async def test_records_body_headers_and_timing(server: FakeUpstream) -> None:
    async with AsyncOpenAI(base_url=server.base_url, api_key="upstream-key", max_retries=0, default_headers={"X-Trace-Id": "t-1"}) as client:
        await client.chat.completions.create(model="m", messages=USER, temperature=0.5)

    record = server.last_request()
    assert record.method == "POST" and record.path == "/v1/chat/completions"
    assert record.body == {"model": "m", "messages": USER, "temperature": 0.5}
    assert record.messages == USER and record.model == "m" and not record.stream
    assert record.headers["authorization"] == "Bearer upstream-key"
    assert record.headers["x-trace-id"] == "t-1"
    assert all(key == key.lower() for key in record.headers)
    assert record.status == 200 and not record.disconnected
    assert record.finished is not None and record.finished >= record.started


def test_malformed_json_and_unknown_url_get_openai_errors(server: FakeUpstream) -> None:
    with httpx.Client(base_url=server.url) as http:
        bad = http.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
        missing = http.post("/v1/chat/completions", json={"model": "m"})
        unknown = http.get("/v1/nope")

    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "messages"
    assert unknown.status_code == 404 and set(unknown.json()["error"]) == {"message", "type", "param", "code"}
    bad_record = server.requests[0]
    assert bad_record.raw_body == b"{not json" and bad_record.body is None and bad_record.status == 400
    assert server.last_request(path=None).path == "/v1/nope"


async def test_closing_a_hanging_stream_is_recorded_as_disconnected(server: FakeUpstream, client: AsyncOpenAI) -> None:
    server.queue(HangReply(partial="thinking about it"))
    stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
    received = ""
    async for chunk in stream:
        received += chunk.choices[0].delta.content or ""
        if received == "thinking about it":
            break
    record = server.last_request()
    assert not record.done and not record.disconnected

    await stream.close()
    closed = time.monotonic()
    await server.wait_for_async(lambda: server.last_request().disconnected, timeout=1.0)
    assert record.finished is not None and record.finished - closed < 1.0


def test_client_timeout_on_non_streaming_hang_is_recorded(server: FakeUpstream) -> None:
    server.queue(HangReply())
    with OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=0.3) as client:
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model="m", messages=USER)
    server.wait_for(lambda: server.last_request().disconnected, timeout=1.0)
    assert server.last_request().status == 499


# ------------------------------------------------------------------------------ lifecycle


def test_stop_is_quick_with_a_hanging_stream_and_leaks_no_thread() -> None:
    threads_before = set(threading.enumerate())
    upstream = FakeUpstream(models=["extra"]).start()
    assert upstream.base_url == f"http://127.0.0.1:{upstream.port}/v1"
    assert "extra" in {m["id"] for m in httpx.get(f"{upstream.base_url}/models").json()["data"]}
    upstream.queue(HangReply())
    request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    body = json.dumps({"model": "m", "messages": USER, "stream": True}).encode()
    with socket.create_connection(("127.0.0.1", upstream.port), timeout=5) as sock:
        sock.sendall(request % (len(body), body))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")  # headers + role chunk, then silence
        upstream.wait_for(lambda: len(upstream.chat_requests) == 1)
        started = time.monotonic()
        upstream.stop()
        assert time.monotonic() - started < 2.0
    record = upstream.last_request()
    assert record.done and not record.disconnected  # ended by the server, not the client
    assert set(threading.enumerate()) == threads_before
    with pytest.raises(RuntimeError):
        upstream.base_url  # noqa: B018 - only valid while running


async def test_forbidden_secrets_are_reported_wherever_they_appear() -> None:
    with FakeUpstream() as own:
        own.forbid("agw-forbidden-1234")
        async with AsyncOpenAI(base_url=own.base_url, api_key="clean-key", max_retries=0) as c:
            await c.chat.completions.create(model="m", messages=[{"role": "user", "content": "clean"}])
            assert own.violations == []
            await c.chat.completions.create(model="m", messages=[{"role": "user", "content": "leak agw-forbidden-1234"}])
        async with AsyncOpenAI(base_url=own.base_url, api_key="agw-forbidden-1234", max_retries=0) as c:
            await c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        own.reset()  # violations survive resets
        assert len(own.violations) == 2
