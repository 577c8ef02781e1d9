"""The hot-reload watcher's file table: a file reloads only when its content changed, a
rejected reload is reported (and counted) until a later one succeeds."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from services.config_files import ConfigError
from services.registry.discovery import Failure
from services.registry.watch import WatchedFile, Watcher

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
