"""UpstreamService end to end: a real gateway, real fake upstreams (HTTP servers this module stops,
hangs and starts again), grpcurl, and the REST shim.

- ListUpstreams / GetUpstream show each upstream's config and health, never its key;
- RefreshUpstreams swaps the upstreams (runs in flight finish where they started), rejects a
  malformed file with the old upstreams kept and a registry diagnostic;
- health checks: an upstream that stops answering is known down, requests to it fail at once
  (503 / UNAVAILABLE ``UPSTREAM_DOWN``) instead of waiting out their timeouts, and it serves
  again once a check passes;
- the docs/operations.md examples run as written; with GATEWAY_AGENT_WATCH a changed
  upstreams.yaml is reloaded by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shlex
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml
from google.protobuf import json_format

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2
from agentgateway.v1 import registry_service_pb2 as reg_pb
from agentgateway.v1 import registry_service_pb2_grpc as reg_grpc
from agentgateway.v1 import upstream_service_pb2 as pb
from agentgateway.v1 import upstream_service_pb2_grpc as pb_grpc
from tests.conftest import ADMIN_HEADERS, ADMIN_KEY, GATEWAY_ENV, KEYS
from tests.fake_upstream import FakeUpstream, TextReply
from tests.gateway_process import REPO, GatewayProcess, make_agents_dir
from tests.grpc_auth import authed_channel
from tests.test_e2e_conversations import rpc_error
from tests.test_e2e_grpc import GRPCURL, error_info

pytestmark = pytest.mark.asyncio

UPSTREAM_KEY = "sk-keyed-3c9e1a7f5b2d4068"  # distinctive, so its absence can be searched for
CHECK = {"interval_s": 0.2, "timeout_s": 0.5, "unhealthy_threshold": 1}
SERVICE = "agentgateway.v1.UpstreamService"


def upstreams_yaml(steady: FakeUpstream, flaky: FakeUpstream, *, extra: list[dict] | None = None, local_model: str = "local-model") -> dict:
    return {
        "default": "local",
        "health_check": CHECK,
        "upstreams": [
            {"name": "local", "base_url": steady.base_url, "model": local_model, "max_retries": 0},
            # Stopped, hung and started again by the tests; a request that waited for it would
            # take up to timeout_s x (max_retries + 1) = 15 s.
            {"name": "flaky", "base_url": flaky.base_url, "model": "flaky-model", "timeout_s": 5, "max_retries": 2},
            # Has a key: not checked unless asked.
            {"name": "keyed", "base_url": steady.base_url, "api_key_env": "KEYED_UPSTREAM_KEY", "model": "keyed-model", "api": "responses"},
            {"name": "keyed-checked", "base_url": steady.base_url, "api_key_env": "KEYED_UPSTREAM_KEY", "health_check": {"enabled": True}},
            {"name": "goner", "base_url": steady.base_url, "model": "goner-model", "health_check": False},
            {"name": "secretive", "base_url": steady.base_url.replace("http://", "http://bob:pw-hunter2@"), "health_check": False},
            *(extra or []),
        ],
    }


def write_config(config_dir: Path, steady: FakeUpstream, flaky: FakeUpstream) -> Path:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "upstreams.yaml").write_text(yaml.safe_dump(upstreams_yaml(steady, flaky)))
    agents = [
        {"id": "default/steadydesk", "upstream": "local", "instructions": "Answer."},
        {"id": "default/flakydesk", "upstream": "flaky", "instructions": "Answer."},
        {"id": "default/gonerdesk", "upstream": "goner", "instructions": "Answer."},
    ]
    (config_dir / "agents.yaml").write_text(yaml.safe_dump({"agents": agents}))
    keys = [
        {"id": "admin", "env": "GW_KEY_ADMIN", "roles": ["admin"], "models": ["*"], "tools": ["*"]},
        {"id": "user", "env": "GW_KEY_USER", "models": ["default/*"], "tools": ["*"]},
    ]
    (config_dir / "security.yaml").write_text(yaml.safe_dump({"api_keys": keys}))
    return config_dir


def _fake_upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    server.forbid(*KEYS.values())  # no gateway client key may reach an upstream
    yield server
    server.stop()
    assert server.violations == []


steady = pytest.fixture(scope="module", name="steady")(_fake_upstream)  # always answers
flaky = pytest.fixture(scope="module", name="flaky")(_fake_upstream)  # stopped, hung and started again


def start_gateway(root: Path, steady: FakeUpstream, flaky: FakeUpstream, **env: str) -> GatewayProcess:
    config_dir = write_config(root / "config", steady, flaky)
    extra = {**GATEWAY_ENV, "KEYED_UPSTREAM_KEY": UPSTREAM_KEY, **env}
    return GatewayProcess(make_agents_dir(root / "agents"), config_dir, root / "gateway.log", env_extra=extra).start()


@pytest.fixture(scope="module")
def gateway(steady: FakeUpstream, flaky: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = start_gateway(tmp_path_factory.mktemp("upstreams"), steady, flaky)
    yield process
    process.terminate()
    assert UPSTREAM_KEY not in process.log_text() and "pw-hunter2" not in process.log_text()


@pytest.fixture
async def stub(gateway: GatewayProcess, steady: FakeUpstream, flaky: FakeUpstream) -> AsyncIterator[pb_grpc.UpstreamServiceStub]:
    """The admin's stub; the baseline upstreams.yaml is in force before and after each test."""
    async with authed_channel(gateway.grpc_address, ADMIN_KEY) as channel:
        upstreams = pb_grpc.UpstreamServiceStub(channel)
        path = gateway.config_dir / "upstreams.yaml"
        path.write_text(yaml.safe_dump(upstreams_yaml(steady, flaky)))
        await upstreams.RefreshUpstreams(pb.RefreshUpstreamsRequest())
        yield upstreams
        path.write_text(yaml.safe_dump(upstreams_yaml(steady, flaky)))
        await upstreams.RefreshUpstreams(pb.RefreshUpstreamsRequest())


