"""``make bench``: measure what the gateway adds over calling the upstream directly, over
running the agent in-process and against LiteLLM, and write ``docs/benchmarks.md``.

    .venv/bin/python -m bench.run --out docs/benchmarks.md          # full run, ~5 min
    .venv/bin/python -m bench.run --quick --out /tmp/bench-quick.md  # smoke run, ~1 min

Every service (fake upstream, gateways, LiteLLM) and every load generator (``hey``,
``python -m bench.loadgen``) is its own process; this one only orchestrates and reads /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bench.drivers import Hey, LoadGen
from bench.environment import environment, loadavg
from bench.gateway import ADMIN_KEY, SDK_MODEL, start_gateway, start_upstream, workers_supported
from bench.idle_streams import IdleStreams, measure_idle_streams
from bench.litellm_proxy import ensure_litellm, start_litellm
from bench.logs import log_summary
from bench.matrix import PHASES, BenchPath, Phase, baseline_paths, gateway_paths
from bench.measure import Window, describe
from bench.paths import expected
from bench.procs import Service
from bench.profile import Profile, profile_rest_passthrough
from bench.report import Report, console_summary, render_markdown
from bench.security_cost import measure_security_cost

__all__ = ["Plan", "main"]

T = TypeVar("T")


@dataclass(frozen=True)
class Plan:
    quick: bool
    c1_pass_s: float  # each concurrency-1 phase runs in two interleaved passes of this length
    load_s: float  # each concurrency-32 / -256 window
    idle_streams: int
    idle_chunk_delay_s: float
    security_iterations: int
    profile_requests: int
    max_concurrency: int  # quick runs leave out c=256

    @classmethod
    def for_mode(cls, quick: bool) -> Plan:
        if quick:
            return cls(
                True, c1_pass_s=0.3, load_s=0.6, idle_streams=200, idle_chunk_delay_s=3.0, security_iterations=2000, profile_requests=200, max_concurrency=32
            )
        return cls(
            False, c1_pass_s=1.0, load_s=2.0, idle_streams=1000, idle_chunk_delay_s=8.0, security_iterations=20000, profile_requests=1500, max_concurrency=256
        )


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Bench:
    """Runs windows on paths and keeps what each measured (or why it failed)."""

    def __init__(self, plan: Plan, services: dict[str, Service]) -> None:
        self.plan = plan
        self.services = services
        self.hey = Hey.find()
        self.loadgen = LoadGen()
        self.results: dict[str, dict[str, Window | str]] = {}

    def window(self, path: BenchPath, phase: Phase, seconds: float) -> Window | str:
        server = self.services.get(path.server)
        pids = server.pids() if server else []
        warmup = 3 if phase.concurrency == 1 else min(phase.concurrency, 32)  # total untimed requests
        messages = path.messages(phase.prompt)
        try:
            if path.transport == "rest" and not phase.stream and self.hey:
                body = {"model": path.model, "messages": messages}
                return self.hey.run(path.target, body, path.key_header, concurrency=phase.concurrency, seconds=seconds, warmup=warmup, cpu_pids=pids)
            job = {
                "kind": f"{path.transport}_{'stream' if phase.stream else 'unary'}",
                "target": path.target,
                "model": path.model,
                "messages": messages,
                "expect": expected(phase.prompt),
                "key": path.key_header,
                "concurrency": phase.concurrency,
                "seconds": seconds,
                "warmup": warmup,
                "cpu_pids": pids,
                "agent_file": path.agent_file,
            }
            return self.loadgen.run(job, timeout=seconds + 180)
        except Exception as exc:  # noqa: BLE001 - a failing path is reported, not fatal
            return describe(exc)

    def record(self, path: BenchPath, phase: Phase, outcome: Window | str) -> None:
        slot = self.results.setdefault(path.key, {})
        earlier = slot.get(phase.key)
        if isinstance(earlier, Window) and isinstance(outcome, Window):
            outcome = earlier.merged(outcome)
        elif isinstance(earlier, str):
            return  # the first failure stays
        slot[phase.key] = outcome
        if isinstance(outcome, str):
            log(f"  {path.label} {phase.key}: FAILED: {outcome}")
        else:
            ttft = f", TTFT p50 {outcome.ttft.p50_ms:.2f} ms" if outcome.ttft else ""
            cpu = f", server CPU {outcome.server_cpu_ms:.2f} ms/req" if outcome.server_cpu_ms is not None else ""
            log(f"  {path.label} {phase.key}: {outcome.rps:.0f} req/s, p50 {outcome.latency.p50_ms:.2f} ms{ttft}{cpu}, {outcome.errors} errors")

    def run(self, paths: list[BenchPath], phases: tuple[Phase, ...] = PHASES) -> None:
        phases = tuple(p for p in phases if p.concurrency <= self.plan.max_concurrency)
        latency = [p for p in phases if p.latency_phase]
        log(f"concurrency 1 ({', '.join(p.key for p in latency)}), two passes interleaving {len(paths)} paths ...")
        for _ in range(2):
            for phase in latency:
                for path in paths:
                    self.record(path, phase, self.window(path, phase, self.plan.c1_pass_s))
        for path in paths:
            log(f"load: {path.label} ...")
            for phase in phases:
                if not phase.latency_phase:
                    self.record(path, phase, self.window(path, phase, self.plan.load_s))

    def close(self) -> None:
        self.loadgen.close()


@contextlib.contextmanager
def _services(root: Path) -> Iterator[dict[str, Service]]:
    started: dict[str, Service] = {}
    try:
        yield started
    finally:
        for service in reversed(list(started.values())):
            with contextlib.suppress(Exception):
                service.stop()


def _try(what: str, errors: dict[str, str], fn: Callable[[], T]) -> T | None:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a failing service is reported, not fatal
        errors[what] = describe(exc)
        log(f"{what} FAILED: {errors[what]}")
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"), help="markdown report to (over)write")
    parser.add_argument("--quick", action="store_true", help="short windows: a smoke run, numbers not stable")
    args = parser.parse_args(argv)
    plan = Plan.for_mode(args.quick)
    load_before = loadavg()
    started = time.perf_counter()
    setup_errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="agent-gateway-bench-") as tmp, _services(Path(tmp)) as services:
        root = Path(tmp)
        log("LiteLLM virtualenv (created on first use, ~1 min) ...")
        litellm_ready = _try("LiteLLM install", setup_errors, lambda: ensure_litellm(root / "litellm-install.log"))
        upstream = start_upstream("upstream", root)
        services["upstream"] = upstream
        upstream_url = f"{upstream.url}/v1"
        log(f"fake upstream (demo model) at {upstream_url}; starting gateways and LiteLLM ...")
        gateways = {}
        for name, transport in (("gw-inprocess", "inprocess"), ("gw-socket", "socket")):
            gateway = _try(f"gateway {name}", setup_errors, functools.partial(start_gateway, name, root, upstream_url, transport=transport))
            if gateway is not None:
                gateways[name] = gateway
                services[name] = gateway.service
        litellm = _try("LiteLLM proxy", setup_errors, lambda: start_litellm(root, upstream_url, "helpdesk-model")) if litellm_ready else None
        if isinstance(litellm, Service):
            services["litellm"] = litellm
        agent_file = str(root / "gw-inprocess" / "agents" / "Weather" / "agent.py")
        paths = baseline_paths(upstream.url, litellm.url if isinstance(litellm, Service) else None, agent_file)
        for name, label in (("gw-inprocess", "in-process shim transport"), ("gw-socket", "socket shim transport")):
            if name in gateways:
                paths += gateway_paths(name, gateways[name], label)

        bench = Bench(plan, services)
        try:
            bench.run(paths)
            workers: list[BenchPath] | str = "not available: the installed gateway has no --workers (GATEWAY_WORKERS)"
            if workers_supported():
                for name in ("gw-inprocess", "gw-socket"):  # free the cores for the two workers
                    if name in services:
                        services[name].stop()
                two = _try("gateway gw-2workers", setup_errors, lambda: start_gateway("gw-2workers", root, upstream_url, workers=2))
                if two is not None:
                    services["gw-2workers"] = two.service
                    workers = [p for p in gateway_paths("gw-2workers", two, "2 workers") if p.transport == "rest"]
                    log("two workers ...")
                    bench.run(workers, tuple(p for p in PHASES if p.key in ("unary@32", "unary@256", "stream@32")))
                else:
                    workers = f"the 2-worker gateway did not start: {setup_errors.get('gateway gw-2workers', '')}"
        finally:
            bench.close()
        warnings = log_summary([s for n, s in services.items() if n.startswith("gw-")])
        for name in [n for n in services if n.startswith("gw-") or n == "litellm"]:
            services[name].stop()

        log(f"capacity: {plan.idle_streams} idle streams ...")
        idle: IdleStreams | str = "not run"
        slow = _try("slow upstream", setup_errors, lambda: start_upstream("slow-upstream", root, chunk_delay=plan.idle_chunk_delay_s))
        if isinstance(slow, Service):
            services["slow-upstream"] = slow
            holder = _try("gateway gw-idle", setup_errors, lambda: start_gateway("gw-idle", root, f"{slow.url}/v1"))
            if holder is not None:
                services["gw-idle"] = holder.service
                try:
                    idle = asyncio.run(
                        measure_idle_streams(
                            holder.openai_base_url,
                            ADMIN_KEY,
                            SDK_MODEL,
                            holder.service.pids(),
                            n=plan.idle_streams,
                            chunk_delay_s=plan.idle_chunk_delay_s,
                        )
                    )
                    log(f"  {idle.completed}/{idle.streams} completed, RSS growth {idle.growth_mb:.0f} MB")
                except Exception as exc:  # noqa: BLE001 - one failed phase must not stop the run
                    idle = describe(exc)
                services["gw-idle"].stop()
        if isinstance(idle, str) and idle == "not run":
            idle = "; ".join(f"{k}: {v}" for k, v in setup_errors.items() if k in ("slow upstream", "gateway gw-idle")) or idle

        log("security layer cost (in-process) ...")
        security = measure_security_cost(plan.security_iterations)
        log("profile of the declarative REST passthrough (cProfile, in-process gateway) ...")
        profile: Profile | str = profile_rest_passthrough(root, upstream_url, plan.profile_requests)

    report = Report(
        env=environment(load_before, loadavg()),
        quick=plan.quick,
        c1_seconds=2 * plan.c1_pass_s,
        load_seconds=plan.load_s,
        duration_s=time.perf_counter() - started,
        paths=paths,
        results=bench.results,
        workers=workers,
        idle=idle,
        security=security,
        profile=profile,
        setup_errors=setup_errors,
        gateway_log=warnings,
        load_tool="hey" if bench.hey else "bench.loadgen (hey not found)",
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_markdown(report) + "\n")
    print(console_summary(report))
    print(f"\nwrote {args.out} in {report.duration_s:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
