"""``make bench``: measure what the gateway adds over calling the upstream directly, over
running the agent in-process and against LiteLLM, and write ``docs/benchmarks.md``.

    .venv/bin/python -m bench.run --out docs/benchmarks.md          # full run, ~4-5 min
    .venv/bin/python -m bench.run --quick --out /tmp/bench-quick.md  # smoke run, ~1 min
    .venv/bin/python -m bench.run --only idle                        # the idle-streams phase alone, printed
    .venv/bin/python -m bench.run --only replicas                    # 1-3 replicas sharing Redis, printed

Every service (fake upstreams, gateways, LiteLLM) and every load generator (``hey``,
``python -m bench.loadgen``) is its own process; this one only orchestrates and reads /proc.
All services start together, before the first measurement (start-up is CPU-bound and
mostly Python imports: in parallel they take about as long as the slowest one), and those
for later phases wait idle meanwhile; their CPU over the matrix is logged and reported, so
the claim that they stay out of the measurements is checked on every run. No two load
windows ever run at once. Each phase's wall time is logged as it ends and listed in the report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bench.drivers import Hey, LoadGen
from bench.environment import environment, loadavg
from bench.gateway import ADMIN_KEY, SDK_MODEL, Gateway, launch_gateway, launch_upstream, workers_supported
from bench.idle_streams import IdleStreams, measure_idle_streams
from bench.litellm_proxy import ensure_litellm, launch_litellm
from bench.logs import log_summary
from bench.matrix import PHASES, BenchPath, Phase, baseline_paths, gateway_paths, responses_body
from bench.measure import Window, describe
from bench.procs import Service, cpu_seconds, stop_all, wait_all_ready
from bench.profile import Profile, profile_rest_passthrough, profiling_launcher
from bench.prompts import expected
from bench.replicas import ReplicaResults, ReplicaServices, launch_replicas, measure_replicas
from bench.report import Report, console_summary, render_markdown, replicas_section
from bench.security_cost import measure_security_cost
from bench.timing import Clock, log

__all__ = ["Plan", "main"]

T = TypeVar("T")

WORKER_PHASES = ("unary@32", "unary@256", "stream@32")


@dataclass(frozen=True)
class Plan:
    quick: bool
    c1_passes: int  # the concurrency-1 phases run in this many passes interleaving all paths
    c1_pass_s: float  # each pass's window per path and phase
    load_s: float  # each concurrency-32 / -256 window
    idle_streams: int
    idle_hold_s: float  # all idle streams held open this long before they are released
    security_iterations: int
    profile_requests: int
    # Requests in flight when a window ends are waited for (as hey does: at c=256 the slow paths
    # take seconds each, and cancelling them would count none of a round), by the loadgen up
    # to drain_s, then cancelled and not counted; req/s is over the window and that wait.
    drain_s: float
    max_concurrency: int  # quick runs leave out c=256
    workers: bool  # the 2-worker gateway (quick runs leave it out)

    @classmethod
    def for_mode(cls, quick: bool) -> Plan:
        if quick:
            return cls(
                True,
                c1_passes=1,
                c1_pass_s=0.2,
                load_s=0.3,
                idle_streams=200,
                idle_hold_s=1.0,
                security_iterations=2000,
                profile_requests=200,
                drain_s=0.3,
                max_concurrency=32,
                workers=False,
            )
        return cls(
            False,
            c1_passes=2,
            c1_pass_s=0.75,
            load_s=2.0,
            idle_streams=1000,
            idle_hold_s=3.0,
            security_iterations=10000,
            profile_requests=1000,
            drain_s=5.0,
            max_concurrency=256,
            workers=True,
        )

    @property
    def c1_seconds(self) -> float:
        return self.c1_passes * self.c1_pass_s


def _warmup(phase: Phase) -> int:
    """Untimed requests before a window: 3 at c=1, 32 (at once) at c=32. The c=256 windows
    come right after the c=32 window of the same path and kind, so the server is warm; a
    warm-up of their own (at most 32 at once) would open no more connections either."""
    return 3 if phase.concurrency == 1 else 0 if phase.concurrency > 32 else phase.concurrency


class Bench:
    """Runs windows on paths and keeps what each measured (or why it failed)."""

    def __init__(self, plan: Plan, services: dict[str, Service], http_client: str = "raw") -> None:
        self.plan = plan
        self.services = services
        self.http_client = http_client
        self.hey = Hey.find()
        self.loadgen = LoadGen()
        self.loadgen.start()  # its imports take seconds: they overlap the services' start-up
        self.results: dict[str, dict[str, Window | str]] = {}
        self.last_wall = 0.0  # of the latest window, warm-up and all
        self.spent: dict[str, list[float]] = {}  # "c=N" -> [windows, wall s, timed s]

    def window(self, path: BenchPath, phase: Phase, seconds: float) -> Window | str:
        begun = time.perf_counter()
        outcome = self._window(path, phase, seconds)
        self.last_wall = time.perf_counter() - begun
        spent = self.spent.setdefault(f"c={phase.concurrency}", [0, 0.0, 0.0])
        spent[0] += 1
        spent[1] += self.last_wall
        spent[2] += outcome.seconds if isinstance(outcome, Window) else 0.0
        return outcome

    def spent_summary(self) -> str:
        """Wall time in windows against the timed part (the rest: warm-ups, draining, process starts)."""
        return "; ".join(f"{k}: {n:.0f} windows, {wall:.1f} s of which {timed:.1f} s timed" for k, (n, wall, timed) in self.spent.items())

    def _window(self, path: BenchPath, phase: Phase, seconds: float) -> Window | str:
        server = self.services.get(path.server)
        pids = server.cached_pids() if server else []
        warmup = _warmup(phase)
        messages = path.messages(phase.prompt)
        try:
            if path.transport == "rest" and not phase.stream and self.hey:
                body = {"model": path.model, "messages": messages}
                return self.hey.run(path.target, body, path.key_header, concurrency=phase.concurrency, seconds=seconds, warmup=warmup, cpu_pids=pids)
            if path.transport == "responses" and not phase.stream and self.hey:
                body = responses_body(path.model, messages, stream=False)
                hey = self.hey
                return hey.run(
                    path.target, body, path.key_header, concurrency=phase.concurrency, seconds=seconds, warmup=warmup, cpu_pids=pids, route="/responses"
                )
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
                "drain_s": self.plan.drain_s,
                "cpu_pids": pids,
                "agent_file": path.agent_file,
                "http_client": self.http_client,
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
            log(
                f"  {path.label} {phase.key}: {outcome.rps:.0f} req/s, p50 {outcome.latency.p50_ms:.2f} ms{ttft}{cpu}, {outcome.errors} errors"
                f" ({self.last_wall:.2f} s wall)"
            )

    def run(self, paths: list[BenchPath], phases: tuple[Phase, ...] = PHASES) -> None:
        phases = tuple(p for p in phases if p.concurrency <= self.plan.max_concurrency)
        latency = [p for p in phases if p.latency_phase]
        if latency:
            log(f"concurrency 1 ({', '.join(p.key for p in latency)}), {self.plan.c1_passes} pass(es) interleaving {len(paths)} paths ...")
        for _ in range(self.plan.c1_passes if latency else 0):
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
def _services() -> Iterator[dict[str, Service]]:
    started: dict[str, Service] = {}
    try:
        yield started
    finally:
        with contextlib.suppress(Exception):
            stop_all(list(started.values()))


def _try(what: str, errors: dict[str, str], fn: Callable[[], T]) -> T | None:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a failing service is reported, not fatal
        errors[what] = describe(exc)
        log(f"{what} FAILED: {errors[what]}")
        return None


@contextlib.contextmanager
def _idle_cpu(services: dict[str, Service], names: tuple[str, ...], during: str, notes: list[str]) -> Iterator[None]:
    """CPU the named services (idle: not measured in this phase) used meanwhile, as a note."""
    idle = [services[n] for n in names if n in services and services[n].proc.poll() is None]
    pids = [pid for s in idle for pid in s.pids()]
    before, begun = cpu_seconds(pids), time.perf_counter()
    yield
    used, took = cpu_seconds(pids) - before, time.perf_counter() - begun
    notes.append(f"{', '.join(s.name for s in idle)} used {used:.2f} s of CPU in all over the {took:.0f} s of {during} ({used * 100 / took:.1f}% of one core)")
    log(f"  idle services: {notes[-1]}")


@dataclass
class Started:
    """What start-up brought up (``None``: it failed; the reason is in the setup errors)."""

    upstream: Service
    gateways: dict[str, Gateway]
    litellm: Service | None
    hold: Service | None
    replicas: ReplicaServices | None


def _start_all(root: Path, plan: Plan, services: dict[str, Service], errors: dict[str, str], clock: Clock) -> Started:
    """Spawn every service at once, then wait for each to answer."""
    upstream = launch_upstream("upstream", root)
    services["upstream"] = upstream
    upstream_url = f"{upstream.url}/v1"
    hold = launch_upstream("hold-upstream", root, hold=True)
    services["hold-upstream"] = hold
    launching: dict[str, Gateway] = {
        # The profile phase runs on this one after the windows: the launcher wraps `agent-gateway serve` with a profiler left off until then.
        "gw-inprocess": launch_gateway("gw-inprocess", root, upstream_url, transport="inprocess", launcher=profiling_launcher(root)),
        "gw-socket": launch_gateway("gw-socket", root, upstream_url, transport="socket"),
    }
    if plan.workers:
        launching["gw-2workers"] = launch_gateway("gw-2workers", root, upstream_url, workers=2)
    launching["gw-idle"] = launch_gateway("gw-idle", root, f"{hold.url}/v1")
    for name, gateway in launching.items():
        services[name] = gateway.service
    replicas = _try("replicas", errors, lambda: launch_replicas(root, upstream_url))
    if replicas is not None:
        services.update(replicas.services())
    clock.log("LiteLLM virtualenv (created on first use, ~1 min) ...")
    litellm = None
    if _try("LiteLLM install", errors, lambda: ensure_litellm(root / "litellm-install.log")):
        litellm = _try("LiteLLM proxy", errors, lambda: launch_litellm(root, upstream_url, "helpdesk-model"))
        if litellm is not None:
            services["litellm"] = litellm
    clock.log(f"spawned {len(services)} services; waiting for each to answer ...")

    def ready(name: str, seconds: float) -> None:
        clock.log(f"  {name} ready after {seconds:.1f} s (CPU {cpu_seconds(services[name].pids()):.1f} s)")

    for name, reason in wait_all_ready(services, ready).items():
        what = {"upstream": "fake upstream", "hold-upstream": "hold upstream", "litellm": "LiteLLM proxy", "redis": "redis-server"}.get(name, f"gateway {name}")
        errors[what] = reason
        log(f"{what} FAILED: {reason}")
    if "fake upstream" in errors:
        raise RuntimeError(f"the fake upstream did not start: {errors['fake upstream']}")
    gateways = {name: gateway for name, gateway in launching.items() if f"gateway {name}" not in errors}
    if "LiteLLM proxy" in errors:
        litellm = None
    ready_hold = "hold upstream" not in errors
    if replicas is not None and any(f"gateway {r.service.name}" in errors for r in replicas.replicas):
        replicas = None
    if "gw-2workers" in gateways and not workers_supported():
        gateways.pop("gw-2workers").service.stop()
        errors["gateway gw-2workers"] = "not available: the installed gateway has no --workers (GATEWAY_WORKERS)"
    return Started(upstream, gateways, litellm, hold if ready_hold else None, replicas)


def _idle_streams(plan: Plan, hold: Service, holder: Gateway, clock: Clock) -> IdleStreams | str:
    """The capacity phase on ``holder`` (a gateway nothing else has used) and its hold upstream."""
    try:
        idle = asyncio.run(
            measure_idle_streams(
                holder.openai_base_url,
                ADMIN_KEY,
                SDK_MODEL,
                holder.service.pids(),
                n=plan.idle_streams,
                hold_s=plan.idle_hold_s,
                upstream_url=hold.url,
                settle_s=0.5 if plan.quick else 1.0,
            )
        )
    except Exception as exc:  # noqa: BLE001 - one failed phase must not stop the run
        return describe(exc)
    clock.log(f"  {idle.completed}/{idle.streams} completed, all open after {idle.open_s:.1f} s, RSS growth {idle.growth_mb:.0f} MB")
    return idle


def _only_idle(plan: Plan) -> int:
    """``--only idle``: the hold upstream and a fresh gateway, as a full run starts them, and
    the capacity phase alone, printed; the report file is left alone."""
    clock = Clock()
    with tempfile.TemporaryDirectory(prefix="agent-gateway-bench-") as tmp, _services() as services:
        root = Path(tmp)
        hold = services["hold-upstream"] = launch_upstream("hold-upstream", root, hold=True)
        holder = launch_gateway("gw-idle", root, f"{hold.url}/v1")
        services["gw-idle"] = holder.service
        failed = wait_all_ready(services, lambda name, seconds: clock.log(f"  {name} ready after {seconds:.1f} s"))
        if failed:
            print(f"idle streams: not measured: {'; '.join(f'{k}: {v}' for k, v in failed.items())}")
            return 1
        with clock.phase(f"idle streams ({plan.idle_streams})"):
            idle = _idle_streams(plan, hold, holder, clock)
    if isinstance(idle, str):
        print(f"idle streams: not measured: {idle}")
        return 1
    print(
        f"idle streams: {idle.completed}/{idle.streams} completed, {idle.errors} errors{f' ({idle.first_error})' if idle.errors else ''}; "
        f"RSS MB at start {idle.rss_cold_mb:.0f}, before (after the warm-up) {idle.rss_before_mb:.0f}, all open {idle.rss_open_mb:.0f}, end of hold {idle.rss_end_of_hold_mb:.0f}, "
        f"peak {idle.rss_peak_mb:.0f}, after {idle.rss_after_mb:.0f}; growth {idle.growth_mb:.0f} MB = {idle.kb_per_stream:.0f} KB/stream, "
        f"drift {idle.drift_mb:+.1f} MB, all open after {idle.open_s:.1f} s, held {idle.hold_s:.1f} s"
    )
    return 0 if idle.errors == 0 else 1


def _only_replicas(plan: Plan) -> int:
    """``--only replicas``: the fake upstream, an embedded gateway and the Redis-backed
    replicas, and the scale-out phase alone, printed; the report file is left alone."""
    clock = Clock()
    with tempfile.TemporaryDirectory(prefix="agent-gateway-bench-") as tmp, _services() as services:
        root = Path(tmp)
        upstream = services["upstream"] = launch_upstream("upstream", root)
        embedded = launch_gateway("gw-inprocess", root, f"{upstream.url}/v1")
        services["gw-inprocess"] = embedded.service
        started = launch_replicas(root, f"{upstream.url}/v1")
        services.update(started.services())
        failed = wait_all_ready(services, lambda name, seconds: clock.log(f"  {name} ready after {seconds:.1f} s"))
        if failed:
            print(f"replicas: not measured: {'; '.join(f'{k}: {v}' for k, v in failed.items())}")
            return 1
        loadgen = LoadGen()
        loadgen.start()
        try:
            with clock.phase("replicas"):
                results = measure_replicas(
                    started, embedded, Hey.find(), loadgen, load_s=plan.load_s, c1_s=plan.c1_pass_s, passes=plan.c1_passes, drain_s=plan.drain_s
                )
        finally:
            loadgen.close()
    print("\n".join(replicas_section(results)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"), help="markdown report to (over)write")
    parser.add_argument("--quick", action="store_true", help="smoke run (~1 min): one short c=1 pass, short windows, no c=256, no 2 workers")
    parser.add_argument(
        "--sse-client",
        choices=("raw", "httpx"),
        default="raw",
        help="the loadgen's REST client: bench.rawhttp (default) or httpx, to compare what the client adds to TTFT",
    )
    parser.add_argument(
        "--only",
        choices=["idle", "replicas"],
        help="one phase alone, printed; --out is not written (idle: concurrent idle streams; replicas: 1-3 replicas sharing Redis)",
    )
    args = parser.parse_args(argv)
    plan = Plan.for_mode(args.quick)
    if args.only == "idle":
        return _only_idle(plan)
    if args.only == "replicas":
        return _only_replicas(plan)
    load_before = loadavg()
    clock = Clock()
    setup_errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="agent-gateway-bench-") as tmp, _services() as services:
        root = Path(tmp)
        bench = Bench(plan, services, args.sse_client)
        try:
            with clock.phase("start-up (all services in parallel)"):
                up = _start_all(root, plan, services, setup_errors, clock)
            agent_file = str(root / "gw-inprocess" / "agents" / "Weather" / "agent.py")
            paths = baseline_paths(up.upstream.url, up.litellm.url if up.litellm else None, agent_file)
            for name, label in (("gw-inprocess", "in-process shim transport"), ("gw-socket", "socket shim transport")):
                if name in up.gateways:
                    # The Responses API on the default deployment only: the same runs as chat completions.
                    paths += gateway_paths(name, up.gateways[name], label, responses=name == "gw-inprocess")

            notes: list[str] = []
            waiting = ("gw-2workers", "gw-idle", "hold-upstream", *(up.replicas.services() if up.replicas else ()))
            with clock.phase("matrix"), _idle_cpu(services, waiting, "the matrix", notes):
                bench.run(paths)
            workers: list[BenchPath] | str = "not measured in a quick run" if plan.quick else "the 2-worker gateway did not start"
            if "gw-2workers" in up.gateways:
                workers = [p for p in gateway_paths("gw-2workers", up.gateways["gw-2workers"], "2 workers") if p.transport == "rest"]
                with (
                    clock.phase("two workers"),
                    _idle_cpu(
                        services,
                        ("gw-inprocess", "gw-socket", "litellm", "gw-idle", "hold-upstream", *(up.replicas.services() if up.replicas else ())),
                        "the 2-worker windows",
                        notes,
                    ),
                ):
                    bench.run(workers, tuple(p for p in PHASES if p.key in WORKER_PHASES))
            elif "gateway gw-2workers" in setup_errors:
                workers = setup_errors["gateway gw-2workers"]
            scale_out: ReplicaResults | str = setup_errors.get("replicas") or "a replica or redis-server did not start"
            replicas = up.replicas
            if replicas is not None and "gw-inprocess" in up.gateways:
                replica_names = tuple(replicas.services())
                others = tuple(n for n in services if n not in replica_names and n not in ("upstream", "gw-inprocess"))
                with clock.phase(f"replicas (1-{len(replicas.replicas)}, Redis)"), _idle_cpu(services, others, "the replica windows", notes):
                    scale_out = _try(
                        "replicas phase",
                        setup_errors,
                        lambda: measure_replicas(
                            replicas,
                            up.gateways["gw-inprocess"],
                            bench.hey,
                            bench.loadgen,
                            load_s=plan.load_s,
                            c1_s=plan.c1_pass_s,
                            passes=plan.c1_passes,
                            drain_s=plan.drain_s,
                        ),
                    ) or setup_errors.get("replicas phase", "failed")
            waiting_note = "; ".join(notes)
            clock.log(bench.spent_summary())
            clock.log(waiting_note)
        finally:
            bench.close()

        idle: IdleStreams | str = "; ".join(f"{k}: {v}" for k, v in setup_errors.items() if k in ("hold upstream", "gateway gw-idle")) or "not run"
        if up.hold is not None and "gw-idle" in up.gateways:
            with clock.phase(f"idle streams ({plan.idle_streams})"):
                idle = _idle_streams(plan, up.hold, up.gateways["gw-idle"], clock)

        with clock.phase("security layer (in-process)"):
            security = measure_security_cost(plan.security_iterations)
        with clock.phase("profile (cProfile, declarative REST)"):
            profiled = up.gateways.get("gw-inprocess")
            profile: Profile | str = (
                profile_rest_passthrough(profiled, root, plan.profile_requests)
                if profiled
                else f"profile: not collected (the in-process gateway did not start: {setup_errors.get('gateway gw-inprocess', '')})"
            )
        warnings = log_summary([s for n, s in services.items() if n.startswith("gw-")])
        with clock.phase("shutdown (all services in parallel)"):
            # Nothing is measured any more and the gateways' graceful drain has nothing to drain:
            # whatever has not exited a second after SIGTERM (interpreter teardown) is killed.
            slow = {n: t for n, t in stop_all(list(services.values()), timeout=1.0).items() if t > 0.5}
            if slow:
                clock.log("  slow to exit: " + ", ".join(f"{n} {t:.1f} s" if t != math.inf else f"{n} killed after 1 s" for n, t in slow.items()))
    clock.log(f"phases: {clock.summary()}")

    report = Report(
        env=environment(load_before, loadavg()),
        quick=plan.quick,
        c1_passes=plan.c1_passes,
        c1_seconds=plan.c1_seconds,
        load_seconds=plan.load_s,
        idle_hold_s=plan.idle_hold_s,
        duration_s=clock.elapsed(),
        phases=tuple(clock.phases),
        paths=paths,
        results=bench.results,
        workers=workers,
        scale_out=scale_out,
        idle=idle,
        security=security,
        profile=profile,
        setup_errors=setup_errors,
        gateway_log=warnings,
        load_tool="hey" if bench.hey else "bench.loadgen (hey not found)",
        http_client=args.sse_client,
        waiting_note=waiting_note,
        drain_s=plan.drain_s,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_markdown(report) + "\n")
    print(console_summary(report))
    print(f"\nwrote {args.out} in {report.duration_s:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
