"""Two real gateway replicas sharing one real Redis (``GATEWAY_STATE_URL``) behave as one
gateway: conversations, stored responses and pending approvals made on one are used on the
other, an approval is claimed exactly once whichever replicas race for it, and a lost Redis is
a clear 503 / UNAVAILABLE ``STATE_UNAVAILABLE`` for what needs it (nothing else) until it is
back, with no restart. The official ``openai`` client and gRPC stubs, as clients use them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import httpx
import openai
import pytest
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion

from agentgateway.v1 import conversation_service_pb2 as conv_pb
from agentgateway.v1 import conversation_service_pb2_grpc as conv_grpc
from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from tests.conftest import ADMIN_HEADERS, ADMIN_KEY
from tests.fake_upstream import FakeUpstream, TextReply, ToolCall, ToolCallReply
from tests.gateway_process import GatewayProcess
from tests.grpc_auth import authed_channel
from tests.redis_server import RedisServer
from tests.replicas import replicas
from tests.test_e2e_grpc import error_info

pytestmark = pytest.mark.asyncio

MODEL = "default/helpdesk"  # declarative: the upstream sees exactly the history the gateway built


@pytest.fixture(scope="module")
def redis_shared() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream, redis_shared: RedisServer) -> Iterator[list[GatewayProcess]]:
    root = tmp_path_factory.mktemp("replicas")
    with replicas(root, upstream, redis_shared.url, 2, env_extra={"GW_HOOKS_LOG": str(root / "hooks.log")}) as started:
        yield started


@pytest.fixture
async def clients(pair: list[GatewayProcess]) -> AsyncIterator[list[AsyncOpenAI]]:
    made = [AsyncOpenAI(base_url=g.openai_base_url, api_key=ADMIN_KEY, max_retries=0, timeout=30) for g in pair]
    yield made
    for c in made:
        await c.close()


def sent(upstream: FakeUpstream) -> list[tuple[str, str]]:
    """(role, text) of the last upstream request's messages, system messages left out."""

    def text(content: Any) -> str:
        return content if isinstance(content, str) else "".join(p.get("text", "") for p in content or ())

    return [(m["role"], text(m.get("content"))) for m in upstream.chat_requests[-1].body["messages"] if m["role"] != "system"]


def tool_log(pair: list[GatewayProcess]) -> str:
    log = pair[0].agents_dir.parent / "hooks.log"  # both replicas' tools write here
    return log.read_text() if log.exists() else ""


async def pause(client: AsyncOpenAI, upstream: FakeUpstream, ticket: int) -> str:
    """The Approver asked to close ``ticket`` pauses for a human; the approval's id."""
    upstream.queue(ToolCallReply([ToolCall("close_ticket", {"ticket_id": ticket}, id=f"call_{ticket}")]))
    reply = await client.chat.completions.create(model="default/approver", messages=[{"role": "user", "content": f"close {ticket}"}])
    assert reply.choices[0].finish_reason == "approval_required"
    return str((reply.choices[0].message.model_extra or {})["agentgateway"]["approval"]["id"])


async def resolve(client: AsyncOpenAI, approval_id: str, **body: Any) -> ChatCompletion:
    return await client.post(f"/approvals/{approval_id}", cast_to=ChatCompletion, body=body)


async def test_a_conversation_made_on_one_replica_is_continued_on_the_other(clients: list[AsyncOpenAI], upstream: FakeUpstream) -> None:
    a, b = clients
    conversation = await a.conversations.create(items=[{"role": "user", "content": "I live in Oslo."}], metadata={"topic": "weather"})
    assert (await b.conversations.retrieve(conversation.id)).metadata == {"topic": "weather"}
    await b.conversations.items.create(conversation.id, items=[{"type": "message", "role": "assistant", "content": "Noted."}])
    upstream.queue(TextReply("Sunny in Oslo."), TextReply("Still sunny."))
    first = await b.responses.create(model=MODEL, input="Weather?", conversation=conversation.id)
    assert sent(upstream) == [("user", "I live in Oslo."), ("assistant", "Noted."), ("user", "Weather?")]
    await a.responses.create(model=MODEL, input="And tomorrow?", conversation=conversation.id)
    assert sent(upstream)[-3:] == [("user", "Weather?"), ("assistant", "Sunny in Oslo."), ("user", "And tomorrow?")]
    # A chat completion on the conversation (x-agentgateway-conversation), through B.
    upstream.queue(TextReply("Bring sunglasses."))
    await b.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "What to pack?"}], extra_headers={"x-agentgateway-conversation": conversation.id}
    )
    assert sent(upstream)[-3:] == [("user", "And tomorrow?"), ("assistant", "Still sunny."), ("user", "What to pack?")]
    for client in clients:
        items = (await client.conversations.items.list(conversation.id, order="asc", limit=100)).data
        assert [getattr(i, "role", None) for i in items] == ["user", "assistant"] * 4
    assert (await a.responses.retrieve(first.id)).output_text == "Sunny in Oslo."
    await b.conversations.update(conversation.id, metadata={"topic": "travel"})
    assert (await a.conversations.retrieve(conversation.id)).metadata == {"topic": "travel"}
    await a.conversations.delete(conversation.id)
    with pytest.raises(openai.NotFoundError):
        await b.conversations.retrieve(conversation.id)


