"""McpToolProvider against real MCP servers (tests/mcp_servers/calc_server.py) over stdio and
streamable HTTP: listing, calls, session reuse, failures, cancellation, restarts, clean close."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.tools.config import McpToolConfig
from services.tools.mcp_tools import McpToolProvider
from services.tools.provider import ToolFailure, ToolSpec
from tests.gateway_process import refused_port
from tests.mcp_http import HttpCalc

SERVERS = Path(__file__).parent / "mcp_servers"


def children_running(script: str) -> list[int]:
    """Pids of this process's children (zombies included) whose command line mentions ``script``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and script in cmdline:
            found.append(int(entry.name))
    return found


def spec(provider: McpToolProvider, tool: str) -> ToolSpec:
    return ToolSpec(name=f"{provider.name}_{tool}", description="", parameters={"type": "object"}, kind="mcp", target=tool)


async def stats(provider: McpToolProvider) -> dict[str, int]:
    return json.loads(await provider.invoke(spec(provider, "stats"), {}))


@pytest.fixture(scope="module")
def starts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mcp") / "starts.txt"


def process_starts(path: Path) -> int:
    return len(path.read_text().split()) if path.exists() else 0


def stdio_provider(**kwargs: object) -> McpToolProvider:
    return McpToolProvider("calc", command=["python", "calc_server.py"], cwd=SERVERS, **kwargs)  # type: ignore[arg-type]


# Server processes take a second or two to start (importing the mcp server stack), so the
# tests that leave the session healthy share one stdio and one HTTP provider per module.
@pytest.fixture(scope="module")
async def stdio_calc(starts_file: Path) -> AsyncIterator[McpToolProvider]:
    # Built like the catalogue does, from a validated tools.yaml entry; env values "env:NAME"
    # come from the gateway environment, which the server otherwise does not inherit.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGW_TEST_GATEWAY_SECRET", "sk-gateway-secret-1234")
        mp.setenv("AGW_TEST_CALC_TOKEN", "calc-token-5678")
        mp.setenv("AGW_TEST_CALC_STARTS", str(starts_file))
        mp.setenv("AGW_TEST_CALC_MODE", "fast")
        env = {"CALC_SERVER_STARTS_FILE": "env:AGW_TEST_CALC_STARTS", "CALC_TOKEN": "env:AGW_TEST_CALC_TOKEN", "CALC_MODE": "env:AGW_TEST_CALC_MODE"}
        cfg = McpToolConfig.model_validate({"name": "calc", "kind": "mcp", "command": ["python", "calc_server.py"], "env": env, "timeout_s": 10})
        provider = McpToolProvider.from_config(cfg, SERVERS)
        assert provider.timeout_s == 10
        await provider.start()
    yield provider
    await provider.close()


@pytest.fixture(scope="module")
def http_calc() -> Iterator[HttpCalc]:
    server = HttpCalc().start()
    yield server
    server.close()


@pytest.fixture(scope="module")
async def http_provider(http_calc: HttpCalc) -> AsyncIterator[McpToolProvider]:
    provider = McpToolProvider("calc", url=http_calc.url, timeout_s=10)
    await provider.start()
    yield provider
    await provider.close()


@pytest.fixture(scope="module", params=["stdio", "http"])
def calc(request: pytest.FixtureRequest) -> McpToolProvider:
    return request.getfixturevalue("stdio_calc" if request.param == "stdio" else "http_provider")


# -- both transports ---------------------------------------------------------------------------


async def test_list_tools_prefixed_with_schemas(calc: McpToolProvider) -> None:
    specs = {s.name: s for s in await calc.list_tools()}
    assert {"calc_add", "calc_echo", "calc_fail", "calc_slow", "calc_crash", "calc_stats"} <= set(specs)
    add = specs["calc_add"]
    assert add.kind == "mcp"
    assert add.target == "add"
    assert add.description == "Add two integers."
    assert add.parameters["type"] == "object"
    assert add.parameters["properties"]["a"]["type"] == "integer"
    assert set(add.parameters["required"]) == {"a", "b"}
    assert specs["calc_fail"].parameters["type"] == "object"


async def test_invoke_add_echo_and_structured(calc: McpToolProvider) -> None:
    specs = {s.name: s for s in await calc.list_tools()}
    assert await calc.invoke(specs["calc_add"], {"a": 2, "b": 3}) == "5"
    assert await calc.invoke(specs["calc_echo"], {"text": "héllo, wörld"}) == "héllo, wörld"
    assert json.loads(await calc.invoke(specs["calc_point"], {"x": 2, "y": 3})) == {"x": 2, "y": 3}


