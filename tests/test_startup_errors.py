"""A gateway that cannot bind its ports says so in one line and exits 1: no traceback
(with --workers, the supervisor says so before any worker starts)."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator

import pytest

from tests.gateway_process import GATEWAY_BIN, REPO, free_port


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("which", ["http", "grpc"])
def test_a_port_in_use_is_a_clean_exit(taken_port: int, which: str, workers: str, tmp_path: os.PathLike[str]) -> None:
    ports = {"http": free_port(), "grpc": free_port(), which: taken_port}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OPENAI_"))}
    done = subprocess.run(
        [
            str(GATEWAY_BIN),
            "serve",
            "--workers",
            workers,
            "--http-port",
            str(ports["http"]),
            "--grpc-port",
            str(ports["grpc"]),
            "--agents-dir",
            str(tmp_path),
            "--config-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"agent-gateway: cannot bind {'HTTP' if which == 'http' else 'gRPC'} to 127.0.0.1:{taken_port}" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "Exception ignored" not in done.stderr


def test_shared_state_without_security_yaml_is_refused(tmp_path: os.PathLike[str]) -> None:
    """Replicas sharing Redis must share keys: a generated admin key per replica would not."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OPENAI_"))}
    env["GATEWAY_STATE_URL"] = "redis://:not-this-password@127.0.0.1:1/0"
    done = subprocess.run(
        [
            str(GATEWAY_BIN),
            "serve",
            "--http-port",
            str(free_port()),
            "--grpc-port",
            str(free_port()),
            "--agents-dir",
            str(tmp_path),
            "--config-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "GATEWAY_STATE_URL is set but" in done.stderr and "security.yaml" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "not-this-password" not in done.stderr + done.stdout
    assert "admin key was generated" not in done.stdout
