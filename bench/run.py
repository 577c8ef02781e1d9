"""``make bench``: measure what the gateway adds over running an agent (or calling the
upstream) directly, and write ``docs/benchmarks.md``.

    .venv/bin/python -m bench.run --out docs/benchmarks.md
    .venv/bin/python -m bench.run --quick --out /tmp/bench-quick.md   # smoke run, < 1 min
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
from agents import set_tracing_disabled
from openai import AsyncOpenAI

import tests.conftest as test_config
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from bench.idle_streams import IdleStreams, measure_idle_streams
from bench.measure import CpuMeter, Measurement, describe, measure, redact, throughput
from bench.paths import EXPECTED, PROMPT, BenchPath, grpc_path, inprocess_provider, inprocess_sdk_path, load_agent, openai_path, unavailable_path
from bench.report import Environment, Method, PathResult, console_summary, render_markdown
from bench.security_cost import measure_security_cost
from tests.fake_upstream import FakeUpstream
from tests.gateway_process import GatewayProcess, make_agents_dir

__all__ = ["Plan", "main"]

HELPDESK_INSTRUCTIONS = "You answer tickets."  # what write_config gives default/helpdesk
# What the test config's files read from the environment (API keys by env var name, tool
# settings), and its admin key (every model, no rate limit). Looked up leniently: the
# baselines should still run if tests/conftest.py renames these.
GATEWAY_ENV: dict[str, str] = test_config.GATEWAY_ENV
ADMIN_KEY: str | None = getattr(test_config, "ADMIN_KEY", None)


@dataclass(frozen=True)
class Plan:
    quick: bool
    warmup: int
    iterations: int
    concurrency: int
    load_seconds: float
    phase_timeout_s: float

    @classmethod
    def for_mode(cls, quick: bool) -> Plan:
        if quick:
            return cls(quick=True, warmup=3, iterations=20, concurrency=32, load_seconds=2.0, phase_timeout_s=30)
        return cls(quick=False, warmup=30, iterations=300, concurrency=32, load_seconds=10.0, phase_timeout_s=60)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------ environment


def _loadavg() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _packages() -> str:
    names = ("openai-agents", "openai", "grpcio", "httpx", "uvicorn", "starlette")
    versions = []
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions.append(f"{name} {importlib.metadata.version(name)}")
    return ", ".join(versions)


def environment(load_before: str) -> Environment:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)
    return Environment(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cpu=_cpu_model(),
        cores=os.cpu_count() or 0,
        usable_cores=usable,
        python=platform.python_version(),
        platform=platform.platform(terse=True),
        packages=_packages(),
        load_before=load_before,
        load_after=_loadavg(),
    )


# ----------------------------------------------------------------------------- paths


@contextlib.asynccontextmanager
async def bench_paths(upstream: FakeUpstream, gateway: GatewayProcess | None, gateway_error: str, agent_file: Path) -> AsyncIterator[list[BenchPath]]:
    """The six paths, in report order, with their clients open for the block's duration."""
    async with contextlib.AsyncExitStack() as stack:
        direct = await stack.enter_async_context(AsyncOpenAI(base_url=upstream.base_url, api_key="sk-bench", max_retries=0, timeout=30))
        try:
            provider = inprocess_provider(upstream.base_url, direct)
            inprocess = inprocess_sdk_path("sdk/inprocess", "SDK agent in-process (baseline A)", load_agent(agent_file, "_bench_weather_agent"), provider)
        except Exception as exc:  # noqa: BLE001 - reported as a failed path
            inprocess = unavailable_path("sdk/inprocess", "SDK agent in-process (baseline A)", f"cannot load the agent: {describe(exc)}")
        direct_messages = [{"role": "system", "content": HELPDESK_INSTRUCTIONS}, {"role": "user", "content": PROMPT}]
        upstream_direct = openai_path("decl/direct", "Upstream direct (baseline B)", direct, "helpdesk-model", direct_messages, via_gateway=False)

        labels = {
            "sdk/rest": "SDK agent via gateway REST",
            "sdk/grpc": "SDK agent via gateway gRPC",
            "decl/rest": "Declarative via gateway REST",
            "decl/grpc": "Declarative via gateway gRPC",
        }
        if gateway is None:
            via = {key: unavailable_path(key, label, f"gateway did not start: {gateway_error}") for key, label in labels.items()}
        else:
            rest = await stack.enter_async_context(AsyncOpenAI(base_url=gateway.openai_base_url, api_key=ADMIN_KEY or "none", max_retries=0, timeout=30))
            channel = await stack.enter_async_context(grpc.aio.insecure_channel(gateway.grpc_address))
            stub = ex_grpc.ExecutorServiceStub(channel)
            user_only = [{"role": "user", "content": PROMPT}]
            via = {
                "sdk/rest": openai_path("sdk/rest", labels["sdk/rest"], rest, "default/weather", user_only, via_gateway=True),
                "sdk/grpc": grpc_path("sdk/grpc", labels["sdk/grpc"], stub, "default/weather", ADMIN_KEY),
                "decl/rest": openai_path("decl/rest", labels["decl/rest"], rest, "default/helpdesk", user_only, via_gateway=True),
                "decl/grpc": grpc_path("decl/grpc", labels["decl/grpc"], stub, "default/helpdesk", ADMIN_KEY),
            }
        yield [inprocess, via["sdk/rest"], via["sdk/grpc"], upstream_direct, via["decl/rest"], via["decl/grpc"]]


