"""The [fast] extra (uvloop, httptools) is used when installed and never required."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from services import fast_path
from tests.conftest import ADMIN_HEADERS, GATEWAY_ENV, write_config
from tests.fake_upstream import FakeUpstream
from tests.gateway_process import REPO, GatewayProcess, make_agents_dir

FORK_SUPPORT = "GRPC_ENABLE_FORK_SUPPORT"


async def _loop() -> str:
    return fast_path.loop_name()


def test_installed_it_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # `make test` installs the extra: uvloop is the default loop and httptools the parser.
    monkeypatch.delenv(FORK_SUPPORT, raising=False)  # run() sets it on uvloop; undone after the test
    assert fast_path.run(_loop(), "asyncio") == "asyncio"
    assert FORK_SUPPORT not in os.environ  # asyncio's loop spawns with vfork: nothing to turn off
    assert fast_path.run(_loop()) == "uvloop"  # "auto"
    assert os.environ[FORK_SUPPORT] == "false"
    assert fast_path.run(_loop(), "uvloop") == "uvloop"
    assert fast_path.http_parser() == "httptools"


def test_an_operators_grpc_fork_setting_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FORK_SUPPORT, "true")
    assert fast_path.run(_loop()) == "uvloop"
    assert os.environ[FORK_SUPPORT] == "true"


def test_missing_it_falls_back_to_asyncio_and_h11(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # None in sys.modules: "not installed"
    monkeypatch.setitem(sys.modules, "httptools", None)
    monkeypatch.delenv(FORK_SUPPORT, raising=False)
    assert fast_path.run(_loop()) == "asyncio"
    assert fast_path.run(_loop(), "uvloop") == "asyncio"
    assert FORK_SUPPORT not in os.environ
    assert fast_path.http_parser() == "h11"


def test_on_uvloop_children_started_during_grpc_calls_reach_exec() -> None:
    # uvloop forks with fork(), which runs gRPC's atfork handlers; their child half used to
    # kill about 2 in 100 children with SIGSEGV before exec (a stdio MCP server that "closed
    # the connection during start-up"). A fresh interpreter: gRPC reads the setting on import.
    env = {k: v for k, v in os.environ.items() if k != FORK_SUPPORT}
    probe = subprocess.run(
        [sys.executable, str(REPO / "tests" / "uvloop_spawn_probe.py"), "300"], cwd=REPO, env=env, capture_output=True, text=True, timeout=90, check=True
    )
    assert json.loads(probe.stdout.splitlines()[-1]) == {"loop": "uvloop", "return_codes": {"0": 300}}, probe.stderr[-2000:]


def test_the_cli_imports_grpc_only_after_the_loop_is_chosen() -> None:
    # fast_path.run sets GRPC_ENABLE_FORK_SUPPORT, which gRPC reads when it is imported.
    code = "import sys, services.cli, services.supervisor, services.settings; print(sorted(m for m in sys.modules if m.split('.')[0] == 'grpc'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"


async def test_the_test_gateway_runs_on_uvloop_with_grpc_fork_support_off_in_time(gateway: GatewayProcess) -> None:
    started = next(json.loads(line) for line in gateway.log_text().splitlines() if '"msg": "gateway started"' in line)
    assert started["loop"] == "uvloop"
    assert "gRPC imported before the event loop was chosen" not in gateway.log_text()


async def test_a_gateway_without_the_extra_serves_on_the_pure_python_path(upstream: FakeUpstream, tmp_path: Path) -> None:
    env = {**GATEWAY_ENV, "FAKE_UPSTREAM_KEY": "x", "PYTHONPATH": str(REPO / "tests" / "no_fast_path")}
    gateway = GatewayProcess(make_agents_dir(tmp_path / "agents"), write_config(tmp_path / "config", upstream), tmp_path / "gw.log", env_extra=env).start()
    try:
        async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=30) as http:
            body = {"model": "default/helpdesk", "messages": [{"role": "user", "content": "hi"}]}
            response = await http.post("/v1/chat/completions", json=body)
            assert response.status_code == 200 and float(response.headers["x-gateway-overhead-ms"]) > 0
        started = next(json.loads(line) for line in gateway.log_text().splitlines() if '"msg": "gateway started"' in line)
        assert (started["loop"], started["http_parser"]) == ("asyncio", "h11")
    finally:
        assert gateway.terminate() == 0
