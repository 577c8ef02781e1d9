"""docs/deployment.md's runnable parts: the gRPC client snippet (round robin over a dns:///
target) against a real gateway, and the files and commands it names."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN_KEY, GATEWAY_ENV, write_config
from tests.fake_upstream import FakeUpstream
from tests.gateway_process import REPO, GatewayProcess, make_agents_dir

DOC = REPO / "docs" / "deployment.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.mark.timeout(120)
def test_the_round_robin_client_snippet_lists_agents(upstream: FakeUpstream, tmp_path: Path) -> None:
    (snippet,) = [b for b in _blocks("python") if "round_robin" in b]
    gateway = GatewayProcess(make_agents_dir(tmp_path / "agents"), write_config(tmp_path / "config", upstream), tmp_path / "gw.log", env_extra=GATEWAY_ENV)
    gateway.start()
    try:
        # The cluster's headless name becomes this machine's: the same dns:/// resolver and policy.
        local = re.sub(r'"dns:///[^"]+"', f'"dns:///localhost:{gateway.grpc_port}"', snippet)
        assert local != snippet
        done = subprocess.run([sys.executable, "-c", local], env={**os.environ, "AGW_KEY": ADMIN_KEY}, capture_output=True, text=True, timeout=60, cwd=REPO)
        assert done.returncode == 0, done.stderr
        assert "default/weather" in done.stdout
    finally:
        assert gateway.terminate() == 0


def test_the_files_and_folders_it_applies_exist() -> None:
    text = DOC.read_text()
    for folder in re.findall(r"kubectl (?:kustomize|apply -k) ([\w/.-]+)", text):
        assert (REPO / folder / "kustomization.yaml").is_file(), folder
    assert "docker compose -f deploy/compose.yaml up" in text
    assert (REPO / "deploy" / "compose.yaml").is_file()
    assert "make image" in text and re.search(r"^image:", (REPO / "Makefile").read_text(), flags=re.M)
