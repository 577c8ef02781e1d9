"""Hot reload as operators see it: `make run` watches, a watching gateway serves new folders."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.gateway_process import REPO

pytestmark = pytest.mark.asyncio


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
