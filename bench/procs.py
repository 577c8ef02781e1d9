"""Subprocesses of a bench run (fake upstream, gateways, LiteLLM, load generator) and what
they cost, read from ``/proc``: CPU time of a process and its descendants, resident memory."""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = ["REPO", "Service", "cpu_seconds", "free_port", "http_get_status", "rss_mb", "spawn", "stop_all", "tree_pids", "wait_all_ready"]

REPO = Path(__file__).resolve().parent.parent
_TICK = os.sysconf("SC_CLK_TCK")


def http_get_status(port: int, path: str, headers: dict[str, str] | None = None) -> int | None:
    """``GET http://127.0.0.1:<port><path>``: the status, or None if nothing answered. The
    standard library's client: a poll costs microseconds of CPU (``httpx.get`` builds a TLS
    context each time, ~50 ms of CPU, which polling several starting services every 0.1 s
    would take from their start-up)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", path, headers=headers or {})
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat(pid: int) -> list[str]:
    """Fields of ``/proc/<pid>/stat`` after the command name (index 0 is the state)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def tree_pids(root: int) -> list[int]:
    """``root`` and every live descendant (``--workers N`` forks children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(int(_stat(int(entry))[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes (all threads). Linux counts in clock ticks."""
    total = 0
    for pid in pids:
        try:
            fields = _stat(pid)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int
    _log: IO[bytes] = field(repr=False)
    ready_path: str = ""  # GET this until 200 before use ("" = ready once spawned)
    ready_timeout: float = 60.0
    ready_headers: dict[str, str] | None = None
    _pids: list[int] = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list[int]:
        return tree_pids(self.proc.pid)

    def cached_pids(self) -> list[int]:
        """``pids()`` kept from the last call while every one of them lives (a scan of /proc
        costs ~20 ms; a process tree does not change while it serves)."""
        if not self._pids or not all(os.path.exists(f"/proc/{pid}") for pid in self._pids):
            self._pids = self.pids()
        return self._pids

    def answers(self) -> bool:
        """One ``GET ready_path``: whether it answered 200; raises if the process has exited."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}")
        if not self.ready_path:
            return True
        return http_get_status(self.port, self.ready_path, self.ready_headers) == 200

    def wait_ready(self) -> None:
        """Until ``ready_path`` answers; stops the process and raises if it never does."""
        if not self.ready_path:
            return
        try:
            self.wait_http(self.ready_path, self.ready_timeout, self.ready_headers)
        except Exception:
            self.stop()
            raise

    def log_tail(self, lines: int = 5) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())

    def wait_http(self, path: str, timeout: float, headers: dict[str, str] | None = None) -> None:
        """Until ``GET path`` answers 200; raises with the log tail if the process exits or never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}")
            if http_get_status(self.port, path, headers) == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:g} s: {self.log_tail()}")

    def terminate(self) -> None:
        """SIGTERM without waiting: ``stop()`` then waits (several services stop in parallel)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def spawn(
    name: str, cmd: list[str], env: dict[str, str], log_path: Path, *, port: int, cwd: Path = REPO, ready_path: str = "", ready_timeout: float = 60.0
) -> Service:
    """Start the process and return at once; ``Service.wait_ready()`` waits for it to serve."""
    log = log_path.open("ab")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Service(name, proc, log_path, port, log, ready_path=ready_path, ready_timeout=ready_timeout)


def wait_all_ready(services: dict[str, Service], on_ready: Callable[[str, float], None]) -> dict[str, str]:
    """Poll every service in turn until each answers (``on_ready(name, seconds)``), exits or
    times out; the failures, as ``{name: reason}`` (a failed one is stopped)."""
    started = time.monotonic()
    pending = dict(services)
    failed: dict[str, str] = {}
    while pending:
        for name, service in list(pending.items()):
            try:
                if service.answers():
                    on_ready(name, time.monotonic() - started)
                    del pending[name]
                elif time.monotonic() - started > service.ready_timeout:
                    raise RuntimeError(f"{service.name} not ready after {service.ready_timeout:g} s: {service.log_tail()}")
            except Exception as exc:  # noqa: BLE001 - reported by the caller
                failed[name] = f"{type(exc).__name__}: {exc}"
                del pending[name]
                service.stop()
        if pending:
            time.sleep(0.1)
    return failed


def stop_all(services: list[Service], timeout: float = 10.0) -> dict[str, float]:
    """SIGTERM to every one, then wait for them together, up to ``timeout`` in all; a process
    tree still there after it is killed. How long each took to exit (``inf``: killed)."""
    started = time.monotonic()
    trees = {service.name: service.pids() if service.proc.poll() is None else [] for service in services}
    for service in services:
        service.terminate()
    took: dict[str, float] = {}
    pending = list(services)
    while pending and time.monotonic() - started < timeout:
        for service in list(pending):
            if service.proc.poll() is not None:
                took[service.name] = time.monotonic() - started
                pending.remove(service)
        if pending:
            time.sleep(0.02)
    for service in pending:
        for pid in trees[service.name]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        took[service.name] = math.inf
    for service in services:
        service.stop(1.0)  # reaps, closes the log
    return took
