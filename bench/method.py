"""The report's method section: how each number was obtained."""

from __future__ import annotations

from bench.prompts import LONG_PROMPT, SHORT_PROMPT

__all__ = ["method_section"]


def method_section(
    c1_passes: int,
    c1_seconds: float,
    load_seconds: float,
    load_tool: str,
    cores: int,
    http_client: str = "raw",
    waiting_note: str = "",
    drain_s: float = 1.0,
) -> list[str]:
    if http_client == "raw":
        sse = (
            "`bench.rawhttp` for SSE: raw HTTP/1.1 POSTs on kept-alive connections, an `asyncio.Protocol` that parses the chunked "
            "event stream as bytes arrive and stamps the first content delta in its data callback, far cheaper per chunk than "
            "httpx, whose own CPU would be in every TTFT"
        )
    else:
        sse = "httpx for SSE (`--sse-client httpx`): its own CPU per chunk is in every TTFT and stream time below"
    passes = (
        "one pass"
        if c1_passes == 1
        else f"{c1_passes} passes of {c1_seconds / c1_passes:g} s that interleave all paths, so drift in machine load spreads evenly"
    )
    return [
        "## Method",
        "",
        "Processes: the fake upstream is the offline demo model (`agent-gateway demo-model --chunk-delay 0`: an "
        "OpenAI-compatible server built on the same wire builders as `tests/fake_upstream.py`, TCP_NODELAY on) in its own process; "
        "each gateway is a real `agent-gateway serve` (all services, `GATEWAY_LOG_LEVEL=WARNING`) with the bench's own config "
        "(`bench/gateway.py`: one upstream, the declarative passthrough `default/helpdesk` with no tools, the drop-in "
        "`agents/Weather` as `default/weather`, one admin key sent as `Authorization: Bearer`); LiteLLM is "
        "`litellm --num_workers 1` with callbacks off, no database, pointed at the same upstream. Two gateways serve the matrix: "
        "`GATEWAY_SHIM_TRANSPORT=inprocess` (the default) and `=socket` (the shim dials its own gRPC port, as a split deployment "
        "does). The load generators are other processes again: "
        f"{load_tool} for plain HTTP unary requests (`-o csv`: every request's latency is kept), and one long-lived "
        f"`python -m bench.loadgen` for the rest ({sse}; `grpc.aio` on one channel for gRPC; `Runner.run` / `run_streamed` for the "
        "in-process agent); it keeps its clients between windows, freezes its long-lived objects out of the "
        "garbage collector and collects before each window. This process only orchestrates.",
        "",
        "Start-up: every service (both upstreams, LiteLLM and all gateways: the two above, the 2-worker one in full runs and the "
        "idle-streams one) and the load generator start together before the first measurement, and each is waited for until it "
        "answers; the in-process gateway is launched by `bench/profile_launcher.py` (the real `agent-gateway serve` with a "
        "profiler that stays off until the profile phase). Services not measured in a phase sit idle through it"
        + (f": {waiting_note}" if waiting_note else "")
        + ". No two load windows ever run at once; the idle streams, the security loop and the profile run after the windows, "
        "one after another. The header lists each phase's wall time.",
        "",
        f"Prompt: `{LONG_PROMPT}` — the demo model answers `You said: <prompt>`, one word per chunk: 20 content chunks. "
        f"`short@1` uses `{SHORT_PROMPT}` (3 chunks). The passthrough's baselines (upstream direct, LiteLLM) send the system message "
        "the gateway prepends for `default/helpdesk`. Every reply is checked against the expected text (hey checks the status only; "
        "the same request is checked by the loadgen's streaming runs).",
        "",
        "Phases, per path:",
        "",
        f"- **@1** (unary, 20-chunk stream, 3-chunk stream): one client back to back, {c1_seconds:g} s per path in {passes}; 3 untimed warm-up requests first.",
        f"- **@32, @256**: that many concurrent clients for {load_seconds:g} s; @32 after 32 untimed requests (all at once), @256 "
        "right after @32 of the same path and kind, which leaves the server warm. Requests in flight at the end of the window "
        f"are waited for (hey waits for all; the loadgen up to {drain_s:g} s, then cancels the rest, not counted: the slow "
        "paths at @256 need seconds per request, and cutting them off would count none of a round); req/s is the completed "
        "requests over the window and that wait (quick runs stop at @32).",
        "- **latency** is client-side, whole request; **TTFT** is to the first non-empty content delta.",
        "- **server CPU** is user + system CPU of the serving process tree (the gateway and any worker children, LiteLLM, or the "
        "upstream for *upstream direct*) from `/proc/<pid>/stat`, over the timed window, divided by the requests completed in it. "
        "Linux counts in 10 ms ticks; windows hold hundreds of requests or more. The SDK agent in-process has no server: it runs "
        "inside the load generator.",
        "- **client CPU %** is the load generator's CPU over the window as % of one core: near 100 the client, not the path, may "
        "be the limit (the Python loadgen at @256 often is).",
        "",
        f"**Everything shares {cores} cores**: upstream, gateway, LiteLLM and the load generator compete, so throughput is that of "
        "the whole loop on this machine; compare paths within one run only.",
        "",
        "Note on unary requests: the declarative passthrough and LiteLLM call the upstream without streaming for unary requests "
        "only if they choose to; what each does is part of what it costs.",
        "",
    ]
