"""What one load window measured, and the statistics over it.

A window is ``concurrency`` clients issuing requests back to back for a fixed time against
one path, driven by a load generator in its own process (``hey`` or ``bench.loadgen``).
Besides client-side latency (and time to first token for streams) it carries the CPU the
serving process tree spent in the window, so CPU per request needs no guessing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

__all__ = ["Stats", "Window", "describe", "percentile", "redact"]


def percentile(sorted_values: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return math.nan
    rank = (len(sorted_values) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


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
        if not ms:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        return cls(len(ms), percentile(ms, 50), percentile(ms, 99), sum(ms) / len(ms), ms[-1])


@dataclass(frozen=True)
class Window:
    tool: str  # which load generator: "hey" or "loadgen"
    concurrency: int
    seconds: float  # length of the timed window
    latencies: list[float] = field(default_factory=list)  # seconds, one per completed request
    ttfts: list[float] = field(default_factory=list)  # streams: seconds to the first content delta
    chunks: int = 0  # streams: content deltas received in total
    errors: int = 0
    first_error: str = ""
    server_cpu_s: float | None = None  # CPU of the serving process tree during the window
    client_cpu_s: float | None = None  # CPU of the load generator during the window

    @property
    def completed(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    @property
    def latency(self) -> Stats:
        return Stats.of(self.latencies)

    @property
    def ttft(self) -> Stats | None:
        return Stats.of(self.ttfts) if self.ttfts else None

    @property
    def chunks_per_request(self) -> float:
        return self.chunks / self.completed if self.completed else 0.0

    @property
    def server_cpu_ms(self) -> float | None:
        """Serving CPU per completed request (ms)."""
        if self.server_cpu_s is None or not self.completed:
            return None
        return self.server_cpu_s * 1000 / self.completed

    @property
    def client_cpu_pct(self) -> float | None:
        """Load generator CPU as % of one core: near 100 means the client may be the limit."""
        return None if self.client_cpu_s is None or self.seconds <= 0 else self.client_cpu_s * 100 / self.seconds

    def merged(self, other: Window) -> Window:
        """Two passes over the same path as one window (the c=1 phases interleave paths)."""

        def add(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else a + b

        return replace(
            self,
            seconds=self.seconds + other.seconds,
            latencies=self.latencies + other.latencies,
            ttfts=self.ttfts + other.ttfts,
            chunks=self.chunks + other.chunks,
            errors=self.errors + other.errors,
            first_error=self.first_error or other.first_error,
            server_cpu_s=add(self.server_cpu_s, other.server_cpu_s),
            client_cpu_s=add(self.client_cpu_s, other.client_cpu_s),
        )


def describe(exc: BaseException) -> str:
    """One line for the report: the exception, its gRPC status if any, and its cause."""
    code = getattr(exc, "code", None)
    details = getattr(exc, "details", None)
    if callable(code) and callable(details) and hasattr(exc, "trailing_metadata"):
        text = f"gRPC {getattr(code(), 'name', code())}: {details()}"
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
