"""Start the real gateway (`agent-gateway serve`) as a subprocess for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
GATEWAY_BIN = Path(sys.executable).with_name("agent-gateway")

__all__ = ["REPO", "GatewayProcess", "free_port", "make_agents_dir"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_agents_dir(target: Path, extra: Iterable[Path] = ()) -> Path:
    """The shipped sample agents plus test-only drop-ins (broken ones included)."""
    shutil.copytree(REPO / "agents", target, ignore=shutil.ignore_patterns("__pycache__"))
    for folder in extra:
        shutil.copytree(folder, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@dataclass
class GatewayProcess:
    agents_dir: Path
    config_dir: Path
    log_path: Path
    services: str = "registry,executor,tools,security,shim"
    grpc_target: str = ""
    env_extra: dict[str, str] | None = None

    def __post_init__(self) -> None:
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_args: list[str] = ["--host", "127.0.0.1"]

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.http_url}/v1"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, timeout: float = 30.0) -> GatewayProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OPENAI_"))}
        env.update(
            GATEWAY_SERVICES=self.services,
            GATEWAY_LOG_LEVEL="DEBUG",
            GATEWAY_SHUTDOWN_GRACE_S="5",
            PYTHONUNBUFFERED="1",
        )
        if self.grpc_target:
            env["GATEWAY_GRPC_TARGET"] = self.grpc_target
        env.update(self.env_extra or {})
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                str(GATEWAY_BIN),
                "serve",
                *self.start_args,
                "--http-port",
                str(self.http_port),
                "--grpc-port",
                str(self.grpc_port),
                "--agents-dir",
                str(self.agents_dir),
                "--config-dir",
                str(self.config_dir),
            ],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        shim = "shim" in self.services
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.log_text()[-4000:]}")
            try:
                if shim:
                    if httpx.get(f"{self.http_url}/healthz", timeout=1).status_code == 200:
                        return
                else:
                    with socket.create_connection(("127.0.0.1", self.grpc_port), timeout=1):
                        return
            except (httpx.HTTPError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gateway not ready after {timeout}s:\n{self.log_text()[-4000:]}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode
