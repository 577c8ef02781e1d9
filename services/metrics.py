"""Prometheus metrics of this process (``GET /metrics`` on the shim and, with ``--metrics-port``,
on a port of its own: services/metrics_server.py; admin key required either way).

docs/operations.md has the table of every metric here (tests/test_metrics_docs.py keeps the two
in step). Labels are bounded: model ids and tool names come from the catalogue, never from
requests (a request for a model the catalogue does not have is counted under
``model="unknown"``), outcomes and reasons from the gateway's own error reasons.

The per-request path touches only label children bound once (``.labels()`` is a lock, a tuple
and a dict lookup per call): ``requests_for``, ``run_metrics``, ``upstream_metrics``,
``grpc_method_metrics`` and ``sdk_span_metrics`` cache them by label values.

With several workers (``--workers``) each one writes its samples to the per-run directory the
supervisor names in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode,
chosen when prometheus_client is first imported), and ``exposition()`` sums them: whichever
worker answers ``/metrics``, it reports the whole gateway.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable
from typing import Literal

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

from services.log import get_logger

__all__ = [
    "AGENTS_STALE",
    "AGENT_LOAD_FAILURES",
    "APPROVALS_PENDING",
    "AUDIT_DROPPED",
    "AUTH_FAILURES",
    "CONFIG_RELOAD_FAILURES",
    "GRPC_HANDLED",
    "GRPC_HANDLING_SECONDS",
    "LOOP_STALLS",
    "LOOP_STALL_SECONDS",
    "OVERHEAD_SECONDS",
    "RATE_LIMIT_FAIL_OPEN",
    "RATE_LIMIT_REJECTIONS",
    "RELOADS",
    "REQUESTS",
    "REQUEST_SECONDS",
    "RUNS_IN_FLIGHT",
    "SDK_SPANS",
    "SDK_SPAN_SECONDS",
    "STREAMS_IN_FLIGHT",
    "TIME_TO_FIRST_TOKEN_SECONDS",
    "TOKENS",
    "TOOL_CALLS",
    "TOOL_SECONDS",
    "UNKNOWN_MODEL",
    "UPSTREAM_CHECK_SECONDS",
    "UPSTREAM_REQUESTS",
    "UPSTREAM_RETRIES",
    "UPSTREAM_SECONDS",
    "UPSTREAM_UP",
    "ReloadOutcome",
    "exposition",
    "exposition_registry",
    "grpc_method_metrics",
    "on_scrape",
    "record_load_failure",
    "record_reload",
    "refresh",
    "requests_for",
    "run_metrics",
    "scrape",
    "sdk_span_metrics",
    "upstream_metrics",
]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

# The model label of a request whose model the catalogue does not have.
UNKNOWN_MODEL = "unknown"

REQUESTS = Counter(
    "agentgateway_requests_total",
    "Run requests the executor received by model and outcome: ok, or the error reason in lower case (refusals before the run included).",
    ["model", "outcome"],
)
AUTH_FAILURES = Counter(
    "agentgateway_auth_failures_total",
    "Requests refused for their credential before any service ran, by reason (unauthenticated, admin_required).",
    ["reason"],
)
RATE_LIMIT_REJECTIONS = Counter(
    "agentgateway_rate_limit_rejections_total",
    "Requests refused by a key's rate limit, by key id (never the key) and limit (requests_per_minute, tokens_per_minute).",
    ["key_id", "limit"],
)
REQUEST_SECONDS = Histogram("agentgateway_request_seconds", "Agent run duration.", ["model"], buckets=_LATENCY_BUCKETS)
TOOL_CALLS = Counter(
    "agentgateway_tool_calls_total", "Tool invocations by tool, source (sdk, gateway, mcp) and outcome (ok, error, denied).", ["tool", "source", "outcome"]
)
TOOL_SECONDS = Histogram("agentgateway_tool_call_seconds", "Tool invocation duration.", ["tool", "source"], buckets=_LATENCY_BUCKETS)
UPSTREAM_RETRIES = Counter(
    "agentgateway_upstream_retries_total", "Requests to an upstream sent again by the client's retry policy, by upstream name.", ["upstream"]
)
# Health checks of upstreams (services/upstreams/health.py): 1 while the checks pass, 0 once an
# upstream is down; no series while its state is unknown (checks off, or not decided yet). With
# several workers each checks on its own and the most recent sample wins.
UPSTREAM_UP = Gauge(
    "agentgateway_upstream_up",
    "Whether an upstream's health checks pass (1) or say it is down (0), by upstream name.",
    ["upstream"],
    multiprocess_mode="mostrecent",
)
UPSTREAM_CHECK_SECONDS = Histogram(
    "agentgateway_upstream_check_seconds",
    "Duration of upstream health checks (failed ones included), by upstream name.",
    ["upstream"],
    buckets=_LATENCY_BUCKETS,
)
# The loop-lag watchdog (services/guest/watchdog.py): `agent` is a served model id, or
# "gateway" when no drop-in code was on the blocked loop's stack.
LOOP_STALLS = Counter("agentgateway_loop_stalls_total", "Callbacks that held the event loop past GATEWAY_LOOP_LAG_WARN_S, by the agent running.", ["agent"])
LOOP_STALL_SECONDS = Histogram("agentgateway_loop_stall_seconds", "How long those callbacks held the event loop.", ["agent"], buckets=_LATENCY_BUCKETS)
# The time a REST request spent in the gateway itself, not waiting on upstream LLM calls (the
# x-gateway-overhead-ms header; streams: until the response starts). Sub-millisecond buckets:
# that is where a healthy gateway lives.
OVERHEAD_SECONDS = Histogram(
    "agentgateway_overhead_seconds",
    "Time a REST request spent in the gateway excluding upstream calls, by model (streams: until the first byte).",
    ["model"],
    buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)

# Hot reload (services/registry/): each problem the catalogue lists is counted once, when it is
# first listed (when it is logged), by stage; config files whose reload the watcher rejected;
# and the agents serving their last good version because a newer one failed to load. Every
# worker loads the same folder: the gauge reports the largest count among live workers, not
# their sum.
AGENT_LOAD_FAILURES = Counter(
    "agentgateway_agent_load_failures_total",
    "Agent load problems newly diagnosed (drop-ins and agents.yaml), by stage (discover, import, export, register, policy).",
    ["stage"],
)
CONFIG_RELOAD_FAILURES = Counter(
    "agentgateway_config_reload_failures_total",
    "Config file reloads rejected while watching (the old version stays in force), by file (security, tools).",
    ["config"],
)
STATE_ERRORS = Counter(
    "agentgateway_state_errors_total",
    "Shared state (Redis) operations that failed because the store was unreachable, by store.",
    ["store"],
)
RATE_LIMIT_FAIL_OPEN = Counter(
    "agentgateway_rate_limit_fail_open_total",
    "Requests of keys with rate limits admitted uncounted because the shared state was unreachable (GATEWAY_RATE_LIMIT_FAIL_MODE=open).",
)
AUDIT_DROPPED = Counter(
    "agentgateway_audit_dropped_total",
    "Audit events not written to the shared audit stream: its buffer overflowed while Redis was unreachable.",
)
AGENTS_STALE = Gauge("agentgateway_agents_stale", "Agents serving their last good version because a newer one failed to load.", multiprocess_mode="livemax")


RUNS_IN_FLIGHT = Gauge("agentgateway_runs_in_flight", "Runs in progress, by model.", ["model"], multiprocess_mode="livesum")
STREAMS_IN_FLIGHT = Gauge(
    "agentgateway_streams_in_flight", "Streamed runs in progress (their caller reads deltas as they come), by model.", ["model"], multiprocess_mode="livesum"
)
TIME_TO_FIRST_TOKEN_SECONDS = Histogram(
    "agentgateway_time_to_first_token_seconds",
    "Streamed runs: from the start of the run to its first output (text, a client tool call, or the final answer), by model.",
    ["model"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
TOKENS = Counter(
    "agentgateway_tokens_total",
    "Tokens the runs' upstream calls reported, by model and direction (input: prompt, output: completion).",
    ["model", "direction"],
)


class RunMetrics:
    """One model's run children, bound once."""

    __slots__ = ("in_flight", "input_tokens", "output_tokens", "seconds", "streams", "time_to_first_token")

    def __init__(self, model: str) -> None:
        self.in_flight = RUNS_IN_FLIGHT.labels(model)
        self.streams = STREAMS_IN_FLIGHT.labels(model)
        self.seconds = REQUEST_SECONDS.labels(model)
        self.time_to_first_token = TIME_TO_FIRST_TOKEN_SECONDS.labels(model)
        self.input_tokens = TOKENS.labels(model, "input")
        self.output_tokens = TOKENS.labels(model, "output")


