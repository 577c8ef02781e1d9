"""Security enforced on every path, driven through the real server with the openai client and gRPC."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import httpx
import openai
import pytest
import yaml
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from openai import AsyncOpenAI

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from agentgateway.v1 import registry_service_pb2 as reg_pb
from agentgateway.v1 import registry_service_pb2_grpc as reg_grpc
from agentgateway.v1 import security_service_pb2 as sec_pb
from agentgateway.v1 import security_service_pb2_grpc as sec_grpc
from tests.conftest import KEYS
from tests.fake_upstream import FakeUpstream, TextReply, ToolCall, ToolCallReply, Usage
from tests.gateway_process import GatewayProcess
from tests.grpc_auth import authed_channel
from tests.test_e2e_grpc import error_info

pytestmark = pytest.mark.asyncio


def openai_client(gateway: GatewayProcess, key: str) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=gateway.openai_base_url, api_key=key, max_retries=0, timeout=30)


def user(text: str) -> pb.ChatMessage:
    return pb.ChatMessage(role=pb.ROLE_USER, content=text)


async def test_wrong_or_missing_key_is_401_in_openai_shape(gateway: GatewayProcess) -> None:
    async with openai_client(gateway, "agw-not-a-real-key") as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.body["code"] == "unauthenticated"
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()
    async with httpx.AsyncClient(base_url=gateway.http_url) as http:
        response = await http.get("/v1/models")
        assert response.status_code == 401 and response.json()["error"]["type"] == "authentication_error"
        # x-api-key works as well as Authorization: Bearer.
        response = await http.get("/v1/models", headers={"x-api-key": KEYS["admin"]})
        assert response.status_code == 200


async def test_models_list_shows_only_what_a_key_may_use_and_403_names_the_policy(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    async with openai_client(gateway, KEYS["user"]) as client:
        ids = {m.id async for m in client.models.list()}
        assert "default/weather" in ids and "default/helpdesk" in ids
        assert not any(i.startswith("labs/") for i in ids)
        with pytest.raises(openai.PermissionDeniedError) as caught:
            await client.chat.completions.create(model="labs/planner", messages=[{"role": "user", "content": "plan"}])
        assert caught.value.status_code == 403  # not 404: the model exists
        assert "namespace:labs models=deny" in caught.value.body["message"]
        with pytest.raises(openai.PermissionDeniedError):
            await client.models.retrieve("labs/planner")
    assert upstream.chat_requests == []
    async with authed_channel(gateway.grpc_address, KEYS["user"]) as channel:
        listed = await reg_grpc.RegistryServiceStub(channel).ListAgents(reg_pb.ListAgentsRequest())
        assert {a.id for a in listed.agents} == ids


async def test_admin_rpcs_need_the_admin_role(gateway: GatewayProcess) -> None:
    async with authed_channel(gateway.grpc_address, KEYS["user"]) as channel:
        for call in (
            reg_grpc.RegistryServiceStub(channel).RefreshAgents(reg_pb.RefreshAgentsRequest()),
            reg_grpc.RegistryServiceStub(channel).ListDiagnostics(reg_pb.ListDiagnosticsRequest()),
            sec_grpc.SecurityServiceStub(channel).ListAuditEvents(sec_pb.ListAuditEventsRequest()),
            sec_grpc.SecurityServiceStub(channel).ReloadPolicy(sec_pb.ReloadPolicyRequest()),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert error_info(caught.value).reason == "ADMIN_REQUIRED"
        me = await sec_grpc.SecurityServiceStub(channel).Authenticate(sec_pb.AuthenticateRequest())
        assert me.principal.key_id == "user" and list(me.principal.models) == ["default/*"]


async def test_request_rate_limit_is_429_with_retry_after(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    async with openai_client(gateway, KEYS["limited"]) as client:
        for _ in range(3):
            upstream.queue(TextReply("ok"))
            await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["code"] == "rate_limited" and caught.value.body["type"] == "rate_limit_error"
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60
    assert "x-should-retry" not in caught.value.response.headers
    assert len(upstream.chat_requests) == 3
    async with authed_channel(gateway.grpc_address, KEYS["limited"]) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as grpc_caught:
            await ex_grpc.ExecutorServiceStub(channel).CreateChatCompletion(
                ex_pb.CreateChatCompletionRequest(chat=pb.ChatRequest(model="default/weather", messages=[user("hi")]))
            )
    assert grpc_caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_info(grpc_caught.value).reason == "RATE_LIMITED"
    details = dict(grpc_caught.value.trailing_metadata())["grpc-status-details-bin"]
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in status_pb2.Status.FromString(details).details)
    assert 0 < retry.retry_delay.ToNanoseconds() <= 60 * 10**9


async def test_token_rate_limit_counts_real_usage(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    async with openai_client(gateway, KEYS["tokens"]) as client:
        # Estimated small, but the upstream reports 399 of 400 tokens used: the budget is spent.
        upstream.queue(TextReply("long answer", usage=Usage(prompt_tokens=200, completion_tokens=199)))
        await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "hi"}])
        upstream.queue(TextReply("ok"))
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "tell me more about it please"}])
        assert caught.value.body["code"] == "rate_limited"
        # A request larger than the whole budget can never succeed: say so, and say not to retry.
        with pytest.raises(openai.RateLimitError) as too_big:
            await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "x" * 4000}])
        assert too_big.value.response.headers["x-should-retry"] == "false"
        assert "retry-after" not in too_big.value.response.headers
    assert len(upstream.chat_requests) == 1


async def test_denied_native_tool_never_runs_and_is_audited(gateway: GatewayProcess, upstream: FakeUpstream, channel: grpc.aio.Channel) -> None:
    upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Rome"}, id="call_denied")]), TextReply("I cannot check the weather."))
    async with openai_client(gateway, KEYS["notools"]) as client:
        reply = await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "Rome?"}])
    assert reply.choices[0].message.content == "I cannot check the weather."
    tool_message = next(m for m in upstream.chat_requests[-1].messages if m["role"] == "tool")
    assert "not allowed" in tool_message["content"] and "Sunny" not in tool_message["content"]  # the body never ran
    events = await sec_grpc.SecurityServiceStub(channel).ListAuditEvents(sec_pb.ListAuditEventsRequest(key_id="notools", action=sec_pb.ACTION_USE_TOOL))
    denial = events.events[0]
    assert (denial.resource, denial.allowed) == ("get_weather", False)
    assert denial.policy.startswith("key:notools tools")


async def test_allowed_tool_and_model_decisions_are_audited_with_request_id(gateway: GatewayProcess, upstream: FakeUpstream, channel: grpc.aio.Channel) -> None:
    upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Oslo"})]), TextReply("Sunny."))
    async with httpx.AsyncClient(base_url=gateway.http_url, headers={"authorization": f"Bearer {KEYS['user']}", "x-request-id": "audit-trail-1"}) as http:
        response = await http.post("/v1/chat/completions", json={"model": "default/weather", "messages": [{"role": "user", "content": "Oslo?"}]})
    assert response.status_code == 200 and response.headers["x-request-id"] == "audit-trail-1"
    events = (await sec_grpc.SecurityServiceStub(channel).ListAuditEvents(sec_pb.ListAuditEventsRequest(key_id="user", page_size=50))).events
    mine = [e for e in events if e.request_id == "audit-trail-1"]
    assert {(e.action, e.resource, e.allowed) for e in mine} == {
        (sec_pb.ACTION_USE_MODEL, "default/weather", True),
        (sec_pb.ACTION_USE_TOOL, "get_weather", True),
    }
    assert all(e.policy for e in mine)


async def test_overrides_grant_preview_list_expire_and_revoke(gateway: GatewayProcess, upstream: FakeUpstream, channel: grpc.aio.Channel) -> None:
    security = sec_grpc.SecurityServiceStub(channel)
    preview = sec_pb.PreviewDecisionRequest(key_id="user", action=sec_pb.ACTION_USE_MODEL, resource="labs/planner")
    assert (await security.PreviewDecision(preview)).decision.allowed is False
    grant = await security.CreateOverride(
        sec_pb.CreateOverrideRequest(
            override=sec_pb.Override(key_id="user", action=sec_pb.ACTION_USE_MODEL, pattern="labs/*", effect=sec_pb.OVERRIDE_EFFECT_GRANT, reason="demo"),
            ttl=duration_pb2.Duration(seconds=2),
        )
    )
    assert grant.override.name.startswith("overrides/")
    decision = (await security.PreviewDecision(preview)).decision
    assert decision.allowed is True and grant.override.name in decision.policy
    assert grant.override.name in [o.name for o in (await security.ListOverrides(sec_pb.ListOverridesRequest())).overrides]
    upstream.queue(TextReply("1. Go"))
    async with openai_client(gateway, KEYS["user"]) as client:
        reply = await client.chat.completions.create(model="labs/planner", messages=[{"role": "user", "content": "plan"}])
        assert reply.choices[0].message.content == "1. Go"
        await asyncio.sleep(2.2)  # the override expires on its own
        with pytest.raises(openai.PermissionDeniedError):
            await client.chat.completions.create(model="labs/planner", messages=[{"role": "user", "content": "plan"}])
        revoke = await security.CreateOverride(
            sec_pb.CreateOverrideRequest(
                override=sec_pb.Override(key_id="user", action=sec_pb.ACTION_USE_MODEL, pattern="default/weather", effect=sec_pb.OVERRIDE_EFFECT_REVOKE),
                ttl=duration_pb2.Duration(seconds=60),
            )
        )
        with pytest.raises(openai.PermissionDeniedError) as caught:
            await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "hi"}])
        assert revoke.override.name in caught.value.body["message"]
        await security.DeleteOverride(sec_pb.DeleteOverrideRequest(name=revoke.override.name))
        upstream.queue(TextReply("back"))
        assert (await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "hi"}])).choices[
            0
        ].message.content == "back"
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await security.CreateOverride(
            sec_pb.CreateOverrideRequest(
                override=sec_pb.Override(key_id="user", action=sec_pb.ACTION_CALL_ADMIN, pattern="*", effect=sec_pb.OVERRIDE_EFFECT_GRANT),
                ttl=duration_pb2.Duration(seconds=5),
            )
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # an override can never mint an admin


async def test_denied_module_is_never_imported_and_listed(gateway: GatewayProcess, channel: grpc.aio.Channel) -> None:
    diagnostics = (await reg_grpc.RegistryServiceStub(channel).ListDiagnostics(reg_pb.ListDiagnosticsRequest())).diagnostics
    denied = next(d for d in diagnostics if d.agent_id == "default/deniedmodule")
    assert denied.stage == reg_pb.DIAGNOSTIC_STAGE_POLICY
    assert "modules.deny[0]='default/deniedmodule'" in denied.message
    assert not (gateway.agents_dir.parent / "denied-module-imported").exists()


@pytest.mark.parametrize(
    "body",
    [
        {"api_base": "http://evil.example/v1"},
        {"base_url": "http://evil.example/v1"},
        {"extra_body": {"api_key": "sk-stolen"}},
        {"metadata": {"nested": [{"headers": {"x": "y"}}]}},
        {"extra_headers": {"authorization": "Bearer x"}},
    ],
)
async def test_fields_that_would_redirect_upstream_traffic_are_400(gateway: GatewayProcess, upstream: FakeUpstream, body: dict) -> None:
    request = {"model": "default/helpdesk", "messages": [{"role": "user", "content": "hi"}], **body}
    async with httpx.AsyncClient(base_url=gateway.http_url, headers={"authorization": f"Bearer {KEYS['admin']}"}) as http:
        response = await http.post("/v1/chat/completions", json=request)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "forbidden_field" and error["param"].split(".")[0].split("[")[0] in body
    assert upstream.requests == []  # nothing went out


async def test_grpc_extra_struct_cannot_redirect_either(channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    chat = pb.ChatRequest(model="default/helpdesk", messages=[user("hi")])
    chat.extra.update({"provider": {"base_url": "http://evil.example"}})
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ex_grpc.ExecutorServiceStub(channel).CreateChatCompletion(ex_pb.CreateChatCompletionRequest(chat=chat))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(caught.value).reason == "FORBIDDEN_FIELD"
    assert upstream.requests == []


async def _raw_request(port: int, head: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    status_line = data.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), data


FUZZ = [
    b"Bearer ' OR '1'='1' --",
    b"Bearer admin'); DROP TABLE keys;--",
    b"Bearer \x00agw-test-admin",
    b"Bearer " + b"A" * 65536,
    "Bearer ключ-🔑".encode(),
    b"Basic YWRtaW46YWRtaW4=",
    b"Bearer",
    b"bearer  " + KEYS["admin"].encode()[:-1],
]


@pytest.mark.parametrize("value", FUZZ, ids=[f"fuzz{i}" for i in range(len(FUZZ))])
async def test_fuzzed_authorization_is_always_401(gateway: GatewayProcess, value: bytes) -> None:
    body = json.dumps({"model": "default/weather", "messages": [{"role": "user", "content": "hi"}]}).encode()
    for header in (b"authorization", b"x-api-key"):
        head = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + header
            + b": "
            + value
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )
        status, raw = await _raw_request(gateway.http_port, head)
        if b"\x00" in value:
            # A NUL in a header is not HTTP: the server's parser refuses the request before
            # any application code runs (RFC 9110 5.5). Refused either way, never a 500.
            assert status in (400, 401), raw[:300]
        else:
            assert status == 401, raw[:300]
        assert b"Traceback" not in raw


@pytest.mark.parametrize("host", [b"evil.example/healthz?", b"127.0.0.1:1/healthz#", b"[::1", b"a b c", b"127.0.0.1/healthz"])
async def test_malformed_host_cannot_route_around_auth(gateway: GatewayProcess, host: bytes) -> None:
    status, raw = await _raw_request(gateway.http_port, b"GET /v1/models HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
    assert status in (400, 401), raw[:300]
    assert b'"object":"list"' not in raw


async def test_every_route_and_method_needs_auth(gateway: GatewayProcess) -> None:
    from agentgateway.v1 import executor_service_pb2, registry_service_pb2, security_service_pb2, tool_service_pb2
    from services.settings import GatewaySettings
    from shim.app import create_app

    public_http = {"/healthz"}
    app = create_app(GatewaySettings(), "127.0.0.1:1")
    async with httpx.AsyncClient(base_url=gateway.http_url) as http:
        for route in app.routes:
            path = route.path.replace("{model_id:path}", "default/weather")  # type: ignore[attr-defined]
            for method in sorted(route.methods or ()):  # type: ignore[attr-defined]
                if method == "HEAD":
                    continue
                response = await http.request(method, path, json={})
                expected = 200 if route.path in public_http else 401  # type: ignore[attr-defined]
                assert response.status_code == expected, (method, path, response.status_code)
    methods = [
        (f"/{service.full_name}/{method.name}", method)
        for module in (executor_service_pb2, registry_service_pb2, security_service_pb2, tool_service_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]
    assert len(methods) >= 18
    async with grpc.aio.insecure_channel(gateway.grpc_address) as channel:
        for path, method in methods:
            if method.server_streaming:
                call = channel.unary_stream(path, request_serializer=lambda _: b"", response_deserializer=lambda b: b)(b"")
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    async for _ in call:
                        pass
            else:
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await channel.unary_unary(path, request_serializer=lambda _: b"", response_deserializer=lambda b: b)(b"")
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, path


def _substrings(secret: str, size: int = 8) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


async def test_no_key_material_in_logs_errors_or_audit(gateway: GatewayProcess, channel: grpc.aio.Channel, upstream: FakeUpstream) -> None:
    """Runs failure paths at DEBUG (the gateway's log level in tests) and searches everything it wrote."""
    from tests.conftest import UPSTREAM_KEY

    bodies: list[str] = []
    async with httpx.AsyncClient(base_url=gateway.http_url) as http:
        for key in [*KEYS.values(), KEYS["admin"] + "x", "Bearer-" + KEYS["user"]]:
            for path, payload in (("/v1/chat/completions", {"model": "labs/planner", "messages": [{"role": "user", "content": "hi"}]}), ("/v1/models", None)):
                response = await http.request("POST" if payload else "GET", path, json=payload, headers={"authorization": f"Bearer {key}"})
                bodies.append(response.text)
        upstream.queue(TextReply("x"))
        response = await http.post(
            "/v1/chat/completions", json={"model": "default/offline", "messages": [{"role": "user", "content": "hi"}]}, headers={"x-api-key": KEYS["admin"]}
        )
        bodies.append(response.text)
        metrics = (await http.get("/metrics", headers={"authorization": f"Bearer {KEYS['admin']}"})).text
    audit = (await sec_grpc.SecurityServiceStub(channel).ListAuditEvents(sec_pb.ListAuditEventsRequest(page_size=1000))).events
    haystacks = {"log": gateway.log_text(), "errors": "\n".join(bodies), "audit": "\n".join(str(e) for e in audit), "metrics": metrics}
    assert "agentgateway_requests_total" in metrics
    assert "DEBUG" in haystacks["log"].upper() and len(audit) > 5
    for name, secret in [*KEYS.items(), ("upstream", UPSTREAM_KEY)]:
        for where, text in haystacks.items():
            leaked = [s for s in _substrings(secret) if s in text]
            assert not leaked, f"{name} key material {leaked[:3]} found in {where}"


async def test_reload_policy_rejects_a_bad_file_and_applies_a_good_one(upstream: FakeUpstream, tmp_path: Path) -> None:
    import subprocess

    from tests.conftest import GATEWAY_ENV, write_config
    from tests.gateway_process import GATEWAY_BIN, REPO, make_agents_dir

    config_dir = write_config(tmp_path / "config", upstream)
    gateway = GatewayProcess(make_agents_dir(tmp_path / "agents"), config_dir, tmp_path / "gw.log", env_extra=GATEWAY_ENV).start()
    try:
        created = subprocess.run(
            [str(GATEWAY_BIN), "keys", "create", "--id", "ci", "--models", "default/weather"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
        new_key = next(line.strip() for line in created.splitlines() if line.strip().startswith("agw_"))
        entry = created[created.index("- id: ci") :]
        assert new_key not in entry  # the YAML carries the digest only
        security = config_dir / "security.yaml"
        good = security.read_text()
        async with authed_channel(gateway.grpc_address, KEYS["admin"]) as channel:
            stub = sec_grpc.SecurityServiceStub(channel)
            security.write_text("api_keys: [this is not valid")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.ReloadPolicy(sec_pb.ReloadPolicyRequest())
            assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert error_info(caught.value).reason == "POLICY_INVALID" and "security.yaml" in caught.value.details()
            # The old policy stays: the admin key still works.
            assert (await stub.Authenticate(sec_pb.AuthenticateRequest())).principal.key_id == "admin"
            policy = yaml.safe_load(good)
            policy["api_keys"] += yaml.safe_load(entry)
            security.write_text(yaml.safe_dump(policy))
            reply = await stub.ReloadPolicy(sec_pb.ReloadPolicyRequest())
            assert reply.key_count == len(policy["api_keys"])
        upstream.queue(TextReply("hello ci"))
        async with openai_client(gateway, new_key) as client:
            assert [m.id async for m in client.models.list()] == ["default/weather"]
            assert (await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "hi"}])).choices[
                0
            ].message.content == "hello ci"
    finally:
        assert gateway.terminate() == 0


async def test_without_security_yaml_an_admin_key_is_generated_and_loopback_enforced(upstream: FakeUpstream, tmp_path: Path) -> None:
    from tests.gateway_process import make_agents_dir

    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "upstreams.yaml").write_text(f"upstreams:\n  - name: fake\n    base_url: {upstream.base_url}\n    model: fake-model\n    max_retries: 0\n")
    gateway = GatewayProcess(make_agents_dir(tmp_path / "agents"), config_dir, tmp_path / "gw.log", env_extra={"GATEWAY_HOST": "0.0.0.0"})
    gateway.start_args = ["--host", "0.0.0.0"]
    gateway.start()
    try:
        log = gateway.log_text()
        key = next(line.strip() for line in log.splitlines() if line.strip().startswith("agw_"))
        assert log.count(key) == 1  # printed once; never in a log record
        assert "binding to loopback only" in log
        upstream.queue(TextReply("admin here"))
        async with openai_client(gateway, key) as client:
            assert (await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "hi"}])).choices[
                0
            ].message.content == "admin here"
        async with openai_client(gateway, "agw_wrong") as client:
            with pytest.raises(openai.AuthenticationError):
                await client.models.list()
    finally:
        assert gateway.terminate() == 0