async def upstream_named(stub: pb_grpc.UpstreamServiceStub, name: str) -> pb.Upstream:
    return (await stub.GetUpstream(pb.GetUpstreamRequest(name=f"upstreams/{name}"))).upstream


async def wait_until(stub: pb_grpc.UpstreamServiceStub, name: str, ok: Callable[[pb.Upstream], bool], timeout: float = 10.0) -> pb.Upstream:
    """The upstream once ``ok`` holds of it (an upstream not there yet counts as "not yet")."""
    deadline = time.monotonic() + timeout
    while True:
        upstream: pb.Upstream | None = None
        try:
            upstream = await upstream_named(stub, name)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
        if upstream is not None and ok(upstream):
            return upstream
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not as expected after {timeout}s: {upstream}")
        await asyncio.sleep(0.05)


async def wait_for_state(stub: pb_grpc.UpstreamServiceStub, name: str, state: int, timeout: float = 10.0) -> pb.Upstream:
    return await wait_until(stub, name, lambda u: u.health_state == state, timeout)


async def chat(gateway: GatewayProcess, model: str, text: str = "hi") -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=60) as http:
        return await http.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": text}]})


async def metrics(gateway: GatewayProcess) -> str:
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=10) as http:
        return (await http.get("/metrics")).text


def up_gauge(text: str, name: str) -> str | None:
    found = re.search(rf'^agentgateway_upstream_up\{{upstream="{re.escape(name)}"\}} (\S+)$', text, re.M)
    return found.group(1) if found else None


