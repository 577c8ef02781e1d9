"""Several real gateway processes sharing one real Redis (GATEWAY_STATE_URL) behave as one
gateway: one rate-limit budget, overrides in force everywhere within a second, one audit trail;
and when Redis goes away, 503 ``state_unavailable`` (or, fail-open, admitted), then recovery
without a restart."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import httpx
import openai
import pytest
from google.protobuf import duration_pb2

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from agentgateway.v1 import security_service_pb2 as sec_pb
from agentgateway.v1 import security_service_pb2_grpc as sec_grpc
from tests.conftest import ADMIN_HEADERS, ADMIN_KEY, KEYS
from tests.fake_upstream import FakeUpstream, TextReply, Usage
from tests.gateway_process import GatewayProcess
from tests.grpc_auth import authed_channel
from tests.redis_server import RedisServer
from tests.replicas import replicas
from tests.test_e2e_grpc import error_info
from tests.test_e2e_security import openai_client

pytestmark = pytest.mark.asyncio


async def chat(gateway: GatewayProcess, key: str, request_id: str | None = None, content: str = "hi") -> object:
    async with openai_client(gateway, key) as client:
        headers = {"x-request-id": request_id} if request_id else None
        return await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": content}], extra_headers=headers)


async def outcome(gateway: GatewayProcess, key: str) -> int:
    """The HTTP status of one chat request (200, or the error's)."""
    try:
        await chat(gateway, key)
    except openai.APIStatusError as exc:
        return exc.status_code
    return 200


async def within(limit_s: float, check: Callable[[], Awaitable[bool]]) -> float:
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < limit_s, f"not within {limit_s} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_replicas_share_one_budget_overrides_and_audit_trail(tmp_path: Path, upstream: FakeUpstream, redis_server: RedisServer) -> None:
    with replicas(tmp_path, upstream, redis_server.url, count=3) as gateways:
        a, b, c = gateways

        # 1. One budget: 12 concurrent requests of a 3-a-minute key over three replicas admit 3, never more.
        results = await asyncio.gather(*(outcome(gateways[i % 3], KEYS["limited"]) for i in range(12)))
        assert sorted(results) == [200] * 3 + [429] * 9
        with pytest.raises(openai.RateLimitError) as caught:
            await chat(b, KEYS["limited"])
        assert caught.value.body["code"] == "rate_limited" and 1 <= int(caught.value.response.headers["retry-after"]) <= 60
        results = await asyncio.gather(*(outcome(gateways[i % 3], KEYS["burst"]) for i in range(6)))
        assert sorted(results) == [200] + [429] * 5
        # Tokens: usage reported after a run on A spends the budget that B and C check.
        upstream.queue(TextReply("long", usage=Usage(prompt_tokens=200, completion_tokens=199)))
        await chat(a, KEYS["tokens"])
        for other in (b, c):
            with pytest.raises(openai.RateLimitError):  # 399 of 400 used: a few estimated tokens do not fit
                await chat(other, KEYS["tokens"], content="tell me more about it please")

        # 2. An override created on A (REST admin route) is in force on B within 1 s; its deletion on A (gRPC) too.
        assert await outcome(b, KEYS["user"]) == 200
        spec = {"keyId": "user", "action": "ACTION_USE_MODEL", "pattern": "default/weather", "effect": "OVERRIDE_EFFECT_REVOKE", "reason": "replica test"}
        async with httpx.AsyncClient(base_url=a.http_url, headers=ADMIN_HEADERS) as http:
            response = await http.post("/v1/overrides", params={"ttl": "600s"}, json=spec)
        assert response.status_code == 200, response.text
        name = response.json()["override"]["name"]
        revoked = await within(1.0, lambda: _is(outcome(b, KEYS["user"]), 403))
        async with authed_channel(c.grpc_address, ADMIN_KEY) as channel:
            listed = await sec_grpc.SecurityServiceStub(channel).ListOverrides(sec_pb.ListOverridesRequest())
            assert [o.name for o in listed.overrides] == [name]
        async with authed_channel(a.grpc_address, ADMIN_KEY) as channel:
            await sec_grpc.SecurityServiceStub(channel).DeleteOverride(sec_pb.DeleteOverrideRequest(name=name))
        restored = await within(1.0, lambda: _is(outcome(b, KEYS["user"]), 200))
        print(f"override in force on another replica after {revoked:.3f} s, its deletion after {restored:.3f} s")

        # 3. Audit events recorded on A are listed on B (and paged on C with B's token).
        request_id = f"replica-audit-{uuid.uuid4().hex[:8]}"
        await chat(a, KEYS["user"], request_id=request_id)

        async def listed_on_b() -> bool:
            async with authed_channel(b.grpc_address, ADMIN_KEY) as channel:
                events = await sec_grpc.SecurityServiceStub(channel).ListAuditEvents(sec_pb.ListAuditEventsRequest(key_id="user", page_size=5))
            return any(e.request_id == request_id and e.action == sec_pb.ACTION_USE_MODEL and e.allowed for e in events.events)

        await within(2.0, listed_on_b)
        async with authed_channel(b.grpc_address, ADMIN_KEY) as channel:
            first = await sec_grpc.SecurityServiceStub(channel).ListAuditEvents(sec_pb.ListAuditEventsRequest(key_id="limited", page_size=2))
        assert len(first.events) == 2 and first.next_page_token
        async with authed_channel(c.grpc_address, ADMIN_KEY) as channel:
            rest = await sec_grpc.SecurityServiceStub(channel).ListAuditEvents(
                sec_pb.ListAuditEventsRequest(key_id="limited", page_size=100, page_token=first.next_page_token)
            )
        # Every admission attempt of `limited` was decided (use_model allowed) once, on whichever replica served it.
        assert len(first.events) + len(rest.events) == 13 and not rest.next_page_token


async def _is(status: Awaitable[int], wanted: int) -> bool:
    return await status == wanted


async def test_redis_down_fails_closed_with_503_and_the_gateways_recover(tmp_path: Path, upstream: FakeUpstream, redis_server: RedisServer) -> None:
    with replicas(tmp_path, upstream, redis_server.url, count=2) as gateways:
        a, b = gateways
        assert await outcome(a, KEYS["limited"]) == 200
        assert await outcome(b, KEYS["user"]) == 200
        redis_server.kill()

        for gateway in gateways:
            started = time.monotonic()
            with pytest.raises(openai.InternalServerError) as caught:
                await chat(gateway, KEYS["limited"])
            assert time.monotonic() - started < 2.0  # never a hang
            assert caught.value.status_code == 503 and caught.value.response.headers["retry-after"] == "1"
            assert caught.value.body["code"] == "state_unavailable" and caught.value.body["type"] == "service_unavailable_error"
            # Keys without limits are not affected; overrides last read still decide.
            assert await outcome(gateway, KEYS["user"]) == 200
        async with authed_channel(b.grpc_address, KEYS["limited"]) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as grpc_caught:
                await ex_grpc.ExecutorServiceStub(channel).CreateChatCompletion(
                    ex_pb.CreateChatCompletionRequest(chat=pb.ChatRequest(model="default/weather", messages=[pb.ChatMessage(role=pb.ROLE_USER, content="hi")]))
                )
        assert grpc_caught.value.code() == grpc.StatusCode.UNAVAILABLE and error_info(grpc_caught.value).reason == "STATE_UNAVAILABLE"
        async with authed_channel(a.grpc_address, ADMIN_KEY) as channel:
            security = sec_grpc.SecurityServiceStub(channel)
            for call in (
                security.ListAuditEvents(sec_pb.ListAuditEventsRequest()),
                security.ListOverrides(sec_pb.ListOverridesRequest()),
                security.CreateOverride(
                    sec_pb.CreateOverrideRequest(
                        override=sec_pb.Override(key_id="user", action=sec_pb.ACTION_USE_MODEL, pattern="labs/*", effect=sec_pb.OVERRIDE_EFFECT_GRANT),
                        ttl=duration_pb2.Duration(seconds=60),
                    )
                ),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as admin_caught:
                    await call
                assert admin_caught.value.code() == grpc.StatusCode.UNAVAILABLE and error_info(admin_caught.value).reason == "STATE_UNAVAILABLE"
        async with httpx.AsyncClient(base_url=b.http_url, headers=ADMIN_HEADERS) as http:
            response = await http.get("/v1/auditEvents")
        assert response.status_code == 503 and response.json()["error"]["code"] == "state_unavailable" and response.headers["retry-after"] == "1"

        redis_server.start()  # same port, empty: no restart of the gateways
        for gateway in gateways:  # at once: not even the connections from before the restart cost a 503
            assert await outcome(gateway, KEYS["limited"]) == 200
        # Counting again, across both: the fresh window admits 3 in all.
        assert sorted(await asyncio.gather(*(outcome(gateways[i % 2], KEYS["limited"]) for i in range(6)))) == [200] + [429] * 5
        async with authed_channel(b.grpc_address, ADMIN_KEY) as channel:
            await within(3.0, lambda: _audit_answers(channel))

        for gateway in gateways:
            log = gateway.log_text()
            assert "Traceback" not in log
            assert 1 <= log.count('"shared state unreachable"') <= 3  # once per store and outage, not per request
            assert "shared state reachable again" in log


async def _audit_answers(channel: grpc.aio.Channel) -> bool:
    events = await sec_grpc.SecurityServiceStub(channel).ListAuditEvents(sec_pb.ListAuditEventsRequest(key_id="limited"))
    return len(events.events) > 0


async def test_redis_down_with_fail_open_admits_uncounted(tmp_path: Path, upstream: FakeUpstream, redis_server: RedisServer) -> None:
    with replicas(tmp_path, upstream, redis_server.url, count=2, env_extra={"GATEWAY_RATE_LIMIT_FAIL_MODE": "open"}) as gateways:
        a, b = gateways
        assert await outcome(a, KEYS["burst"]) == 200
        assert await outcome(b, KEYS["burst"]) == 429
        redis_server.kill()
        assert [await outcome(gateways[i % 2], KEYS["burst"]) for i in range(4)] == [200] * 4
        async with httpx.AsyncClient(base_url=a.http_url, headers=ADMIN_HEADERS) as http:
            metrics = (await http.get("/metrics")).text
        assert "agentgateway_rate_limit_fail_open_total 2.0" in metrics
        assert 'agentgateway_state_errors_total{store="rate_limits"} 2.0' in metrics
        assert "GATEWAY_RATE_LIMIT_FAIL_MODE=open" in a.log_text()

        redis_server.start()
        assert await outcome(a, KEYS["burst"]) == 200
        assert await outcome(b, KEYS["burst"]) == 429  # counted again, everywhere
