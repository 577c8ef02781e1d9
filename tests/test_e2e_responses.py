"""Drop-ins on an upstream speaking the Responses API (`api: responses`): the official openai
client -> shim -> gRPC -> the SDK's Responses model -> the fake upstream's /v1/responses."""

from __future__ import annotations

import json
from typing import Any

import grpc
import openai
import pytest
from openai import AsyncOpenAI

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from agentgateway.v1 import registry_service_pb2 as reg_pb
from agentgateway.v1 import registry_service_pb2_grpc as reg_grpc
from tests.conftest import RESPONSES_MODEL
from tests.fake_upstream import ErrorReply, FakeUpstream, TextReply, ToolCall, ToolCallReply

pytestmark = pytest.mark.asyncio

HI = [{"role": "user", "content": "Hi"}]


async def _streamed(client: AsyncOpenAI, model: str, **kwargs: Any) -> tuple[list[str], str | None]:
    """The text deltas and the finish reason of a streamed completion."""
    stream = await client.chat.completions.create(model=model, stream=True, **{"messages": HI, **kwargs})
    deltas, finish = [], None
    async for chunk in stream:
        if chunk.choices:
            if chunk.choices[0].delta.content:
                deltas.append(chunk.choices[0].delta.content)
            finish = chunk.choices[0].finish_reason or finish
    return deltas, finish


async def test_a_hosted_web_search_is_served_through_a_responses_upstream(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("Rain is on the way.", web_search="weather news"), TextReply("Rain is on the way.", chunks=4, web_search="weather news"))
    reply = await client.chat.completions.create(model="default/responsessearcher", messages=[{"role": "user", "content": "news?"}])
    assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == ("Rain is on the way.", "stop")
    assert not reply.choices[0].message.tool_calls  # the provider ran the search: nothing for the client to run
    sent = upstream.last_request(path="/v1/responses")
    assert sent.body["model"] == RESPONSES_MODEL and "stream" not in sent.body
    assert [t["type"] for t in sent.body["tools"]] == ["web_search"]
    deltas, finish = await _streamed(client, "default/responsessearcher")
    assert ("".join(deltas), len(deltas), finish) == ("Rain is on the way.", 4, "stop")  # deltas as the upstream sent them
    assert upstream.last_request(path="/v1/responses").body["stream"] is True
    assert upstream.chat_requests == []


async def test_a_hosted_tool_call_is_an_agent_event_over_grpc(channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("Rain is on the way.", web_search="weather news"))
    chat = pb.ChatRequest(model="default/responsessearcher", messages=[pb.ChatMessage(role=pb.ROLE_USER, content="news?")])
    events = [e.event async for e in ex_grpc.ExecutorServiceStub(channel).StreamChatCompletion(ex_pb.StreamChatCompletionRequest(chat=chat))]
    [called] = [e.tool_called for e in events if e.HasField("tool_called")]
    assert called.name == "web_search_call" and called.call_id.startswith("ws_") and json.loads(called.arguments)["query"] == "weather news"
    assert "".join(e.text_delta.text for e in events if e.HasField("text_delta")) == "Rain is on the way."


@pytest.mark.parametrize("stream", [False, True])
async def test_a_function_tool_loops_through_the_responses_model(client: AsyncOpenAI, upstream: FakeUpstream, stream: bool) -> None:
    upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Oslo"})], reasoning="Look the city up."), TextReply("Rain in Oslo, take a coat."))
    messages = [{"role": "user", "content": "Oslo?"}]
    if stream:
        deltas, finish = await _streamed(client, "default/responsesweather", messages=messages)
        text = "".join(deltas)
    else:
        reply = await client.chat.completions.create(model="default/responsesweather", messages=messages)  # type: ignore[arg-type]
        text, finish = reply.choices[0].message.content, reply.choices[0].finish_reason
        assert not reply.choices[0].message.tool_calls
    assert (text, finish) == ("Rain in Oslo, take a coat.", "stop")
    first, second = upstream.responses_requests
    assert [t["name"] for t in first.body["tools"]] == ["get_weather"]
    # The second turn carries the model's reasoning item and call back, and the tool's real output.
    kinds = [item.get("type", "message") for item in second.input]
    assert kinds == ["message", "reasoning", "function_call", "function_call_output"]
    reasoning, call, output = second.input[1:]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Look the city up."}] and reasoning["id"].startswith("rs_")
    assert call["name"] == "get_weather" and output == {"type": "function_call_output", "call_id": call["call_id"], "output": "Rain in Oslo"}


