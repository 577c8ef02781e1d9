"""Hot reload as operators see it: `make run` watches; a watching gateway serves a folder added
after start, keeps the last good version of a broken edit serving (and says so over gRPC, in
logs and metrics) and clears that once the edit is fixed; each edit reloads only what it
concerns (an untouched drop-in is imported once); a malformed config file is rejected and the
old one kept."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import grpc
import httpx
import pytest
import yaml
from openai import AsyncOpenAI

from agentgateway.v1 import registry_service_pb2 as reg_pb
from agentgateway.v1 import registry_service_pb2_grpc as reg_grpc
from agentgateway.v1 import tool_service_pb2 as tool_pb
from agentgateway.v1 import tool_service_pb2_grpc as tool_grpc
from tests.conftest import ADMIN_HEADERS, ADMIN_KEY, GATEWAY_ENV, KEYS, UPSTREAM_KEY, write_config
from tests.fake_upstream import FakeUpstream, TextReply
from tests.gateway_process import REPO, GatewayProcess, make_agents_dir
from tests.grpc_auth import authed_channel

pytestmark = pytest.mark.asyncio

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float = 15.0) -> T:
    """Poll ``probe`` until ``done`` says its value is what the test waits for."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


def agent_source(name: str, instructions: str) -> str:
    return f"from agents import Agent\n\nagent = Agent(name={name!r}, instructions={instructions!r})\n"


