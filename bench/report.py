"""Results -> ``docs/benchmarks.md`` (markdown) and a short console summary."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from bench.idle_streams import IdleStreams
from bench.measure import Measurement, Stats, Throughput
from bench.security_cost import SecurityCost

__all__ = ["COMPARISONS", "Comparison", "Delta", "Environment", "Method", "PathResult", "console_summary", "deltas", "render_markdown"]


@dataclass
class PathResult:
    key: str
    label: str
    unary: Measurement | None = None
    stream: Measurement | None = None
    load: Throughput | None = None
    gateway_cpu_ms: float | None = None  # gateway process CPU per non-streaming request at c=1
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Comparison:
    title: str
    baseline: str  # PathResult.key
    candidates: tuple[str, ...]
    target: str  # the later issue's target, in words


@dataclass(frozen=True)
class Environment:
    date: str
    cpu: str
    cores: int
    usable_cores: int
    python: str
    platform: str
    packages: str
    load_before: str
    load_after: str


@dataclass(frozen=True)
class Method:
    quick: bool
    warmup: int
    iterations: int
    concurrency: int
    load_seconds: float
    prompt: str
    reply_words: int
    duration_s: float
    gateway_log_warnings: tuple[str, ...] = ()


TARGET_MS = 2.0

COMPARISONS = (
    Comparison(
        "SDK agent `default/weather` (agents/Weather): through the gateway vs in-process",
        "sdk/inprocess",
        ("sdk/rest", "sdk/grpc"),
        f"gateway-added p50 < {TARGET_MS:g} ms over running the same agent in-process",
    ),
    Comparison(
        "Declarative agent `default/helpdesk` (passthrough): through the gateway vs the upstream directly",
        "decl/direct",
        ("decl/rest", "decl/grpc"),
        f"gateway-added p50 < {TARGET_MS:g} ms over calling the upstream directly",
    ),
)


# ----------------------------------------------------------------------------- deltas


@dataclass(frozen=True)
class Delta:
    """A candidate path against its baseline; ``None`` where either side failed."""

    label: str
    added_p50_ms: float | None
    p50_ratio: float | None
    added_p99_ms: float | None
    added_ttft_p50_ms: float | None
    ttft_ratio: float | None
    rps_ratio: float | None

    @property
    def meets_target(self) -> bool | None:
        return None if self.added_p50_ms is None else self.added_p50_ms < TARGET_MS


def _diff(a: Stats | None, b: Stats | None, attr: str) -> float | None:
    return None if a is None or b is None else getattr(a, attr) - getattr(b, attr)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _lat(m: Measurement | None) -> Stats | None:
    return m.latency if m else None


def _ttft(m: Measurement | None) -> Stats | None:
    return m.first_token if m else None


def deltas(comparison: Comparison, results: dict[str, PathResult]) -> list[Delta]:
    base = results[comparison.baseline]
    out: list[Delta] = []
    for key in comparison.candidates:
        r = results[key]
        base_p50, p50 = _lat(base.unary), _lat(r.unary)
        base_ttft, ttft = _ttft(base.stream), _ttft(r.stream)
        out.append(
            Delta(
                r.label,
                _diff(p50, base_p50, "p50_ms"),
                _ratio(p50.p50_ms if p50 else None, base_p50.p50_ms if base_p50 else None),
                _diff(p50, base_p50, "p99_ms"),
                _diff(ttft, base_ttft, "p50_ms"),
                _ratio(ttft.p50_ms if ttft else None, base_ttft.p50_ms if base_ttft else None),
                _ratio(r.load.rps if r.load and r.load.completed else None, base.load.rps if base.load and base.load.completed else None),
            )
        )
    return out


# --------------------------------------------------------------------------- markdown


def _ms(value: float | None, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _path_row(r: PathResult) -> list[str]:
    lat, ttft = _lat(r.unary), _ttft(r.stream)
    total = _lat(r.stream)
    load = r.load
    rps = f"{load.rps:.0f}" if load and load.completed else "—"
    if load and (load.errors or load.warmup_errors):
        rps += f" ({load.errors + load.warmup_errors} errors)"
    return [
        r.label,
        _ms(lat.p50_ms if lat else None),
        _ms(lat.p99_ms if lat else None),
        _ms(ttft.p50_ms if ttft else None),
        _ms(ttft.p99_ms if ttft else None),
        _ms(total.p50_ms if total else None),
        rps,
        _ms(load.latency.p50_ms if load and load.latency else None),
        _ms(r.gateway_cpu_ms),
    ]


_PATH_HEADER = (
    "path",
    "p50 ms",
    "p99 ms",
    "TTFT p50 ms",
    "TTFT p99 ms",
    "stream total p50 ms",
    "req/s @ c",
    "p50 ms under load",
    "gateway CPU ms/req",
)


def _verdict(delta: Delta) -> str:
    met = delta.meets_target
    return "n/a (failed)" if met is None else ("**met**" if met else "**not met**")


SECURITY_TARGET_MS = 0.3


def security_section(cost: SecurityCost) -> list[str]:
    met = cost.added_p50_ms < SECURITY_TARGET_MS
    return [
        "## Security layer: auth + authorization + rate limiting per request",
        "",
        "Measured in-process (`bench/security_cost.py`) in this run, interleaved with the same loop without the security calls: "
        f"authenticate a key against {cost.keys} configured digests (the last one matches), decide `use_model` and write its audit "
        "event (ring + a JSON log line formatted for real), reserve rate-limit budget, decide and audit one tool call, settle the "
        f"reservation with real usage. {cost.iterations} iterations each. The end-to-end paths above always include this layer "
        "(there is no switch to run the gateway without auth).",
        "",
        *_table(
            ("loop", "p50 ms", "p99 ms", "mean ms"),
            [
                ["with security", f"{cost.with_security.p50_ms:.4f}", f"{cost.with_security.p99_ms:.4f}", f"{cost.with_security.mean_ms:.4f}"],
                ["without", f"{cost.without.p50_ms:.4f}", f"{cost.without.p99_ms:.4f}", f"{cost.without.mean_ms:.4f}"],
            ],
        ),
        "",
        f"Added p50 per request: **{cost.added_p50_ms:.3f} ms** (target < {SECURITY_TARGET_MS} ms: **{'met' if met else 'not met'}**).",
        "",
    ]


IDLE_STREAMS_TARGET_MB = 200.0


def idle_streams_section(idle: IdleStreams | str) -> list[str]:
    head = ["## Capacity: concurrent idle streams", ""]
    if isinstance(idle, str):
        return [*head, f"Not measured: {idle}", ""]
    met = idle.completed == idle.streams and idle.growth_mb < IDLE_STREAMS_TARGET_MB
    return [
        *head,
        f"Measured by `bench/idle_streams.py`: {idle.streams} streaming requests to `default/weather` opened at once through "
        "REST; the fake upstream sends each reply one word at a time, slowly enough that all of them are open and idle together "
        "(each holding a client connection, a gRPC stream, an agent run and an upstream connection). Gateway resident memory "
        "(VmRSS) sampled every 0.25 s.",
        "",
        *_table(
            ("streams", "completed", "errors", "RSS before MB", "RSS held MB", "RSS peak MB", "RSS after MB", "growth MB", "KB per stream", "all open after s"),
            [
                [
                    str(idle.streams),
                    str(idle.completed),
                    str(idle.errors),
                    f"{idle.rss_before_mb:.0f}",
                    f"{idle.rss_held_mb:.0f}",
                    f"{idle.rss_peak_mb:.0f}",
                    f"{idle.rss_after_mb:.0f}",
                    f"{idle.growth_mb:.0f}",
                    f"{idle.kb_per_stream:.0f}",
                    f"{idle.open_s:.1f}",
                ]
            ],
        ),
        "",
        f"Target: every stream completes and peak growth < {IDLE_STREAMS_TARGET_MB:g} MB: **{'met' if met else 'not met'}**."
        + (f" First error: `{idle.first_error}`" if idle.first_error else ""),
        "",
    ]


def render_markdown(
    env: Environment, method: Method, results: dict[str, PathResult], security: SecurityCost | None = None, idle: IdleStreams | str | None = None
) -> str:
    c = method.concurrency
    out: list[str] = ["# Benchmarks: gateway overhead", ""]
    out += [
        f"Generated by `make bench` (`python -m bench.run{' --quick' if method.quick else ''}`) on {env.date}; overwritten on every run."
        + (" **Quick smoke run: too few iterations for stable p99s.**" if method.quick else ""),
        "",
        f"- Machine: {env.cpu}, {env.cores} cores ({env.usable_cores} usable by this process), {env.platform}",
        f"- Python {env.python}; {env.packages}",
        f"- Load average (1/5/15 min) before: {env.load_before}; after: {env.load_after}",
        f"- Run took {method.duration_s:.0f} s",
        "",
        "## Headline: gateway-added p50 latency against the targets",
        "",
        "Gateway-added = gateway p50 − baseline p50 for a non-streaming request at concurrency 1, "
        "both measured in this run. The targets are for a later issue; this run only measures.",
        "",
    ]
    rows = []
    for comparison in COMPARISONS:
        for d in deltas(comparison, results):
            rows.append([d.label, _ms(d.added_p50_ms, signed=True), _x(d.p50_ratio), _ms(d.added_ttft_p50_ms, signed=True), f"< {TARGET_MS:g} ms", _verdict(d)])
    out += _table(("path", "added p50 ms", "p50 ratio", "added TTFT p50 ms", "target (added p50)", "target"), rows)
    out += [""]
    if security is not None:
        out += security_section(security)
    if idle is not None:
        out += idle_streams_section(idle)

    out += ["## Method", ""]
    out += [
        "One process runs the benchmark clients and the fake OpenAI upstream (`tests/fake_upstream.py`: "
        "uvicorn + Starlette in a background thread, a real HTTP server on loopback). The gateway runs as a "
        "real `agent-gateway serve` subprocess (all services, `GATEWAY_LOG_LEVEL=WARNING`) on free ports, "
        "with the sample agents copied from `agents/` and the test config (`tests/conftest.py:write_config`). "
        "Nothing is queued on the fake upstream, so every request gets the demo model's reply (`services/demo_model.py`): "
        f'"You said: <prompt>" ({method.reply_words} words), streamed one word per chunk with no delay between chunks '
        "(non-streaming requests get it as one JSON body). Every call checks that it got exactly that reply.",
        "",
        "The fake upstream's listening socket has `TCP_NODELAY` on (without it Nagle's algorithm plus the client's delayed ACK "
        "add ~40 ms to every upstream response on loopback, which would hide the gateway's overhead).",
        "",
        "Gateway requests authenticate with the admin key of the test configuration (`tests/conftest.py`: `security.yaml` "
        "and the `GW_KEY_*` variables), sent as `Authorization: Bearer` (per-call metadata on gRPC), so the security layer is "
        "part of what is measured.",
        "",
        f"Prompt: `{method.prompt}` (one user message; it does not mention the Weather tool, so no tool call happens).",
        "",
        "Paths:",
        "",
        "- **SDK agent in-process (baseline A)**: `agents/Weather/agent.py` loaded by file path in the benchmark process and run with "
        "`Runner.run` (non-streaming) / `Runner.run_streamed` (streaming), `RunConfig(model_provider=UpstreamModelProvider(...), "
        "tracing_disabled=True)` bound to an `AsyncOpenAI` client pointing at the fake upstream (the provider class the gateway uses).",
        "- **SDK agent via gateway**: model `default/weather`, over REST (official `openai.AsyncOpenAI` client against the gateway's `/v1`) "
        "and over gRPC (`ExecutorServiceStub` on one `grpc.aio` insecure channel: `CreateChatCompletion` / `StreamChatCompletion`).",
        "- **Upstream direct (baseline B)**: the `openai` client pointed straight at the fake upstream, model `helpdesk-model`, "
        "sending the same system message (`You answer tickets.`) the gateway prepends for `default/helpdesk`.",
        "- **Declarative agent via gateway**: model `default/helpdesk` (passthrough to the upstream), REST and gRPC as above.",
        "",
        "Metrics:",
        "",
        f"- **p50 / p99**: non-streaming request latency at concurrency 1, {method.iterations} timed requests after {method.warmup} warm-ups.",
        f"- **TTFT**: time from issuing a streaming request to the first non-empty content delta, concurrency 1, "
        f"{method.iterations} timed after {method.warmup} warm-ups. **Stream total** is the time to the end of that stream.",
        f"- **req/s @ c**: completed non-streaming requests per second with {c} asyncio tasks issuing requests back to back "
        f"for {method.load_seconds:g} s through one shared client/channel (after one untimed round of {c}); "
        "**p50 under load** is the per-request latency in that window.",
        "- **gateway CPU ms/req**: user + system CPU time of the gateway process (all threads, from `/proc/<pid>/stat`) "
        "summed over the timed non-streaming concurrency-1 requests of that path and divided by their number "
        "(Linux accounts CPU in 10 ms ticks, so this is an average, meaningful over hundreds of requests). "
        "When it is close to the added latency, the overhead is the gateway's own Python work rather than waiting.",
        "",
        "The concurrency-1 phases interleave the paths: after each path's warm-ups, every round sends one request on each "
        "path in turn, so drift in machine load (other processes, CPU frequency) spreads evenly over the paths being compared. "
        "Throughput runs path by path.",
        "",
        f"**Caveat: everything shares {env.usable_cores} cores.** The fake upstream, the benchmark clients and the gateway "
        "subprocess compete for the same CPUs, and the upstream shares a GIL with the clients (and, for baseline A, with the SDK run). "
        "Throughput numbers in particular are bounded by the benchmark process itself, not only by the gateway; compare them within "
        "this run only. Other work on the machine (see load average) adds noise, mostly to p99.",
        "",
        "Note on non-streaming: the gateway always calls the upstream with `stream=True` (the executor runs `Runner.run_streamed` / "
        "a streamed passthrough and the shim or `CreateChatCompletion` aggregates), whereas the baselines' non-streaming calls make a "
        "non-streaming upstream request. That difference is part of what the gateway adds; the baselines' *stream total* column "
        "shows what a streamed upstream call costs without the gateway.",
        "",
    ]

    for comparison in COMPARISONS:
        keys = (comparison.baseline, *comparison.candidates)
        out += [f"## {comparison.title}", ""]
        out += _table(_PATH_HEADER, (_path_row(results[k]) for k in keys))
        out += ["", f"Against **{results[comparison.baseline].label}**, same run (target: {comparison.target}):", ""]
        drows = [
            [
                d.label,
                _ms(d.added_p50_ms, True),
                _x(d.p50_ratio),
                _ms(d.added_p99_ms, True),
                _ms(d.added_ttft_p50_ms, True),
                _x(d.ttft_ratio),
                _x(d.rps_ratio),
                _verdict(d),
            ]
            for d in deltas(comparison, results)
        ]
        out += _table(("path", "added p50 ms", "p50 ratio", "added p99 ms", "added TTFT p50 ms", "TTFT ratio", "req/s ratio", "target"), drows)
        out += [""]

    failures = [(r.label, e) for r in results.values() for e in r.errors]
    for r in results.values():
        if r.load and (r.load.errors or r.load.warmup_errors):
            failures.append(
                (
                    r.label,
                    f"throughput: {r.load.errors} failed requests in the window, {r.load.warmup_errors} in the opening round; first: {r.load.first_error}",
                )
            )
    out += ["## Failures", ""]
    out += [f"- {label}: `{error}`" for label, error in failures] if failures else ["None: every path answered every request correctly."]
    out += [""]
    if method.gateway_log_warnings:
        out += ["## Gateway log (warnings and errors during the run, with counts)", "", "```"]
        out += list(method.gateway_log_warnings)
        out += ["```", ""]
    return "\n".join(out)


def console_summary(results: dict[str, PathResult], concurrency: int) -> str:
    lines = [f"{'path':<40} {'p50':>8} {'p99':>8} {'ttft50':>8} {'ttft99':>8} {'req/s@' + str(concurrency):>9}"]
    for r in results.values():
        lat, ttft = _lat(r.unary), _ttft(r.stream)
        rps = f"{r.load.rps:.0f}" if r.load and r.load.completed else "—"
        lines.append(
            f"{r.label:<40} {_ms(lat.p50_ms if lat else None):>8} {_ms(lat.p99_ms if lat else None):>8} "
            f"{_ms(ttft.p50_ms if ttft else None):>8} {_ms(ttft.p99_ms if ttft else None):>8} {rps:>9}"
        )
    lines.append("")
    for comparison in COMPARISONS:
        for d in deltas(comparison, results):
            verdict = {None: "n/a", True: "met", False: "NOT met"}[d.meets_target]
            lines.append(f"gateway-added p50 {d.label:<32} {_ms(d.added_p50_ms, True):>8} ms ({_x(d.p50_ratio)}), target < {TARGET_MS:g} ms: {verdict}")
    failed = [f"{r.label}: {e}" for r in results.values() for e in r.errors]
    if failed:
        lines += ["", "FAILURES:", *failed]
    return "\n".join(lines)
