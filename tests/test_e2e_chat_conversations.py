"""Chat completions on server-side conversations (``x-agentgateway-conversation``), end to end
with the official ``openai`` client (``extra_headers``) against the real gateway (both shim
transports) and the fake upstream: the conversation's items are the history the upstream gets
before the request's messages, and each turn — the request's messages and the reply — lands in
the conversation as items, shared with Responses-API turns on the same conversation."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import httpx
import openai
import pytest
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.conversations import Conversation

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from tests.conftest import ADMIN_HEADERS, ADMIN_KEY, KEYS
from tests.fake_upstream import FakeUpstream, TextReply, ToolCall, ToolCallReply
from tests.gateway_process import GatewayProcess
from tests.test_e2e_conversations_rest import docs_block, docs_commands, raw, run_curl, strict, strict_items
from tests.test_e2e_grpc import error_info

pytestmark = pytest.mark.asyncio

HEADER = "x-agentgateway-conversation"
MODEL = "default/helpdesk"  # declarative: the upstream sees exactly the history the gateway built


def on(conversation_id: str) -> dict[str, str]:
    return {HEADER: conversation_id}


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or ())


def sent(upstream: FakeUpstream, index: int = -1) -> list[tuple[str, str]]:
    """The (role, text) of the messages of an upstream request, its system messages left out."""
    return [(m["role"], text_of(m.get("content"))) for m in upstream.chat_requests[index].body["messages"] if m["role"] != "system"]


async def kept(client: AsyncOpenAI, conversation_id: str) -> list[Any]:
    """The conversation's items, oldest first, each parsed strictly as the openai types."""
    return strict_items(await raw(client.conversations.items.with_raw_response.list(conversation_id, order="asc", limit=100)))


def texts(items: list[Any]) -> list[tuple[str, str]]:
    return [(i.role, "".join(getattr(p, "text", "") for p in i.content)) for i in items]


async def test_chat_turns_accumulate_in_the_conversation(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    conversation = await client.conversations.create()
    upstream.queue(TextReply("Hello Bo."), TextReply("Your name is Bo."))
    first = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "My name is Bo."}], extra_headers=on(conversation.id))
    assert first.choices[0].message.content == "Hello Bo."
    second = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "What is my name?"}], extra_headers=on(conversation.id))
    assert second.choices[0].message.content == "Your name is Bo."
    assert sent(upstream, -2) == [("user", "My name is Bo.")]
    assert sent(upstream) == [("user", "My name is Bo."), ("assistant", "Hello Bo."), ("user", "What is my name?")]
    items = await kept(client, conversation.id)
    assert texts(items) == [("user", "My name is Bo."), ("assistant", "Hello Bo."), ("user", "What is my name?"), ("assistant", "Your name is Bo.")]
    assert [p.type for i in items for p in i.content] == ["input_text", "output_text", "input_text", "output_text"]
    assert all(i.id.startswith("msg_") for i in items) and len({i.id for i in items}) == 4
    await client.conversations.delete(conversation.id)


async def test_a_streamed_chat_turn_of_a_drop_in(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    conversation = await client.conversations.create(items=[{"role": "user", "content": "I live in Oslo."}, {"role": "assistant", "content": "Noted."}])
    upstream.queue(TextReply("Sunny in Oslo all day.", chunks=4), TextReply("You live in Oslo."))
    stream = await client.chat.completions.create(
        model="default/weather", messages=[{"role": "user", "content": "Weather where I live?"}], stream=True, extra_headers=on(conversation.id)
    )
    deltas = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    assert "".join(deltas) == "Sunny in Oslo all day." and len([d for d in deltas if d]) > 1
    assert sent(upstream) == [("user", "I live in Oslo."), ("assistant", "Noted."), ("user", "Weather where I live?")]
    # The streamed turn is kept by the time the stream ends: the next request sees it.
    await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "Where do I live?"}], extra_headers=on(conversation.id))
    assert sent(upstream)[-3:] == [("user", "Weather where I live?"), ("assistant", "Sunny in Oslo all day."), ("user", "Where do I live?")]
    items = await kept(client, conversation.id)
    assert texts(items)[2:] == [
        ("user", "Weather where I live?"),
        ("assistant", "Sunny in Oslo all day."),
        ("user", "Where do I live?"),
        ("assistant", "You live in Oslo."),
    ]
    await client.conversations.delete(conversation.id)


