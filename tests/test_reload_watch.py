"""The hot-reload watcher's file table: a file reloads only when its content changed, a
rejected reload is reported (and counted) until a later one succeeds. WatchAgents on the
in-process transport: the event sequence, per-key visibility, cancel and shutdown."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from prometheus_client import REGISTRY

from agentgateway.v1 import registry_service_pb2 as reg_pb
from agentgateway.v1 import registry_service_pb2_grpc as reg_grpc
from services.config_files import ConfigError
from services.registry.catalog import AgentCatalog
from services.registry.discovery import Failure
from services.registry.servicer import RegistryServicer
from services.registry.watch import WatchedFile, Watcher
from services.rpc.inprocess import InProcessServer, channel_to, registering_on
from services.rpc.interceptor import ErrorInterceptor
from services.security.gatekeeper import Gatekeeper
from services.security.interceptor import AuthInterceptor

pytestmark = pytest.mark.asyncio


async def test_each_file_reloads_on_a_change_of_its_content_only(tmp_path: Path) -> None:
    reloads: list[str] = []
    problems: list[tuple[str, Failure | None]] = []

    def reloader(name: str) -> WatchedFile:
        path = tmp_path / f"{name}.yaml"
        path.write_text("v0\n")

        async def reload() -> None:
            reloads.append(name)
            if path.read_text().startswith("bad"):
                raise ConfigError(f"{path}: not valid YAML")

        return WatchedFile(name, path, reload)

    first, second = reloader("first"), reloader("second")
    watcher = Watcher([first, second], on_problem=lambda watched, failure: problems.append((watched.name, failure)))
    rejected = REGISTRY.get_sample_value("agentgateway_config_reload_failures_total", {"config": "second"}) or 0.0

    await watcher.check_files()
    first.path.write_text("v0\n")  # the same bytes: nothing to do
    await watcher.check_files()
    assert reloads == [] and problems == []

    second.path.write_text("v1\n")
    await watcher.check_files()
    assert reloads == ["second"] and problems == [("second", None)]

    second.path.write_text("bad\n")
    await watcher.check_files()
    await watcher.check_files()  # the rejected content is not tried again until it changes
    assert reloads == ["second", "second"]
    name, failure = problems[-1]
    assert name == "second" and failure is not None and (failure.error_type, failure.stage) == ("ConfigError", "discover")
    assert "not valid YAML" in failure.message
    assert REGISTRY.get_sample_value("agentgateway_config_reload_failures_total", {"config": "second"}) == rejected + 1

    first.path.unlink()  # gone is a change too (the owner decides what a missing file means)
    second.path.write_text("v2\n")
    await watcher.check_files()
    assert reloads[-2:] == ["first", "second"] and problems[-1] == ("second", None)


# --------------------------------------------------------------------------- WatchAgents in process

ADMIN, USER = "agw-watch-admin-6c1e9f3a2b7d", "agw-watch-user-9d4b2e7f1a3c"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _agent(name: str, instructions: str) -> str:
    return f"from agents import Agent\n\nagent = Agent(name={name!r}, instructions={instructions!r})\n"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[AgentCatalog, InProcessServer]]:
    """The real RegistryServicer over a real catalogue, behind the gateway's own interceptors, on
    the in-process transport the co-located shim uses."""
    (tmp_path / "security.yaml").write_text(
        yaml.safe_dump(
            {
                "api_keys": [
                    {"id": "admin", "sha256": _digest(ADMIN), "roles": ["admin"], "models": ["*"]},
                    {"id": "user", "sha256": _digest(USER), "models": ["default/*"]},
                ]
            }
        )
    )
    agents_dir = tmp_path / "agents"
    (agents_dir / "Kept").mkdir(parents=True)
    (agents_dir / "Kept" / "agent.py").write_text(_agent("Kept", "kept"))
    gatekeeper = Gatekeeper.load(tmp_path / "security.yaml")
    catalog = AgentCatalog(agents_dir, None)
    await catalog.refresh()
    interceptors = [ErrorInterceptor(), AuthInterceptor(gatekeeper)]
    server = InProcessServer(interceptors)
    reg_grpc.add_RegistryServiceServicer_to_server(RegistryServicer(catalog, gatekeeper), registering_on(server))
    yield catalog, server
    catalog.end_watches()


async def _read(stream: Any) -> reg_pb.WatchAgentsResponse:
    response: reg_pb.WatchAgentsResponse = await asyncio.wait_for(anext(stream), 5)
    return response


def _kinds(response: reg_pb.WatchAgentsResponse) -> list[tuple[int, str]]:
    return [(e.type, e.agent_id) for e in response.events]


async def test_watch_agents_in_process_follows_add_break_fix_remove(served: tuple[AgentCatalog, InProcessServer], tmp_path: Path) -> None:
    catalog, server = served
    stub = reg_grpc.RegistryServiceStub(channel_to(server))
    admin = stub.WatchAgents(reg_pb.WatchAgentsRequest(), metadata=(("authorization", f"Bearer {ADMIN}"),))
    user = stub.WatchAgents(reg_pb.WatchAgentsRequest(), metadata=(("x-api-key", USER),))
    first = await _read(admin)
    assert first.snapshot and _kinds(first) == [(reg_pb.CATALOG_EVENT_TYPE_ADDED, "default/kept")]
    assert first.events[0].agent.name == "agents/default/kept"
    assert (await _read(user)).snapshot
    assert catalog.watches == 2

    folder = tmp_path / "agents" / "Fresh"
    folder.mkdir()
    steps = [
        (lambda: (folder / "agent.py").write_text(_agent("Fresh", "v1")), reg_pb.CATALOG_EVENT_TYPE_ADDED),
        (lambda: (folder / "agent.py").write_text("agent = (\n"), reg_pb.CATALOG_EVENT_TYPE_FAILED),
        (lambda: (folder / "agent.py").write_text(_agent("Fresh", "v2")), reg_pb.CATALOG_EVENT_TYPE_UPDATED),
        (lambda: shutil.rmtree(folder), reg_pb.CATALOG_EVENT_TYPE_REMOVED),
    ]
    for change, expected in steps:
        change()
        await catalog.refresh(declarative=False, retry_failed=False)
        for stream in (admin, user):
            response = await _read(stream)
            assert not response.snapshot and _kinds(response) == [(expected, "default/fresh")]
            event = response.events[0]
            if expected == reg_pb.CATALOG_EVENT_TYPE_FAILED:  # the broken edit: the last good version serves on
                assert event.agent.HasField("stale_since") and event.agent.stale_reason == event.diagnostic
                assert event.diagnostic.error_type == "SyntaxError" and event.diagnostic.stale
                assert ("SyntaxError" in event.diagnostic.traceback) == (stream is admin)  # tracebacks: admins only
            if expected == reg_pb.CATALOG_EVENT_TYPE_UPDATED:
                assert not event.agent.HasField("stale_since")

    # A new agent that fails is not served: a failed event without an agent. The user key may
    # not use the labs namespace: it is not told.
    (tmp_path / "agents" / "Broken").mkdir()
    (tmp_path / "agents" / "Broken" / "agent.py").write_text("import not_there_at_all\n")
    (tmp_path / "agents" / "labs" / "Secret").mkdir(parents=True)
    (tmp_path / "agents" / "labs" / "Secret" / "agent.py").write_text(_agent("Secret", "s"))
    await catalog.refresh(declarative=False, retry_failed=False)
    response = await _read(admin)
    assert _kinds(response) == [(reg_pb.CATALOG_EVENT_TYPE_ADDED, "labs/secret"), (reg_pb.CATALOG_EVENT_TYPE_FAILED, "default/broken")]
    assert not response.events[1].HasField("agent") and response.events[1].diagnostic.error_type == "ModuleNotFoundError"
    response = await _read(user)
    assert _kinds(response) == [(reg_pb.CATALOG_EVENT_TYPE_FAILED, "default/broken")]

    # A client that cancels leaves; a shutdown ends the others cleanly (status OK).
    user.cancel()
    for _ in range(50):
        if catalog.watches == 1:
            break
        await asyncio.sleep(0.01)
    assert catalog.watches == 1
    catalog.end_watches()
    with pytest.raises(StopAsyncIteration):
        await _read(admin)
    assert catalog.watches == 0
    # Watching during the shutdown: the snapshot, then the end.
    late = stub.WatchAgents(reg_pb.WatchAgentsRequest(), metadata=(("x-api-key", ADMIN),))
    assert [r.snapshot async for r in late] == [True]


async def test_watch_agents_needs_a_key(served: tuple[AgentCatalog, InProcessServer]) -> None:
    _, server = served
    stream = reg_grpc.RegistryServiceStub(channel_to(server)).WatchAgents(reg_pb.WatchAgentsRequest())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _read(stream)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
