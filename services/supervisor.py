"""``--workers N``: N gateway processes sharing the HTTP and gRPC ports, and the parent that
supervises them (docs/architecture.md, "Several workers").

The parent serves nothing itself. It reserves the ports (services/listen.py: a clean "cannot
bind" error before any worker starts), creates the per-run directory where the workers'
Prometheus metrics meet, then starts N workers (spawned: fresh interpreters, no fork of a
process with gRPC threads) and waits until each has started. Each worker is a whole gateway
listening with ``SO_REUSEPORT``; the kernel spreads connections over them.

- A worker that fails at start-up stops the others; the parent exits with its code (non-zero).
- A worker that dies later is logged (ERROR, with its exit code) and started again (a restart
  that fails at start-up counts as another death); more than ``_RESTARTS_ALLOWED`` deaths
  within ``_RESTART_WINDOW_S`` is a crash loop: everything stops and the parent exits 1.
- SIGTERM/SIGINT are forwarded to every worker, which drains as a single gateway does; the
  parent exits 0 once all have exited 0 (1 otherwise; a worker still running after the grace
  period plus a margin is killed).
- A parent that dies without stopping them (SIGKILL) is noticed by each worker within a
  second (``drain_when_orphaned``): it drains and exits rather than serve unsupervised.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from services.listen import reserve_port
from services.log import get_logger
from services.settings import GatewaySettings

__all__ = ["METRICS_DIR_ENV", "WorkerSpec", "WorkerTarget", "drain_when_orphaned", "supervise"]

log = get_logger("supervisor")

# prometheus_client's multiprocess mode reads this in every worker (services/metrics.py).
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_RESTARTS_ALLOWED = 5
_RESTART_WINDOW_S = 60.0
_STOP_MARGIN_S = 10.0


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker is told besides the settings."""

    index: int
    count: int
    # The SHA-256 of the admin key the parent generated and printed (no security.yaml): every
    # worker accepts the same key, and none holds its plaintext.
    generated_admin_digest: str | None = None


# Runs in the worker process: serve, calling ``ready.send(pid)`` once started; raise
# SystemExit with the exit code when done.
WorkerTarget = Callable[[GatewaySettings, WorkerSpec, Connection], None]


@dataclass
class _Worker:
    spec: WorkerSpec
    process: BaseProcess
    ready: Connection
    started: bool = False


