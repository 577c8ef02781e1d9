"""Shared fixtures: one fake upstream (a real HTTP server) and one real gateway process.

Session scope is per test process: under pytest-xdist (`make test`) every worker starts its own
gateway, upstream, MCP and docs servers, each on ports the kernel chose, and writes only below its
own tmp_path_factory directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
import redis.asyncio as redis
import yaml
from openai import AsyncOpenAI

from services.state.redis_client import connect
from tests.docs_server import DocsServer
from tests.fake_upstream import FakeUpstream
from tests.gateway_process import REPO, GatewayProcess, make_agents_dir, refused_port
from tests.grpc_auth import authed_channel
from tests.mcp_http import HttpCalc
from tests.redis_server import RedisServer

E2E_AGENTS = REPO / "tests" / "e2e_agents"

# Test keys, read by the gateway from env vars named in security.yaml. Distinctive values
# so the leak tests can search logs for them.
KEYS = {
    "admin": "agw-test-admin-7d1f0c9e2b4a",
    "user": "agw-test-user-5e8a3b1c9d2f",
    "limited": "agw-test-limited-2c7e9a4b1f6d",
    "notools": "agw-test-notools-8b3d5f1a7c2e",
    "tokens": "agw-test-tokens-4a9c2e7b5d1f",
    "burst": "agw-test-burst-3e7a1c9d5b2f",
}
# What every test gateway's config reads from its environment: the keys, and where the stdio
# MCP test server records its process starts (sessions).
GATEWAY_ENV = {**{f"GW_KEY_{name.upper()}": value for name, value in KEYS.items()}, "GW_CALC_STARTS": os.devnull}
ADMIN_KEY = KEYS["admin"]
ADMIN_HEADERS = {"authorization": f"Bearer {ADMIN_KEY}"}
UPSTREAM_KEY = "sk-upst-9f3a7c1e5b2d8046"
RESPONSES_MODEL = "fake-responses-model"  # the model of the `fake-responses` upstream


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server of the test's own (about 20 ms to start), empty, on a free port."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
async def redis_clients(redis_server: RedisServer) -> AsyncIterator[list[redis.Redis]]:
    """Four clients of ``redis_server``, each with a pool of its own: as four replicas talk to one Redis."""
    made = [connect(redis_server.url) for _ in range(4)]
    yield made
    for made_client in made:
        await made_client.aclose()


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    # The fake upstream checks every request of the session: no gateway client key may reach it.
    server.forbid(*KEYS.values())
    yield server
    server.stop()
    assert server.violations == [], server.violations


def write_config(
    config_dir: Path, upstream: FakeUpstream, *, timeout_s: float = 10.0, http_tool_base: str | None = None, mcp_http_url: str | None = None
) -> Path:
    config_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "tests" / "e2e_tools.py", config_dir / "e2e_tools.py")
    shutil.copy(REPO / "tests" / "mcp_servers" / "calc_server.py", config_dir / "calc_server.py")
    tools: list[dict] = [
        {"name": "lookup_ticket", "kind": "python", "target": "e2e_tools:lookup_ticket"},
        {"name": "explode", "kind": "python", "target": "e2e_tools:explode"},
        {"name": "sleepy", "kind": "python", "target": "e2e_tools:sleepy", "timeout_s": 1},
        {"name": "blocking", "kind": "python", "target": "e2e_tools:blocking", "timeout_s": 10},
        # stdio MCP server: each process start is appended to $GW_CALC_STARTS (one start = one session).
        {"name": "calc", "kind": "mcp", "command": ["python", "calc_server.py"], "env": {"CALC_SERVER_STARTS_FILE": "env:GW_CALC_STARTS"}},
    ]
    if mcp_http_url:
        tools.append({"name": "remote", "kind": "mcp", "url": mcp_http_url})
    if http_tool_base:
        tools.append(
            {
                "name": "fetch_doc",
                "kind": "http",
                "method": "GET",
                "url": f"{http_tool_base}/docs/{{path}}",
                "headers": {"Authorization": "env:DOCS_TOKEN"},
                "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
                "timeout_s": 5,
            }
        )
    (config_dir / "tools.yaml").write_text(yaml.safe_dump({"tools": tools, "outbound": {"allow_hosts": ["127.0.0.1"]}}))
    (config_dir / "upstreams.yaml").write_text(
        yaml.safe_dump(
            {
                "default": "fake",
                # Off here: tests count the requests the fake upstream sees, and expect `down` to be
                # unreachable (502), not known to be down (503). tests/test_e2e_upstreams.py checks.
                "health_check": False,
                "upstreams": [
                    {
                        "name": "fake",
                        "base_url": upstream.base_url,
                        "api_key_env": "FAKE_UPSTREAM_KEY",
                        "model": "fake-model",
                        "timeout_s": timeout_s,
                        "max_retries": 0,
                    },
                    # The same fake, as an upstream speaking the Responses API (drop-ins choose it
                    # with __gateway__["upstream"]); its model name tells its requests apart.
                    {
                        "name": "fake-responses",
                        "base_url": upstream.base_url,
                        "api_key_env": "FAKE_UPSTREAM_KEY",
                        "model": RESPONSES_MODEL,
                        "api": "responses",
                        "timeout_s": timeout_s,
                        "max_retries": 0,
                    },
                    # The same fake behind one connection: the "pool exhausted" case.
                    {
                        "name": "narrow",
                        "base_url": upstream.base_url,
                        "model": "narrow-model",
                        "timeout_s": timeout_s,
                        "max_retries": 1,
                        "max_connections": 1,
                        "pool_timeout_s": 0.3,
                    },
                    # Nothing listens here, ever: the "upstream down" case.
                    {"name": "down", "base_url": f"http://127.0.0.1:{refused_port()}/v1", "model": "fake-model", "timeout_s": 2, "max_retries": 0},
                ],
            }
        )
    )
    (config_dir / "security.yaml").write_text(
        yaml.safe_dump(
            {
                "api_keys": [
                    {"id": "admin", "env": "GW_KEY_ADMIN", "roles": ["admin"], "models": ["*"], "tools": ["*"]},
                    {"id": "user", "env": "GW_KEY_USER", "models": ["default/*"], "tools": ["get_weather", "check_status"]},
                    {
                        "id": "limited",
                        "env": "GW_KEY_LIMITED",
                        "models": ["default/*"],
                        "tools": ["*"],
                        "rate_limit": {"requests_per_minute": 3, "tokens_per_minute": 100000},
                    },
                    {"id": "notools", "env": "GW_KEY_NOTOOLS", "models": ["default/*"], "tools": []},
                    {"id": "tokens", "env": "GW_KEY_TOKENS", "models": ["default/*"], "tools": ["*"], "rate_limit": {"tokens_per_minute": 400}},
                    # One request a minute: tests/test_e2e_metrics.py counts its refusals.
                    {"id": "burst", "env": "GW_KEY_BURST", "models": ["default/*"], "rate_limit": {"requests_per_minute": 1}},
                ],
                "modules": {"allow": ["*"], "deny": ["default/deniedmodule"]},
                "namespaces": {"labs": {"models": "deny"}},
            }
        )
    )
    (config_dir / "agents.yaml").write_text(
        yaml.safe_dump(
            {
                "agents": [
                    {"id": "default/helpdesk", "instructions": "You answer tickets.", "description": "Ticket helper", "model": "helpdesk-model"},
                    {"id": "default/offline", "upstream": "down", "description": "Routed to an upstream that is down"},
                    {"id": "default/narrow", "upstream": "narrow", "description": "Routed to an upstream with one connection"},
                    {
                        "id": "default/tooldesk",
                        "model": "tooldesk-model",
                        "instructions": "Use tools.",
                        "tools": ["lookup_ticket", "calc_add", "remote_add", "explode"],
                        "max_tool_hops": 2,
                    },
                ]
            }
        )
    )
    return config_dir


@pytest.fixture(scope="session")
def docs_server() -> Iterator[DocsServer]:
    server = DocsServer().start()
    yield server
    server.stop()


# How the shim reaches the executor in the shared gateway: every end-to-end test runs over both
# (co-located default: in process, no socket; as a split deployment does: a gRPC socket).
SHIM_TRANSPORTS = ("inprocess", "socket")


@pytest.fixture(scope="session", params=SHIM_TRANSPORTS)
def gateway(
    request: pytest.FixtureRequest, upstream: FakeUpstream, docs_server: DocsServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp(f"gateway-{request.param}")
    # A streamable-HTTP MCP server (a real subprocess) of this gateway's own: tests count the
    # sessions it sees, so it must not be shared with the other transport's gateway.
    mcp_server = HttpCalc().start()
    request.addfinalizer(mcp_server.close)
    mcp_http_url = mcp_server.url
    agents_dir = make_agents_dir(root / "agents", [E2E_AGENTS])
    config_dir = write_config(root / "config", upstream, http_tool_base=docs_server.base_url, mcp_http_url=mcp_http_url)
    env = {
        **GATEWAY_ENV,
        "GW_CALC_STARTS": str(root / "calc-starts"),
        "FAKE_UPSTREAM_KEY": UPSTREAM_KEY,
        "GW_DENIED_MARKER": str(root / "denied-module-imported"),
        "GW_HOOKS_LOG": str(root / "hooks.log"),
        "GW_MCP_HTTP_URL": mcp_http_url,
        "DOCS_TOKEN": "Bearer docs-token-value",
        "GATEWAY_SHIM_TRANSPORT": request.param,
    }
    if os.environ.get("AGW_TEST_STATE") == "redis":
        # The same end-to-end suites on the shared stores: a Redis of this gateway's own.
        state = RedisServer().start()
        request.addfinalizer(state.stop)
        env["GATEWAY_STATE_URL"] = state.url
    process = GatewayProcess(agents_dir, config_dir, root / "gateway.log", env_extra=env)
    process.start()
    yield process
    process.terminate()
    # The whole session ran at DEBUG: no key or token, nor any 8-character piece of one, may be in the log.
    log = process.log_text()
    for secret in (*KEYS.values(), UPSTREAM_KEY, "docs-token-value"):
        leaked = [piece for piece in {secret[i : i + 8] for i in range(len(secret) - 7)} if piece in log]
        assert not leaked, f"key material {leaked[:3]} in the gateway log"


@pytest.fixture(autouse=True)
def _fresh_upstream(request: pytest.FixtureRequest) -> None:
    if "upstream" in request.fixturenames or "gateway" in request.fixturenames:
        request.getfixturevalue("upstream").reset()


@pytest.fixture
async def client(gateway: GatewayProcess) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=gateway.openai_base_url, api_key=ADMIN_KEY, max_retries=0, timeout=30) as openai_client:
        yield openai_client


@pytest.fixture
async def channel(gateway: GatewayProcess) -> AsyncIterator[grpc.aio.Channel]:
    async with authed_channel(gateway.grpc_address, ADMIN_KEY) as ch:
        yield ch
