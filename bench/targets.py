"""Issue 10's targets, evaluated on one run's results: each is measured, compared with its
limit, and said to be met or not (or not measured, with the reason)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.idle_streams import IdleStreams
from bench.measure import Window

__all__ = ["DEFAULT_GW", "Results", "Target", "evaluate", "marginal_chunk_cpu_ms", "window"]

Results = dict[str, dict[str, Window | str]]
DEFAULT_GW = "gw-inprocess"  # the shipping default: a co-located shim calls the executor in process
DECL_REST = f"{DEFAULT_GW}/decl/rest"
SDK_REST = f"{DEFAULT_GW}/sdk/rest"


@dataclass(frozen=True)
class Target:
    name: str
    measured: float | None  # None: not measured (see `missing`)
    limit: float
    unit: str
    at_least: bool = False  # a floor (throughput ratio) rather than a ceiling
    detail: str = ""  # how the measured value was obtained, with its inputs
    missing: str = ""

    @property
    def met(self) -> bool | None:
        if self.measured is None or math.isnan(self.measured):
            return None
        return self.measured >= self.limit if self.at_least else self.measured <= self.limit

    @property
    def verdict(self) -> str:
        return {None: "not measured", True: "met", False: "**not met**"}[self.met]


def window(results: Results, key: str, phase: str) -> Window | None:
    outcome = results.get(key, {}).get(phase)
    return outcome if isinstance(outcome, Window) and outcome.completed else None


def _why(results: Results, *cells: tuple[str, str]) -> str:
    for key, phase in cells:
        outcome = results.get(key, {}).get(phase)
        if not isinstance(outcome, Window) or not outcome.completed:
            return f"{key} {phase}: {outcome if isinstance(outcome, str) else 'not run or no request completed'}"
    return ""


def marginal_chunk_cpu_ms(results: Results, key: str) -> float | None:
    """Server CPU of one more forwarded chunk: (CPU per 20-chunk stream − CPU per 3-chunk
    stream) / (the difference in chunks), both at c=1 in the same run."""
    long, short = window(results, key, "stream@1"), window(results, key, "short@1")
    if long is None or short is None or long.server_cpu_ms is None or short.server_cpu_ms is None:
        return None
    extra = long.chunks_per_request - short.chunks_per_request
    return (long.server_cpu_ms - short.server_cpu_ms) / extra if extra > 0 else None


def _added(results: Results, key: str, base: str, phase: str, stat: str) -> Target:
    cand, ref = window(results, key, phase), window(results, base, phase)
    name = {"p50": "added p50", "p99": "added p99", "ttft": "added TTFT p50"}[stat]
    if cand is None or ref is None:
        return Target(name, None, 0, "ms", missing=_why(results, (key, phase), (base, phase)))
    if stat == "ttft":
        a, b = (cand.ttft.p50_ms if cand.ttft else math.nan), (ref.ttft.p50_ms if ref.ttft else math.nan)
    else:
        a, b = getattr(cand.latency, f"{stat}_ms"), getattr(ref.latency, f"{stat}_ms")
    return Target(name, a - b, 0, "ms", detail=f"{a:.2f} − {b:.2f} ms")


def evaluate(results: Results, idle: IdleStreams | str) -> list[Target]:
    out: list[Target] = []
    p50 = _added(results, DECL_REST, "direct", "unary@1", "p50")
    out.append(Target("Declarative REST unary c=1: added p50 over upstream direct", p50.measured, 1.0, "ms", detail=p50.detail, missing=p50.missing))
    p99 = _added(results, DECL_REST, "direct", "unary@1", "p99")
    out.append(Target("Declarative REST unary c=1: added p99 over upstream direct", p99.measured, 2.5, "ms", detail=p99.detail, missing=p99.missing))
    w = window(results, DECL_REST, "unary@1")
    cpu = w.server_cpu_ms if w else None
    out.append(
        Target("Declarative REST unary c=1: gateway CPU per request", cpu, 1.0, "ms", missing="" if cpu is not None else _why(results, (DECL_REST, "unary@1")))
    )

    gw, lite = window(results, DECL_REST, "unary@32"), window(results, "litellm", "unary@32")
    ratio = gw.rps / lite.rps if gw and lite and lite.rps else None
    detail = f"{gw.rps:.0f} vs {lite.rps:.0f} req/s" if gw and lite else ""
    out.append(
        Target(
            "Declarative REST unary c=32, one worker: req/s over LiteLLM's",
            ratio,
            3.0,
            "×",
            at_least=True,
            detail=detail,
            missing="" if ratio else _why(results, (DECL_REST, "unary@32"), ("litellm", "unary@32")),
        )
    )

    chunk = marginal_chunk_cpu_ms(results, DECL_REST)
    long, short = window(results, DECL_REST, "stream@1"), window(results, DECL_REST, "short@1")
    detail = ""
    if chunk is not None and long and short:
        detail = f"({long.server_cpu_ms:.2f} − {short.server_cpu_ms:.2f} ms) / ({long.chunks_per_request:.0f} − {short.chunks_per_request:.0f} chunks)"
    missing = "" if chunk is not None else _why(results, (DECL_REST, "stream@1"), (DECL_REST, "short@1")) or "no CPU reading"
    out.append(Target("Declarative REST stream c=1: gateway CPU per forwarded chunk", chunk, 0.08, "ms", detail=detail, missing=missing))
    ttft = _added(results, DECL_REST, "direct", "stream@1", "ttft")
    out.append(Target("Declarative REST stream c=1: added TTFT p50 over upstream direct", ttft.measured, 1.0, "ms", detail=ttft.detail, missing=ttft.missing))
    sdk = _added(results, SDK_REST, "sdk-inprocess", "unary@1", "p50")
    out.append(Target("SDK agent REST unary c=1: added p50 over the agent in-process", sdk.measured, 1.0, "ms", detail=sdk.detail, missing=sdk.missing))

    if isinstance(idle, str):
        out.append(Target("Idle streams: RSS growth", None, 150, "MB", missing=idle))
    else:
        growth = idle.growth_mb if idle.completed == idle.streams else math.inf
        detail = f"{idle.streams} streams, {idle.completed} completed, peak {idle.rss_peak_mb:.0f} − {idle.rss_before_mb:.0f} MB"
        out.append(Target(f"{idle.streams} idle streams: RSS growth (all must complete)", growth, 150, "MB", detail=detail))
    return out
