"""gRPC clients: reflection, health, typed agent events, registry paging and diagnostics."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from agentgateway.v1 import registry_service_pb2 as reg_pb
from agentgateway.v1 import registry_service_pb2_grpc as reg_grpc
from agentgateway.v1 import tool_service_pb2 as tool_pb
from agentgateway.v1 import tool_service_pb2_grpc as tool_grpc
from tests.conftest import ADMIN_KEY
from tests.fake_upstream import FakeUpstream, TextReply, ToolCall, ToolCallReply
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.asyncio

GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent))


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info
    raise AssertionError("no ErrorInfo in the status")


def user(text: str) -> pb.ChatMessage:
    return pb.ChatMessage(role=pb.ROLE_USER, content=text)


async def test_reflection_lists_the_four_services(gateway: GatewayProcess) -> None:
    assert GRPCURL is not None
    listed = subprocess.run([GRPCURL, "-plaintext", gateway.grpc_address, "list"], capture_output=True, text=True, timeout=30, check=True).stdout.split()
    for service in ("RegistryService", "ExecutorService", "ToolService", "SecurityService"):
        assert f"agentgateway.v1.{service}" in listed
    assert "grpc.health.v1.Health" in listed
    described = subprocess.run(
        [GRPCURL, "-plaintext", gateway.grpc_address, "describe", "agentgateway.v1.ExecutorService"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert "StreamChatCompletion" in described and "stream .agentgateway.v1.StreamChatCompletionResponse" in described


async def test_grpcurl_chat_as_in_the_readme(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    assert GRPCURL is not None
    upstream.queue(TextReply("Hello from gRPC"))
    body = json.dumps({"chat": {"model": "default/weather", "messages": [{"role": "ROLE_USER", "content": "Hi"}]}})
    out = subprocess.run(
        [
            GRPCURL,
            "-plaintext",
            "-H",
            f"authorization: Bearer {ADMIN_KEY}",
            "-d",
            body,
            gateway.grpc_address,
            "agentgateway.v1.ExecutorService/CreateChatCompletion",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert json.loads(out)["message"]["content"] == "Hello from gRPC"


async def test_health_check(channel: grpc.aio.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "agentgateway.v1.ExecutorService", "agentgateway.v1.RegistryService"):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_streaming_chat_sees_typed_tool_and_handoff_events(channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    stub = ex_grpc.ExecutorServiceStub(channel)
    upstream.queue(
        ToolCallReply([ToolCall("transfer_to_support", {}, id="call_h")]),
        ToolCallReply([ToolCall("check_status", {"service": "email"}, id="call_t")]),
        TextReply("Email is up."),
    )
    events = [
        r.event
        async for r in stub.StreamChatCompletion(
            ex_pb.StreamChatCompletionRequest(chat=pb.ChatRequest(model="default/triage", messages=[user("email broken")], include_usage=True))
        )
    ]
    kinds = [e.WhichOneof("event") for e in events]
    handoff = next(e.handoff for e in events if e.WhichOneof("event") == "handoff")
    assert (handoff.from_agent, handoff.to_agent) == ("Triage", "Support")
    called = next(e.tool_called for e in events if e.WhichOneof("event") == "tool_called" and e.tool_called.name == "check_status")
    assert called.call_id == "call_t" and json.loads(called.arguments) == {"service": "email"} and called.agent == "Support"
    assert called.source == pb.TOOL_SOURCE_SDK
    output = next(e.tool_output for e in events if e.WhichOneof("event") == "tool_output" and e.tool_output.call_id == "call_t")
    assert output.name == "check_status" and "email" in output.output
    assert kinds.index("handoff") < kinds.index("tool_called") < kinds.index("tool_output") < kinds.index("text_delta")
    assert kinds[-1] == "final_output" and "usage" in kinds
    final = events[-1].final_output
    assert final.text == "Email is up." and final.agent == "Support" and final.finish_reason == pb.FINISH_REASON_STOP


async def test_unary_chat_returns_message_and_events(channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    stub = ex_grpc.ExecutorServiceStub(channel)
    upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Oslo"})]), TextReply("Oslo is sunny."))
    reply = await stub.CreateChatCompletion(ex_pb.CreateChatCompletionRequest(chat=pb.ChatRequest(model="default/weather", messages=[user("Oslo?")])))
    assert reply.message.role == pb.ROLE_ASSISTANT and reply.message.content == "Oslo is sunny."
    assert reply.finish_reason == pb.FINISH_REASON_STOP
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0
    assert [e.WhichOneof("event") for e in reply.events][:2] == ["tool_called", "tool_output"]
    assert reply.id.startswith("chatcmpl-")


async def test_structured_output_flag_over_grpc(channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply('{"name": "Bo", "email": "bo@example.org"}'))
    stub = ex_grpc.ExecutorServiceStub(channel)
    events = [
        r.event
        async for r in stub.StreamChatCompletion(
            ex_pb.StreamChatCompletionRequest(chat=pb.ChatRequest(model="default/extractor", messages=[user("Bo, bo@example.org")]))
        )
    ]
    final = events[-1].final_output
    assert final.structured is True and json.loads(final.text)["email"] == "bo@example.org"


async def test_a_reply_that_breaks_the_output_type_is_unavailable_like_every_bad_upstream_reply(channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    # Found by test_proto_input's property test: the SDK's ModelBehaviorError was INTERNAL,
    # where every other unusable upstream reply is UNAVAILABLE (HTTP 502).
    upstream.queue(TextReply("not the JSON the agent's output type needs"))
    stub = ex_grpc.ExecutorServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateChatCompletion(ex_pb.CreateChatCompletionRequest(chat=pb.ChatRequest(model="default/extractor", messages=[user("Bo")])))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    info = error_info(caught.value)
    assert info.reason == "UPSTREAM_BAD_RESPONSE" and info.metadata["upstream"]


async def test_errors_carry_error_info(channel: grpc.aio.Channel) -> None:
    stub = ex_grpc.ExecutorServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateChatCompletion(ex_pb.CreateChatCompletionRequest(chat=pb.ChatRequest(model="default/nope", messages=[user("hi")])))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(caught.value).reason == "MODEL_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateChatCompletion(ex_pb.CreateChatCompletionRequest(chat=pb.ChatRequest(model="default/weather")))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(caught.value).metadata["param"] == "messages"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await tool_grpc.ToolServiceStub(channel).GetTool(tool_pb.GetToolRequest(name="tools/nope"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(caught.value).reason == "TOOL_NOT_FOUND"
    # A number JSON cannot carry, in a free-form Struct: the caller's fault, not a 500-class error.
    bad = pb.ChatRequest(model="default/helpdesk", messages=[user("hi")])
    bad.extra.update({"logit_bias": {"1": float("nan")}})
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateChatCompletion(ex_pb.CreateChatCompletionRequest(chat=bad))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(caught.value).metadata["param"] == "extra"


async def test_list_agents_pages_through_everything(channel: grpc.aio.Channel) -> None:
    stub = reg_grpc.RegistryServiceStub(channel)
    seen, token, pages = [], "", 0
    while True:
        page = await stub.ListAgents(reg_pb.ListAgentsRequest(page_size=3, page_token=token))
        assert len(page.agents) <= 3
        seen += [a.id for a in page.agents]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) and pages >= 3
    expected = {
        "default/weather",
        "default/triage",
        "default/extractor",
        "default/guarded",
        "labs/planner",
        "labs/asyncfactory",
        "default/helpdesk",
        "default/offline",
    }
    assert expected <= set(seen)
    assert not {"default/broken", "default/missingdep", "default/noexport"} & set(seen)
    agent = (await stub.GetAgent(reg_pb.GetAgentRequest(name="agents/labs/planner"))).agent
    assert agent.export_kind == reg_pb.EXPORT_KIND_WORKFLOW and list(agent.aliases) == ["planner"] and agent.source == reg_pb.AGENT_SOURCE_DROP_IN
    helpdesk = (await stub.GetAgent(reg_pb.GetAgentRequest(name="agents/default/helpdesk"))).agent
    assert helpdesk.source == reg_pb.AGENT_SOURCE_DECLARATIVE and helpdesk.description == "Ticket helper"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListAgents(reg_pb.ListAgentsRequest(page_token="%%%not-a-token"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_broken_modules_are_diagnostics_while_others_serve(channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    stub = reg_grpc.RegistryServiceStub(channel)
    diagnostics = {d.agent_id: d for d in (await stub.ListDiagnostics(reg_pb.ListDiagnosticsRequest())).diagnostics}
    assert diagnostics["default/broken"].stage == reg_pb.DIAGNOSTIC_STAGE_IMPORT
    assert diagnostics["default/broken"].error_type == "SyntaxError"
    assert diagnostics["default/broken"].path == "Broken/agent.py"
    assert diagnostics["default/missingdep"].error_type == "ModuleNotFoundError"
    assert "not_installed_dependency_xyz" in diagnostics["default/missingdep"].message
    assert diagnostics["default/noexport"].stage == reg_pb.DIAGNOSTIC_STAGE_EXPORT
    assert all(d.traceback for d in diagnostics.values() if d.stage == reg_pb.DIAGNOSTIC_STAGE_IMPORT)
    # ...and a healthy agent in the same folder still answers.
    upstream.queue(TextReply("still serving"))
    reply = await ex_grpc.ExecutorServiceStub(channel).CreateChatCompletion(
        ex_pb.CreateChatCompletionRequest(chat=pb.ChatRequest(model="default/weather", messages=[user("hi")]))
    )
    assert reply.message.content == "still serving"


@pytest.mark.parametrize("method", ["CreateChatCompletion", "StreamChatCompletion"])
async def test_a_message_that_does_not_parse_is_invalid_argument(channel: grpc.aio.Channel, method: str) -> None:
    path = f"/agentgateway.v1.ExecutorService/{method}"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        if method == "CreateChatCompletion":
            await channel.unary_unary(path)(b"\x0a\x05ab")
        else:
            async for _ in channel.unary_stream(path)(b"\x0a\x05ab"):
                pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(caught.value).reason == "MALFORMED_REQUEST"


async def test_a_message_over_the_size_limit_is_resource_exhausted(channel: grpc.aio.Channel) -> None:
    huge = pb.ChatRequest(model="default/weather", messages=[pb.ChatMessage(role=pb.ROLE_USER, content="x" * (9 * 1024 * 1024))])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ex_grpc.ExecutorServiceStub(channel).CreateChatCompletion(ex_pb.CreateChatCompletionRequest(chat=huge))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_the_shim_reaches_the_services_over_the_transport_asked_for(gateway: GatewayProcess) -> None:
    asked = (gateway.env_extra or {})["GATEWAY_SHIM_TRANSPORT"]
    started = next(json.loads(line) for line in gateway.log_text().splitlines() if '"msg": "gateway started"' in line)
    expected = "inprocess" if asked == "inprocess" else f"socket 127.0.0.1:{gateway.grpc_port}"
    assert started["shim_transport"] == expected