@pytest.mark.parametrize(("cut", "finish"), [("length", "length"), ("content_filter", "content_filter")])
async def test_an_incomplete_response_keeps_its_text_and_says_why(client: AsyncOpenAI, upstream: FakeUpstream, cut: Any, finish: str) -> None:
    # The SDK makes an `incomplete` Response an error; the gateway serves it as Chat Completions serves a cut reply.
    upstream.queue(TextReply("It is sun", finish_reason=cut), TextReply("It is sun", finish_reason=cut))
    reply = await client.chat.completions.create(model="default/responsesplain", max_tokens=16, messages=HI)  # type: ignore[arg-type]
    assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == ("It is sun", finish)
    assert upstream.last_request(path="/v1/responses").body["max_output_tokens"] == 16
    deltas, streamed_finish = await _streamed(client, "default/responsesplain", max_tokens=16)
    assert ("".join(deltas), streamed_finish) == ("It is sun", finish)


async def test_an_incomplete_response_says_length_over_grpc(channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("It is sun", finish_reason="length"), TextReply("It is sun", finish_reason="length"))
    stub = ex_grpc.ExecutorServiceStub(channel)
    chat = pb.ChatRequest(model="default/responsesplain", messages=[pb.ChatMessage(role=pb.ROLE_USER, content="Hi")])
    unary = await stub.CreateChatCompletion(ex_pb.CreateChatCompletionRequest(chat=chat))
    assert (unary.message.content, unary.finish_reason) == ("It is sun", pb.FINISH_REASON_LENGTH)
    events = [e async for e in stub.StreamChatCompletion(ex_pb.StreamChatCompletionRequest(chat=chat))]
    finals = [e.event.final_output for e in events if e.event.HasField("final_output")]
    assert [(f.text, f.finish_reason) for f in finals] == [("It is sun", pb.FINISH_REASON_LENGTH)]


async def test_an_agent_without_model_or_settings_sends_only_what_was_set_to_a_responses_upstream(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    # The SDK's default GPT-5 settings (reasoning effort, verbosity) must not reach another model.
    upstream.queue(TextReply("Hello."), TextReply("Hello."))
    await client.chat.completions.create(model="default/responsesplain", messages=HI)  # type: ignore[arg-type]
    expected = {"model": RESPONSES_MODEL, "include": [], "input": [{"role": "user", "content": "Hi"}], "instructions": "Be brief.", "tools": []}
    assert upstream.last_request(path="/v1/responses").body == expected
    await _streamed(client, "default/responsesplain")
    assert upstream.last_request(path="/v1/responses").body == {**expected, "stream": True}


async def test_sampling_parameters_reach_a_responses_upstream_by_their_responses_names(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("ok"))
    await client.chat.completions.create(
        model="default/responsesweather", messages=HI, temperature=0.3, top_p=0.9, max_tokens=50, parallel_tool_calls=False, tool_choice="required"
    )  # type: ignore[arg-type]
    body = upstream.last_request(path="/v1/responses").body
    assert (body["temperature"], body["top_p"], body["max_output_tokens"], body["parallel_tool_calls"], body["tool_choice"]) == (
        0.3,
        0.9,
        50,
        False,
        "required",
    )
    assert "max_tokens" not in body


@pytest.mark.parametrize(("param", "value"), [("seed", 7), ("stop", ["END"]), ("presence_penalty", 0.5), ("frequency_penalty", 0.5)])
async def test_a_parameter_the_responses_api_lacks_is_a_400_naming_it(client: AsyncOpenAI, upstream: FakeUpstream, param: str, value: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="default/responsesplain", messages=HI, **{param: value})  # type: ignore[call-overload]
    body: Any = caught.value.body
    assert (body["type"], body["code"], body["param"]) == ("invalid_request_error", "invalid_argument", param)
    assert "'fake-responses'" in body["message"] and "Responses API" in body["message"]
    assert upstream.requests == []  # refused before anything went upstream


async def test_an_upstream_failure_on_the_responses_api_is_a_clear_error(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(ErrorReply(429, "Slow down.", "rate_limit_error", headers={"retry-after": "2"}))
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(model="default/responsesplain", messages=HI)  # type: ignore[arg-type]
    body: Any = caught.value.body
    assert caught.value.status_code == 503 and body["code"] == "upstream_rate_limited"


async def test_hosted_tools_on_a_chat_completions_upstream_are_a_load_time_diagnostic(channel: grpc.aio.Channel) -> None:
    stub = reg_grpc.RegistryServiceStub(channel)
    diagnostics = [d for d in (await stub.ListDiagnostics(reg_pb.ListDiagnosticsRequest())).diagnostics if d.error_type == "HostedToolUnsupported"]
    assert [(d.agent_id, d.path, d.stage) for d in diagnostics] == [("default/searcher", "Searcher/agent.py", reg_pb.DIAGNOSTIC_STAGE_REGISTER)]
    message = diagnostics[0].message
    assert "'web_search'" in message and "upstream 'fake'" in message and "api: responses" in message
    # Still served, so that each request is a 400 saying the same (test_e2e_dropin); the same tool
    # on the Responses upstream is no diagnostic at all.
    served = {a.id for a in (await stub.ListAgents(reg_pb.ListAgentsRequest(page_size=1000))).agents}
    assert {"default/searcher", "default/responsessearcher"} <= served
