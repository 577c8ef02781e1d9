"""Human-in-the-loop approvals end to end: a drop-in's ``needs_approval`` tool pauses the run,
the gateway keeps its state, and a human's decision resumes it.

The real gateway process, the fake upstream, the official ``openai`` client and gRPC stubs.
Each test uses its own ticket/order numbers: the drop-ins' tool bodies append to one shared
log (``hooks.log``), which is how a test proves whether a tool ran.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from typing import Any

import grpc
import httpx
import openai
import pytest
from openai import AsyncOpenAI, AsyncStream
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from agentgateway.v1 import registry_service_pb2 as reg_pb
from agentgateway.v1 import registry_service_pb2_grpc as reg_grpc
from agentgateway.v1 import security_service_pb2 as sec_pb
from agentgateway.v1 import security_service_pb2_grpc as sec_grpc
from tests.conftest import ADMIN_HEADERS, KEYS
from tests.fake_upstream import FakeUpstream, TextReply, ToolCall, ToolCallReply
from tests.gateway_process import GatewayProcess
from tests.grpc_auth import authed_channel
from tests.test_e2e_grpc import error_info

pytestmark = pytest.mark.asyncio


def tool_log(gateway: GatewayProcess) -> str:
    log = gateway.agents_dir.parent / "hooks.log"
    return log.read_text() if log.exists() else ""


def approval_of(reply: ChatCompletion) -> dict[str, Any]:
    extension = (reply.choices[0].message.model_extra or {})["agentgateway"]
    return dict(extension["approval"])


async def pause(client: AsyncOpenAI, upstream: FakeUpstream, *ticket_ids: int) -> dict[str, Any]:
    """Ask the Approver to close tickets; the run pauses. Returns the reply's approval."""
    upstream.queue(ToolCallReply([ToolCall("close_ticket", {"ticket_id": t}, id=f"call_{t}") for t in ticket_ids]))
    reply = await client.chat.completions.create(model="default/approver", messages=[{"role": "user", "content": f"close {ticket_ids}"}])
    assert reply.choices[0].finish_reason == "approval_required"
    return approval_of(reply)


async def resolve(client: AsyncOpenAI, approval_id: str, **body: Any) -> ChatCompletion:
    return await client.post(f"/approvals/{approval_id}", cast_to=ChatCompletion, body=body)


async def test_rest_pause_then_approve_runs_the_tool_and_answers(client: AsyncOpenAI, upstream: FakeUpstream, gateway: GatewayProcess) -> None:
    upstream.queue(ToolCallReply([ToolCall("close_ticket", {"ticket_id": 101}, id="call_101")]))
    reply = await client.chat.completions.create(model="default/approver", messages=[{"role": "user", "content": "close 101"}])
    choice = reply.choices[0]
    assert choice.finish_reason == "approval_required"  # the official client takes the extension value as it is
    approval = approval_of(reply)
    assert approval["id"].startswith("apr_") and approval["model"] == "default/approver"
    assert approval["calls"] == [{"call_id": "call_101", "name": "close_ticket", "arguments": '{"ticket_id": 101}', "agent": "Approver", "source": "sdk"}]
    content = choice.message.content or ""
    assert "close_ticket" in content and approval["id"] in content and f"POST /v1/approvals/{approval['id']}" in content
    assert "closed 101" not in tool_log(gateway)  # nothing ran yet

    async with httpx.AsyncClient(base_url=gateway.openai_base_url, headers=ADMIN_HEADERS) as http:
        seen = (await http.get(f"/approvals/{approval['id']}")).json()
    assert seen["id"] == approval["id"] and seen["calls"] == approval["calls"] and seen["expires_at"] == approval["expires_at"]
    assert seen["created_at"] <= seen["expires_at"] - 3500  # the default TTL is an hour

    upstream.queue(TextReply("Ticket 101 is closed."))
    resumed = await resolve(client, approval["id"], approve=True)
    assert resumed.object == "chat.completion" and resumed.model == "default/approver"
    assert resumed.choices[0].message.content == "Ticket 101 is closed." and resumed.choices[0].finish_reason == "stop"
    assert "closed 101" in tool_log(gateway)
    tool_message = next(m for m in upstream.last_request().messages if m["role"] == "tool")
    assert tool_message["tool_call_id"] == "call_101" and tool_message["content"] == "closed"
    # The model saw the whole conversation again, from the state the gateway kept.
    assert any(m["role"] == "user" and "close 101" in str(m["content"]) for m in upstream.last_request().messages)


