"""Client-sent `tools` for drop-in SDK agents, with OpenAI semantics, end to end: the official
openai client (and gRPC, and the Agents SDK as a client) -> shim -> gRPC -> SDK -> fake upstream."""

from __future__ import annotations

import json
from typing import Any

import grpc
import openai
import pytest
from google.protobuf import struct_pb2
from openai import AsyncOpenAI

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from tests.fake_upstream import FakeUpstream, TextReply, ToolCall, ToolCallReply

pytestmark = pytest.mark.asyncio

POSTCARD_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}
POSTCARD: Any = {
    "type": "function",
    "function": {"name": "send_postcard", "description": "Send a postcard from a city.", "parameters": POSTCARD_SCHEMA, "strict": True},
}
TICKET: Any = {
    "type": "function",
    "function": {"name": "open_ticket", "description": "Open a ticket.", "parameters": {"type": "object", "properties": {"topic": {"type": "string"}}}},
}
FORCE_POSTCARD: Any = {"type": "function", "function": {"name": "send_postcard"}}
OSLO = [{"role": "user", "content": "Send a postcard from Oslo."}]


def offered(request_body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["function"]["name"]: t["function"] for t in request_body.get("tools", [])}


async def test_a_forced_client_tool_call_comes_back_as_tool_calls(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("send_postcard", {"city": "Oslo"}, id="call_p")]))
    reply = await client.chat.completions.create(model="default/weather", messages=OSLO, tools=[POSTCARD], tool_choice=FORCE_POSTCARD)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None and [(c.id, c.type, c.function.name) for c in choice.message.tool_calls] == [
        ("call_p", "function", "send_postcard")
    ]
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Oslo"}
    assert not choice.message.content
    # One upstream call: the run stopped at the client's call, which the gateway never runs.
    assert len(upstream.chat_requests) == 1
    sent = upstream.last_request().body
    tools = offered(sent)
    assert set(tools) == {"get_weather", "send_postcard"}  # the agent's own tool beside the client's
    assert tools["send_postcard"]["parameters"] == POSTCARD_SCHEMA and tools["send_postcard"]["strict"] is True  # as the client wrote it
    assert sent["tool_choice"] == FORCE_POSTCARD


async def test_a_streamed_client_tool_call_arrives_as_tool_call_deltas(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("send_postcard", {"city": "Oslo"}, id="call_p")], fragments=3))
    stream = await client.chat.completions.create(model="default/weather", messages=OSLO, tools=[POSTCARD], tool_choice=FORCE_POSTCARD, stream=True)
    fragments: list[Any] = []
    content, finishes = "", []
    async for chunk in stream:
        choice = chunk.choices[0]
        content += choice.delta.content or ""
        fragments += choice.delta.tool_calls or []
        if choice.finish_reason:
            finishes.append(choice.finish_reason)
    assert finishes == ["tool_calls"] and content == ""
    # The first fragment names the call; the arguments follow as the upstream streams them.
    first, rest = fragments[0], fragments[1:]
    assert (first.index, first.id, first.function.name) == (0, "call_p", "send_postcard")
    assert len(rest) >= 2 and all(f.index == 0 and f.id is None and not f.function.name for f in rest)
    arguments = "".join(f.function.arguments or "" for f in fragments)
    assert json.loads(arguments) == {"city": "Oslo"}
    assert upstream.last_request().stream is True


async def test_the_client_sends_the_result_back_and_the_run_answers(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("Postcard from Oslo is on its way."))
    conversation: Any = [
        *OSLO,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_p", "type": "function", "function": {"name": "send_postcard", "arguments": '{"city": "Oslo"}'}}],
        },
        {"role": "tool", "tool_call_id": "call_p", "content": "postcard #17 sent"},
    ]
    stream = await client.chat.completions.create(model="default/weather", messages=conversation, tools=[POSTCARD], stream=True)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Postcard from Oslo is on its way."
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["stop"]
    assert not any(c.choices[0].delta.tool_calls for c in chunks)
    # No state on the server: the whole conversation, the call and its result, went upstream as items.
    sent = upstream.last_request().body
    assistant = next(m for m in sent["messages"] if m["role"] == "assistant")
    assert [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in assistant["tool_calls"]] == [
        ("call_p", "send_postcard", {"city": "Oslo"})
    ]
    result = next(m for m in sent["messages"] if m["role"] == "tool")
    assert (result["tool_call_id"], result["content"]) == ("call_p", "postcard #17 sent")
    assert "send_postcard" in offered(sent)