@dataclass
class _Supervisor:
    settings: GatewaySettings
    target: WorkerTarget
    generated_admin_digest: str | None
    workers: dict[int, _Worker] = field(default_factory=dict)
    deaths: deque[float] = field(default_factory=deque)
    stopping: bool = False

    def __post_init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")

    def start(self, index: int) -> None:
        parent_end, child_end = self._context.Pipe(duplex=False)
        spec = WorkerSpec(index, self.settings.workers, self.generated_admin_digest)
        process = self._context.Process(target=self.target, args=(self.settings, spec, child_end), name=f"agent-gateway-worker-{index}", daemon=False)
        process.start()
        child_end.close()  # the child's copy is the only writer left: its death ends the pipe
        self.workers[index] = _Worker(spec, process, parent_end)

    def forward(self, signum: int, _frame: FrameType | None = None) -> None:
        self.stopping = True
        for worker in self.workers.values():
            if worker.process.pid is not None and worker.process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                    os.kill(worker.process.pid, signum)

    def await_start_up(self) -> int | None:
        """Wait until every worker says it serves; the failing worker's exit code otherwise."""
        while not self.stopping and not all(w.started for w in self.workers.values()):
            pending = [w for w in self.workers.values() if not w.started]
            wait([*(w.ready for w in pending), *(w.process.sentinel for w in pending)], timeout=0.5)
            for worker in pending:
                if worker.ready.poll():
                    with _suppress_eof():
                        worker.ready.recv()
                        worker.started = True
                if not worker.started and worker.process.exitcode is not None:
                    log.error("worker failed to start", extra={"fields": {"worker": worker.spec.index, "exit_code": worker.process.exitcode}})
                    code = worker.process.exitcode
                    return code if code > 0 else 1  # killed by a signal (negative): a plain failure
        return None

    def run(self) -> int:
        """Restart workers that die until asked to stop (or crash-looping)."""
        while not self.stopping:
            wait([w.process.sentinel for w in self.workers.values()], timeout=0.5)
            for index, worker in list(self.workers.items()):
                if self.stopping or worker.process.exitcode is None:
                    continue
                log.error("worker died", extra={"fields": {"worker": index, "pid": worker.process.pid, "exit_code": worker.process.exitcode}})
                _forget_metrics_of(worker.process.pid)
                now = time.monotonic()
                self.deaths.append(now)
                while self.deaths and now - self.deaths[0] > _RESTART_WINDOW_S:
                    self.deaths.popleft()
                if len(self.deaths) > _RESTARTS_ALLOWED:
                    log.error("workers keep dying: stopping", extra={"fields": {"deaths": len(self.deaths), "window_s": _RESTART_WINDOW_S}})
                    return 1
                worker.ready.close()
                self.start(index)
                # A restart that fails at start-up is one more death, seen on the next round.
                if self.await_start_up() is None and not self.stopping:
                    log.info("worker restarted", extra={"fields": {"worker": index, "pid": self.workers[index].process.pid}})
        return 0

    def stop(self) -> bool:
        """Stop every worker (SIGTERM: a graceful drain); whether all exited 0."""
        self.forward(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_grace_s + _STOP_MARGIN_S
        clean = True
        for worker in self.workers.values():
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.exitcode is None:
                log.error("worker did not stop in time: killed", extra={"fields": {"worker": worker.spec.index, "pid": worker.process.pid}})
                worker.process.kill()
                worker.process.join()
            clean = clean and worker.process.exitcode == 0
            worker.ready.close()
        return clean


def supervise(settings: GatewaySettings, target: WorkerTarget, *, generated_admin_digest: str | None = None) -> int:
    """Run ``settings.workers`` workers until SIGTERM/SIGINT; the exit code."""
    reservations: list[socket.socket] = []
    metrics_dir = tempfile.mkdtemp(prefix="agent-gateway-metrics-")
    try:
        settings = _reserve(settings, reservations)
        os.environ[METRICS_DIR_ENV] = metrics_dir  # inherited by the workers, read at their first import
        supervisor = _Supervisor(settings, target, generated_admin_digest)
        previous = {sig: signal.signal(sig, supervisor.forward) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for index in range(settings.workers):
                supervisor.start(index)
            code = supervisor.await_start_up()
            if code is None and not supervisor.stopping:
                pids = [w.process.pid for w in supervisor.workers.values()]
                log.info("workers started", extra={"fields": {"workers": settings.workers, "pids": pids, "parent_pid": os.getpid()}})
                code = supervisor.run()
            clean = supervisor.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if code is None:
            code = 0 if clean else 1
        log.info("workers stopped", extra={"fields": {"exit_code": code}})
        return code
    finally:
        for reservation in reservations:
            reservation.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        os.environ.pop(METRICS_DIR_ENV, None)


def drain_when_orphaned() -> None:
    """In a worker: SIGTERM itself (the graceful drain) once its parent is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        log.error("the supervising parent is gone: stopping", extra={"fields": {"parent_pid": parent}})
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="agent-gateway-parent-watch", daemon=True).start()


def _reserve(settings: GatewaySettings, reservations: list[socket.socket]) -> GatewaySettings:
    """Reserve the ports the services need; the settings with the ports resolved."""
    resolved: dict[str, Any] = {}
    if "shim" in settings.services:
        reservations.append(reserve_port("HTTP", settings.host, settings.http_port))
        resolved["http_port"] = reservations[-1].getsockname()[1]
    if settings.grpc_services:
        reservations.append(reserve_port("gRPC", settings.host, settings.grpc_port))
        resolved["grpc_port"] = reservations[-1].getsockname()[1]
    if settings.metrics_port is not None:
        reservations.append(reserve_port("metrics", settings.host, settings.metrics_port))
        resolved["metrics_port"] = reservations[-1].getsockname()[1]
    return settings.model_copy(update=resolved)


def _forget_metrics_of(pid: int | None) -> None:
    """A dead worker's live gauges leave the aggregate (its counters stay: they happened)."""
    if pid is None:
        return
    from prometheus_client import multiprocess  # the parent imports it only when a worker dies

    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def _suppress_eof() -> contextlib.suppress:
    """A worker that died before saying "ready" leaves an EOF on its pipe: not started."""
    return contextlib.suppress(EOFError, OSError)
