"""Timing helpers: sequential latency (with time to first token) and concurrent throughput.

A benchmarked call is ``async () -> float | None``: it performs one request and returns the
``time.perf_counter()`` at which the first content token arrived (streaming calls) or
``None`` (non-streaming calls). It raises on any failure or unexpected reply.
"""

from __future__ import annotations

import asyncio
import gc
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

__all__ = ["Call", "Measurement", "Stats", "Throughput", "describe", "measure", "percentile", "redact", "throughput", "warm_up"]

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


async def warm_up(fn: Call, calls: int) -> None:
    for _ in range(calls):
        await fn()


async def measure(name: str, fn: Call, *, iterations: int, warmup: int) -> Measurement:
    """Run ``fn`` one call at a time (concurrency 1): ``warmup`` untimed calls, then
    ``iterations`` timed ones."""
    await warm_up(fn, warmup)
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
