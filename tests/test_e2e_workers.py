"""``agent-gateway serve --workers 2``: two real worker processes behind one pair of ports,
supervised by the parent (services/supervisor.py)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import ADMIN_HEADERS, GATEWAY_ENV, write_config
from tests.fake_upstream import FakeUpstream, TextReply
from tests.gateway_process import GATEWAY_BIN, REPO, GatewayProcess, free_port, make_agents_dir

BODY = {"model": "default/helpdesk", "messages": [{"role": "user", "content": "hi"}]}


async def _served_by(gateway: GatewayProcess, headers: dict[str, str], requests: int) -> list[str]:
    """The x-gateway-worker of each request, each on a new connection (the kernel spreads
    connections over the workers, not requests)."""
    served = []
    for _ in range(requests):
        async with httpx.AsyncClient(base_url=gateway.http_url, headers=headers, timeout=30) as http:
            response = await http.post("/v1/chat/completions", json=BODY)
            assert response.status_code == 200, response.text
            served.append(response.headers["x-gateway-worker"])
    return served


async def _wait_until(done: Callable[[], bool], timeout: float = 60) -> None:
    """Poll another process's state (no event to wait on) until ``done()`` or the timeout."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:  # noqa: ASYNC110 - polling /proc
        await asyncio.sleep(0.2)


def _alive(pids: list[int]) -> bool:
    return any(Path(f"/proc/{pid}").exists() for pid in pids)


def _metric(text: str, name: str, labels: str) -> float:
    found = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_two_workers_serve_one_port_aggregate_metrics_survive_a_crash_and_drain(upstream: FakeUpstream, tmp_path: Path) -> None:
    gateway = GatewayProcess(
        make_agents_dir(tmp_path / "agents"),
        write_config(tmp_path / "config", upstream),
        tmp_path / "gw.log",
        env_extra=GATEWAY_ENV,
        workers=2,
        metrics=True,
    ).start(timeout=60)
    try:
        pids = gateway.worker_pids()
        assert len(pids) == 2 and gateway.proc is not None and gateway.proc.pid not in pids
        # Requests on new connections land on both workers.
        served = await _served_by(gateway, ADMIN_HEADERS, 16)
        assert set(served) == {str(pid) for pid in pids}

        # /metrics is the whole gateway's, whichever worker answers.
        async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=30) as http:
            for _ in range(4):
                metrics = await http.get("/metrics")
                assert _metric(metrics.text, "agentgateway_requests_total", 'model="default/helpdesk",outcome="ok"') == 16
                assert _metric(metrics.text, "agentgateway_overhead_seconds_count", 'model="default/helpdesk"') == 16
                # The workers share the metrics port as they share the others, and it sums them too.
                port = (await http.get(gateway.metrics_url)).text
                assert _metric(port, "agentgateway_requests_total", 'model="default/helpdesk",outcome="ok"') == 16
                assert _metric(port, "agentgateway_runs_in_flight", 'model="default/helpdesk"') == 0

        # A worker that dies is started again; the survivor serves meanwhile; counts are kept.
        os.kill(pids[0], signal.SIGKILL)
        await _wait_until(lambda: '"msg": "worker restarted"' in gateway.log_text())
        replaced = gateway.worker_pids()
        assert len(replaced) == 2 and pids[0] not in replaced and pids[1] in replaced
        assert '"msg": "worker died"' in gateway.log_text() and '"msg": "worker restarted"' in gateway.log_text()
        served = await _served_by(gateway, ADMIN_HEADERS, 12)
        assert set(served) == {str(pid) for pid in replaced}
        async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=30) as http:
            metrics = (await http.get("/metrics")).text
        assert _metric(metrics, "agentgateway_requests_total", 'model="default/helpdesk",outcome="ok"') == 28

        # SIGTERM to the parent drains every worker: an in-flight stream finishes, exit 0.
        upstream.queue(TextReply("slow words arriving one by one until done", chunks=6, chunk_delay=0.25))
        async with (
            httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=30) as http,
            http.stream("POST", "/v1/chat/completions", json={**BODY, "stream": True}) as response,
        ):
            lines = response.aiter_lines()
            async for line in lines:
                if '"content":"slow' in line:
                    break
            gateway.proc.send_signal(signal.SIGTERM)
            rest = [line async for line in lines]
        assert "data: [DONE]" in rest and "done" in "".join(rest)
        assert gateway.proc.wait(30) == 0
        assert not _alive(replaced)
    finally:
        gateway.terminate()


async def test_one_generated_key_for_all_workers_and_none_outlives_a_killed_parent(upstream: FakeUpstream, tmp_path: Path) -> None:
    config_dir = write_config(tmp_path / "config", upstream)
    (config_dir / "security.yaml").unlink()
    gateway = GatewayProcess(make_agents_dir(tmp_path / "agents"), config_dir, tmp_path / "gw.log", env_extra={"FAKE_UPSTREAM_KEY": "x"}, workers=2).start(
        timeout=60
    )
    try:
        keys = re.findall(r"agw_[A-Za-z0-9_-]{20,}", gateway.log_text())
        assert len(keys) == 1, "the key is printed once, by the parent"
        workers = gateway.worker_pids()
        served = await _served_by(gateway, {"authorization": f"Bearer {keys[0]}"}, 12)
        assert set(served) == {str(pid) for pid in workers}
        # A supervisor killed outright leaves no worker serving behind it.
        assert gateway.proc is not None
        gateway.proc.kill()
        await _wait_until(lambda: not _alive(workers), 30)
        assert not _alive(workers)
    finally:
        gateway.terminate()


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OPENAI_"))}
    command = [str(GATEWAY_BIN), "serve", "--workers", "2", "--agents-dir", str(tmp_path / "agents"), "--config-dir", str(tmp_path), *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=90)


def test_a_worker_that_fails_at_start_up_fails_the_gateway(tmp_path: Path) -> None:
    (tmp_path / "agents").mkdir()
    (tmp_path / "upstreams.yaml").write_text("upstreams:\n  - name: local\n")  # no base_url: a start-up error in each worker
    done = _serve(tmp_path, "--http-port", str(free_port()), "--grpc-port", str(free_port()))
    assert done.returncode == 2, done.stderr[-2000:]
    assert "upstreams.yaml" in done.stderr and "base_url" in done.stderr and "Traceback" not in done.stderr + done.stdout
    assert '"msg": "worker failed to start"' in done.stderr
