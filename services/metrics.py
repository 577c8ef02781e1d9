"""Prometheus metrics of this process (served at ``GET /metrics`` by the shim, admin key required).

Labels are bounded: model ids and tool names come from the catalogue, never from requests
(unknown models are counted under ``model="unknown"``).

With several workers (``--workers``) each one writes its samples to the per-run directory the
supervisor names in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode,
chosen when prometheus_client is first imported), and ``exposition()`` sums them: whichever
worker answers ``/metrics``, it reports the whole gateway.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

__all__ = [
    "AGENTS_STALE",
    "AGENT_LOAD_FAILURES",
    "CONFIG_RELOAD_FAILURES",
    "LOOP_STALLS",
    "LOOP_STALL_SECONDS",
    "OVERHEAD_SECONDS",
    "REQUESTS",
    "REQUEST_SECONDS",
    "TOOL_CALLS",
    "TOOL_SECONDS",
    "UPSTREAM_RETRIES",
    "exposition",
]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

REQUESTS = Counter("agentgateway_requests_total", "Agent runs by model and outcome (ok or an error reason).", ["model", "outcome"])
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
AGENTS_STALE = Gauge("agentgateway_agents_stale", "Agents serving their last good version because a newer one failed to load.", multiprocess_mode="livemax")


def exposition() -> bytes:
    """The Prometheus text format of this process or, with several workers, of all of them."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