async def test_stored_responses_are_continued_read_and_deleted_on_the_other_replica(clients: list[AsyncOpenAI], upstream: FakeUpstream) -> None:
    a, b = clients
    upstream.queue(TextReply("Hello Bo."), TextReply("Your name is Bo."))
    first = await a.responses.create(model=MODEL, input="My name is Bo.")
    second = await b.responses.create(model=MODEL, input="What is my name?", previous_response_id=first.id)
    assert sent(upstream) == [("user", "My name is Bo."), ("assistant", "Hello Bo."), ("user", "What is my name?")]
    assert (await b.responses.retrieve(first.id)).output_text == "Hello Bo."
    assert [i.content[0].text for i in (await a.responses.input_items.list(second.id)).data] == ["What is my name?"]  # type: ignore[union-attr]
    await b.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError) as caught:
        await a.responses.retrieve(first.id)
    assert caught.value.body["code"] == "response_not_found"  # type: ignore[index]


async def test_an_approval_paused_on_one_replica_resumes_on_the_other(clients: list[AsyncOpenAI], upstream: FakeUpstream, pair: list[GatewayProcess]) -> None:
    a, b = clients
    approval_id = await pause(a, upstream, 7101)
    async with httpx.AsyncClient(base_url=pair[1].openai_base_url, headers=ADMIN_HEADERS) as http:
        assert (await http.get(f"/approvals/{approval_id}")).json()["id"] == approval_id
    upstream.queue(TextReply("Ticket 7101 is closed."))
    resumed = await resolve(b, approval_id, approve=True)
    assert resumed.choices[0].message.content == "Ticket 7101 is closed." and "closed 7101" in tool_log(pair)
    with pytest.raises(openai.APIStatusError) as caught:
        await resolve(a, approval_id, approve=True)
    assert (caught.value.status_code, caught.value.body["code"]) == (409, "approval_already_resolved")  # type: ignore[index]

    # The same over gRPC: paused through replica B's executor, resolved through A's.
    async with authed_channel(pair[1].grpc_address, ADMIN_KEY) as on_b, authed_channel(pair[0].grpc_address, ADMIN_KEY) as on_a:
        upstream.queue(ToolCallReply([ToolCall("close_ticket", {"ticket_id": 7102}, id="call_7102")]))
        chat = pb.ChatRequest(model="default/approver", messages=[pb.ChatMessage(role=pb.ROLE_USER, content="close 7102")])
        reply = await ex_grpc.ExecutorServiceStub(on_b).CreateChatCompletion(ex_pb.CreateChatCompletionRequest(chat=chat))
        paused = next(e.approval_required for e in reply.events if e.WhichOneof("event") == "approval_required")
        upstream.queue(TextReply("7102 closed."))
        decision = ex_pb.ApprovalDecision(name=f"approvals/{paused.approval_id}", approve=True)
        done = await ex_grpc.ExecutorServiceStub(on_a).ResolveApproval(ex_pb.ResolveApprovalRequest(decision=decision))
    assert done.message.content == "7102 closed." and "closed 7102" in tool_log(pair)


async def test_concurrent_approves_on_both_replicas_have_exactly_one_winner(
    clients: list[AsyncOpenAI], upstream: FakeUpstream, pair: list[GatewayProcess]
) -> None:
    approval_id = await pause(clients[0], upstream, 7201)
    upstream.queue(TextReply("Closed 7201."))
    outcomes = await asyncio.gather(*(resolve(clients[i % 2], approval_id, approve=True) for i in range(6)), return_exceptions=True)
    won = [o for o in outcomes if isinstance(o, ChatCompletion)]
    lost = [o for o in outcomes if isinstance(o, openai.APIStatusError)]
    assert len(won) == 1 and won[0].choices[0].message.content == "Closed 7201."
    assert len(lost) == 5 and {(e.status_code, e.body["code"]) for e in lost} == {(409, "approval_already_resolved")}  # type: ignore[index]
    assert tool_log(pair).count("closed 7201") == 1  # the tool ran once


