"""The request id end to end: the client's ``x-request-id`` (or the one the gateway made up)
reaches the upstream on every request of the run, and every log line of the request carries it."""

from __future__ import annotations

import json

import grpc
import httpx
import pytest

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from tests.conftest import ADMIN_HEADERS
from tests.fake_upstream import FakeUpstream, TextReply, ToolCall, ToolCallReply
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.asyncio


def _log_lines(gateway: GatewayProcess, request_id: str) -> list[dict[str, object]]:
    lines = []
    for raw in gateway.log_text().splitlines():
        if request_id in raw and raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


async def _chat(gateway: GatewayProcess, model: str, stream: bool, request_id: str | None) -> str:
    """POST a chat completion (read to its end); the x-request-id the gateway answered with."""
    headers = {**ADMIN_HEADERS, **({"x-request-id": request_id} if request_id else {})}
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "Use get_weather for Oslo."}]}
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=headers, timeout=30) as http:
        async with http.stream("POST", "/v1/chat/completions", json=body) as response:
            text = (await response.aread()).decode()
            assert response.status_code == 200, text
            answered = response.headers["x-request-id"]
    if request_id:
        assert answered == request_id
    return answered


@pytest.mark.parametrize("given", [True, False], ids=["client-id", "generated-id"])
@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
async def test_the_request_id_reaches_the_upstream_of_a_declarative_agent(gateway: GatewayProcess, upstream: FakeUpstream, stream: bool, given: bool) -> None:
    upstream.queue(TextReply("Sunny.", chunks=2))
    request_id = await _chat(gateway, "default/helpdesk", stream, f"decl-{stream}-1" if given else None)
    assert [r.headers.get("x-request-id") for r in upstream.chat_requests] == [request_id]


@pytest.mark.parametrize("given", [True, False], ids=["client-id", "generated-id"])
@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
async def test_the_request_id_reaches_every_upstream_call_of_an_sdk_agent(gateway: GatewayProcess, upstream: FakeUpstream, stream: bool, given: bool) -> None:
    # Two model calls (the tool round, then the answer): both carry the id.
    upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Oslo"})]), TextReply("Sunny in Oslo.", chunks=2))
    request_id = await _chat(gateway, "default/weather", stream, f"sdk-{stream}-1" if given else None)
    assert [r.headers.get("x-request-id") for r in upstream.chat_requests] == [request_id, request_id]
    # The SDK's function tool ran inside the request: its log line names the request too.
    lines = _log_lines(gateway, request_id)
    assert any(line.get("msg") == "tool invoked" and line.get("tool") == "get_weather" for line in lines), lines


async def test_a_grpc_caller_s_request_id_reaches_the_upstream(channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("Sunny."))
    stub = ex_grpc.ExecutorServiceStub(channel)
    chat = pb.ChatRequest(model="default/helpdesk", messages=[pb.ChatMessage(role=pb.ROLE_USER, content="hi")])
    await stub.CreateChatCompletion(ex_pb.CreateChatCompletionRequest(chat=chat), metadata=(("x-request-id", "grpc-caller-7"),), timeout=30)
    assert upstream.last_request().headers.get("x-request-id") == "grpc-caller-7"


async def test_log_lines_of_a_failing_request_carry_its_id(gateway: GatewayProcess) -> None:
    # default/offline's upstream refuses connections: the upstream failure and the run's end are logged.
    headers = {**ADMIN_HEADERS, "x-request-id": "offline-req-3"}
    body = {"model": "default/offline", "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=headers, timeout=30) as http:
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 502
    messages = {line["msg"] for line in _log_lines(gateway, "offline-req-3") if line.get("request_id") == "offline-req-3"}
    assert {"upstream request failed", "run finished"} <= messages, messages