async def test_an_agent_tool_runs_hidden_beside_a_client_tool(client: AsyncOpenAI, upstream: FakeUpstream, channel: grpc.aio.Channel) -> None:
    both = ToolCallReply([ToolCall("get_weather", {"city": "Oslo"}, id="call_w"), ToolCall("send_postcard", {"city": "Oslo"}, id="call_p")])
    upstream.queue(both)
    reply = await client.chat.completions.create(model="default/weather", messages=OSLO, tools=[POSTCARD])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None and [c.id for c in choice.message.tool_calls] == ["call_p"]  # only the client's call
    assert len(upstream.chat_requests) == 1
    # gRPC clients see the agent's tool run (typed events); the client's call only as a tool_call.
    upstream.queue(both)
    request = pb.ChatRequest(model="default/weather", messages=[pb.ChatMessage(role=pb.ROLE_USER, content=OSLO[0]["content"])], tools=[_proto_tool(POSTCARD)])
    events = [r.event async for r in ex_grpc.ExecutorServiceStub(channel).StreamChatCompletion(ex_pb.StreamChatCompletionRequest(chat=request))]
    ran = [e.tool_output for e in events if e.HasField("tool_output")]
    assert [(o.call_id, o.name) for o in ran] == [("call_w", "get_weather")] and "Oslo" in ran[0].output
    assert {e.tool_called.name for e in events if e.HasField("tool_called")} == {"get_weather"}
    assert {e.tool_call_delta.name for e in events if e.HasField("tool_call_delta") and e.tool_call_delta.name} == {"send_postcard"}


@pytest.mark.parametrize(
    ("model", "replies", "answer", "model_calls"),
    [
        # run_llm_again (the default): the agent's tool ran, the model answers.
        ("default/weather", [ToolCallReply([ToolCall("get_weather", {"city": "Oslo"})]), TextReply("Oslo is sunny.")], "Oslo is sunny.", 2),
        # stop_on_first_tool: the agent's own tool_use_behavior still decides.
        ("default/stopper", [ToolCallReply([ToolCall("ticket_status", {"ticket_id": 7})])], "ticket 7: open", 1),
    ],
    ids=["run_llm_again", "stop_on_first_tool"],
)
async def test_the_agents_tool_use_behavior_applies_when_only_its_tools_are_called(
    client: AsyncOpenAI, upstream: FakeUpstream, model: str, replies: list[Any], answer: str, model_calls: int
) -> None:
    upstream.queue(*replies)
    reply = await client.chat.completions.create(model=model, messages=OSLO, tools=[POSTCARD])
    assert (reply.choices[0].message.content, reply.choices[0].finish_reason, reply.choices[0].message.tool_calls) == (answer, "stop", None)
    assert len(upstream.chat_requests) == model_calls
    assert all("send_postcard" in offered(r.body) for r in upstream.chat_requests)


async def test_grpc_streams_tool_call_deltas_and_a_final_output_with_the_calls(channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("send_postcard", {"city": "Oslo"}, id="call_g")], fragments=3))
    request = pb.ChatRequest(
        model="default/weather",
        messages=[pb.ChatMessage(role=pb.ROLE_USER, content=OSLO[0]["content"])],
        tools=[_proto_tool(POSTCARD)],
        tool_choice=pb.ToolChoice(function_name="send_postcard"),
    )
    events = [r.event async for r in ex_grpc.ExecutorServiceStub(channel).StreamChatCompletion(ex_pb.StreamChatCompletionRequest(chat=request))]
    deltas = [e.tool_call_delta for e in events if e.HasField("tool_call_delta")]
    assert (deltas[0].index, deltas[0].id, deltas[0].name) == (0, "call_g", "send_postcard") and len(deltas) >= 3
    assert json.loads("".join(d.arguments_delta for d in deltas)) == {"city": "Oslo"}
    assert not any(e.HasField("tool_called") or e.HasField("tool_output") for e in events)  # nothing ran inside
    final = events[-1].final_output
    assert final.finish_reason == pb.FINISH_REASON_TOOL_CALLS
    assert [(c.id, c.type, c.function.name, json.loads(c.function.arguments)) for c in final.tool_calls] == [
        ("call_g", "function", "send_postcard", {"city": "Oslo"})
    ]