async def test_a_lost_redis_is_503_for_what_needs_it_and_the_replicas_recover(
    clients: list[AsyncOpenAI], upstream: FakeUpstream, pair: list[GatewayProcess], redis_shared: RedisServer
) -> None:
    a, b = clients
    conversation = await a.conversations.create(items=[{"role": "user", "content": "before"}])
    redis_shared.kill()
    try:
        failures: list[float] = []
        for call in (
            lambda: a.conversations.create(),
            lambda: b.conversations.retrieve(conversation.id),
            lambda: a.conversations.items.list(conversation.id),
            lambda: b.responses.create(model=MODEL, input="kept?"),  # store defaults to true: refused before the run
            lambda: a.responses.create(model=MODEL, input="on it", conversation=conversation.id),
            lambda: b.responses.retrieve("resp_" + "0" * 48),
        ):
            started = time.monotonic()
            with pytest.raises(openai.APIStatusError) as caught:
                await call()
            failures.append(time.monotonic() - started)
            error = caught.value
            assert error.status_code == 503 and error.response.headers["retry-after"] == "1"
            assert (error.body["type"], error.body["code"]) == ("service_unavailable_error", "state_unavailable")  # type: ignore[index]
            assert "unreachable" in error.body["message"] and str(redis_shared.port) not in error.body["message"]  # type: ignore[index]
        assert max(failures) < 2.0, failures  # a fast answer, never a hang
        assert upstream.chat_requests == []  # no run was started only to be lost
        # What does not keep state does not need Redis.
        upstream.queue(TextReply("No state needed."), TextReply("Not kept."))
        assert (await b.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])).choices[0].message.content == "No state needed."
        assert (await a.responses.create(model=MODEL, input="hi", store=False)).output_text == "Not kept."
        # gRPC: UNAVAILABLE with ErrorInfo STATE_UNAVAILABLE.
        async with authed_channel(pair[1].grpc_address, ADMIN_KEY) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as rpc:
                await conv_grpc.ConversationServiceStub(channel).GetConversation(conv_pb.GetConversationRequest(name=f"conversations/{conversation.id}"))
        assert rpc.value.code() == grpc.StatusCode.UNAVAILABLE and error_info(rpc.value).reason == "STATE_UNAVAILABLE"
        # Approvals too: a pause needs somewhere to keep the run.
        upstream.queue(ToolCallReply([ToolCall("close_ticket", {"ticket_id": 7301}, id="call_7301")]))
        with pytest.raises(openai.APIStatusError) as caught:
            await a.chat.completions.create(model="default/approver", messages=[{"role": "user", "content": "close 7301"}])
        assert (caught.value.status_code, caught.value.body["code"]) == (503, "state_unavailable")  # type: ignore[index]
    finally:
        redis_shared.start()  # same port, empty (no persistence)
    # Back without restarting either replica.
    again = await b.conversations.create(items=[{"role": "user", "content": "after"}])
    assert [i.content[0].text for i in (await a.conversations.items.list(again.id)).data] == ["after"]  # type: ignore[union-attr]
    upstream.queue(TextReply("Stored again."))
    stored = await a.responses.create(model=MODEL, input="kept now?")
    assert (await b.responses.retrieve(stored.id)).output_text == "Stored again."
    approval_id = await pause(b, upstream, 7302)
    upstream.queue(TextReply("Closed 7302."))
    assert (await resolve(a, approval_id, approve=True)).choices[0].message.content == "Closed 7302."
    for gateway in pair:
        assert "Traceback" not in gateway.log_text()


async def test_a_response_that_cannot_be_stored_after_its_run_fails_loudly(
    clients: list[AsyncOpenAI], upstream: FakeUpstream, pair: list[GatewayProcess], redis_shared: RedisServer
) -> None:
    """Redis lost during the run: the run finished, its response could not be kept. The client
    asked for ``store``, so the request fails (503 / a ``response.failed`` event), it does not
    answer as if the response could be continued from."""
    upstream.queue(TextReply("Lost in the store.", delay=1.0))
    try:
        running = asyncio.create_task(clients[0].responses.create(model=MODEL, input="slow"))
        await upstream.wait_for_async(lambda: len(upstream.chat_requests) == 1)  # the run is on, its reply 1 s away
        redis_shared.kill()
        with pytest.raises(openai.APIStatusError) as caught:
            await running
        assert (caught.value.status_code, caught.value.body["code"]) == (503, "state_unavailable")  # type: ignore[index]

        redis_shared.start()
        upstream.queue(TextReply("Lost while streaming.", delay=1.0))
        async with httpx.AsyncClient(base_url=pair[1].http_url, headers=ADMIN_HEADERS, timeout=10) as http:

            async def stream() -> str:
                async with http.stream("POST", "/v1/responses", json={"model": MODEL, "input": "slow", "stream": True}) as reply:
                    return (await reply.aread()).decode()

            streaming = asyncio.create_task(stream())
            await upstream.wait_for_async(lambda: len(upstream.chat_requests) == 2)
            redis_shared.kill()
            body = await streaming
        assert "event: response.failed" in body and "state_unavailable" in body and "event: response.completed" not in body
    finally:
        if redis_shared.process is None:
            redis_shared.start()