async def test_rest_streaming_pause_and_streamed_resume(client: AsyncOpenAI, upstream: FakeUpstream, gateway: GatewayProcess) -> None:
    upstream.queue(ToolCallReply([ToolCall("close_ticket", {"ticket_id": 202}, id="call_202")]))
    stream = await client.chat.completions.create(model="default/approver", messages=[{"role": "user", "content": "close 202"}], stream=True)
    chunks = [chunk async for chunk in stream]
    last = chunks[-1].choices[0]
    assert last.finish_reason == "approval_required"
    approval = (last.delta.model_extra or {})["agentgateway"]["approval"]
    assert [c["name"] for c in approval["calls"]] == ["close_ticket"] and approval["id"] in (last.delta.content or "")

    upstream.queue(TextReply("Closed ticket 202 for you.", chunks=4))
    resumed = await client.post(
        f"/approvals/{approval['id']}",
        cast_to=ChatCompletionChunk,
        body={"approve": True, "stream": True, "stream_options": {"include_usage": True}},
        stream=True,
        stream_cls=AsyncStream[ChatCompletionChunk],
    )
    texts, finish, usage = [], None, None
    async for chunk in resumed:
        if chunk.choices:
            texts.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        usage = chunk.usage or usage
    assert "".join(texts) == "Closed ticket 202 for you." and finish == "stop"
    assert usage is not None and usage.completion_tokens > 0
    assert "closed 202" in tool_log(gateway)


async def test_grpc_pause_get_and_streamed_resume(channel: grpc.aio.Channel, upstream: FakeUpstream, gateway: GatewayProcess) -> None:
    stub = ex_grpc.ExecutorServiceStub(channel)
    upstream.queue(ToolCallReply([ToolCall("close_ticket", {"ticket_id": 303}, id="call_303")]))
    chat = pb.ChatRequest(model="default/approver", messages=[pb.ChatMessage(role=pb.ROLE_USER, content="close 303")])
    events = [r.event async for r in stub.StreamChatCompletion(ex_pb.StreamChatCompletionRequest(chat=chat))]
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[-2:] == ["approval_required", "final_output"]
    paused = events[-2].approval_required
    assert events[-1].final_output.finish_reason == pb.FINISH_REASON_APPROVAL_REQUIRED
    call = paused.calls[0]
    assert (call.call_id, call.tool_name, json.loads(call.arguments), call.agent, call.source) == (
        "call_303",
        "close_ticket",
        {"ticket_id": 303},
        "Approver",
        pb.TOOL_SOURCE_SDK,
    )
    got = (await stub.GetApproval(ex_pb.GetApprovalRequest(name=f"approvals/{paused.approval_id}"))).approval
    assert got.name == f"approvals/{paused.approval_id}" and got.model == "default/approver" and list(got.calls) == list(paused.calls)
    assert got.expire_time == paused.expire_time

    upstream.queue(TextReply("Done: 303 closed."))
    decision = ex_pb.ApprovalDecision(name=f"approvals/{paused.approval_id}", approve=True)
    resumed = [r async for r in stub.StreamResolveApproval(ex_pb.StreamResolveApprovalRequest(decision=decision))]
    assert {r.model for r in resumed} == {"default/approver"}
    by_kind = {r.event.WhichOneof("event"): r.event for r in resumed}
    assert by_kind["tool_output"].tool_output.output == "closed" and by_kind["tool_output"].tool_output.call_id == "call_303"
    assert "".join(r.event.text_delta.text for r in resumed) == "Done: 303 closed."
    assert by_kind["final_output"].final_output.finish_reason == pb.FINISH_REASON_STOP
    assert "closed 303" in tool_log(gateway)