async def test_concurrent_invokes_share_one_session(calc: McpToolProvider) -> None:
    add = spec(calc, "add")
    results = await asyncio.gather(*(calc.invoke(add, {"a": i, "b": 1000}) for i in range(20)))
    assert results == [str(i + 1000) for i in range(20)]
    for i in range(5):
        assert await calc.invoke(add, {"a": i, "b": i}) == str(2 * i)
    assert calc.sessions_opened == 1
    server = await stats(calc)
    assert server["handshakes"] == 1  # one initialize/discover for all 25 calls
    assert server["calls"] >= 25


async def test_tool_error_is_tool_failure(calc: McpToolProvider) -> None:
    with pytest.raises(ToolFailure, match="calc exploded on purpose"):
        await calc.invoke(spec(calc, "fail"), {})
    # Unknown tools and bad arguments are tool failures too, and the session survives them.
    with pytest.raises(ToolFailure):
        await calc.invoke(spec(calc, "nope"), {})
    with pytest.raises(ToolFailure):
        await calc.invoke(spec(calc, "add"), {"a": "x"})
    assert await calc.invoke(spec(calc, "add"), {"a": 1, "b": 1}) == "2"
    assert calc.sessions_opened == 1


async def test_cancelled_call_leaves_session_usable(calc: McpToolProvider) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(calc.invoke(spec(calc, "slow"), {"seconds": 5}), 0.3)
    assert await calc.invoke(spec(calc, "add"), {"a": 2, "b": 3}) == "5"
    results = await asyncio.gather(*(calc.invoke(spec(calc, "echo"), {"text": str(i)}) for i in range(5)))
    assert results == [str(i) for i in range(5)]
    assert time.monotonic() - started < 3
    assert calc.sessions_opened == 1
    assert (await stats(calc))["handshakes"] == 1


# -- stdio ---------------------------------------------------------------------------------------


async def test_stdio_reuses_one_process(stdio_calc: McpToolProvider, starts_file: Path) -> None:
    before = (await stats(stdio_calc))["calls"]
    for i in range(10):
        assert await stdio_calc.invoke(spec(stdio_calc, "add"), {"a": i, "b": 1}) == str(i + 1)
    await stdio_calc.list_tools()
    assert stdio_calc.sessions_opened == 1
    assert process_starts(starts_file) == 1
    after = await stats(stdio_calc)
    assert after["calls"] == before + 11
    assert after["handshakes"] == 1


