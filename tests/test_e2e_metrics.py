"""What /metrics counts, end to end on the shared gateway: every request, the refused ones
included, each refusal also logged once with its request id and reason (never the key)."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from openai import AsyncOpenAI

from tests.conftest import ADMIN_HEADERS, KEYS
from tests.fake_upstream import FakeUpstream, TextReply, ToolCall, ToolCallReply
from tests.gateway_process import GatewayProcess
from tests.test_e2e_approvals import pause, resolve

pytestmark = pytest.mark.asyncio

BODY = {"messages": [{"role": "user", "content": "hi"}]}


async def scrape(gateway: GatewayProcess) -> str:
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=30) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the sample ``name`` whose labels include ``labels`` (summed if several); 0 if none."""
    total = 0.0
    for found in re.finditer(rf"^{re.escape(name)}(?:\{{([^}}]*)\}})? (\S+)$", text, re.M):
        have = dict(re.findall(r'(\w+)="([^"]*)"', found.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(found.group(2))
    return total


def grew(before: str, after: str, name: str, **labels: str) -> float:
    """How much a sample grew between two scrapes."""
    return sample(after, name, **labels) - sample(before, name, **labels)


def refusals(gateway: GatewayProcess, request_id: str) -> list[dict[str, object]]:
    lines = [json.loads(raw) for raw in gateway.log_text().splitlines() if request_id in raw and raw.startswith("{")]
    return [line for line in lines if line.get("msg") == "request refused" and line.get("request_id") == request_id]


async def _post(gateway: GatewayProcess, headers: dict[str, str], body: dict[str, object], request_id: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.http_url, headers={**headers, "x-request-id": request_id}, timeout=30) as http:
        return await http.post("/v1/chat/completions", json=body)


async def test_refusals_before_the_run_are_counted_and_logged_once(gateway: GatewayProcess) -> None:
    before = await scrape(gateway)
    cases = [
        # (headers, model, status, request id, reason)
        (ADMIN_HEADERS, "nope/not-served", 404, "refuse-unknown-1", "model_not_found"),
        ({"authorization": f"Bearer {KEYS['user']}"}, "labs/planner", 403, "refuse-denied-1", "permission_denied"),
        ({"authorization": "Bearer agw-not-a-key-of-ours"}, "default/helpdesk", 401, "refuse-badkey-1", "unauthenticated"),
        ({}, "default/helpdesk", 401, "refuse-nokey-1", "unauthenticated"),
    ]
    for headers, model, status, request_id, _ in cases:
        response = await _post(gateway, headers, {**BODY, "model": model}, request_id)
        assert response.status_code == status, response.text
    after = await scrape(gateway)

    assert grew(before, after, "agentgateway_requests_total", model="unknown", outcome="model_not_found") == 1
    assert grew(before, after, "agentgateway_requests_total", model="labs/planner", outcome="permission_denied") == 1
    # One bad key (refused by the gRPC interceptor) and one request with no key (by the shim).
    assert grew(before, after, "agentgateway_auth_failures_total", reason="unauthenticated") == 2
    assert 'model="nope/not-served"' not in after  # labels come from the catalogue, never the request

    for _, _, _, request_id, reason in cases:
        lines = refusals(gateway, request_id)
        assert len(lines) == 1, (request_id, lines)
        assert lines[0]["reason"] == reason
    assert refusals(gateway, "refuse-unknown-1")[0]["requested_model"] == "nope/not-served"
    assert refusals(gateway, "refuse-denied-1")[0]["key_id"] == "user"
    assert "agw-not-a-key-of-ours" not in gateway.log_text()


async def test_rate_limit_rejections_are_counted_by_key_and_limit(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    before = await scrape(gateway)
    burst = {"authorization": f"Bearer {KEYS['burst']}"}
    statuses = []
    for i in range(3):  # one request a minute: at least two of these are refused
        upstream.queue(TextReply("ok"))
        statuses.append((await _post(gateway, burst, {**BODY, "model": "default/helpdesk"}, f"burst-req-{i}")).status_code)
    refused = statuses.count(429)
    assert refused >= 2 and set(statuses) <= {200, 429}, statuses
    after = await scrape(gateway)
    assert grew(before, after, "agentgateway_rate_limit_rejections_total", key_id="burst", limit="requests_per_minute") == refused
    assert grew(before, after, "agentgateway_requests_total", model="default/helpdesk", outcome="rate_limited") == refused
    i = statuses.index(429)
    assert [line["reason"] for line in refusals(gateway, f"burst-req-{i}")] == ["rate_limited"]


async def test_metrics_with_a_non_admin_key_are_a_counted_refusal(gateway: GatewayProcess) -> None:
    before = await scrape(gateway)
    async with httpx.AsyncClient(base_url=gateway.http_url, headers={"authorization": f"Bearer {KEYS['user']}", "x-request-id": "metrics-user-1"}) as http:
        assert (await http.get("/metrics")).status_code == 403
    after = await scrape(gateway)
    assert grew(before, after, "agentgateway_auth_failures_total", reason="admin_required") == 1
    assert [line["reason"] for line in refusals(gateway, "metrics-user-1")] == ["admin_required"]


async def test_runs_count_tokens_time_to_first_token_and_in_flight_streams(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    for model in ("default/helpdesk", "default/weather"):  # the passthrough and an SDK agent
        before = await scrape(gateway)
        upstream.queue(TextReply("one two three", chunks=3))
        async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=30) as http:
            unary = (await http.post("/v1/chat/completions", json={**BODY, "model": model})).json()
            upstream.queue(TextReply("slow words arriving one by one", chunks=6, chunk_delay=0.3))
            async with http.stream("POST", "/v1/chat/completions", json={**BODY, "model": model, "stream": True}) as response:
                lines = response.aiter_lines()
                async for line in lines:
                    if '"content":"slow' in line:
                        break
                during = await scrape(gateway)
                rest = [line async for line in lines]
            assert "data: [DONE]" in rest
        after = await scrape(gateway)

        assert grew(before, during, "agentgateway_runs_in_flight", model=model) == 1, model
        assert grew(before, during, "agentgateway_streams_in_flight", model=model) == 1, model
        assert sample(after, "agentgateway_runs_in_flight", model=model) == sample(before, "agentgateway_runs_in_flight", model=model)
        assert sample(after, "agentgateway_streams_in_flight", model=model) == 0
        # One stream: one time to first token; the unary run has none.
        assert grew(before, after, "agentgateway_time_to_first_token_seconds_count", model=model) == 1
        assert grew(before, after, "agentgateway_requests_total", model=model, outcome="ok") == 2
        assert grew(before, after, "agentgateway_request_seconds_count", model=model) == 2
        # The unary reply's usage is in the counters (the stream added its own on top).
        assert grew(before, after, "agentgateway_tokens_total", model=model, direction="input") >= unary["usage"]["prompt_tokens"] > 0
        assert grew(before, after, "agentgateway_tokens_total", model=model, direction="output") >= unary["usage"]["completion_tokens"] + 6
        assert grew(before, after, "agentgateway_upstream_requests_total", upstream="fake", outcome="ok") == 2
        assert grew(before, after, "agentgateway_upstream_request_seconds_count", upstream="fake") == 2


async def test_failed_upstream_requests_are_counted_by_reason(gateway: GatewayProcess) -> None:
    before = await scrape(gateway)
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=30) as http:
        for stream in (False, True):
            response = await http.post("/v1/chat/completions", json={**BODY, "model": "default/offline", "stream": stream})
            assert response.status_code == 502
    after = await scrape(gateway)
    assert grew(before, after, "agentgateway_upstream_requests_total", upstream="down", outcome="upstream_unreachable") == 2
    assert grew(before, after, "agentgateway_requests_total", model="default/offline", outcome="upstream_unreachable") == 2


async def test_pending_approvals_are_read_from_the_store_when_scraped(client: AsyncOpenAI, gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    before = await scrape(gateway)
    approval = await pause(client, upstream, 9901)
    paused = await scrape(gateway)
    assert grew(before, paused, "agentgateway_approvals_pending") == 1
    upstream.queue(TextReply("Ticket 9901 stays open."))
    await resolve(client, approval["id"], approve=False)
    assert sample(await scrape(gateway), "agentgateway_approvals_pending") == sample(before, "agentgateway_approvals_pending")


async def test_agents_that_fail_to_load_are_counted_by_stage(gateway: GatewayProcess) -> None:
    text = await scrape(gateway)
    # tests/e2e_agents: Broken (a syntax error) and MissingDep fail to import, NoExport exports nothing, DeniedModule is refused by policy.
    for stage in ("import", "export", "policy"):
        assert sample(text, "agentgateway_agent_load_failures_total", stage=stage) >= 1, stage
    assert sample(text, "agentgateway_reloads_total", outcome="ok") >= 1  # the start-up load


async def test_sdk_spans_become_metrics_and_log_lines_without_the_conversation(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    before = await scrape(gateway)
    upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Lisbon"})]), TextReply("Zephyrine skies over Lisbon."))
    body = {"model": "default/weather", "messages": [{"role": "user", "content": "Quokka question: weather in Lisbon?"}]}
    response = await _post(gateway, ADMIN_HEADERS, body, "sdk-spans-1")
    assert response.status_code == 200, response.text
    after = await scrape(gateway)
    assert grew(before, after, "agentgateway_sdk_spans_total", kind="agent", status="ok") == 1
    assert grew(before, after, "agentgateway_sdk_spans_total", kind="function", status="ok") == 1
    assert grew(before, after, "agentgateway_sdk_spans_total", kind="generation", status="ok") == 2  # the tool round, then the answer
    assert grew(before, after, "agentgateway_sdk_span_seconds_count", kind="function") == 1

    lines = [json.loads(raw) for raw in gateway.log_text().splitlines() if "sdk-spans-1" in raw and raw.startswith("{")]
    spans = [line for line in lines if line.get("msg") == "sdk span"]
    assert {line["kind"] for line in spans} >= {"agent", "generation", "function"}
    function = next(line for line in spans if line["kind"] == "function")
    assert function["span"]["name"] == "get_weather" and function["status"] == "ok"
    # Inputs and outputs stay out unless GATEWAY_TRACE_INCLUDE_SENSITIVE_DATA=1.
    text = json.dumps(spans)
    assert "Quokka" not in text and "Zephyrine" not in text and "Lisbon" not in text