async def test_reflection_lists_the_upstream_service(gateway: GatewayProcess) -> None:
    assert GRPCURL is not None
    listed = subprocess.run([GRPCURL, "-plaintext", gateway.grpc_address, "list"], capture_output=True, text=True, timeout=30, check=True).stdout.split()
    assert SERVICE in listed
    described = subprocess.run(
        [GRPCURL, "-plaintext", gateway.grpc_address, "describe", SERVICE], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert all(rpc in described for rpc in ("ListUpstreams", "GetUpstream", "RefreshUpstreams"))


async def test_list_and_get_show_config_and_health_and_never_the_key(gateway: GatewayProcess, stub: pb_grpc.UpstreamServiceStub, steady: FakeUpstream) -> None:
    await wait_for_state(stub, "local", pb.HEALTH_STATE_HEALTHY)
    await wait_for_state(stub, "keyed-checked", pb.HEALTH_STATE_HEALTHY)
    listed = await stub.ListUpstreams(pb.ListUpstreamsRequest())
    by_id = {u.upstream_id: u for u in listed.upstreams}
    assert list(by_id) == sorted(by_id) == ["flaky", "goner", "keyed", "keyed-checked", "local", "secretive"]
    local = by_id["local"]
    assert (local.name, local.base_url, local.model, local.default_upstream) == ("upstreams/local", steady.base_url, "local-model", True)
    assert (local.api, local.api_key_env, local.api_key_set, local.max_retries) == (pb.UPSTREAM_API_CHAT_COMPLETIONS, "", False, 0)
    assert local.timeout.ToSeconds() == 60 and local.max_connections == 1024
    assert local.health_check.enabled and local.health_check.path == "/models" and local.health_check.interval.ToMilliseconds() == 200
    assert local.health_state == pb.HEALTH_STATE_HEALTHY and local.last_check_time.seconds > 0 and local.last_error == ""
    keyed = by_id["keyed"]
    assert (keyed.api, keyed.api_key_env, keyed.api_key_set, keyed.default_upstream) == (pb.UPSTREAM_API_RESPONSES, "KEYED_UPSTREAM_KEY", True, False)
    assert not keyed.health_check.enabled and keyed.health_state == pb.HEALTH_STATE_UNKNOWN and not keyed.HasField("last_check_time")
    assert by_id["secretive"].base_url == steady.base_url  # its URL's credentials are not shown
    # The checks of an upstream with a key send it (to that upstream alone, as its requests do).
    checks = [r for r in steady.requests if r.path == "/v1/models"]
    assert any(r.headers.get("authorization") == f"Bearer {UPSTREAM_KEY}" for r in checks)
    assert any(r.headers.get("authorization") == "Bearer not-needed" for r in checks)
    got = await stub.GetUpstream(pb.GetUpstreamRequest(name="keyed"))  # a bare id works too
    assert got.upstream.name == "upstreams/keyed"
    # The key is nowhere: not in the messages (binary or JSON), the log or the metrics.
    for secret in (UPSTREAM_KEY, "pw-hunter2"):
        for message in (listed, got):
            assert secret.encode() not in message.SerializeToString() and secret not in json_format.MessageToJson(message)
        assert secret not in gateway.log_text() and secret not in await metrics(gateway)


@pytest.mark.parametrize(
    ("name", "code", "reason"),
    [
        ("upstreams/nope", grpc.StatusCode.NOT_FOUND, "UPSTREAM_NOT_FOUND"),
        ("", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        ("upstreams/a/b", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    ],
)
async def test_get_of_an_unknown_or_malformed_name(stub: pb_grpc.UpstreamServiceStub, name: str, code: grpc.StatusCode, reason: str) -> None:
    error = await rpc_error(stub.GetUpstream(pb.GetUpstreamRequest(name=name)))
    assert (error.code(), error_info(error).reason) == (code, reason)


async def test_the_rpcs_are_admin_only(gateway: GatewayProcess) -> None:
    calls = [
        ("ListUpstreams", pb.ListUpstreamsRequest()),
        ("GetUpstream", pb.GetUpstreamRequest(name="local")),
        ("RefreshUpstreams", pb.RefreshUpstreamsRequest()),
    ]
    async with authed_channel(gateway.grpc_address, KEYS["user"]) as user, authed_channel(gateway.grpc_address, None) as anonymous:
        for method, request in calls:
            denied = await rpc_error(getattr(pb_grpc.UpstreamServiceStub(user), method)(request))
            assert (denied.code(), error_info(denied).reason) == (grpc.StatusCode.PERMISSION_DENIED, "ADMIN_REQUIRED")
            assert (await rpc_error(getattr(pb_grpc.UpstreamServiceStub(anonymous), method)(request))).code() == grpc.StatusCode.UNAUTHENTICATED


async def test_refresh_swaps_the_upstreams_and_a_removed_ones_agents_fail_clearly(
    gateway: GatewayProcess, stub: pb_grpc.UpstreamServiceStub, steady: FakeUpstream, flaky: FakeUpstream
) -> None:
    file = upstreams_yaml(steady, flaky, extra=[{"name": "fresh", "base_url": flaky.base_url}], local_model="local-model-2")
    file["upstreams"] = [u for u in file["upstreams"] if u["name"] != "goner"]
    (gateway.config_dir / "upstreams.yaml").write_text(yaml.safe_dump(file))
    done = await stub.RefreshUpstreams(pb.RefreshUpstreamsRequest())
    assert (done.upstream_count, list(done.added), list(done.changed), list(done.removed)) == (6, ["fresh"], ["local"], ["goner"])
    assert (await upstream_named(stub, "local")).model == "local-model-2"
    steady.queue(TextReply("from the new config"))
    reply = await chat(gateway, "default/steadydesk")
    assert reply.status_code == 200 and steady.chat_requests[-1].model == "local-model-2"
    gone = await chat(gateway, "default/gonerdesk")
    error = gone.json()["error"]
    assert (gone.status_code, error["code"]) == (502, "upstream_not_configured") and "'goner' is not configured" in error["message"]


async def test_a_malformed_file_is_rejected_the_old_upstreams_stay_and_a_diagnostic_says_why(
    gateway: GatewayProcess, stub: pb_grpc.UpstreamServiceStub, steady: FakeUpstream
) -> None:
    path = gateway.config_dir / "upstreams.yaml"
    path.write_text(f"upstreams:\n  - name: local\n    base_url: {steady.base_url}\n    timeout_s: -1\n")
    error = await rpc_error(stub.RefreshUpstreams(pb.RefreshUpstreamsRequest()))
    info = error_info(error)
    assert (error.code(), info.reason, info.metadata["path"]) == (grpc.StatusCode.INVALID_ARGUMENT, "UPSTREAMS_CONFIG_INVALID", str(path))
    assert "upstreams.0.timeout_s" in (error.details() or "") and "old ones stay" in (error.details() or "")
    assert len((await stub.ListUpstreams(pb.ListUpstreamsRequest())).upstreams) == 6  # unchanged
    assert (await chat(gateway, "default/steadydesk")).status_code == 200
    async with authed_channel(gateway.grpc_address, ADMIN_KEY) as channel:
        registry = reg_grpc.RegistryServiceStub(channel)
        diagnostics = (await registry.ListDiagnostics(reg_pb.ListDiagnosticsRequest())).diagnostics
        found = [d for d in diagnostics if d.path == str(path)]
        assert len(found) == 1 and found[0].stage == reg_pb.DIAGNOSTIC_STAGE_DISCOVER and "timeout_s" in found[0].message
        assert '"msg": "upstreams reload rejected"' in gateway.log_text()
        path.write_text(yaml.safe_dump({"upstreams": [{"name": "local", "base_url": steady.base_url}]}))
        await stub.RefreshUpstreams(pb.RefreshUpstreamsRequest())
        assert not [d for d in (await registry.ListDiagnostics(reg_pb.ListDiagnosticsRequest())).diagnostics if d.path == str(path)]


async def test_a_run_in_flight_finishes_on_the_upstream_it_started_with(
    gateway: GatewayProcess, stub: pb_grpc.UpstreamServiceStub, steady: FakeUpstream, flaky: FakeUpstream
) -> None:
    await wait_for_state(stub, "flaky", pb.HEALTH_STATE_HEALTHY)
    # Slow enough that the reload below lands while the run waits for it, even on a busy machine.
    steady.queue(TextReply("the old upstream's answer", delay=3.0))
    flaky.queue(TextReply("the new upstream's answer"))
    started = len(steady.chat_requests)
    in_flight = asyncio.create_task(chat(gateway, "default/steadydesk"))
    await steady.wait_for_async(lambda: len(steady.chat_requests) > started)
    # `local` now points at the other server: a change, so its clients are retired.
    file = upstreams_yaml(steady, flaky)
    file["upstreams"][0]["base_url"] = flaky.base_url
    (gateway.config_dir / "upstreams.yaml").write_text(yaml.safe_dump(file))
    mark = len(gateway.log_text())
    assert list((await stub.RefreshUpstreams(pb.RefreshUpstreamsRequest())).changed) == ["local"]
    later = await chat(gateway, "default/steadydesk")
    assert later.json()["choices"][0]["message"]["content"] == "the new upstream's answer"
    # Retired while its run was still going, so not closed then; the run then got its whole
    # answer through the old clients (closing them would have broken it), and they were closed after.
    assert '"msg": "upstream retired", "upstream": "local", "in_flight": 1' in gateway.log_text()[mark:]
    earlier = await in_flight
    assert earlier.status_code == 200 and earlier.json()["choices"][0]["message"]["content"] == "the old upstream's answer"
    assert not steady.chat_requests[-1].disconnected
    deadline = time.monotonic() + 5
    while '"msg": "upstream closed", "upstream": "local"' not in gateway.log_text()[mark:]:
        assert time.monotonic() < deadline, "the retired upstream's clients were not closed"
        await asyncio.sleep(0.05)


@contextlib.contextmanager
def hung_server(port: int) -> Iterator[None]:
    """Something on ``port`` that takes connections and never answers: the worst kind of down."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    try:
        yield
    finally:
        sock.close()


async def test_a_down_upstream_fails_fast_and_serves_again_once_a_check_passes(
    gateway: GatewayProcess, stub: pb_grpc.UpstreamServiceStub, flaky: FakeUpstream
) -> None:
    await wait_for_state(stub, "flaky", pb.HEALTH_STATE_HEALTHY)
    flaky.queue(TextReply("before"))
    assert (await chat(gateway, "default/flakydesk")).status_code == 200
    assert up_gauge(await metrics(gateway), "flaky") == "1.0"
    flaky.stop()
    try:
        with hung_server(flaky.port):
            # (A check between the stop and the bind may have found the port refusing first.)
            down = await wait_until(stub, "flaky", lambda u: u.health_state == pb.HEALTH_STATE_UNHEALTHY and u.last_error == "no answer within 0.5s")
            assert down.consecutive_failures >= 1
            started = time.perf_counter()
            reply = await chat(gateway, "default/flakydesk")
            elapsed = time.perf_counter() - started
            # A request that went to the upstream would wait 5 s per attempt (3 attempts).
            assert elapsed < 1.0, elapsed
            error = reply.json()["error"]
            assert (reply.status_code, error["code"], error["type"]) == (503, "upstream_down", "service_unavailable_error")
            assert "upstream 'flaky' is down" in error["message"] and reply.headers["retry-after"] == "1"
            async with authed_channel(gateway.grpc_address, ADMIN_KEY) as channel:
                call = ex_grpc.ExecutorServiceStub(channel).CreateChatCompletion(
                    ex_pb.CreateChatCompletionRequest(
                        chat=messages_pb2.ChatRequest(model="default/flakydesk", messages=[messages_pb2.ChatMessage(role=messages_pb2.ROLE_USER, content="hi")])
                    )
                )
                failed = await rpc_error(call)
            info = error_info(failed)
            assert (failed.code(), info.reason, info.metadata["upstream"]) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_DOWN", "flaky")
            text = await metrics(gateway)
            assert up_gauge(text, "flaky") == "0.0"
            assert re.search(r'^agentgateway_upstream_check_seconds_count\{upstream="flaky"\} \d+', text, re.M)
            assert re.search(r'^agentgateway_requests_total\{model="default/flakydesk",outcome="upstream_down"\} [1-9]', text, re.M)
    finally:
        flaky.start()  # the same port
    await wait_for_state(stub, "flaky", pb.HEALTH_STATE_HEALTHY)
    flaky.queue(TextReply("after"))
    back = await chat(gateway, "default/flakydesk")
    assert back.status_code == 200 and back.json()["choices"][0]["message"]["content"] == "after"
    assert up_gauge(await metrics(gateway), "flaky") == "1.0"
    assert '"msg": "upstream down", "upstream": "flaky"' in gateway.log_text()


def docs_commands() -> list[str]:
    """The grpcurl commands of docs/operations.md's Upstreams section, continuation lines joined."""
    section = (REPO / "docs" / "operations.md").read_text().split("\n## Upstreams\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    return [c for c in block.group(1).replace("\\\n", " ").splitlines() if c.strip() and not c.startswith("#")]


def run_docs_command(command: str, gateway: GatewayProcess) -> Any:
    assert GRPCURL is not None
    argv = shlex.split(command.replace("$AGW_KEY", ADMIN_KEY).replace("localhost:50051", gateway.grpc_address))
    assert argv[0] == ".venv/bin/grpcurl"
    out = subprocess.run([GRPCURL, *argv[1:]], capture_output=True, text=True, timeout=30, cwd=REPO)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


async def test_the_grpcurl_examples_in_the_docs_work(gateway: GatewayProcess, stub: pb_grpc.UpstreamServiceStub) -> None:
    await wait_for_state(stub, "local", pb.HEALTH_STATE_HEALTHY)
    list_all, get_one, refresh = docs_commands()
    listed = run_docs_command(list_all, gateway)
    assert [u["upstream_id"] for u in listed["upstreams"]] == ["flaky", "goner", "keyed", "keyed-checked", "local", "secretive"]
    local = run_docs_command(get_one, gateway)["upstream"]
    assert (local["name"], local["health_state"]) == ("upstreams/local", "HEALTH_STATE_HEALTHY")
    # The page's sample answer shows real fields, and parses as the message.
    section = (REPO / "docs" / "operations.md").read_text().split("\n## Upstreams\n", 1)[1]
    sample = re.search(r"```json\n(.*?)```", section, re.S)
    assert sample is not None
    json_format.Parse(sample.group(1), pb.GetUpstreamResponse())  # raises on a field the message lacks
    assert run_docs_command(refresh, gateway)["upstream_count"] == 6


async def test_with_agent_watch_a_changed_file_reloads_by_itself(steady: FakeUpstream, flaky: FakeUpstream, tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, steady, flaky, GATEWAY_AGENT_WATCH="1")
    try:
        path = gateway.config_dir / "upstreams.yaml"
        async with authed_channel(gateway.grpc_address, ADMIN_KEY) as channel:
            stub = pb_grpc.UpstreamServiceStub(channel)
            path.write_text(yaml.safe_dump(upstreams_yaml(steady, flaky, extra=[{"name": "watched", "base_url": steady.base_url}])))
            await wait_for_state(stub, "watched", pb.HEALTH_STATE_HEALTHY, timeout=15)
            path.write_text("upstreams: [\n")
            registry = reg_grpc.RegistryServiceStub(channel)
            deadline = time.monotonic() + 15
            while not [d for d in (await registry.ListDiagnostics(reg_pb.ListDiagnosticsRequest())).diagnostics if d.path == str(path)]:
                assert time.monotonic() < deadline, "the rejected file is not a diagnostic"
                await asyncio.sleep(0.1)
            assert (await upstream_named(stub, "watched")).upstream_id == "watched"  # the old upstreams stay
    finally:
        gateway.terminate()