@pytest.fixture(scope="module")
def watching(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """One gateway with GATEWAY_AGENT_WATCH=1 for this module; each test uses folders of its own."""
    root = tmp_path_factory.mktemp("watching")
    agents_dir = make_agents_dir(root / "agents")
    # Every import of this drop-in appends a line to imports.log.
    (agents_dir / "Counted").mkdir()
    (agents_dir / "Counted" / "agent.py").write_text(
        "import os\n\nwith open(os.environ['GW_IMPORTS_LOG'], 'a') as log:\n    log.write('imported\\n')\n\n" + agent_source("Counted", "counted")
    )
    env = {**GATEWAY_ENV, "GATEWAY_AGENT_WATCH": "1", "FAKE_UPSTREAM_KEY": UPSTREAM_KEY, "GW_IMPORTS_LOG": str(root / "imports.log")}
    gateway = GatewayProcess(agents_dir, write_config(root / "config", upstream), root / "gateway.log", env_extra=env).start()
    deadline = time.monotonic() + 15
    while "hot reload: watching" not in gateway.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the watcher's first inotify watches are in place shortly after it logs
    yield gateway
    assert gateway.terminate() == 0


async def test_a_watching_gateway_serves_a_new_folder_and_keeps_a_broken_edit_serving(watching: GatewayProcess, upstream: FakeUpstream) -> None:
    folder = watching.agents_dir / "Fresh"
    async with (
        AsyncOpenAI(base_url=watching.openai_base_url, api_key=ADMIN_KEY, max_retries=0) as client,
        authed_channel(watching.grpc_address, ADMIN_KEY) as admin,
        authed_channel(watching.grpc_address, KEYS["user"]) as user,
        httpx.AsyncClient(base_url=watching.http_url, headers=ADMIN_HEADERS) as http,
    ):
        registry, as_user = reg_grpc.RegistryServiceStub(admin), reg_grpc.RegistryServiceStub(user)

        async def fresh() -> reg_pb.Agent | None:
            try:
                return (await registry.GetAgent(reg_pb.GetAgentRequest(name="agents/default/fresh"))).agent
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.NOT_FOUND
                return None

        async def reply(text: str) -> str | None:
            upstream.queue(TextReply(text))
            answer = await client.chat.completions.create(model="default/fresh", messages=[{"role": "user", "content": "hi"}])
            return answer.choices[0].message.content

        async def stale_gauge() -> str:
            return next(line for line in (await http.get("/metrics")).text.splitlines() if line.startswith("agentgateway_agents_stale "))

        folder.mkdir()
        try:
            (folder / "agent.py").write_text(agent_source("Fresh", "version 1"))
            served = await eventually(fresh, lambda agent: agent is not None)
            assert served is not None and not served.HasField("stale_since")
            assert await reply("fresh reply") == "fresh reply"
            assert upstream.chat_requests[-1].body["messages"][0] == {"role": "system", "content": "version 1"}

            # A syntax error: the last good version serves on, marked stale with the diagnostic.
            (folder / "agent.py").write_text("from agents import Agent\nagent = Agent(\n")
            stale = await eventually(fresh, lambda agent: agent is not None and agent.HasField("stale_since"))
            assert stale is not None and stale.HasField("stale_since")
            reason = stale.stale_reason
            assert (reason.stage, reason.error_type, reason.path, reason.stale) == (reg_pb.DIAGNOSTIC_STAGE_IMPORT, "SyntaxError", "Fresh/agent.py", True)
            assert "SyntaxError" in reason.traceback  # an admin key reads tracebacks
            assert await reply("still served") == "still served"
            assert upstream.chat_requests[-1].body["messages"][0] == {"role": "system", "content": "version 1"}
            listed = (await registry.ListDiagnostics(reg_pb.ListDiagnosticsRequest())).diagnostics
            assert [d for d in listed if d.path == "Fresh/agent.py"] == [reason]
            seen_by_user = (await as_user.GetAgent(reg_pb.GetAgentRequest(name="agents/default/fresh"))).agent
            assert seen_by_user.stale_reason.error_type == "SyntaxError" and seen_by_user.stale_reason.traceback == ""
            assert await stale_gauge() == "agentgateway_agents_stale 1.0"
            assert 'agentgateway_agent_load_failures_total{stage="import"} 1.0' in (await http.get("/metrics")).text
            assert '"msg": "agent keeps serving its last good version"' in watching.log_text()

            # Fixed: the new version serves and the mark is gone.
            (folder / "agent.py").write_text(agent_source("Fresh", "version 2"))
            fixed = await eventually(fresh, lambda agent: agent is not None and not agent.HasField("stale_since"))
            assert fixed is not None and not fixed.HasField("stale_reason")
            assert await reply("new version") == "new version"
            assert upstream.chat_requests[-1].body["messages"][0] == {"role": "system", "content": "version 2"}
            assert not [d for d in (await registry.ListDiagnostics(reg_pb.ListDiagnosticsRequest())).diagnostics if d.path == "Fresh/agent.py"]
            assert await stale_gauge() == "agentgateway_agents_stale 0.0"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        assert await eventually(fresh, lambda agent: agent is None) is None


@pytest.mark.parametrize("upstream_env", [{}, {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}], ids=["demo-model", "configured-upstream"])
async def test_make_run_serves_with_watching_on_unless_told_otherwise(tmp_path: Path, upstream_env: dict[str, str]) -> None:
    # `make run` against a stand-in virtualenv whose agent-gateway records the environment it
    # was started with: both branches of the target (demo model, or an upstream of one's own).
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    record = tmp_path / "serve-env"
    fake = venv / "bin" / "agent-gateway"
    fake.write_text(f'#!/bin/sh\n[ "$1" = serve ] && echo "GATEWAY_AGENT_WATCH=$GATEWAY_AGENT_WATCH" >> {record}\nexit 0\n')
    fake.chmod(0o755)
    (venv / ".installed").touch()  # newer than pyproject.toml: nothing to install
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OPENAI_", "MAKE"))}
    for extra, expected in (({}, "1"), ({"GATEWAY_AGENT_WATCH": "0"}, "0")):
        record.unlink(missing_ok=True)
        result = subprocess.run(
            ["make", "--no-print-directory", "run", f"VENV={venv}", "DEMO_PORT=9"],
            cwd=REPO,
            env={**env, **upstream_env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert record.read_text().splitlines() == [f"GATEWAY_AGENT_WATCH={expected}"]


def _metric_line(text: str, prefix: str) -> str:
    return next((line for line in text.splitlines() if line.startswith(prefix)), "")


async def test_each_edit_reloads_only_what_it_concerns(watching: GatewayProcess, upstream: FakeUpstream) -> None:
    config = watching.config_dir
    originals = {name: (config / name).read_text() for name in ("agents.yaml", "tools.yaml", "security.yaml")}
    other = watching.agents_dir / "Other"
    new_key = "agw-test-reload-newkey-3f9b2c71"
    async with (
        AsyncOpenAI(base_url=watching.openai_base_url, api_key=ADMIN_KEY, max_retries=0) as client,
        authed_channel(watching.grpc_address, ADMIN_KEY) as admin,
        authed_channel(watching.grpc_address, new_key) as newcomer,
    ):
        tools = tool_grpc.ToolServiceStub(admin)

        async def models() -> set[str]:
            return {m.id async for m in client.models.list()}

        async def tool_names() -> set[str]:
            return {t.name.removeprefix("tools/") for t in (await tools.ListTools(tool_pb.ListToolsRequest())).tools}

        async def newcomer_allowed() -> bool:
            try:
                await reg_grpc.RegistryServiceStub(newcomer).ListAgents(reg_pb.ListAgentsRequest())
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED
                return False
            return True

        # The Calculator's own MCP server connects at its first run.
        upstream.queue(TextReply("3"))
        await client.chat.completions.create(model="default/calculator", messages=[{"role": "user", "content": "1+2"}])
        log = watching.log_text
        tool_loads, policy_loads = log().count('"msg": "tool catalogue loaded"'), log().count('"msg": "policy reloaded"')
        try:
            for n in range(3):  # another agent, agents.yaml, tools.yaml, security.yaml: three times each
                other.mkdir(exist_ok=True)
                (other / "agent.py").write_text(agent_source("Other", f"version {n}"))
                declared = yaml.safe_load(originals["agents.yaml"])
                declared["agents"].append({"id": f"default/declared-{n}", "instructions": "hi"})
                (config / "agents.yaml").write_text(yaml.safe_dump(declared))
                assert f"default/declared-{n}" in await eventually(models, lambda ids, n=n: f"default/declared-{n}" in ids and "default/other" in ids)
                catalogue = yaml.safe_load(originals["tools.yaml"])
                catalogue["tools"].append({"name": f"extra_{n}", "kind": "python", "target": "e2e_tools:lookup_ticket"})
                (config / "tools.yaml").write_text(yaml.safe_dump(catalogue))
                assert f"extra_{n}" in await eventually(tool_names, lambda names, n=n: f"extra_{n}" in names)
                policy = yaml.safe_load(originals["security.yaml"])
                if n % 2 == 0:  # in, out, in again
                    policy["api_keys"].append({"id": "newcomer", "sha256": hashlib.sha256(new_key.encode()).hexdigest(), "models": ["*"]})
                (config / "security.yaml").write_text(yaml.safe_dump(policy))
                assert await eventually(newcomer_allowed, lambda allowed, n=n: allowed == (n % 2 == 0)) == (n % 2 == 0)
            upstream.queue(TextReply("7"))
            await client.chat.completions.create(model="default/calculator", messages=[{"role": "user", "content": "3+4"}])
            assert (watching.log_path.parent / "imports.log").read_text() == "imported\n"  # twelve reloads later
            assert log().count('"msg": "tool catalogue loaded"') == tool_loads + 3  # each tools.yaml edit, only those
            assert log().count('"msg": "policy reloaded"') == policy_loads + 3  # each security.yaml edit, only those
            # Its agent object (and so its MCP server) outlived every reload.
            assert log().count('"msg": "MCP server connected"') == 1 and '"msg": "MCP server disconnected"' not in log()
        finally:
            shutil.rmtree(other, ignore_errors=True)
            for name, text in originals.items():
                (config / name).write_text(text)
        # The restored files are back in force.
        assert "default/declared-2" not in await eventually(models, lambda ids: "default/declared-2" not in ids)
        assert "extra_2" not in await eventually(tool_names, lambda names: "extra_2" not in names)
        assert not await eventually(newcomer_allowed, lambda allowed: not allowed)


async def test_a_malformed_config_file_is_rejected_and_the_old_one_kept(watching: GatewayProcess) -> None:
    config = watching.config_dir
    originals = {name: (config / name).read_text() for name in ("tools.yaml", "security.yaml")}
    async with (
        authed_channel(watching.grpc_address, ADMIN_KEY) as admin,
        httpx.AsyncClient(base_url=watching.http_url, headers=ADMIN_HEADERS) as http,
    ):
        registry, tools = reg_grpc.RegistryServiceStub(admin), tool_grpc.ToolServiceStub(admin)
        served_tools = {t.name for t in (await tools.ListTools(tool_pb.ListToolsRequest())).tools}

        async def config_problems() -> dict[str, reg_pb.Diagnostic]:
            listed = (await registry.ListDiagnostics(reg_pb.ListDiagnosticsRequest())).diagnostics
            return {Path(d.path).name: d for d in listed if Path(d.path).parent == config}

        try:
            (config / "security.yaml").write_text("api_keys: [unclosed\n")
            (config / "tools.yaml").write_text("tools:\n  - name: broken\n    kind: python\n    targt: nowhere:fn\n")
            problems = await eventually(config_problems, lambda found: {"security.yaml", "tools.yaml"} <= set(found))
            security, tools_problem = problems["security.yaml"], problems["tools.yaml"]
            assert (security.error_type, security.stage, security.stale) == ("POLICY_INVALID", reg_pb.DIAGNOSTIC_STAGE_DISCOVER, True)
            assert "not valid YAML" in security.message and "the old policy stays" in security.message
            assert tools_problem.error_type == "ConfigError" and "tools.0" in tools_problem.message
            # The old policy still authenticates this admin key; the old tools are still served.
            assert {t.name for t in (await tools.ListTools(tool_pb.ListToolsRequest())).tools} == served_tools
            metrics = (await http.get("/metrics")).text
            assert _metric_line(metrics, 'agentgateway_config_reload_failures_total{config="security"}').endswith(" 1.0")
            assert _metric_line(metrics, 'agentgateway_config_reload_failures_total{config="tools"}').endswith(" 1.0")
            assert watching.log_text().count('"msg": "config reload rejected"') == 2
        finally:
            for name, text in originals.items():
                (config / name).write_text(text)
        assert await eventually(config_problems, lambda found: not found) == {}


async def test_watch_agents_over_grpc_follows_a_folder_through_add_break_fix_remove(watching: GatewayProcess) -> None:
    folder = watching.agents_dir / "Followed"
    async with authed_channel(watching.grpc_address, ADMIN_KEY) as channel:
        call = reg_grpc.RegistryServiceStub(channel).WatchAgents(reg_pb.WatchAgentsRequest())
        first = await asyncio.wait_for(call.read(), 10)
        assert first.snapshot and {e.type for e in first.events} == {reg_pb.CATALOG_EVENT_TYPE_ADDED}
        assert {"default/weather", "default/counted", "default/helpdesk"} <= {e.agent_id for e in first.events}

        async def next_event() -> reg_pb.CatalogEvent:
            while True:  # only this test's folder: nothing else changes meanwhile, but be sure
                response = await asyncio.wait_for(call.read(), 15)
                assert not response.snapshot
                mine = [e for e in response.events if e.agent_id == "default/followed"]
                if mine:
                    assert len(mine) == 1
                    return mine[0]

        folder.mkdir()
        try:
            (folder / "agent.py").write_text(agent_source("Followed", "v1"))
            added = await next_event()
            assert added.type == reg_pb.CATALOG_EVENT_TYPE_ADDED and added.agent.path == "Followed/agent.py"
            (folder / "agent.py").write_text("from agents import Agent\nagent = Agent(\n")
            failed = await next_event()
            assert failed.type == reg_pb.CATALOG_EVENT_TYPE_FAILED
            assert failed.diagnostic.error_type == "SyntaxError" and failed.agent.stale_reason == failed.diagnostic
            (folder / "agent.py").write_text(agent_source("Followed", "v2"))
            updated = await next_event()
            assert updated.type == reg_pb.CATALOG_EVENT_TYPE_UPDATED and not updated.agent.HasField("stale_since")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        removed = await next_event()
        assert removed.type == reg_pb.CATALOG_EVENT_TYPE_REMOVED and removed.agent.id == "default/followed"
        call.cancel()
    ended = '"msg": "agent watch ended"'
    for _ in range(100):
        if ended in watching.log_text():
            break
        await asyncio.sleep(0.05)
    [line] = [line for line in watching.log_text().splitlines() if ended in line]
    assert '"reason": "cancelled"' in line and '"watches": 0' in line


async def test_an_open_watch_agents_stream_does_not_hold_the_shutdown(upstream: FakeUpstream, tmp_path: Path) -> None:
    env = {**GATEWAY_ENV, "GATEWAY_SHUTDOWN_GRACE_S": "30"}
    gateway = GatewayProcess(make_agents_dir(tmp_path / "agents"), write_config(tmp_path / "config", upstream), tmp_path / "gw.log", env_extra=env).start()
    try:
        async with authed_channel(gateway.grpc_address, ADMIN_KEY) as channel:
            call = reg_grpc.RegistryServiceStub(channel).WatchAgents(reg_pb.WatchAgentsRequest())
            assert (await asyncio.wait_for(call.read(), 10)).snapshot
            started = time.monotonic()
            stopping = asyncio.create_task(asyncio.to_thread(gateway.terminate, 40))
            assert await asyncio.wait_for(call.read(), 10) is grpc.aio.EOF  # ended by the server, not cut
            assert await call.code() == grpc.StatusCode.OK
            assert await stopping == 0
            assert time.monotonic() - started < 10  # well inside the 30 s grace
    finally:
        gateway.terminate()
    assert '"reason": "shutdown"' in gateway.log_text()