async def test_grpc_unary_pause_and_resolve(channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    stub = ex_grpc.ExecutorServiceStub(channel)
    upstream.queue(ToolCallReply([ToolCall("close_ticket", {"ticket_id": 304}, id="call_304")]))
    chat = pb.ChatRequest(model="default/approver", messages=[pb.ChatMessage(role=pb.ROLE_USER, content="close 304")])
    reply = await stub.CreateChatCompletion(ex_pb.CreateChatCompletionRequest(chat=chat))
    assert reply.finish_reason == pb.FINISH_REASON_APPROVAL_REQUIRED
    paused = next(e.approval_required for e in reply.events if e.WhichOneof("event") == "approval_required")
    upstream.queue(TextReply("304 closed."))
    done = await stub.ResolveApproval(ex_pb.ResolveApprovalRequest(decision=ex_pb.ApprovalDecision(name=paused.approval_id, approve=True)))
    assert done.message.content == "304 closed." and done.finish_reason == pb.FINISH_REASON_STOP and done.model == "default/approver"
    assert done.usage.completion_tokens > 0
    assert [e.WhichOneof("event") for e in done.events] == ["tool_called", "tool_output"]  # the approved call ran; no second pause


async def test_reject_keeps_the_tool_from_running_and_tells_the_model(client: AsyncOpenAI, upstream: FakeUpstream, gateway: GatewayProcess) -> None:
    approval = await pause(client, upstream, 404)
    upstream.queue(TextReply("Understood, ticket 404 stays open."))
    resumed = await resolve(client, approval["id"], approve=False, reason="Ticket 404 must stay open until Monday.")
    assert resumed.choices[0].message.content == "Understood, ticket 404 stays open."
    assert "closed 404" not in tool_log(gateway)
    tool_message = next(m for m in upstream.last_request().messages if m["role"] == "tool")
    assert tool_message["tool_call_id"] == "call_404" and tool_message["content"] == "Ticket 404 must stay open until Monday."


async def test_one_approval_covers_several_calls_with_per_call_decisions(client: AsyncOpenAI, upstream: FakeUpstream, gateway: GatewayProcess) -> None:
    approval = await pause(client, upstream, 501, 502)
    assert [c["call_id"] for c in approval["calls"]] == ["call_501", "call_502"]
    upstream.queue(TextReply("Closed 501; 502 was refused."))
    resumed = await resolve(client, approval["id"], approve=True, decisions=[{"call_id": "call_502", "approve": False}])
    assert resumed.choices[0].message.content == "Closed 501; 502 was refused."
    log = tool_log(gateway)
    assert "closed 501" in log and "closed 502" not in log
    outputs = {m["tool_call_id"]: m["content"] for m in upstream.last_request().messages if m["role"] == "tool"}
    assert outputs["call_501"] == "closed" and outputs["call_502"] != "closed"


async def test_a_decision_for_an_unknown_call_is_a_400_and_keeps_the_approval(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    approval = await pause(client, upstream, 505)
    with pytest.raises(openai.BadRequestError) as caught:
        await resolve(client, approval["id"], approve=True, decisions=[{"call_id": "call_nope", "approve": False}])
    assert caught.value.body["code"] == "invalid_argument" and "call_nope" in caught.value.body["message"]  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as caught:
        await resolve(client, approval["id"], approve="yes")
    assert caught.value.body["param"] == "approve"  # type: ignore[index]
    upstream.queue(TextReply("Closed."))
    assert (await resolve(client, approval["id"], approve=True)).choices[0].message.content == "Closed."


async def test_another_key_cannot_see_or_resolve_an_approval(client: AsyncOpenAI, upstream: FakeUpstream, gateway: GatewayProcess) -> None:
    approval = await pause(client, upstream, 606)
    async with AsyncOpenAI(base_url=gateway.openai_base_url, api_key=KEYS["user"], max_retries=0) as other:
        with pytest.raises(openai.NotFoundError) as caught:
            await resolve(other, approval["id"], approve=True)
        assert caught.value.body["code"] == "approval_not_found"  # type: ignore[index]
        with pytest.raises(openai.NotFoundError) as unknown:
            await resolve(other, "apr_0000000000000000000000000000000", approve=True)
    # A foreign id and an id that never existed are told apart by nothing but the id.
    assert unknown.value.body["message"].replace("apr_0000000000000000000000000000000", "X") == caught.value.body["message"].replace(approval["id"], "X")  # type: ignore[index]
    async with httpx.AsyncClient(base_url=gateway.openai_base_url, headers={"authorization": f"Bearer {KEYS['user']}"}) as http:
        assert (await http.get(f"/approvals/{approval['id']}")).status_code == 404
    assert "closed 606" not in tool_log(gateway)
    upstream.queue(TextReply("Closed 606."))
    assert (await resolve(client, approval["id"], approve=True)).choices[0].message.content == "Closed 606."  # still the owner's


async def test_an_approval_resolves_once_even_under_concurrent_resolves(client: AsyncOpenAI, upstream: FakeUpstream, gateway: GatewayProcess) -> None:
    approval = await pause(client, upstream, 707)
    upstream.queue(TextReply("Closed 707."))
    outcomes = await asyncio.gather(*(resolve(client, approval["id"], approve=True) for _ in range(4)), return_exceptions=True)
    won = [o for o in outcomes if isinstance(o, ChatCompletion)]
    lost = [o for o in outcomes if isinstance(o, openai.APIStatusError)]
    assert len(won) == 1 and len(lost) == 3, outcomes
    assert {(e.status_code, e.body["code"]) for e in lost} == {(409, "approval_already_resolved")}  # type: ignore[index]
    assert tool_log(gateway).count("closed 707") == 1
    with pytest.raises(openai.ConflictError):
        await resolve(client, approval["id"], approve=False)


async def test_approval_inside_a_handoff_target(client: AsyncOpenAI, upstream: FakeUpstream, gateway: GatewayProcess) -> None:
    upstream.queue(ToolCallReply([ToolCall("transfer_to_cashier", {})]), ToolCallReply([ToolCall("refund", {"order_id": 808, "amount": 5.5}, id="call_808")]))
    reply = await client.chat.completions.create(model="default/desk", messages=[{"role": "user", "content": "refund order 808"}])
    assert reply.choices[0].finish_reason == "approval_required"
    call = approval_of(reply)["calls"][0]
    assert (call["name"], call["agent"]) == ("refund", "Cashier")
    upstream.queue(TextReply("Refunded 5.5 on order 808."))
    resumed = await resolve(client, approval_of(reply)["id"], approve=True)
    assert resumed.choices[0].message.content == "Refunded 5.5 on order 808."
    assert "refunded 808" in tool_log(gateway)
    assert upstream.last_request().body["messages"][0]["content"] == "Refund orders."  # resumed in the Cashier, not the Desk


async def test_approval_of_an_mcp_tool_that_requires_it(
    client: AsyncOpenAI, upstream: FakeUpstream, gateway: GatewayProcess, channel: grpc.aio.Channel
) -> None:
    upstream.queue(ToolCallReply([ToolCall("purge", {"bucket": "b-909"}, id="call_909")]))
    reply = await client.chat.completions.create(model="default/vault", messages=[{"role": "user", "content": "purge b-909"}])
    approval = approval_of(reply)
    assert [(c["name"], c["source"]) for c in approval["calls"]] == [("purge", "mcp")]
    assert "purged b-909" not in tool_log(gateway)
    upstream.queue(TextReply("b-909 is empty now."))
    done = await ex_grpc.ExecutorServiceStub(channel).ResolveApproval(
        ex_pb.ResolveApprovalRequest(decision=ex_pb.ApprovalDecision(name=f"approvals/{approval['id']}", approve=True))
    )
    output = next(e.tool_output for e in done.events if e.WhichOneof("event") == "tool_output")
    assert output.output == "purged b-909" and output.source == pb.TOOL_SOURCE_MCP
    assert "purged b-909" in tool_log(gateway) and done.message.content == "b-909 is empty now."


async def test_decisions_are_audited_without_arguments(client: AsyncOpenAI, upstream: FakeUpstream, channel: grpc.aio.Channel, gateway: GatewayProcess) -> None:
    approval = await pause(client, upstream, 9111, 9112)
    upstream.queue(TextReply("Done."))
    await resolve(client, approval["id"], approve=True, decisions=[{"call_id": "call_9112", "approve": False, "reason": "no 9112"}])
    audit = sec_grpc.SecurityServiceStub(channel)
    events = (await audit.ListAuditEvents(sec_pb.ListAuditEventsRequest(action=sec_pb.ACTION_RESOLVE_APPROVAL, page_size=100))).events
    mine = {e.policy: e for e in events if approval["id"] in e.policy}
    assert {(p, e.resource, e.allowed, e.key_id) for p, e in mine.items()} == {
        (f"approval:{approval['id']} call:call_9111", "close_ticket", True, "admin"),
        (f"approval:{approval['id']} call:call_9112", "close_ticket", False, "admin"),
    }
    assert all(e.request_id for e in mine.values())
    audit_lines = [line for line in gateway.log_text().splitlines() if '"msg": "audit"' in line and approval["id"] in line]
    assert len(audit_lines) == 2 and not any("9111" in line.replace("call_9111", "") or "no 9112" in line for line in audit_lines)


async def test_errors_of_the_approval_routes_are_openai_json(gateway: GatewayProcess) -> None:
    async with httpx.AsyncClient(base_url=gateway.openai_base_url, headers=ADMIN_HEADERS) as http:
        missing = await http.post("/approvals/apr_nope", json={"approve": True})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "approval_not_found"
        extra = await http.post("/approvals/apr_nope", json={"approve": True, "always": True})
        assert extra.status_code == 400 and extra.json()["error"]["param"] == "always"
        broken = await http.post("/approvals/apr_nope", content=b"{")
        assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"
        anonymous = await http.get("/approvals/apr_nope", headers={"authorization": ""})
        assert anonymous.status_code == 401


async def test_grpc_errors_name_the_reason(gateway: GatewayProcess, channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    stub = ex_grpc.ExecutorServiceStub(channel)
    upstream.queue(ToolCallReply([ToolCall("close_ticket", {"ticket_id": 1212}, id="call_1212")]))
    chat = pb.ChatRequest(model="default/approver", messages=[pb.ChatMessage(role=pb.ROLE_USER, content="close 1212")])
    reply = await stub.CreateChatCompletion(ex_pb.CreateChatCompletionRequest(chat=chat))
    name = f"approvals/{reply.events[-1].approval_required.approval_id}"
    async with authed_channel(gateway.grpc_address, KEYS["user"]) as other:
        with pytest.raises(grpc.aio.AioRpcError) as foreign:
            await ex_grpc.ExecutorServiceStub(other).GetApproval(ex_pb.GetApprovalRequest(name=name))
    assert foreign.value.code() == grpc.StatusCode.NOT_FOUND and error_info(foreign.value).reason == "APPROVAL_NOT_FOUND"
    upstream.queue(TextReply("Closed."))
    await stub.ResolveApproval(ex_pb.ResolveApprovalRequest(decision=ex_pb.ApprovalDecision(name=name, approve=True)))
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await stub.ResolveApproval(ex_pb.ResolveApprovalRequest(decision=ex_pb.ApprovalDecision(name=name, approve=True)))
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION and error_info(again.value).reason == "APPROVAL_ALREADY_RESOLVED"
    with pytest.raises(grpc.aio.AioRpcError) as bad_name:
        await stub.GetApproval(ex_pb.GetApprovalRequest(name="approvals/"))
    assert bad_name.value.code() == grpc.StatusCode.INVALID_ARGUMENT


_SHIFTY = """
from agents import Agent, function_tool

@function_tool(needs_approval=True)
def launch(target: str) -> str:
    return "launched"

agent = Agent(name="{name}", instructions="Launch when asked.", tools=[launch])
"""


async def test_a_reloaded_agent_that_no_longer_fits_is_a_clear_409(
    client: AsyncOpenAI, gateway: GatewayProcess, channel: grpc.aio.Channel, upstream: FakeUpstream
) -> None:
    folder = gateway.agents_dir / "Shifty"
    folder.mkdir()
    registry = reg_grpc.RegistryServiceStub(channel)
    try:
        (folder / "agent.py").write_text(_SHIFTY.format(name="Shifty"))
        await registry.RefreshAgents(reg_pb.RefreshAgentsRequest())
        upstream.queue(ToolCallReply([ToolCall("launch", {"target": "moon"})]))
        reply = await client.chat.completions.create(model="default/shifty", messages=[{"role": "user", "content": "launch"}])
        approval = approval_of(reply)
        (folder / "agent.py").write_text(_SHIFTY.format(name="Renamed"))  # the run paused in "Shifty"
        await registry.RefreshAgents(reg_pb.RefreshAgentsRequest())
        with pytest.raises(openai.ConflictError) as caught:
            await resolve(client, approval["id"], approve=True)
        assert caught.value.body["code"] == "approval_agent_changed"  # type: ignore[index]
        assert upstream.pending == 0 and len(upstream.chat_requests) == 1  # nothing went upstream for the resume
    finally:
        shutil.rmtree(folder)
        await registry.RefreshAgents(reg_pb.RefreshAgentsRequest())