async def test_a_handoff_target_gets_the_client_tools_too(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(ToolCallReply([ToolCall("transfer_to_support", {})]), ToolCallReply([ToolCall("open_ticket", {"topic": "email"}, id="call_t")]))
    reply = await client.chat.completions.create(model="default/triage", messages=[{"role": "user", "content": "My email is down"}], tools=[TICKET])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None and [(c.id, c.function.name) for c in choice.message.tool_calls] == [("call_t", "open_ticket")]
    triage, support = upstream.chat_requests[-2:]
    assert set(offered(triage.body)) == {"transfer_to_billing", "transfer_to_support", "open_ticket"}
    assert "technical support" in support.messages[0]["content"]  # the Support agent ran the second call...
    assert set(offered(support.body)) == {"check_status", "open_ticket"}  # ...and was offered the client's tool


async def test_a_handoff_beside_a_client_call_stops_for_the_client(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    # The SDK would take the handoff and go on; the client must get its call first.
    both = ToolCallReply([ToolCall("transfer_to_support", {}), ToolCall("open_ticket", {"topic": "email"}, id="call_t")])
    upstream.queue(both)
    reply = await client.chat.completions.create(model="default/triage", messages=[{"role": "user", "content": "Email down"}], tools=[TICKET])
    assert reply.choices[0].finish_reason == "tool_calls"
    assert reply.choices[0].message.tool_calls is not None and [c.id for c in reply.choices[0].message.tool_calls] == ["call_t"]
    upstream.queue(both)
    stream = await client.chat.completions.create(model="default/triage", messages=[{"role": "user", "content": "Email down"}], tools=[TICKET], stream=True)
    chunks = [c async for c in stream]
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["tool_calls"]
    assert [d.id for c in chunks for d in c.choices[0].delta.tool_calls or [] if d.id] == ["call_t"]
    assert len(upstream.chat_requests) == 2  # one per request: the Support agent never ran


@pytest.mark.parametrize(("model", "name"), [("default/weather", "get_weather"), ("default/triage", "transfer_to_billing"), ("default/triage", "check_status")])
async def test_a_client_tool_named_like_one_of_the_agents_is_a_400(client: AsyncOpenAI, upstream: FakeUpstream, model: str, name: str) -> None:
    tool: Any = {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model=model, messages=OSLO, tools=[tool])
    error = caught.value.body
    assert isinstance(error, dict)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", "tools", "tool_name_collision")
    assert repr(name) in error["message"]
    assert upstream.chat_requests == []


async def test_a_tool_that_is_not_a_function_is_a_400(client: AsyncOpenAI, channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="default/weather", messages=OSLO, tools=[{"type": "custom", "custom": {"name": "grammar"}}])  # type: ignore[list-item]
    # The shim's schema names the field at fault, as for any other invalid field.
    assert isinstance(caught.value.body, dict) and (caught.value.body["type"], caught.value.body["param"]) == ("invalid_request_error", "tools[0].type")
    request = pb.ChatRequest(
        model="default/weather",
        messages=[pb.ChatMessage(role=pb.ROLE_USER, content="hi")],
        tools=[pb.ToolDefinition(type="custom", function=pb.FunctionDefinition(name="grammar"))],
    )
    with pytest.raises(grpc.aio.AioRpcError) as rpc_error:
        await ex_grpc.ExecutorServiceStub(channel).CreateChatCompletion(ex_pb.CreateChatCompletionRequest(chat=request))
    assert rpc_error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "function" in (rpc_error.value.details() or "")
    assert upstream.chat_requests == []


async def test_tool_choice_naming_an_unknown_function_is_a_400(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    for tools in ([POSTCARD], []):
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="default/weather", messages=OSLO, tools=tools, tool_choice={"type": "function", "function": {"name": "send_letter"}}
            )
        error = caught.value.body
        assert isinstance(error, dict) and (error["type"], error["param"]) == ("invalid_request_error", "tool_choice") and "'send_letter'" in error["message"]
    assert upstream.chat_requests == []


async def test_tool_choice_none_offers_the_client_tools_without_a_call(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("I will not send anything."))
    reply = await client.chat.completions.create(model="default/weather", messages=OSLO, tools=[POSTCARD], tool_choice="none")
    assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == ("I will not send anything.", "stop")
    sent = upstream.last_request().body
    assert sent["tool_choice"] == "none" and "send_postcard" in offered(sent)


def _proto_tool(tool: dict[str, Any]) -> pb.ToolDefinition:
    parameters = struct_pb2.Struct()
    parameters.update(tool["function"]["parameters"])
    fn = tool["function"]
    return pb.ToolDefinition(
        type="function", function=pb.FunctionDefinition(name=fn["name"], description=fn.get("description", ""), parameters=parameters, strict=fn.get("strict"))
    )
