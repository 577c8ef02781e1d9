"""Timing helpers: sequential latency (with time to first token) and concurrent throughput.

A benchmarked call is ``async () -> float | None``: it performs one request and returns the
``time.perf_counter()`` at which the first content token arrived (streaming calls) or
``None`` (non-streaming calls). It raises on any failure or unexpected reply.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["Call", "Measurement", "Stats", "Throughput", "describe", "measure", "percentile", "throughput"]

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


async def measure(name: str, fn: Call, *, iterations: int, warmup: int) -> Measurement:
    """Run ``fn`` one call at a time (concurrency 1): ``warmup`` untimed calls, then
    ``iterations`` timed ones."""
    for _ in range(warmup):
        await fn()
    gc.collect()
    totals: list[float] = []
    firsts: list[float] = []
    for _ in range(iterations):
        started = time.perf_counter()
        first = await fn()
        totals.append(time.perf_counter() - started)
        if first is not None:
            firsts.append(first - started)
    return Measurement(name, Stats.of(totals), Stats.of(firsts) if firsts else None)


async def throughput(name: str, fn: Call, *, concurrency: int, seconds: float) -> Throughput:
    """``concurrency`` tasks each issue calls back to back until ``seconds`` have passed
    (after one untimed round of ``concurrency`` calls to open connections)."""
    latencies: list[float] = []
    errors: list[str] = []
    warm = await asyncio.gather(*(fn() for _ in range(concurrency)), return_exceptions=True)
    errors += [describe(e) for e in warm if isinstance(e, BaseException)]
    gc.collect()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await fn()
            except Exception as exc:  # noqa: BLE001 - counted and reported, not fatal
                errors.append(describe(exc))
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    stats = Stats.of(latencies) if latencies else None
    return Throughput(name, concurrency, len(latencies), len(errors), elapsed, stats, errors[0] if errors else "")


def describe(exc: BaseException) -> str:
    """One line: the exception and, when it wraps another (e.g. openai.APIConnectionError), the cause."""
    text = f"{type(exc).__name__}: {exc}".strip()
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) not in text:
        text += f" (caused by {type(cause).__name__}: {cause})"
    text = text.replace("\n", " ")
    return text if len(text) <= 300 else text[:297] + "..."
