"""The gateway under test: a real ``agent-gateway serve`` subprocess with the bench's own
config (one upstream, the declarative passthrough ``default/helpdesk``, the drop-in
``agents/Weather`` as ``default/weather``, one admin key) on free ports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bench.procs import REPO, Service, free_port, spawn

__all__ = [
    "ADMIN_KEY",
    "DECLARATIVE_MODEL",
    "HELPDESK_INSTRUCTIONS",
    "LIMITED_KEY",
    "SDK_MODEL",
    "Gateway",
    "launch_gateway",
    "launch_upstream",
    "start_gateway",
    "start_upstream",
    "workers_supported",
]

ADMIN_KEY = "agw-bench-admin-3f9a1c7e5b2d"
# A key with a rate limit no window reaches: every request is reserved and committed (the
# replicas phase compares the embedded limiter with the Redis one).
LIMITED_KEY = "agw-bench-limited-8c2e4a6f1d3b"
HELPDESK_INSTRUCTIONS = "You answer tickets."
DECLARATIVE_MODEL = "default/helpdesk"
SDK_MODEL = "default/weather"
GATEWAY_BIN = Path(sys.executable).with_name("agent-gateway")


@cache
def workers_supported() -> bool:
    """Whether the installed gateway has ``--workers`` (``GATEWAY_WORKERS``)."""
    try:
        out = subprocess.run([str(GATEWAY_BIN), "serve", "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "--workers" in out


@dataclass
class Gateway:
    service: Service
    grpc_port: int
    transport: str
    workers: int

    @property
    def openai_base_url(self) -> str:
        return f"{self.service.url}/v1"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


def _write_config(config_dir: Path, upstream_base_url: str) -> Path:
    config_dir.mkdir(parents=True, exist_ok=True)
    upstream = {"name": "fake", "base_url": upstream_base_url, "api_key_env": "BENCH_UPSTREAM_KEY", "model": "fake-model", "timeout_s": 60, "max_retries": 0}
    (config_dir / "upstreams.yaml").write_text(yaml.safe_dump({"default": "fake", "upstreams": [upstream]}))
    helpdesk = {"id": DECLARATIVE_MODEL, "model": "helpdesk-model", "instructions": HELPDESK_INSTRUCTIONS, "description": "bench passthrough"}
    (config_dir / "agents.yaml").write_text(yaml.safe_dump({"agents": [helpdesk]}))
    admin = {"id": "bench", "env": "GW_BENCH_ADMIN_KEY", "roles": ["admin"], "models": ["*"], "tools": ["*"]}
    limited = {
        "id": "bench-limited",
        "env": "GW_BENCH_LIMITED_KEY",
        "models": ["*"],
        "rate_limit": {"requests_per_minute": 100_000_000, "tokens_per_minute": 10**12},
    }
    (config_dir / "security.yaml").write_text(yaml.safe_dump({"api_keys": [admin, limited]}))
    return config_dir


def launch_gateway(
    name: str,
    workdir: Path,
    upstream_base_url: str,
    *,
    transport: str = "inprocess",
    workers: int = 1,
    launcher: list[str] | None = None,
    env_extra: dict[str, str] | None = None,
) -> Gateway:
    """Spawn it and return at once (``gateway.service.wait_ready()`` waits for ``/healthz``,
    so several start in parallel). ``launcher`` replaces the ``agent-gateway`` executable
    (the profiler wraps it)."""
    root = workdir / name
    agents = root / "agents"
    shutil.copytree(REPO / "agents" / "Weather", agents / "Weather", ignore=shutil.ignore_patterns("__pycache__"))
    config = _write_config(root / "config", upstream_base_url)
    http_port, grpc_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OPENAI_"))}
    env.update(
        GATEWAY_LOG_LEVEL="WARNING",
        GATEWAY_SHIM_TRANSPORT=transport,
        GATEWAY_DATA_DIR=str(root / "data"),
        GW_BENCH_ADMIN_KEY=ADMIN_KEY,
        GW_BENCH_LIMITED_KEY=LIMITED_KEY,
        BENCH_UPSTREAM_KEY="sk-bench-upstream",
        PYTHONUNBUFFERED="1",
    )
    if workers > 1:
        env["GATEWAY_WORKERS"] = str(workers)
    env.update(env_extra or {})
    cmd = [*(launcher or [str(GATEWAY_BIN)]), "serve", "--host", "127.0.0.1", "--http-port", str(http_port), "--grpc-port", str(grpc_port)]
    cmd += ["--agents-dir", str(agents), "--config-dir", str(config)]
    service = spawn(f"gateway {name}", cmd, env, root / "gateway.log", port=http_port, ready_path="/healthz", ready_timeout=90)
    return Gateway(service, grpc_port, transport, workers)


def start_gateway(name: str, workdir: Path, upstream_base_url: str, **options: Any) -> Gateway:
    """``launch_gateway`` and wait for ``/healthz``; raises (with the log tail) if it does not come up."""
    gateway = launch_gateway(name, workdir, upstream_base_url, **options)
    gateway.service.wait_ready()
    return gateway


def launch_upstream(name: str, workdir: Path, *, hold: bool = False) -> Service:
    """The offline demo model (``agent-gateway demo-model --chunk-delay 0``) as the instant fake
    upstream, in its own process: the same wire builders as ``tests/fake_upstream.py``,
    TCP_NODELAY on. ``hold``: ``bench.hold_upstream`` instead, whose streams wait after their
    first content chunk until released (the idle-streams phase). Returns at once."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OPENAI_"))}
    env.update(GATEWAY_LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
    if hold:
        cmd = [sys.executable, "-m", "bench.hold_upstream", "--host", "127.0.0.1", "--port", str(port)]
    else:
        cmd = [str(GATEWAY_BIN), "demo-model", "--host", "127.0.0.1", "--port", str(port), "--chunk-delay", "0"]
    return spawn(name, cmd, env, workdir / f"{name}.log", port=port, ready_path="/v1/models", ready_timeout=60)


def start_upstream(name: str, workdir: Path, *, hold: bool = False) -> Service:
    service = launch_upstream(name, workdir, hold=hold)
    service.wait_ready()
    return service
