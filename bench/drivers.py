"""The two load generators as seen from ``bench.run``: ``hey`` (plain HTTP unary) and the
``bench.loadgen`` subprocess (SSE, gRPC, in-process SDK). Both return a ``Window``."""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import select
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench.measure import Window
from bench.procs import REPO, cpu_seconds

__all__ = ["Hey", "LoadGen", "hey_version"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def hey_version() -> str:
    return "hey (Debian package)" if shutil.which("hey") else ""


@dataclass(frozen=True)
class Hey:
    """``hey -o csv``: one row per request, so percentiles are computed here from every sample."""

    binary: str

    @classmethod
    def find(cls) -> Hey | None:
        path = shutil.which("hey")
        return cls(path) if path else None

    def _args(self, url: str, body: dict[str, Any], key: str | None, concurrency: int) -> list[str]:
        args = [self.binary, "-c", str(concurrency), "-m", "POST", "-T", "application/json", "-d", json.dumps(body), "-t", "60"]
        return args + (["-H", f"Authorization: Bearer {key}"] if key else [])

    def run(
        self,
        url: str,
        body: dict[str, Any],
        key: str | None,
        *,
        concurrency: int,
        seconds: float,
        warmup: int,
        cpu_pids: list[int],
        route: str = "/chat/completions",
    ) -> Window:
        url = url.rstrip("/") + route
        base = self._args(url, body, key, concurrency)
        if warmup:
            warm = [*self._args(url, body, key, min(concurrency, 32)), "-n", str(max(warmup, min(concurrency, 32))), url]
            subprocess.run(warm, capture_output=True, timeout=120, check=False)
        server_before, client_before = cpu_seconds(cpu_pids), _children_cpu()
        started = time.perf_counter()
        done = subprocess.run([*base, "-z", f"{seconds}s", "-o", "csv", url], capture_output=True, text=True, timeout=seconds + 120, check=False)
        wall = time.perf_counter() - started
        server_cpu = cpu_seconds(cpu_pids) - server_before if cpu_pids else None
        latencies: list[float] = []
        errors = 0
        first_error = ""
        last_end = 0.0
        for row in csv.DictReader(io.StringIO(done.stdout)):
            try:
                status, latency, offset = row["status-code"], float(row["response-time"]), float(row["offset"])
            except (KeyError, TypeError, ValueError):
                continue
            last_end = max(last_end, offset + latency)
            if status == "200":
                latencies.append(latency)
            else:
                errors += 1
                first_error = first_error or f"HTTP {status}"
        if done.returncode != 0 and not latencies:
            first_error = first_error or f"hey exited {done.returncode}: {done.stderr.strip()[-200:]}"
        return Window(
            tool="hey",
            concurrency=concurrency,
            seconds=last_end or wall,
            latencies=latencies,
            errors=errors,
            first_error=first_error,
            server_cpu_s=server_cpu,
            client_cpu_s=_children_cpu() - client_before,
        )


class LoadGen:
    """One ``python -m bench.loadgen`` process for the whole run, restarted if it dies.
    ``start()`` spawns it early (its imports take seconds) and sends a ping; the first job
    reads the ping's answer first."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._pinged = False  # a ping's answer is still to be read

    def start(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "bench.loadgen"], cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
            self._send({"kind": "ping"})
            self._pinged = True
        return self._proc

    def _send(self, job: dict[str, Any]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(job) + "\n")
        self._proc.stdin.flush()

    def _answer(self, timeout: float) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        line = self._proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise RuntimeError("load generator timed out" if not ready else "load generator exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, job: dict[str, Any], timeout: float) -> Window:
        """Raises RuntimeError with the loadgen's reason when the job failed as a whole."""
        self.start()
        if self._pinged:
            self._pinged = False
            self._answer(120)
        self._send(job)
        answer = self._answer(timeout)
        if not answer["ok"]:
            raise RuntimeError(answer["error"])
        return Window(**answer["window"])

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None
