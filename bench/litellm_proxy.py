"""The LiteLLM proxy baseline: a pinned ``litellm[proxy]`` in its own virtualenv, created on
first use under ``.bench-venvs/litellm`` (gitignored), pointed at the bench's fake upstream
with callbacks and logging off and one worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from bench.procs import REPO, Service, free_port, spawn

__all__ = ["LITELLM_PIN", "ensure_litellm", "launch_litellm", "litellm_version"]

LITELLM_PIN = "litellm[proxy]==1.83.0"
VENV = REPO / ".bench-venvs" / "litellm"
_BIN = VENV / "bin"


def litellm_version() -> str:
    marker = VENV / ".pinned"
    return marker.read_text().strip() if marker.exists() else ""


def ensure_litellm(log: Path) -> bool:
    """Create the virtualenv and install the pin unless it is already there (~1 min once)."""
    if litellm_version() == LITELLM_PIN and (_BIN / "litellm").exists():
        return True
    with log.open("ab") as out:
        if not (_BIN / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, stdout=out, stderr=subprocess.STDOUT)
        subprocess.run(
            [str(_BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", LITELLM_PIN],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    (VENV / ".pinned").write_text(LITELLM_PIN + "\n")
    return True


def _config(path: Path, upstream_base_url: str, model: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": model,
                        "litellm_params": {"model": f"openai/{model}", "api_base": upstream_base_url, "api_key": "sk-bench-upstream"},
                    }
                ],
                "litellm_settings": {
                    "callbacks": [],
                    "success_callback": [],
                    "failure_callback": [],
                    "set_verbose": False,
                    "json_logs": False,
                    "turn_off_message_logging": True,
                    "request_timeout": 30,
                },
                "general_settings": {"disable_spend_logs": True, "disable_error_logs": True},
            }
        )
    )
    return path


def launch_litellm(workdir: Path, upstream_base_url: str, model: str) -> Service:
    """``litellm --config ... --num_workers 1``, spawned; ready (``wait_ready()``) when
    ``/health/liveliness`` answers."""
    port = free_port()
    config = _config(workdir / "litellm.yaml", upstream_base_url, model)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LITELLM_"))},
        "LITELLM_LOG": "ERROR",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the cost map from GitHub
        "DISABLE_ADMIN_UI": "True",
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [str(_BIN / "litellm"), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1", "--telemetry", "False"]
    return spawn("litellm", cmd, env, workdir / "litellm.log", port=port, cwd=workdir, ready_path="/health/liveliness", ready_timeout=120)