async def test_stdio_restarts_and_close(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    starts = tmp_path / "starts.txt"
    provider = stdio_provider(env={"CALC_SERVER_STARTS_FILE": str(starts)}, timeout_s=10)
    add = spec(provider, "add")
    await provider.start()
    first_pid = (await stats(provider))["pid"]
    assert first_pid in children_running("calc_server.py")
    with caplog.at_level(logging.WARNING, logger="agentgateway.tools"):
        # The crashing call reached the server, so it is not retried (tools need not be
        # idempotent): it fails, and the next call restarts the server transparently.
        with pytest.raises(ToolFailure, match="connection lost"):
            await provider.invoke(spec(provider, "crash"), {})
        assert await provider.invoke(add, {"a": 2, "b": 3}) == "5"
        assert provider.sessions_opened == 2
        assert process_starts(starts) == 2
        second = await stats(provider)
        assert second["pid"] != first_pid
        assert second["handshakes"] == 1
        assert first_pid not in children_running("calc_server.py")  # the crashed process was reaped

    restarts = [r for r in caplog.records if r.getMessage() == "MCP session lost; restarting"]
    assert len(restarts) == 1 and restarts[0].levelno == logging.WARNING and restarts[0].name == "agentgateway.tools"
    assert restarts[0].fields["server"] == "calc" and restarts[0].fields["why"]  # type: ignore[attr-defined]

    await provider.close()
    # Other tests' servers may be running; none of this provider's processes is left.
    assert not {first_pid, second["pid"]} & set(children_running("calc_server.py"))
    assert not Path(f"/proc/{second['pid']}").exists()  # exited and reaped, not a zombie
    await provider.close()  # idempotent
    with pytest.raises(ToolFailure, match="closed"):
        await provider.invoke(add, {"a": 1, "b": 2})


async def test_stdio_env_is_minimal_plus_configured(stdio_calc: McpToolProvider) -> None:
    env = spec(stdio_calc, "env")
    assert await stdio_calc.invoke(env, {"name": "AGW_TEST_GATEWAY_SECRET"}) == "<unset>"
    assert await stdio_calc.invoke(env, {"name": "CALC_TOKEN"}) == "calc-token-5678"
    assert await stdio_calc.invoke(env, {"name": "CALC_MODE"}) == "fast"
    assert await stdio_calc.invoke(env, {"name": "PATH"}) != "<unset>"


async def test_missing_env_var_fails_start() -> None:
    provider = McpToolProvider("calc", command=["python", "calc_server.py"], cwd=SERVERS, env={"CALC_TOKEN": "env:AGW_TEST_NOT_SET_ANYWHERE"})
    with pytest.raises(ToolFailure, match="AGW_TEST_NOT_SET_ANYWHERE"):
        await provider.start()
    await provider.close()


async def test_missing_command_fails_fast() -> None:
    provider = McpToolProvider("ghost", command=["agw-no-such-mcp-server-binary"], timeout_s=5)
    started = time.monotonic()
    with pytest.raises(ToolFailure, match="command not found"):
        await provider.start()
    assert time.monotonic() - started < 2
    with pytest.raises(ToolFailure, match="command not found"):
        await provider.list_tools()
    await provider.close()


async def test_silent_server_times_out_start() -> None:
    provider = McpToolProvider("silent", command=["python", "silent_server.py"], cwd=SERVERS, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(ToolFailure, match=r"did not answer within 0\.5s"):
        await provider.start()
    assert time.monotonic() - started < 1
    await provider.close()
    assert children_running("silent_server.py") == []


async def test_close_interrupts_hanging_start() -> None:
    provider = McpToolProvider("silent", command=["python", "silent_server.py"], cwd=SERVERS, timeout_s=30)
    starting = asyncio.create_task(provider.start())
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await provider.close()
    with pytest.raises(ToolFailure, match="closed"):
        await starting
    assert time.monotonic() - started < 3
    assert children_running("silent_server.py") == []


async def test_cancelled_start_leaves_nothing_behind() -> None:
    provider = McpToolProvider("silent", command=["python", "silent_server.py"], cwd=SERVERS, timeout_s=30)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(provider.start(), 0.3)
    await provider.close()
    assert children_running("silent_server.py") == []


async def test_server_exiting_at_start_fails_start(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise SystemExit(2)\n")
    provider = McpToolProvider("broken", command=["python", "broken.py"], cwd=tmp_path, timeout_s=5)
    started = time.monotonic()
    with pytest.raises(ToolFailure, match="closed the connection during start-up"):
        await provider.start()
    assert time.monotonic() - started < 4
    await provider.close()


# -- streamable HTTP -------------------------------------------------------------------------------


async def test_http_unreachable_fails_start(caplog: pytest.LogCaptureFixture) -> None:
    port = refused_port()
    provider = McpToolProvider("calc", url=f"http://127.0.0.1:{port}/mcp?token=agw-test-mcp-token-3b7e", timeout_s=5)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="agentgateway.tools"), pytest.raises(ToolFailure, match="unreachable"):
        await provider.start()
    assert time.monotonic() - started < 3
    await provider.close()
    [record] = [r for r in caplog.records if r.getMessage() == "MCP server unreachable"]
    assert record.fields["server"] == "calc" and record.fields["url"] == f"http://127.0.0.1:{port}/mcp"  # type: ignore[attr-defined]
    # The query string (a token, here) is in no message or field.
    assert not [r for r in caplog.records if "agw-test-mcp-token" in r.getMessage() + repr(getattr(r, "fields", None))]


async def test_http_server_restart() -> None:
    server = await asyncio.to_thread(HttpCalc().start)
    modern = McpToolProvider("calc", url=server.url, timeout_s=10)
    # "legacy" forces the initialize handshake: a stateful session (Mcp-Session-Id), like
    # pre-2026 servers keep.
    legacy = McpToolProvider("calc", url=server.url, timeout_s=10, mode="legacy")
    add = spec(modern, "add")
    try:
        assert await modern.invoke(add, {"a": 1, "b": 1}) == "2"
        assert await legacy.invoke(add, {"a": 1, "b": 1}) == "2"
        assert (await stats(legacy))["initialize"] == 1

        await asyncio.to_thread(server.stop)
        started = time.monotonic()
        with pytest.raises(ToolFailure, match="unreachable"):
            await modern.invoke(add, {"a": 1, "b": 2})
        assert time.monotonic() - started < 3

        await asyncio.to_thread(server.start)  # a new process on the same port
        # Connection refused proves the failed call never ran: the session is re-opened.
        assert await modern.invoke(add, {"a": 2, "b": 3}) == "5"
        assert modern.sessions_opened == 2
        # The new process does not know the legacy session id (404): nothing ran, so the call
        # is retried once on a new session.
        assert await legacy.invoke(add, {"a": 3, "b": 4}) == "7"
        assert legacy.sessions_opened == 2
        fresh = await stats(legacy)
        assert fresh["initialize"] == 1
        assert fresh["handshakes"] == 2  # the new process saw one handshake per provider
    finally:
        await modern.close()
        await legacy.close()
        server.close()
