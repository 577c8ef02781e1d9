"""Timing helpers: latency at concurrency 1 (with time to first token), concurrent
throughput, and the CPU another process spends per call.

A benchmarked call is ``async () -> float | None``: it performs one request and returns the
``time.perf_counter()`` at which the first content token arrived (streaming calls) or
``None`` (non-streaming calls). It raises on any failure or unexpected reply.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

__all__ = ["Call", "CpuMeter", "Measurement", "Stats", "Throughput", "describe", "measure", "percentile", "redact", "throughput"]

Call = Callable[[], Awaitable[float | None]]


@dataclass(frozen=True)
class Stats:
    """Summary of samples, in milliseconds."""

    n: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Stats:
        ms = sorted(s * 1000 for s in seconds)
        return cls(len(ms), percentile(ms, 50), percentile(ms, 99), sum(ms) / len(ms), ms[-1])


@dataclass(frozen=True)
class Measurement:
    name: str
    latency: Stats  # whole request, as the client sees it
    first_token: Stats | None  # streaming calls only


@dataclass(frozen=True)
class Throughput:
    name: str
    concurrency: int
    completed: int
    errors: int
    seconds: float
    latency: Stats | None  # per-request latency under load
    first_error: str = ""
    warmup_errors: int = 0  # failures in the untimed opening round (not in `errors`)

    @property
    def rps(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0


def percentile(sorted_values: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return math.nan
    rank = (len(sorted_values) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


class CpuMeter:
    """CPU time (user + system, all threads) another process spends inside metered calls,
    read from ``/proc/<pid>/stat``. Linux accounts CPU in clock ticks (usually 10 ms), so
    only the average over many calls is meaningful."""

    def __init__(self, pid: int) -> None:
        self._stat = Path(f"/proc/{pid}/stat")
        self._tick = os.sysconf("SC_CLK_TCK")
        self._started = 0.0
        self.seconds = 0.0
        self.calls = 0

    def _now(self) -> float:
        fields = self._stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._tick  # utime + stime

    def start(self) -> None:
        self._started = self._now()

    def stop(self) -> None:
        self.seconds += self._now() - self._started
        self.calls += 1

    @property
    def ms_per_call(self) -> float | None:
        return self.seconds * 1000 / self.calls if self.calls else None


async def measure(calls: Mapping[str, Call], *, iterations: int, warmup: int, meters: Mapping[str, CpuMeter] | None = None) -> dict[str, Measurement | str]:
    """Time each named call at concurrency 1: ``warmup`` untimed calls each, then
    ``iterations`` rounds in which every call runs once, in turn. Interleaving spreads any
    drift in machine load evenly over the paths being compared. A call that raises is
    dropped; its entry in the result is the error text. Meters run outside the timed part."""
    results: dict[str, Measurement | str] = {}
    for name, fn in calls.items():
        try:
            for _ in range(warmup):
                await fn()
        except Exception as exc:  # noqa: BLE001 - reported per path
            results[name] = f"warm-up failed: {describe(exc)}"
    live = {name: fn for name, fn in calls.items() if name not in results}
    totals: dict[str, list[float]] = {name: [] for name in live}
    firsts: dict[str, list[float]] = {name: [] for name in live}
    gc.collect()
    for _ in range(iterations):
        for name, fn in list(live.items()):
            meter = (meters or {}).get(name)
            if meter:
                meter.start()
            started = time.perf_counter()
            try:
                first = await fn()
            except Exception as exc:  # noqa: BLE001 - reported per path
                results[name] = describe(exc)
                del live[name]
                continue
            totals[name].append(time.perf_counter() - started)
            if meter:
                meter.stop()
            if first is not None:
                firsts[name].append(first - started)
    for name in live:
        results[name] = Measurement(name, Stats.of(totals[name]), Stats.of(firsts[name]) if firsts[name] else None)
    return results


async def throughput(name: str, fn: Call, *, concurrency: int, seconds: float) -> Throughput:
    """``concurrency`` tasks each issue calls back to back until ``seconds`` have passed
    (after one untimed round of ``concurrency`` calls to open connections)."""
    warm = await asyncio.gather(*(fn() for _ in range(concurrency)), return_exceptions=True)
    warm_errors = [describe(e) for e in warm if isinstance(e, BaseException)]
    gc.collect()
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await fn()
            except Exception as exc:  # noqa: BLE001 - counted and reported, not fatal
                errors.append(describe(exc))
                if len(errors) > max(100, len(latencies)):
                    return  # a path that only fails would otherwise spin for the whole window
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    stats = Stats.of(latencies) if latencies else None
    first_error = (errors or warm_errors or [""])[0]
    return Throughput(name, concurrency, len(latencies), len(errors), elapsed, stats, first_error, len(warm_errors))


def describe(exc: BaseException) -> str:
    """One line for the report: gRPC status and details, or the exception and (for
    wrappers such as ``openai.APIConnectionError``) its cause."""
    if isinstance(exc, grpc.aio.AioRpcError):
        text = f"gRPC {exc.code().name}: {exc.details()}"
    else:
        text = f"{type(exc).__name__}: {exc}"
        cause = exc.__cause__ or exc.__context__
        if cause is not None and getattr(exc, "status_code", None) is None:
            text += f" (caused by {type(cause).__name__}: {cause})"
    text = redact(" ".join(text.split()))
    return text if len(text) <= 300 else text[:297] + "..."


_SECRET = re.compile(r"(?i)(bearer\s+\S+|\b(?:sk|agw)[-_][A-Za-z0-9_-]{6,})")


def redact(text: str) -> str:
    """Blank out anything that looks like an API key before it reaches the report."""
    return _SECRET.sub("[redacted]", text)