@functools.cache
def run_metrics(model: str) -> RunMetrics:
    return RunMetrics(model)


# Requests to upstream LLM servers (services/executor/failures.py: upstream_call and
# upstream_stream, which both upstream clients go through), after the client's retries.
UPSTREAM_REQUESTS = Counter(
    "agentgateway_upstream_requests_total",
    "Requests to upstream LLM servers, by configured upstream name and outcome (ok, cancelled, or the gateway's upstream error reason).",
    ["upstream", "outcome"],
)
UPSTREAM_SECONDS = Histogram(
    "agentgateway_upstream_request_seconds",
    "Upstream request latency, by upstream: until the whole reply (unary) or the start of the stream.",
    ["upstream"],
    buckets=_LATENCY_BUCKETS,
)


@functools.cache
def upstream_metrics(upstream: str) -> Outcomes:
    return Outcomes(UPSTREAM_REQUESTS, UPSTREAM_SECONDS, upstream, "ok")


# Every RPC served (services/rpc/interceptor.py), as grpc-ecosystem's go-grpc-prometheus names
# them: `method` is the full gRPC method (only methods this server has: unknown ones never get
# this far), `code` the status code's name.
GRPC_HANDLED = Counter(
    "agentgateway_grpc_server_handled_total", "RPCs completed by the gRPC server, by method and status code (OK, NOT_FOUND, ...).", ["method", "code"]
)
GRPC_HANDLING_SECONDS = Histogram(
    "agentgateway_grpc_server_handling_seconds",
    "How long RPCs took, by method (a stream: until it ended).",
    ["method"],
    buckets=(0.0005, 0.001, 0.0025, *_LATENCY_BUCKETS),
)


