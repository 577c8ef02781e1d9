"""Prometheus metrics of this process (served at ``GET /metrics`` by the shim, admin key required).

docs/operations.md has the table of every metric here (tests/test_metrics_docs.py keeps the two
in step). Labels are bounded: model ids and tool names come from the catalogue, never from
requests (a request for a model the catalogue does not have is counted under
``model="unknown"``), outcomes and reasons from the gateway's own error reasons.

The per-request path touches only label children bound once (``.labels()`` is a lock, a tuple
and a dict lookup per call): the ``*_for`` helpers below cache them by label values.

With several workers (``--workers``) each one writes its samples to the per-run directory the
supervisor names in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode,
chosen when prometheus_client is first imported), and ``exposition()`` sums them: whichever
worker answers ``/metrics``, it reports the whole gateway.
"""

from __future__ import annotations

import functools
import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

__all__ = [
    "AUTH_FAILURES",
    "GRPC_HANDLED",
    "GRPC_HANDLING_SECONDS",
    "LOOP_STALLS",
    "LOOP_STALL_SECONDS",
    "OVERHEAD_SECONDS",
    "RATE_LIMIT_REJECTIONS",
    "REQUESTS",
    "REQUEST_SECONDS",
    "TOOL_CALLS",
    "TOOL_SECONDS",
    "UNKNOWN_MODEL",
    "UPSTREAM_RETRIES",
    "exposition",
    "grpc_method_metrics",
    "requests_for",
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


class GrpcMethodMetrics:
    """One method's children: latency bound once, codes bound on first use."""

    __slots__ = ("_codes", "_method", "_seconds")

    def __init__(self, method: str) -> None:
        self._method = method
        self._seconds = GRPC_HANDLING_SECONDS.labels(method)
        self._codes: dict[str, Counter] = {"OK": GRPC_HANDLED.labels(method, "OK")}

    def observe(self, code: str, seconds: float) -> None:
        handled = self._codes.get(code)
        if handled is None:
            handled = self._codes[code] = GRPC_HANDLED.labels(self._method, code)
        handled.inc()
        self._seconds.observe(seconds)


@functools.cache
def grpc_method_metrics(method: str) -> GrpcMethodMetrics:
    return GrpcMethodMetrics(method)


@functools.cache
def requests_for(model: str, outcome: str) -> Counter:
    """The ``agentgateway_requests_total`` child of (model, outcome), bound once."""
    return REQUESTS.labels(model, outcome)


def exposition() -> bytes:
    """The Prometheus text format of this process or, with several workers, of all of them."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
