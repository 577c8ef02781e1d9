"""Process-level behaviour: a split deployment, graceful shutdown, bad config at start-up,
what a gateway at INFO logs. Hot reload: tests/test_e2e_reload.py."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from openai import AsyncOpenAI

from tests.conftest import ADMIN_HEADERS, ADMIN_KEY, GATEWAY_ENV, KEYS, write_config
from tests.fake_upstream import FakeUpstream, HangReply, TextReply, ToolCall, ToolCallReply
from tests.gateway_process import GATEWAY_BIN, REPO, GatewayProcess, listening_ports, make_agents_dir
from tests.mcp_http import HttpCalc

pytestmark = pytest.mark.asyncio


async def test_split_deployment_shim_and_backend_in_two_processes(upstream: FakeUpstream, tmp_path: Path) -> None:
    agents_dir = make_agents_dir(tmp_path / "agents")
    config_dir = write_config(tmp_path / "config", upstream)
    backend = GatewayProcess(agents_dir, config_dir, tmp_path / "backend.log", services="registry,executor,tools,security", env_extra=GATEWAY_ENV).start()
    try:
        # The shim process has no agents and no upstream config: everything goes over gRPC.
        shim = GatewayProcess(tmp_path / "no-agents", tmp_path / "no-config", tmp_path / "shim.log", services="shim", grpc_target=backend.grpc_address).start()
        try:
            upstream.queue(TextReply("served across processes", chunks=3))
            async with AsyncOpenAI(base_url=shim.openai_base_url, api_key=ADMIN_KEY, max_retries=0) as client:
                models = [m.id async for m in client.models.list()]
                assert "default/weather" in models
                stream = await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "hi"}], stream=True)
                assert "".join([c.choices[0].delta.content or "" async for c in stream]) == "served across processes"
            # The shim process serves no gRPC of its own: it listens on its HTTP port alone.
            # (Asked of the process, not the port: another process may have taken shim.grpc_port.)
            assert shim.proc is not None and listening_ports(shim.proc.pid) == {shim.http_port}
            assert '"services": ["shim"]' in shim.log_text()
        finally:
            assert shim.terminate() == 0
    finally:
        assert backend.terminate() == 0


async def test_each_process_of_a_split_deployment_serves_its_own_metrics_port(upstream: FakeUpstream, tmp_path: Path) -> None:
    agents_dir = make_agents_dir(tmp_path / "agents")
    config_dir = write_config(tmp_path / "config", upstream)
    backend = GatewayProcess(
        agents_dir, config_dir, tmp_path / "backend.log", services="registry,executor,tools,security", env_extra=GATEWAY_ENV, metrics=True
    ).start()
    try:
        shim = GatewayProcess(
            tmp_path / "no-agents", tmp_path / "no-config", tmp_path / "shim.log", services="shim", grpc_target=backend.grpc_address, metrics=True
        ).start()
        try:
            upstream.queue(TextReply("counted where it ran", chunks=2))
            async with AsyncOpenAI(base_url=shim.openai_base_url, api_key=ADMIN_KEY, max_retries=0) as client:
                stream = await client.chat.completions.create(model="default/weather", messages=[{"role": "user", "content": "hi"}], stream=True)
                assert "".join([c.choices[0].delta.content or "" async for c in stream]) == "counted where it ran"
            async with httpx.AsyncClient(headers=ADMIN_HEADERS, timeout=30) as http:
                run_side = (await http.get(backend.metrics_url)).text
                shim_side = (await http.get(shim.metrics_url)).text
                # The same rule as the shim's /metrics: an admin key (the shim-only process asks the backend).
                for url in (backend.metrics_url, shim.metrics_url):
                    assert (await http.get(url, headers={"authorization": ""})).status_code == 401
                    assert (await http.get(url, headers={"authorization": f"Bearer {KEYS['user']}"})).status_code == 403
                assert (await http.get(backend.metrics_url.replace("/metrics", "/other"))).status_code == 404
        finally:
            assert shim.terminate() == 0
    finally:
        assert backend.terminate() == 0
    # The run happened in the backend: its counters are there, on the port of a process with no HTTP shim.
    assert 'agentgateway_requests_total{model="default/weather",outcome="ok"} 1.0' in run_side
    assert 'agentgateway_time_to_first_token_seconds_count{model="default/weather"} 1.0' in run_side
    assert 'agentgateway_grpc_server_handled_total{code="OK",method="/agentgateway.v1.ExecutorService/StreamChatCompletion"} 1.0' in run_side
    # The shim process measures what it saw: the request's overhead, and no runs of its own.
    assert 'agentgateway_overhead_seconds_count{model="default/weather"} 1.0' in shim_side
    assert "agentgateway_requests_total{" not in shim_side


async def test_a_shim_whose_backend_is_gone_answers_503_with_a_gateway_message(tmp_path: Path) -> None:
    # The backend address is a port nothing listens on; gRPC's own text would name it.
    dead = "127.0.0.1:9"
    shim = GatewayProcess(
        tmp_path / "no-agents", tmp_path / "no-config", tmp_path / "shim.log", services="shim", grpc_target=dead, env_extra=GATEWAY_ENV, healthy=False
    ).start()
    try:
        async with httpx.AsyncClient(base_url=shim.http_url, headers=ADMIN_HEADERS, timeout=30) as http:
            body = {"model": "default/weather", "messages": [{"role": "user", "content": "hi"}]}
            for response in (
                await http.get("/v1/models"),
                await http.post("/v1/chat/completions", json=body),
                await http.post("/v1/chat/completions", json={**body, "stream": True}),
            ):
                assert response.status_code == 503
                error = response.json()["error"]
                assert error["code"] == "unavailable" and "backend" in error["message"]
                assert "127.0.0.1" not in response.text and "ipv4" not in response.text
    finally:
        assert shim.terminate() == 0
    assert "backend call failed" in shim.log_text()  # the operator still gets gRPC's own words


async def test_sigterm_drains_in_flight_streams_then_exits(upstream: FakeUpstream, tmp_path: Path) -> None:
    gateway = GatewayProcess(
        make_agents_dir(tmp_path / "agents"), write_config(tmp_path / "config", upstream), tmp_path / "gw.log", env_extra=GATEWAY_ENV
    ).start()
    upstream.queue(TextReply("slow words arriving one by one until done", chunks=8, chunk_delay=0.25))
    async with (
        httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=30) as http,
        grpc.aio.insecure_channel(gateway.grpc_address) as channel,
    ):
        health = health_pb2_grpc.HealthStub(channel)
        async with http.stream(
            "POST", "/v1/chat/completions", json={"model": "default/weather", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        ) as response:
            assert response.status_code == 200
            lines = response.aiter_lines()
            async for line in lines:
                if '"content":"slow' in line:
                    break
            assert gateway.proc is not None
            gateway.proc.send_signal(signal.SIGTERM)
            # Health flips to NOT_SERVING while the stream is still running...
            status = None
            for _ in range(50):
                status = (await health.Check(health_pb2.HealthCheckRequest())).status
                if status == health_pb2.HealthCheckResponse.NOT_SERVING:
                    break
                await asyncio.sleep(0.05)
            assert status == health_pb2.HealthCheckResponse.NOT_SERVING
            # ...and the in-flight stream still finishes completely.
            rest = [line async for line in lines]
    assert rest[-2:] == ["data: [DONE]", ""] or rest[-1] == "data: [DONE]"
    assert "done" in "".join(rest)
    assert gateway.proc.wait(15) == 0
    assert gateway.terminate() == 0


async def test_streams_longer_than_the_grace_end_with_an_in_band_shutting_down_error(upstream: FakeUpstream, tmp_path: Path) -> None:
    env = {**GATEWAY_ENV, "GATEWAY_SHUTDOWN_GRACE_S": "1"}
    gateway = GatewayProcess(make_agents_dir(tmp_path / "agents"), write_config(tmp_path / "config", upstream), tmp_path / "gw.log", env_extra=env).start()
    upstream.queue(HangReply(partial="this answer never ends"))
    upstream.queue(HangReply(before_headers=True))
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=30) as http:
        body = {"model": "default/weather", "messages": [{"role": "user", "content": "hi"}]}
        async with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
            assert response.status_code == 200
            lines = response.aiter_lines()
            async for line in lines:
                if "never" in line:
                    break
            unary = asyncio.ensure_future(http.post("/v1/chat/completions", json=body))
            await upstream.wait_for_async(lambda: len(upstream.chat_requests) == 2)
            assert gateway.proc is not None
            gateway.proc.send_signal(signal.SIGTERM)
            rest = [line async for line in lines]  # a broken chunked body would raise here
        waiting = await unary
    events = [line.removeprefix("data: ") for line in rest if line.startswith("data: ")]
    assert json.loads(events[-1])["error"]["code"] == "shutting_down" and "[DONE]" not in events
    assert waiting.status_code == 503 and waiting.json()["error"]["code"] == "shutting_down"
    assert gateway.proc.wait(15) == 0
    assert gateway.terminate() == 0


async def test_info_log_names_no_upstream_or_mcp_urls(upstream: FakeUpstream, tmp_path: Path) -> None:
    # The shared gateway runs at DEBUG; this one at INFO, the production default. The HTTP
    # clients under openai and mcp (httpx2) log every request URL at INFO unless quietened.
    mcp_server = await asyncio.to_thread(HttpCalc().start)  # not the shared one: it counts the shared gateway's sessions
    try:
        config_dir = write_config(tmp_path / "config", upstream, mcp_http_url=mcp_server.url)
        env = {**GATEWAY_ENV, "GATEWAY_LOG_LEVEL": "INFO"}
        gateway = GatewayProcess(make_agents_dir(tmp_path / "agents"), config_dir, tmp_path / "gw.log", env_extra=env).start()
        try:
            # Two upstream requests with a tools/call to the streamable-HTTP MCP server between them.
            upstream.queue(ToolCallReply([ToolCall("remote_add", {"a": 1, "b": 2})]), TextReply("three"), model="tooldesk-model")
            async with AsyncOpenAI(base_url=gateway.openai_base_url, api_key=ADMIN_KEY, max_retries=0) as client:
                reply = await client.chat.completions.create(model="default/tooldesk", messages=[{"role": "user", "content": "1+2"}])
            assert reply.choices[0].message.content == "three"
        finally:
            assert gateway.terminate() == 0
    finally:
        mcp_server.stop()
    text = gateway.log_text()
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(r["msg"] == "tool invoked" and r.get("tool") == "remote_add" and r.get("outcome") == "ok" for r in records)
    assert any(r["msg"] == "run finished" for r in records)
    assert not [r for r in records if r["level"] == "debug"]
    for url in (upstream.url, mcp_server.url):
        assert urlsplit(url).netloc not in text
    assert not {r["logger"] for r in records if r["logger"].split(".")[0] in ("httpx", "httpx2", "httpcore", "httpcore2", "mcp", "openai")}


async def test_malformed_config_fails_start_up_with_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "upstreams.yaml").write_text("upstreams:\n  - name: x\n    base_url: http://127.0.0.1:1/v1\n    timeout_s: -3\n")
    result = subprocess.run(
        [str(GATEWAY_BIN), "serve", "--config-dir", str(config), "--agents-dir", str(tmp_path), "--http-port", "0", "--grpc-port", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "upstreams.yaml" in result.stderr and "timeout_s" in result.stderr
    assert "Traceback" not in result.stderr