async def test_chat_and_responses_turns_see_each_others_history(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    conversation = await client.conversations.create()
    upstream.queue(TextReply("Hi Ada."), TextReply("You are Ada."), TextReply("Still Ada."))
    await client.responses.create(model=MODEL, input="I am Ada.", conversation=conversation.id)
    chat = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Who am I?"}], extra_headers=on(conversation.id))
    assert chat.choices[0].message.content == "You are Ada."
    assert sent(upstream) == [("user", "I am Ada."), ("assistant", "Hi Ada."), ("user", "Who am I?")]
    again = await client.responses.create(model=MODEL, input="And now?", conversation=conversation.id)
    assert again.output_text == "Still Ada."
    assert sent(upstream) == [("user", "I am Ada."), ("assistant", "Hi Ada."), ("user", "Who am I?"), ("assistant", "You are Ada."), ("user", "And now?")]
    items = await kept(client, conversation.id)
    assert texts(items) == [*sent(upstream), ("assistant", "Still Ada.")]
    await client.conversations.delete(conversation.id)


async def test_client_tool_calls_and_their_results_are_kept_as_items(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    conversation = await client.conversations.create()
    tool = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}}}
    upstream.queue(ToolCallReply([ToolCall("get_time", '{"zone":"UTC"}', id="call_t1")]), TextReply("It is noon."))
    asked = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "What time is it?"}],
        tools=[tool],  # type: ignore[list-item]
        extra_headers=on(conversation.id),
    )
    assert asked.choices[0].finish_reason == "tool_calls"
    # The client sends only the new message: the tool's result.
    answered = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "tool", "tool_call_id": "call_t1", "content": "12:00"}],
        tools=[tool],  # type: ignore[list-item]
        extra_headers=on(conversation.id),
    )
    assert answered.choices[0].message.content == "It is noon."
    messages = [m for m in upstream.chat_requests[-1].body["messages"] if m["role"] != "system"]
    assert messages[0] == {"role": "user", "content": "What time is it?"}
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in messages[1]["tool_calls"]] == [("call_t1", "get_time", '{"zone":"UTC"}')]
    assert messages[2] == {"role": "tool", "tool_call_id": "call_t1", "content": "12:00"}
    items = await kept(client, conversation.id)
    assert [i.type for i in items] == ["message", "function_call", "function_call_output", "message"]
    assert (items[1].call_id, items[1].name, items[1].arguments) == ("call_t1", "get_time", '{"zone":"UTC"}')
    assert (items[2].call_id, items[2].output) == ("call_t1", "12:00")
    await client.conversations.delete(conversation.id)


async def test_unknown_foreign_and_deleted_conversations_are_404_before_anything_runs(
    gateway: GatewayProcess, client: AsyncOpenAI, upstream: FakeUpstream
) -> None:
    mine = await client.conversations.create(items=[{"role": "user", "content": "private"}])
    gone = await client.conversations.create()
    await client.conversations.delete(gone.id)
    async with AsyncOpenAI(base_url=gateway.openai_base_url, api_key=KEYS["user"], max_retries=0, timeout=30) as other:
        for who, conversation_id in ((client, "conv_nope"), (other, mine.id), (client, gone.id)):
            for stream in (False, True):
                with pytest.raises(openai.NotFoundError) as caught:
                    await who.chat.completions.create(
                        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=stream, extra_headers=on(conversation_id)
                    )
                assert caught.value.code == "conversation_not_found"
    assert upstream.chat_requests == []
    assert texts(await kept(client, mine.id)) == [("user", "private")]
    await client.conversations.delete(mine.id)


async def test_what_a_conversation_cannot_keep_is_a_400_before_anything_runs(gateway: GatewayProcess, client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    conversation = await client.conversations.create()
    audio = {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}
    async with httpx.AsyncClient(base_url=gateway.http_url, headers={**ADMIN_HEADERS, **on(conversation.id)}, timeout=10) as http:
        reply = await http.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}, audio]})
    assert reply.status_code == 400, reply.text
    assert (reply.json()["error"]["param"], reply.json()["error"]["code"]) == ("messages[1].content[0]", "invalid_argument")
    assert upstream.chat_requests == [] and await kept(client, conversation.id) == []
    await client.conversations.delete(conversation.id)