# ------------------------------------------------------------------------------- run


def _record(results: dict[str, PathResult], phase: str, outcomes: dict[str, Measurement | str]) -> dict[str, Measurement]:
    """Errors go on the path's result; the measurements are returned."""
    measured: dict[str, Measurement] = {}
    for key, outcome in outcomes.items():
        if isinstance(outcome, str):
            results[key].errors.append(f"{phase}: {outcome}")
            log(f"  {results[key].label}: FAILED: {outcome}")
        else:
            measured[key] = outcome
    return measured


async def run_all(plan: Plan, paths: list[BenchPath], gateway_pid: int | None) -> dict[str, PathResult]:
    """Latency and streaming at concurrency 1 (paths interleaved), then throughput path by
    path. A failing path gets its error recorded and the run goes on."""
    results = {p.key: PathResult(p.key, p.label) for p in paths}
    for path in paths:
        if path.unavailable:
            results[path.key].errors.append(f"not run: {path.unavailable}")
            log(f"skipping {path.label}: {path.unavailable}")
    live = {p.key: p for p in paths if not p.unavailable}
    meters = {key: CpuMeter(gateway_pid) for key, p in live.items() if p.via_gateway and gateway_pid is not None}

    log(f"non-streaming latency, concurrency 1, {plan.iterations} interleaved rounds ...")
    outcomes = await measure({k: p.unary for k, p in live.items()}, iterations=plan.iterations, warmup=plan.warmup, meters=meters)
    for key, m in _record(results, "non-streaming latency", outcomes).items():
        r = results[key]
        r.unary = m
        r.gateway_cpu_ms = meters[key].ms_per_call if key in meters else None
        cpu = f", gateway CPU {r.gateway_cpu_ms:.2f} ms/request" if r.gateway_cpu_ms is not None else ""
        log(f"  {r.label}: p50 {m.latency.p50_ms:.2f} ms, p99 {m.latency.p99_ms:.2f} ms{cpu}")

    log(f"streaming time to first token, concurrency 1, {plan.iterations} interleaved rounds ...")
    outcomes = await measure({k: p.stream for k, p in live.items()}, iterations=plan.iterations, warmup=plan.warmup)
    for key, m in _record(results, "streaming", outcomes).items():
        r = results[key]
        if m.first_token is None:
            r.errors.append("streaming: no content delta arrived")
            continue
        r.stream = m
        log(f"  {r.label}: TTFT p50 {m.first_token.p50_ms:.2f} ms, p99 {m.first_token.p99_ms:.2f} ms")

    for key, path in live.items():
        r = results[key]
        if r.unary is None:
            r.errors.append("throughput: skipped because non-streaming requests failed")
            continue
        log(f"throughput, concurrency {plan.concurrency}, {plan.load_seconds:g} s: {path.label}")
        try:
            r.load = await asyncio.wait_for(
                throughput(path.label, path.unary, concurrency=plan.concurrency, seconds=plan.load_seconds), plan.load_seconds + plan.phase_timeout_s
            )
        except Exception as exc:  # noqa: BLE001 - one failed path must not stop the run
            message = "timed out" if isinstance(exc, TimeoutError) else describe(exc)
            r.errors.append(f"throughput: {message}")
            log(f"  FAILED: {message}")
            continue
        log(f"  {r.load.rps:.0f} req/s ({r.load.completed} ok, {r.load.errors} errors)")
    return results


