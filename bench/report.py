"""Results -> ``docs/benchmarks.md`` (markdown) and a short console summary."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from bench.environment import Environment
from bench.idle_streams import IdleStreams
from bench.matrix import CONCURRENCY, BenchPath
from bench.measure import Window
from bench.method import method_section
from bench.profile import Profile
from bench.replicas import RATE_PATHS, ReplicaResults
from bench.security_cost import SecurityCost
from bench.targets import Results, Target, evaluate, marginal_chunk_cpu_ms, window

__all__ = ["Report", "console_summary", "render_markdown", "replicas_section"]


@dataclass(frozen=True)
class Report:
    env: Environment
    quick: bool
    c1_passes: int
    c1_seconds: float
    load_seconds: float
    idle_hold_s: float
    duration_s: float
    phases: tuple[tuple[str, float], ...]  # (phase, wall s) in run order
    paths: list[BenchPath]
    results: Results
    workers: list[BenchPath] | str
    idle: IdleStreams | str
    security: SecurityCost
    profile: Profile | str
    setup_errors: dict[str, str]
    gateway_log: tuple[str, ...]
    load_tool: str
    http_client: str = "raw"  # the loadgen's REST client: "raw" (bench.rawhttp) or "httpx"
    waiting_note: str = ""  # CPU the services for later phases used during the load windows
    drain_s: float = 1.0  # the loadgen's wait for requests in flight at the end of a window
    scale_out: ReplicaResults | str = "not run"  # replicas sharing Redis (bench/replicas.py)


def _f(value: float | None, digits: int = 2, signed: bool = False) -> str:
    if value is None or math.isnan(value) or math.isinf(value):
        return "—"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _headline(report: Report, targets: list[Target]) -> list[str]:
    rows = []
    for t in targets:
        op = "≥" if t.at_least else "≤"
        value = f"{_f(t.measured, 2, signed=t.unit == 'ms' and 'added' in t.name)} {t.unit}" if t.met is not None else "—"
        rows.append([t.name, value, f"{op} {t.limit:g} {t.unit}", t.verdict, t.detail or t.missing])
    lines = ["## Headline: issue 10's targets", ""]
    lines += [
        "Gateway paths here are the default deployment: one process, one worker, the shim reaching the executor in process "
        '(`GATEWAY_SHIM_TRANSPORT=inprocess`). "Added" = gateway − baseline, both measured in this run.',
        "",
    ]
    lines += _table(("target", "measured", "limit", "verdict", "from"), rows)
    lines += ["", f"Workers: {_workers_line(report)}", ""]
    lines += _diagnosis(report, targets)
    return lines


def _workers_line(report: Report) -> str:
    if isinstance(report.workers, str):
        return report.workers
    parts = []
    for path in report.workers:
        two = window(report.results, path.key, "unary@32")
        one = window(report.results, path.key.replace("gw-2workers", "gw-inprocess"), "unary@32")
        if two and one and one.rps:
            parts.append(f"{path.label}: {two.rps:.0f} vs {one.rps:.0f} req/s at c=32 with one worker ({two.rps / one.rps:.2f}×)")
    return "; ".join(parts) or "measured, but no window completed (see Failures)"


def _diagnosis(report: Report, targets: list[Target]) -> list[str]:
    """Measured facts next to each miss: CPU against latency tells work from waiting."""
    notes = []
    unary = window(report.results, "gw-inprocess/decl/rest", "unary@1")
    grpc = window(report.results, "gw-inprocess/decl/grpc", "unary@1")
    direct = window(report.results, "direct", "unary@1")
    latency_missed = any(t.met is False and "added" in t.name for t in targets)
    if latency_missed and unary and direct and unary.server_cpu_ms is not None:
        added = unary.latency.p50_ms - direct.latency.p50_ms
        waiting = added - unary.server_cpu_ms
        notes.append(
            f"- Declarative REST unary at c=1 adds {added:.2f} ms of which the gateway spends {unary.server_cpu_ms:.2f} ms on CPU: "
            f"{waiting:.2f} ms per request is waiting, not work."
            + (f" Over gRPC the same request adds {grpc.latency.p50_ms - direct.latency.p50_ms:.2f} ms." if grpc else "")
        )
        if waiting > 20:
            notes.append(
                "  A fixed wait of tens of ms per HTTP response at c=1 with little CPU is the signature of Nagle's algorithm meeting "
                "the client's delayed ACK: the shim's accepted sockets may lack `TCP_NODELAY` (asyncio sets it only on sockets created "
                "with `IPPROTO_TCP`). Throughput at c=32 is not bound by it, since the waits overlap."
            )
    stream = window(report.results, "gw-inprocess/decl/rest", "stream@1")
    direct_stream = window(report.results, "direct", "stream@1")
    ttft_missed = any(t.met is False and "TTFT" in t.name for t in targets)
    if ttft_missed and unary and direct and stream and direct_stream and stream.ttft and direct_stream.ttft:
        ttft_added = stream.ttft.p50_ms - direct_stream.ttft.p50_ms
        unary_added = unary.latency.p50_ms - direct.latency.p50_ms
        notes.append(
            f"- The first token of a declarative REST stream comes {ttft_added:.2f} ms after the upstream's own, where a whole unary "
            f"request adds {unary_added:.2f} ms: the gateway's fixed cost per request (below) is all in front of the first token, and "
            f"the stream's extra {ttft_added - unary_added:.2f} ms is the first event's way through one more task hand-off (the "
            "in-process stream's handler task and its bounded buffer, kept so that a stream's back-pressure, deadline and "
            "cancellation behave as over gRPC) and the SSE response's start (headers, then the role chunk)."
        )
    sdk, sdk_base = window(report.results, "gw-inprocess/sdk/rest", "unary@1"), window(report.results, "sdk-inprocess", "unary@1")
    if any(t.met is False and "SDK agent" in t.name for t in targets) and sdk and sdk_base and unary and direct:
        notes.append(
            f"- An SDK agent through REST adds {sdk.latency.p50_ms - sdk_base.latency.p50_ms:.2f} ms to the same agent run in-process: "
            f"the same fixed cost as the declarative passthrough's {unary.latency.p50_ms - direct.latency.p50_ms:.2f} ms (shim, "
            "in-process channel, executor, security); the agent's own run is the same code, except that the gateway runs it "
            "with the SDK's span tracing on (`GATEWAY_SDK_TRACING=1`, the default: spans become metrics and log lines) and the "
            "in-process baseline with tracing disabled. Span bookkeeping costs ~0.3 ms of CPU per single-turn run "
            "([operations.md](operations.md#agents-sdk-traces)); an A/B on this machine on 2026-12-01 (c=1, ~500 requests a "
            "side, alternating) measured 6.73–7.04 ms of gateway CPU per request with it off against 6.86–7.38 ms with it on. "
            "The c=1 SDK windows hold ~100–200 requests each, and the in-process baseline runs inside the load generator, so "
            "this difference moves by ±1 ms between runs."
        )
    if isinstance(report.profile, Profile) and any(t.met is False for t in targets):
        top = ", ".join(f"{area} {ms:.2f}" for area, ms in report.profile.by_area[:6])
        notes.append(f"- Profile (below) of the declarative REST passthrough, ms per request under cProfile: {top}.")
    elif isinstance(report.profile, str):
        notes.append(f"- {report.profile}")
    return ["Diagnosis of the misses (from this run's measurements):", "", *notes, ""] if notes else []


def _unary_section(report: Report) -> list[str]:
    header = ["path", "p50 ms @1", "p99 ms @1", "server CPU ms/req @1"]
    for c in CONCURRENCY[1:]:
        header += [f"req/s @{c}", f"p50 ms @{c}", f"p99 ms @{c}", f"server CPU ms/req @{c}"]
    header += ["client CPU % (max)"]
    rows = []
    for path in _all_paths(report):
        w1 = window(report.results, path.key, "unary@1")
        row = [path.label, _f(w1.latency.p50_ms if w1 else None), _f(w1.latency.p99_ms if w1 else None), _f(w1.server_cpu_ms if w1 else None)]
        for c in CONCURRENCY[1:]:
            w = window(report.results, path.key, f"unary@{c}")
            row += [_f(w.rps if w else None, 0), _f(w.latency.p50_ms if w else None), _f(w.latency.p99_ms if w else None), _f(w.server_cpu_ms if w else None)]
        row.append(_client_cpu(report, path, "unary"))
        rows.append(row)
    return ["## Unary (non-streaming) requests", "", *_table(header, rows), ""]


def _client_cpu(report: Report, path: BenchPath, prefix: str) -> str:
    windows = [w for k, w in report.results.get(path.key, {}).items() if k.startswith(prefix) and not isinstance(w, str)]
    values = [w.client_cpu_pct for w in windows if w.client_cpu_pct is not None]
    return _f(max(values), 0) if values else "—"


def _stream_section(report: Report) -> list[str]:
    header = ["path", "TTFT p50 ms @1", "TTFT p99 ms @1", "stream p50 ms @1", "chunks", "server CPU ms/stream", "CPU ms/chunk (all)", "CPU ms/chunk (marginal)"]
    for c in CONCURRENCY[1:]:
        header += [f"streams/s @{c}", f"TTFT p50 ms @{c}"]
    header += ["client CPU % (max)"]
    rows = []
    for path in _all_paths(report):
        w = window(report.results, path.key, "stream@1")
        cpu = w.server_cpu_ms if w else None
        per = cpu / w.chunks_per_request if w and cpu is not None and w.chunks_per_request else None
        row = [
            path.label,
            _f(w.ttft.p50_ms if w and w.ttft else None),
            _f(w.ttft.p99_ms if w and w.ttft else None),
            _f(w.latency.p50_ms if w else None),
            _f(w.chunks_per_request if w else None, 0),
            _f(cpu),
            _f(per, 3),
            _f(marginal_chunk_cpu_ms(report.results, path.key), 3),
        ]
        for c in CONCURRENCY[1:]:
            wc = window(report.results, path.key, f"stream@{c}")
            row += [_f(wc.rps if wc else None, 0), _f(wc.ttft.p50_ms if wc and wc.ttft else None)]
        row.append(_client_cpu(report, path, "stream"))
        rows.append(row)
    return [
        "## Streaming requests (20-chunk reply)",
        "",
        "*CPU ms/chunk (all)* divides the server CPU of a whole stream by its content chunks (an upper bound: it includes the "
        "request's fixed cost); *marginal* is the CPU of one more chunk, from the 20-chunk and the 3-chunk stream (`short@1`) of "
        "the same path.",
        "",
        *_table(header, rows),
        "",
    ]


def _added_section(report: Report) -> list[str]:
    rows = []
    lite32 = window(report.results, "litellm", "unary@32")
    for path in _all_paths(report):
        if path.server.startswith("gw-"):
            base = "sdk-inprocess" if "/sdk/" in path.key else "direct"
            cells = []
            for phase, attr in (("unary@1", "p50"), ("unary@1", "p99"), ("stream@1", "ttft")):
                a, b = window(report.results, path.key, phase), window(report.results, base, phase)
                if a is None or b is None:
                    cells.append("—")
                elif attr == "ttft":
                    cells.append(_f((a.ttft.p50_ms if a.ttft else math.nan) - (b.ttft.p50_ms if b.ttft else math.nan), signed=True))
                else:
                    cells.append(_f(getattr(a.latency, f"{attr}_ms") - getattr(b.latency, f"{attr}_ms"), signed=True))
            g32 = window(report.results, path.key, "unary@32")
            vs_lite = g32.rps / lite32.rps if g32 and lite32 and lite32.rps else None
            rows.append([path.label, "upstream direct" if base == "direct" else "SDK agent in-process", *cells, _f(vs_lite, 2) + ("×" if vs_lite else "")])
    header = ("path", "baseline", "added p50 ms @1", "added p99 ms @1", "added TTFT p50 ms @1", "req/s @32 vs LiteLLM")
    return ["## Every gateway path against its baseline", "", *_table(header, rows), ""]


def _responses_section(report: Report) -> list[str]:
    """The Responses API against chat completions: the same agent on the same gateway."""
    rows = []
    for path in report.paths:
        if path.transport != "responses":
            continue
        chat_key = path.key.removesuffix("/responses") + "/rest"
        cells = []
        for phase, attr in (("unary@1", "p50"), ("stream@1", "ttft")):
            a, b = window(report.results, path.key, phase), window(report.results, chat_key, phase)
            if a is None or b is None:
                cells += ["—", "—", "—"]
                continue
            ours = a.ttft.p50_ms if attr == "ttft" and a.ttft else a.latency.p50_ms
            theirs = b.ttft.p50_ms if attr == "ttft" and b.ttft else b.latency.p50_ms
            cells += [_f(theirs), _f(ours), _f(ours - theirs, signed=True)]
        rows.append([path.label.split(",")[0], *cells])
    if not rows:
        return []
    header = ("agent", "chat p50 ms @1", "responses p50 ms @1", "difference", "chat TTFT ms @1", "responses TTFT ms @1", "difference")
    note = "Both over REST on the in-process gateway, in the same run; the Responses requests send `store: false` (the same work as a chat completion: no state written)."
    return ["## The Responses API against chat completions", "", note, "", *_table(header, rows), ""]


def _all_paths(report: Report) -> list[BenchPath]:
    return report.paths + (report.workers if isinstance(report.workers, list) else [])


def _idle_section(idle: IdleStreams | str, hold_s: float) -> list[str]:
    head = ["## Capacity: concurrent idle streams", ""]
    if isinstance(idle, str):
        return [*head, f"Not measured: {idle}", ""]
    rows = [
        [
            str(idle.streams),
            str(idle.completed),
            str(idle.errors),
            _f(idle.rss_cold_mb, 0),
            _f(idle.first_use_mb, 1),
            _f(idle.rss_before_mb, 0),
            _f(idle.rss_open_mb, 0),
            _f(idle.rss_end_of_hold_mb, 0),
            _f(idle.rss_peak_mb, 0),
            _f(idle.rss_after_mb, 0),
            _f(idle.growth_mb, 0),
            _f(idle.kb_per_stream, 0),
            _f(idle.drift_mb, 1, signed=True),
            _f(idle.open_s, 1),
            _f(idle.hold_s, 1),
        ]
    ]
    header = (
        "streams",
        "completed",
        "errors",
        "RSS at start MB",
        "first use MB",
        "RSS before MB",
        "all open MB",
        "end of hold MB",
        "peak MB",
        "after MB",
        "growth MB",
        "KB/stream",
        "drift while held MB",
        "all open after s",
        "held s",
    )
    text = (
        f"`bench/idle_streams.py`: {idle.streams} streaming requests to the SDK agent `default/weather` opened at once over REST "
        "(`bench.rawhttp`, one connection each) against a dedicated gateway whose upstream (`bench/hold_upstream.py`: the demo "
        "model's replies) holds every stream after its first content chunk until the bench releases them all; a stream is *open* "
        f"once its first content delta arrived. All are held open and idle for {hold_s:g} s once the last one opened (or the open "
        "timeout passed), then released and must complete with the whole reply. First, 3 warm-up streams go through the same "
        "cycle (held, released, completed): what they leave behind is the gateway's one-time first-use cost (lazy imports, "
        "schemas, the upstream connection pool; *first use*), measured from the RSS at start and not counted as the 1000 "
        "streams' growth, which starts at *before*. RSS of the gateway's process tree, sampled every 0.25 s; *drift* is the "
        "change over the hold (flat ≈ 0)."
    )
    return [*head, text, "", *_table(header, rows), "", _IDLE_BREAKDOWN, ""] + ([f"First error: `{idle.first_error}`", ""] if idle.first_error else [])


# Not measured by every run: tracemalloc snapshots need the gateway started under it, which
# distorts the RSS the table reports. Measured once on this machine (see the text for how).
_IDLE_BREAKDOWN = (
    "Where an idle stream's ~150 KB go (measured once, not by every run: the same 1000 streams against a gateway run under "
    "`python -X tracemalloc=25`, a snapshot with all streams open diffed against one before, grouped by the package of the "
    "allocating frame): the Agents SDK's streamed run (its run task, queues, context and items) ~48 KB; the `openai` client "
    "and its httpx/httpcore/h11 connection to the upstream ~37 KB; uvicorn and Starlette (the request, its scope and "
    "transport) ~14 KB; the gateway's own code ~15 KB (~30 KB before the executor's relay task and queue, the in-process "
    "channel's `asyncio.Queue` and the shim's task per read were removed); the allocator's overhead on top of what "
    "tracemalloc sees, 20–35 KB. The first requests' one-time cost (lazy imports, the `openai` types' pydantic schemas, "
    "~9–10 MB) is the *first use* column: the warm-up pays it before the growth is measured (until 2026-12-01 it was "
    "counted in the growth). What is left per stream is the SDK's and the HTTP client's, which the gateway uses as they are."
)


def replicas_section(scale_out: ReplicaResults | str) -> list[str]:
    head = [
        "## Scale-out: replicas sharing Redis",
        "",
        "Gateway replicas are processes on this machine's 2 cores sharing one redis-server "
        "(`GATEWAY_STATE_URL`); the load generator, the fake upstream and Redis share those cores "
        "too, so more replicas than cores cannot add throughput here: the table shows what a "
        "replica costs and that the shared limiter does not serialise them. Declarative "
        "passthrough, REST, c=32 sent round robin over the replicas by `bench.loadgen`, with a "
        "rate-limited key (every request a Redis reservation and commit).",
        "",
    ]
    if isinstance(scale_out, str):
        return [*head, f"Not measured: {scale_out}", ""]
    rows = []
    one = scale_out.scaling.get(1)
    for n, w in sorted(scale_out.scaling.items()):
        if isinstance(w, str):
            rows.append([str(n), "failed", "", "", "", "", w[:120]])
            continue
        ratio = f"{w.rps / one.rps:.2f}x" if isinstance(one, Window) and one.rps else ""
        rows.append([str(n), f"{w.rps:.0f}", ratio, _f(w.latency.p50_ms), _f(w.server_cpu_ms), _f(w.client_cpu_pct, 0), str(w.errors)])
    header = ["replicas", "req/s", "vs 1", "p50 ms", "CPU ms/req (replicas + Redis)", "load generator, % of a core", "errors"]
    out = [*head, *_table(header, rows), ""]
    rate_rows = []
    for label in RATE_PATHS:
        case = scale_out.rate.get(label, "not run")
        if isinstance(case, Window):
            rate_rows.append([label, _f(case.latency.p50_ms), _f(case.latency.p99_ms), _f(case.server_cpu_ms), str(case.errors)])
        else:
            rate_rows.append([label, "failed", "", "", case[:120]])
    out += [
        "What rate limiting adds to one request (c=1, `hey`): an unlimited and a limited key on the "
        "embedded gateway and on a Redis-backed replica (same config, same upstream).",
        "",
        *_table(["gateway, key", "p50 ms", "p99 ms", "CPU ms/req", "errors"], rate_rows),
        "",
    ]
    p50 = {label: w.latency.p50_ms for label, w in scale_out.rate.items() if isinstance(w, Window)}
    if len(p50) == len(RATE_PATHS):
        mem, red = p50[RATE_PATHS[1]] - p50[RATE_PATHS[0]], p50[RATE_PATHS[3]] - p50[RATE_PATHS[2]]
        shared = p50[RATE_PATHS[2]] - p50[RATE_PATHS[0]]
        out += [
            f"Rate limiting adds {mem:+.2f} ms (p50) in memory and {red:+.2f} ms with Redis; the rest of the "
            f"shared state (buffered audit, cached overrides) adds {shared:+.2f} ms to an unlimited key's request.",
            "",
        ]
    return out


def _security_section(cost: SecurityCost) -> list[str]:
    rows = [
        ["with security", f"{cost.with_security.p50_ms:.4f}", f"{cost.with_security.p99_ms:.4f}", f"{cost.with_security.mean_ms:.4f}"],
        ["without", f"{cost.without.p50_ms:.4f}", f"{cost.without.p99_ms:.4f}", f"{cost.without.mean_ms:.4f}"],
    ]
    return [
        "## Security layer per request (in-process)",
        "",
        f"`bench/security_cost.py`: authenticate against {cost.keys} digests (the last matches), decide and audit `use_model`, "
        f"reserve and settle rate-limit budget, decide and audit a tool call; {cost.iterations} iterations interleaved with an "
        f"empty loop. Added p50: **{cost.added_p50_ms:.3f} ms**. Every gateway path above includes this layer.",
        "",
        *_table(("loop", "p50 ms", "p99 ms", "mean ms"), rows),
        "",
    ]


def _profile_section(profile: Profile | str) -> list[str]:
    head = ["## Profile: declarative REST passthrough, unary, c=1", ""]
    if isinstance(profile, str):
        return [*head, profile, ""]
    text = (
        f"`bench/profile.py`: cProfile of the main thread of the matrix's in-process gateway (the shim, the executor and "
        f"the upstream client; launched by `bench/profile_launcher.py`, the profiler off until now) over {profile.requests} "
        "requests from `hey`, after its load windows and a warm-up. Profiling inflates Python time "
        f"(**{profile.total_ms_per_request:.2f} ms per request under the profiler**, the loop's idle `epoll` wait left out); read the split, not the absolute values. "
        "Other threads (gRPC C-core, thread pools) are not in it."
    )
    areas = _table(
        ("area (package or gateway module)", "own ms/request", "share"),
        ([a, f"{ms:.3f}", f"{ms * 100 / profile.total_ms_per_request:.0f}%"] for a, ms in profile.by_area[:14]),
    )
    top = _table(("function", "own ms/request"), ([f"`{f}`", f"{ms:.3f}"] for f, ms in profile.top_functions))
    return [*head, text, "", *areas, "", "Top functions by own time:", "", *top, ""]


def _failures(report: Report) -> list[str]:
    lines = [f"- setup, {what}: `{error}`" for what, error in report.setup_errors.items()]
    labels = {p.key: p.label for p in _all_paths(report)}
    for key, phases in report.results.items():
        for phase, outcome in phases.items():
            if isinstance(outcome, str):
                lines.append(f"- {labels.get(key, key)} {phase}: `{outcome}`")
            elif outcome.errors:
                lines.append(f"- {labels.get(key, key)} {phase}: {outcome.errors} failed requests; first: `{outcome.first_error}`")
    return ["## Failures", "", *(lines or ["None: every path answered every request correctly."]), ""]


def render_markdown(report: Report) -> str:
    env = report.env
    targets = evaluate(report.results, report.idle)
    out = ["# Benchmarks: gateway overhead", ""]
    out += [
        f"Generated by `make bench` (`python -m bench.run{' --quick' if report.quick else ''}"
        f"{' --sse-client httpx' if report.http_client == 'httpx' else ''}`) on {env.date}; overwritten on every run."
        + (
            f" **Quick smoke run: windows too short for stable numbers** (c=1 in one pass of {report.c1_seconds:g} s, load windows "
            f"of {report.load_seconds:g} s, no c=256, no 2-worker gateway, {report.idle.streams if isinstance(report.idle, IdleStreams) else 'fewer'} "
            "idle streams instead of 1,000)."
            if report.quick
            else ""
        ),
        "",
        f"- Machine: {env.cpu}, {env.cores} cores ({env.usable_cores} usable), {env.platform}",
        f"- Python {env.python}; {env.packages}",
        f"- Baseline: {env.litellm} (own virtualenv, `.bench-venvs/litellm`); load generators: {env.load_tools} for plain HTTP unary, "
        f"`python -m bench.loadgen` ({'`bench.rawhttp`' if report.http_client == 'raw' else 'httpx'} / grpc.aio / the Agents SDK) "
        "for streams, gRPC and the in-process agent",
        f"- Load average (1/5/15 min) before: {env.load_before}; after: {env.load_after} (the machine is shared: load from others adds noise)",
        f"- Run took {report.duration_s:.0f} s: " + ", ".join(f"{name} {took:.0f} s" for name, took in report.phases),
        "",
    ]
    out += _headline(report, targets)
    out += _added_section(report)
    out += _responses_section(report)
    out += _unary_section(report)
    out += _stream_section(report)
    out += _idle_section(report.idle, report.idle_hold_s)
    out += replicas_section(report.scale_out)
    out += _profile_section(report.profile)
    out += _security_section(report.security)
    out += method_section(
        report.c1_passes, report.c1_seconds, report.load_seconds, report.load_tool, env.usable_cores, report.http_client, report.waiting_note, report.drain_s
    )
    out += _failures(report)
    if report.gateway_log:
        out += ["## Gateway log (warnings and errors during the run, with counts)", "", "```", *report.gateway_log, "```", ""]
    return "\n".join(out)


def console_summary(report: Report) -> str:
    lines = [f"{'target':<72} {'measured':>10} {'limit':>8}  verdict"]
    for t in evaluate(report.results, report.idle):
        lines.append(f"{t.name:<72} {_f(t.measured):>10} {t.limit:>8g}  {t.verdict.strip('*')}")
    return "\n".join(lines)
