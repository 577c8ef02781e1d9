"""Start the real gateway (`agent-gateway serve`) as a subprocess for end-to-end tests."""

from __future__ import annotations

import contextlib
import functools
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

__all__ = ["REPO", "GatewayProcess", "free_port", "listening_ports", "make_agents_dir", "refused_port"]

# What the gateway's log says when uvicorn or gRPC cannot bind its port (or, with --workers,
# when the supervisor cannot reserve it).
_BIND_FAILED = ("address already in use", "Failed to bind to address", "agent-gateway: cannot bind ")


def free_port() -> int:
    """A loopback port free right now. Nothing holds it afterwards: another process (with
    pytest-xdist, another test worker) can take it before whoever was given it binds, so
    GatewayProcess.start() retries on a bind failure and checks that its own process listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_reserved: list[socket.socket] = []


@functools.cache
def refused_port() -> int:
    """A loopback port where a connection is always refused, for "server down" cases. Its
    socket stays bound (never listening) for the life of this process, so no other process
    can start listening there, as one could on a port from free_port()."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _reserved.append(sock)  # kept open: the binding is the reservation
    return int(sock.getsockname()[1])


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on, read from /proc: unlike a connection to a port,
    this tells our server from another process that took the port first."""
    listeners: dict[str, int] = {}  # "socket:[inode]" -> port, for every listening socket
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A":  # LISTEN
                listeners[f"socket:[{fields[9]}]"] = int(fields[1].rsplit(":", 1)[1], 16)
    ports: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return ports
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target in listeners:
            ports.add(listeners[target])
    return ports


def make_agents_dir(target: Path, extra: Iterable[Path] = ()) -> Path:
    """The shipped sample agents plus test-only drop-ins (broken ones included)."""
    shutil.copytree(REPO / "agents", target, ignore=shutil.ignore_patterns("__pycache__"))
    for folder in extra:
        shutil.copytree(folder, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return target


class _PortTaken(RuntimeError):
    pass


@dataclass
class GatewayProcess:
    agents_dir: Path
    config_dir: Path
    log_path: Path
    services: str = "registry,executor,tools,security,shim"
    grpc_target: str = ""
    env_extra: dict[str, str] | None = None
    # False: a shim is ready once /healthz answers at all (its backend may be down on purpose).
    healthy: bool = True
    # --workers: more than one makes proc the supervisor and worker_pids() the servers.
    workers: int = 1
    # --metrics-port: a port of its own (picked like the others) serving GET /metrics.
    metrics: bool = False
    # Another interpreter (a throwaway environment, tests/python_envs.py) runs `-m services.cli`.
    python: Path | None = None

    def __post_init__(self) -> None:
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.metrics_port = free_port() if self.metrics else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_args: list[str] = ["--host", "127.0.0.1"]
        self._log_start = 0  # where the current attempt's output begins in log_path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.http_url}/v1"

    @property
    def metrics_url(self) -> str:
        assert self.metrics_port is not None
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, timeout: float = 30.0, attempts: int = 5) -> GatewayProcess:
        """Start and wait until this process serves on its ports. A port taken by someone else
        between free_port() and the gateway's bind makes the gateway exit: then it is started
        again on new ports (that attempt's output is moved to ``<log>.port-taken-<n>``)."""
        for attempt in range(1, attempts + 1):
            self._spawn()
            try:
                self.wait_ready(timeout)
                return self
            except _PortTaken:
                if attempt == attempts:
                    raise
                self._set_aside_attempt(attempt)
                self.http_port, self.grpc_port = free_port(), free_port()
                self.metrics_port = free_port() if self.metrics else None
            except BaseException:
                # Not ready in time (or interrupted): stop it, or an orphan gateway adds to the
                # load that made it slow.
                with contextlib.suppress(Exception):
                    self.terminate(timeout=5)
                raise
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OPENAI_"))}
        env.update(
            GATEWAY_SERVICES=self.services,
            GATEWAY_LOG_LEVEL="DEBUG",
            GATEWAY_SHUTDOWN_GRACE_S="5",
            PYTHONUNBUFFERED="1",
            # Each test gateway keeps its embedded state (approvals) beside its log.
            GATEWAY_DATA_DIR=str(self.log_path.parent / "data"),
        )
        if self.grpc_target:
            env["GATEWAY_GRPC_TARGET"] = self.grpc_target
        env.update(self.env_extra or {})
        self._log = self.log_path.open("ab")
        self._log_start = self._log.tell()
        self.proc = subprocess.Popen(
            [
                *([str(self.python), "-m", "services.cli"] if self.python else [str(GATEWAY_BIN)]),
                "serve",
                *self.start_args,
                *(["--workers", str(self.workers)] if self.workers != 1 else []),
                *(["--metrics-port", str(self.metrics_port)] if self.metrics_port is not None else []),
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

    def _set_aside_attempt(self, attempt: int) -> None:
        """Move the failed attempt's output out of log_path, so log_text() is the serving process's alone."""
        self._log.close()
        self.log_path.with_name(f"{self.log_path.name}.port-taken-{attempt}").write_text(self._attempt_output())
        os.truncate(self.log_path, self._log_start)

    def _ports(self) -> list[int]:
        services = set(self.services.split(","))
        ports = ([self.http_port] if "shim" in services else []) + ([self.grpc_port] if services - {"shim"} else [])
        return ports + ([self.metrics_port] if self.metrics_port is not None else [])

    def worker_pids(self) -> list[int]:
        """The processes serving the ports: the gateway itself or, with several workers, the
        supervisor's children that listen on them (not, e.g., multiprocessing's resource tracker)."""
        assert self.proc is not None
        if self.workers == 1:
            return [self.proc.pid]
        children: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                children += [int(pid) for pid in task.read_text().split()]
        return [pid for pid in children if set(self._ports()) <= listening_ports(pid)]

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        shim = "shim" in self.services
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                output = self._attempt_output()
                message = f"gateway exited with {self.proc.returncode}:\n{output[-4000:]}"
                raise (_PortTaken if any(marker in output for marker in _BIND_FAILED) else RuntimeError)(message)
            # Answers on the ports prove nothing on their own: another process may have taken a port first.
            if len(self.worker_pids()) == self.workers and (self.workers > 1 or set(self._ports()) <= listening_ports(self.proc.pid)):
                try:
                    if shim:
                        status = httpx.get(f"{self.http_url}/healthz", timeout=1).status_code
                        if status == 200 or not self.healthy:
                            return
                    else:
                        with socket.create_connection(("127.0.0.1", self.grpc_port), timeout=1):
                            return
                except (httpx.HTTPError, OSError):
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"gateway not ready after {timeout}s:\n{self._attempt_output()[-4000:]}")

    def _attempt_output(self) -> str:
        """What the current attempt wrote to the log."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

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