def _start_gateway(root: Path, upstream: FakeUpstream) -> tuple[GatewayProcess | None, str]:
    process = GatewayProcess(
        make_agents_dir(root / "agents"),
        test_config.write_config(root / "config", upstream),
        root / "gateway.log",
        env_extra={"GATEWAY_LOG_LEVEL": "WARNING", "FAKE_UPSTREAM_KEY": "sk-bench-upstream", **GATEWAY_ENV},
    )
    try:
        return process.start(), ""
    except Exception as exc:  # noqa: BLE001 - the report says the gateway paths failed
        with contextlib.suppress(Exception):
            process.terminate()
        # The exception carries the log tail; its last lines say why.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        return None, redact(" | ".join(lines[-3:]))[:600]


def _log_summary(gateway: GatewayProcess | None, limit: int = 20) -> tuple[str, ...]:
    """Distinct gateway log records (the gateway logs at WARNING here), with counts; JSON
    records shortened to level, logger, message and the last line of any traceback."""
    if gateway is None:
        return ()
    counts: dict[str, int] = {}
    for line in gateway.log_text().splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            key = f"{record.get('level', '?')} {record.get('logger', '?')}: {record.get('msg', '')}"
            exc = str(record.get("exc") or "").strip()
            if exc:
                key += f" -- {exc.splitlines()[-1]}"
        else:
            key = line.strip()
        key = redact(key if len(key) <= 300 else key[:297] + "...")
        counts[key] = counts.get(key, 0) + 1
    lines = [f"{n:>6} x {key}" for key, n in counts.items()]
    return tuple(lines[:limit] + ([f"... and {len(lines) - limit} more distinct records"] if len(lines) > limit else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"), help="markdown report to (over)write")
    parser.add_argument("--quick", action="store_true", help="few iterations: a smoke run, numbers not stable")
    args = parser.parse_args(argv)
    plan = Plan.for_mode(args.quick)
    set_tracing_disabled(True)

    load_before = _loadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="agent-gateway-bench-") as tmp:
        root = Path(tmp)
        upstream = FakeUpstream(demo_chunk_delay=0.0).start()
        gateway: GatewayProcess | None = None
        try:
            log(f"fake upstream at {upstream.base_url}; starting the gateway ...")
            gateway, gateway_error = _start_gateway(root, upstream)
            log(f"gateway: {gateway.openai_base_url} / {gateway.grpc_address}" if gateway else f"gateway FAILED to start: {gateway_error}")
            agent_file = root / "agents" / "Weather" / "agent.py"

            async def go() -> dict[str, PathResult]:
                async with bench_paths(upstream, gateway, gateway_error, agent_file) as paths:
                    return await run_all(plan, paths, gateway.proc.pid if gateway and gateway.proc else None)

            results = asyncio.run(go())
            idle: IdleStreams | str = "the gateway did not start"
            if gateway is not None and gateway.proc is not None:
                streams = 100 if plan.quick else 1000
                log(f"capacity: {streams} concurrent idle streams ...")
                try:
                    idle = asyncio.run(measure_idle_streams(gateway.openai_base_url, ADMIN_KEY or "none", upstream, gateway.proc.pid, n=streams))
                    log(f"  {idle.completed}/{idle.streams} completed, RSS growth {idle.growth_mb:.0f} MB ({idle.kb_per_stream:.0f} KB a stream)")
                except Exception as exc:  # noqa: BLE001 - one failed phase must not stop the run
                    idle = describe(exc)
                    log(f"  FAILED: {idle}")
            warnings = _log_summary(gateway)
            log("security layer cost (in-process) ...")
            security = measure_security_cost(2000 if plan.quick else 20000)
            log(f"  added p50 {security.added_p50_ms:.3f} ms per request")
        finally:
            if gateway is not None:
                gateway.terminate()
            upstream.stop()

    method = Method(
        quick=plan.quick,
        warmup=plan.warmup,
        iterations=plan.iterations,
        concurrency=plan.concurrency,
        load_seconds=plan.load_seconds,
        prompt=PROMPT,
        reply_words=len(EXPECTED.split()),
        duration_s=time.perf_counter() - started,
        gateway_log_warnings=warnings,
    )
    markdown = render_markdown(environment(load_before), method, results, security, idle)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown + "\n")
    print(console_summary(results, plan.concurrency))
    print(f"security layer added p50: {security.added_p50_ms:.3f} ms per request (target < 0.3 ms)")
    print(f"\nwrote {args.out} in {method.duration_s:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