class Outcomes:
    """One series' children: a duration histogram bound once, a counter by outcome bound on
    first use of each outcome (the usual one up front)."""

    __slots__ = ("_counter", "_counts", "_label", "seconds")

    def __init__(self, counter: Counter, histogram: Histogram, label: str, usual: str) -> None:
        self._counter = counter
        self._label = label
        self.seconds = histogram.labels(label)
        self._counts: dict[str, Counter] = {usual: counter.labels(label, usual)}

    def count(self, outcome: str) -> None:
        counted = self._counts.get(outcome)
        if counted is None:
            counted = self._counts[outcome] = self._counter.labels(self._label, outcome)
        counted.inc()

    def observe(self, outcome: str, seconds: float) -> None:
        self.count(outcome)
        self.seconds.observe(seconds)


@functools.cache
def grpc_method_metrics(method: str) -> Outcomes:
    return Outcomes(GRPC_HANDLED, GRPC_HANDLING_SECONDS, method, "OK")


@functools.cache
def requests_for(model: str, outcome: str) -> Counter:
    """The ``agentgateway_requests_total`` child of (model, outcome), bound once."""
    return REQUESTS.labels(model, outcome)


# The Agents SDK's spans (services/executor/tracing.py), by span_data.type.
SDK_SPANS = Counter(
    "agentgateway_sdk_spans_total",
    "Agents SDK trace spans that ended, by kind (agent, generation, function, handoff, guardrail, ...) and status.",
    ["kind", "status"],
)
SDK_SPAN_SECONDS = Histogram("agentgateway_sdk_span_seconds", "Agents SDK span durations, by kind.", ["kind"], buckets=(0.001, 0.0025, *_LATENCY_BUCKETS))


@functools.cache
def sdk_span_metrics(kind: str) -> Outcomes:
    return Outcomes(SDK_SPANS, SDK_SPAN_SECONDS, kind, "ok")


# The agent catalogue (services/registry/): what failed to load, and each refresh.
RELOADS = Counter("agentgateway_reloads_total", "Agent catalogue refreshes (start-up, hot reload, RefreshAgents), by outcome (ok, failed).", ["outcome"])

ReloadOutcome = Literal["ok", "failed"]


def record_load_failure(stage: str) -> None:
    """One load problem newly diagnosed; ``stage`` is its diagnostic's (a bounded set: discovery.Stage)."""
    AGENT_LOAD_FAILURES.labels(stage).inc()


def record_reload(outcome: ReloadOutcome) -> None:
    """One catalogue refresh: ``ok`` (the new catalogue serves) or ``failed`` (the old one stays)."""
    RELOADS.labels(outcome).inc()


# Read from the approval store when scraped (a paused run may expire with no event to count),
# by whichever worker answers: the most recent reading is the gateway's.
APPROVALS_PENDING = Gauge("agentgateway_approvals_pending", "Runs paused for a human approval that can still be resumed.", multiprocess_mode="livemostrecent")

_log = get_logger("metrics")
_on_scrape: list[Callable[[], Awaitable[None]]] = []


def on_scrape(refresh: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    """Run ``refresh`` before every scrape: it sets gauges read from state, not from events.
    Returns what stops it."""
    _on_scrape.append(refresh)
    return lambda: _on_scrape.remove(refresh)


async def refresh() -> None:
    """Run the scrape-time refreshes (a failing one is logged, not fatal)."""
    for refresh_one in list(_on_scrape):
        try:
            await refresh_one()
        except Exception as exc:  # noqa: BLE001 - a broken store must not take /metrics down
            _log.warning("metrics refresh failed", extra={"fields": {"error_type": type(exc).__name__}})


async def scrape() -> bytes:
    """The exposition after the scrape-time refreshes, built off the event loop (with several
    workers it reads every worker's files)."""
    await refresh()
    return await asyncio.to_thread(exposition)


def exposition_registry() -> CollectorRegistry:
    """What to expose: this process's registry or, with several workers, all of theirs summed."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def exposition() -> bytes:
    """The Prometheus text format of this process or, with several workers, of all of them."""
    return generate_latest(exposition_registry())
