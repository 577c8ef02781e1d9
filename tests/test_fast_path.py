"""The [fast] extra (uvloop, httptools) is used when installed and never required."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

from services import fast_path
from tests.conftest import ADMIN_HEADERS, GATEWAY_ENV, write_config
from tests.fake_upstream import FakeUpstream
from tests.gateway_process import REPO, GatewayProcess, make_agents_dir


async def _loop() -> str:
    return fast_path.loop_name()


def test_installed_it_is_used() -> None:
    # `make test` installs the extra: httptools is the parser; uvloop runs when asked for.
    assert fast_path.run(_loop(), "uvloop") == "uvloop"
    assert fast_path.run(_loop()) == "asyncio"  # the default (see fast_path.run)
    assert fast_path.http_parser() == "httptools"


def test_missing_it_falls_back_to_asyncio_and_h11(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # None in sys.modules: "not installed"
    monkeypatch.setitem(sys.modules, "httptools", None)
    assert fast_path.run(_loop(), "uvloop") == "asyncio"
    assert fast_path.http_parser() == "h11"


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
