"""``x-gateway-overhead-ms``: the gateway's own time, upstream time excluded, on every REST
response; ``agentgateway_overhead_seconds`` in /metrics; ``upstream_duration`` over gRPC."""

from __future__ import annotations

import re
import time

import grpc
import httpx
import pytest

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from tests.conftest import ADMIN_HEADERS
from tests.fake_upstream import FakeUpstream, TextReply
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.asyncio

UPSTREAM_DELAY_S = 0.3  # the fake upstream waits this long before answering


def _overhead_ms(response: httpx.Response) -> float:
    value = response.headers["x-gateway-overhead-ms"]
    assert re.fullmatch(r"\d+\.\d{3}", value), value
    return float(value)


def _body(model: str, **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


@pytest.mark.parametrize("model", ["default/helpdesk", "default/weather"])  # declarative passthrough, drop-in SDK agent
async def test_a_unary_reply_says_how_long_it_spent_in_the_gateway(gateway: GatewayProcess, upstream: FakeUpstream, model: str) -> None:
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=30) as http:
        await http.post("/v1/chat/completions", json=_body(model))  # warm: first use settles the agent
        upstream.queue(TextReply("slow but sure", delay=UPSTREAM_DELAY_S))
        started = time.perf_counter()
        response = await http.post("/v1/chat/completions", json=_body(model))
        total_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    overhead = _overhead_ms(response)
    # Plausible: some time, well under the total, which the upstream's wait dominates.
    assert 0 < overhead < total_ms - UPSTREAM_DELAY_S * 1000 * 0.9, (overhead, total_ms)


async def test_a_stream_says_how_long_it_spent_in_the_gateway_before_its_first_byte(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    upstream.queue(TextReply("one two three four", chunks=4, delay=UPSTREAM_DELAY_S, chunk_delay=0.05))
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=30) as http:
        started = time.perf_counter()
        async with http.stream("POST", "/v1/chat/completions", json=_body("default/helpdesk", stream=True)) as response:
            to_headers_ms = (time.perf_counter() - started) * 1000
            text = "".join([line async for line in response.aiter_lines()])
    assert response.status_code == 200 and "[DONE]" in text
    overhead = _overhead_ms(response)
    assert 0 < overhead < to_headers_ms - UPSTREAM_DELAY_S * 1000 * 0.9, (overhead, to_headers_ms)


async def test_errors_carry_the_header_and_runs_fill_the_histogram(gateway: GatewayProcess) -> None:
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=30) as http:
        missing = await http.post("/v1/chat/completions", json=_body("default/no-such-agent"))
        assert missing.status_code == 404 and _overhead_ms(missing) > 0
        assert (await http.post("/v1/chat/completions", json=_body("default/helpdesk"))).status_code == 200
        metrics = (await http.get("/metrics")).text
    assert 'agentgateway_overhead_seconds_bucket{le="0.001",model="default/helpdesk"}' in metrics
    counts = re.findall(r'^agentgateway_overhead_seconds_count\{model="([^"]+)"\}', metrics, re.M)
    assert "default/helpdesk" in counts
    assert "default/no-such-agent" not in counts  # labels come from served models only


async def test_grpc_replies_carry_the_upstream_duration(gateway: GatewayProcess, upstream: FakeUpstream, channel: grpc.aio.Channel) -> None:
    stub = ex_grpc.ExecutorServiceStub(channel)
    request = pb.ChatRequest(model="default/helpdesk", messages=[pb.ChatMessage(role=pb.ROLE_USER, content="hi")])
    upstream.queue(TextReply("unary", delay=UPSTREAM_DELAY_S))
    reply = await stub.CreateChatCompletion(ex_pb.CreateChatCompletionRequest(chat=request))
    assert UPSTREAM_DELAY_S * 1000 <= reply.upstream_duration.ToMilliseconds() < 5000
    upstream.queue(TextReply("streamed in parts", chunks=3, delay=UPSTREAM_DELAY_S))
    events = [e async for e in stub.StreamChatCompletion(ex_pb.StreamChatCompletionRequest(chat=request))]
    timed = [e for e in events if e.HasField("upstream_duration")]
    # The first output event and the final output carry it; the final one has the whole wait.
    assert timed[0].event.WhichOneof("event") == "text_delta" and timed[-1].event.WhichOneof("event") == "final_output"
    assert UPSTREAM_DELAY_S * 1000 <= timed[0].upstream_duration.ToMilliseconds() <= timed[-1].upstream_duration.ToMilliseconds()