async def test_without_the_header_nothing_is_kept(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    conversation = await client.conversations.create()
    upstream.queue(TextReply("stateless"))
    await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert await kept(client, conversation.id) == []
    await client.conversations.delete(conversation.id)


SECTION = "### Chat completions on a conversation"


async def test_the_curl_example_in_the_docs_works(gateway: GatewayProcess, client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    create, chat, stream = docs_commands(SECTION)
    upstream.queue(TextReply("Noted: Oslo."), TextReply("Sunny in Oslo.", chunks=3))
    conversation = strict(Conversation, run_curl(create, gateway))
    reply = ChatCompletion.model_validate(run_curl(chat, gateway, conversation.id))
    assert reply.choices[0].message.content == "Noted: Oslo."
    frames = [f.removeprefix("data: ") for f in run_curl(stream, gateway, conversation.id, as_json=False).strip().split("\n\n")]
    assert frames[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate(json.loads(f)) for f in frames[:-1]]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Sunny in Oslo."
    assert sent(upstream) == [("user", "I live in Oslo."), ("assistant", "Noted: Oslo."), ("user", "Weather where I live?")]
    assert len(await kept(client, conversation.id)) == 4
    await client.conversations.delete(conversation.id)


async def test_the_python_example_in_the_docs_works(gateway: GatewayProcess, client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    code = docs_block("python", SECTION).replace('"http://127.0.0.1:8000/v1"', repr(gateway.openai_base_url))
    printed: list[tuple[object, ...]] = []
    namespace: dict[str, Any] = {"KEY": ADMIN_KEY, "print": lambda *args: printed.append(args)}
    upstream.queue(TextReply("Noted."), TextReply("Rain in Oslo.", chunks=2))
    await asyncio.to_thread(exec, code, namespace)
    assert printed == [("Rain in Oslo.",)]
    assert sent(upstream) == [("user", "I live in Oslo."), ("assistant", "Noted."), ("user", "Weather where I live?")]
    conversation_id = namespace["conversation"].id
    assert texts(await kept(client, conversation_id))[-1] == ("assistant", "Rain in Oslo.")
    await client.conversations.delete(conversation_id)


async def test_grpc_clients_name_the_conversation_in_the_chat_request(client: AsyncOpenAI, channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    conversation = await client.conversations.create(items=[{"role": "user", "content": "I am Cy."}, {"role": "assistant", "content": "Hi Cy."}])
    stub = ex_grpc.ExecutorServiceStub(channel)
    upstream.queue(TextReply("You are Cy."), TextReply("Still Cy.", chunks=2))
    question = pb.ChatMessage(role=pb.ROLE_USER, content="Who am I?")
    reply = await stub.CreateChatCompletion(
        ex_pb.CreateChatCompletionRequest(chat=pb.ChatRequest(model=MODEL, messages=[question], conversation=conversation.id))
    )
    assert reply.message.content == "You are Cy."
    again = pb.ChatMessage(role=pb.ROLE_USER, content="And now?")
    call = stub.StreamChatCompletion(ex_pb.StreamChatCompletionRequest(chat=pb.ChatRequest(model=MODEL, messages=[again], conversation=conversation.id)))
    assert "".join([part.event.text_delta.text async for part in call]) == "Still Cy."
    assert sent(upstream) == [("user", "I am Cy."), ("assistant", "Hi Cy."), ("user", "Who am I?"), ("assistant", "You are Cy."), ("user", "And now?")]
    assert texts(await kept(client, conversation.id))[-1] == ("assistant", "Still Cy.")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateChatCompletion(ex_pb.CreateChatCompletionRequest(chat=pb.ChatRequest(model=MODEL, conversation=conversation.id)))
    assert (caught.value.code(), error_info(caught.value).metadata["param"]) == (grpc.StatusCode.INVALID_ARGUMENT, "messages")
    await client.conversations.delete(conversation.id)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_drop_ins_chat_turn_keeps_the_tools_it_ran(client: AsyncOpenAI, upstream: FakeUpstream, stream: bool) -> None:
    # A drop-in runs on the conversation as its SDK session: what the SDK writes back (the agent's
    # own tool call and output too) is the turn kept, and the next turn's model sees it.
    conversation = await client.conversations.create()
    upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Oslo"}, id="w7")]), TextReply("Sunny in Oslo."))
    ask = {"model": "default/weather", "messages": [{"role": "user", "content": "Weather in Oslo?"}], "extra_headers": on(conversation.id)}
    if stream:
        chunks = await client.chat.completions.create(**ask, stream=True)  # type: ignore[call-overload]
        assert "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices]) == "Sunny in Oslo."
    else:
        assert (await client.chat.completions.create(**ask)).choices[0].message.content == "Sunny in Oslo."  # type: ignore[call-overload]
    items = await kept(client, conversation.id)
    assert [i.type for i in items] == ["message", "function_call", "function_call_output", "message"]
    assert (items[1].call_id, items[1].name, items[2].call_id) == ("w7", "get_weather", "w7")
    upstream.queue(TextReply("Still sunny."))
    await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "Sure?"}], extra_headers=on(conversation.id))
    assert [role for role, _ in sent(upstream)] == ["user", "assistant", "tool", "assistant", "user"]
