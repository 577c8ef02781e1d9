"""The async load generator, in its own process: ``python -m bench.loadgen``.

``bench.run`` starts it once and sends it one JSON job per line on stdin; it answers each with
one JSON line on stdout (a ``bench.measure.Window`` as a dict). Clients (``bench.rawhttp``
connection pools, gRPC channels, the in-process SDK agent) are kept between jobs. It drives
what ``hey`` cannot: SSE streams, gRPC, and the SDK agent run in-process. A job::

    {"kind": "rest_stream", "target": "http://127.0.0.1:8000/v1", "model": "default/helpdesk",
     "messages": [...], "expect": "You said: ...", "key": "...", "concurrency": 32,
     "seconds": 2.0, "warmup": 2, "cpu_pids": [1234]}

``kind`` is ``rest_unary``, ``rest_stream``, ``grpc_unary``, ``grpc_stream``, ``sdk_unary`` or
``sdk_stream`` (``target``: the upstream base URL, ``agent_file``: the drop-in to load);
``"http_client": "httpx"`` runs REST jobs over httpx instead of ``bench.rawhttp``; ``"targets"``
(several base URLs) sends the requests round robin over them. A job of
kind ``ping`` only answers (once the imports are done: the orchestrator starts this process
early and waits for it later).

Everything imported and built before the first window is frozen out of the garbage collector
(``gc.freeze``), so the collection before each window takes microseconds, not the ~0.5 s a
full pass over the Agents SDK's, openai's and grpc's objects takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import grpc
import httpx
from agents import set_tracing_disabled
from openai import AsyncOpenAI

from bench.measure import Window, describe
from bench.paths import Call, grpc_call, load_agent, responses_call, rest_call, rest_call_httpx, sdk_call
from bench.procs import cpu_seconds
from bench.rawhttp import Pool

__all__ = ["main", "run_window"]


class Clients:
    """Connections kept across jobs, one per target."""

    def __init__(self) -> None:
        self._stack = contextlib.AsyncExitStack()
        self._http: dict[tuple[str, str], httpx.AsyncClient] = {}
        self._raw: dict[tuple[str, str], Pool] = {}
        self._grpc: dict[str, grpc.aio.Channel] = {}
        self._openai: dict[str, AsyncOpenAI] = {}
        self._agents: dict[str, Any] = {}

    async def http(self, base_url: str, key: str | None) -> httpx.AsyncClient:
        if (base_url, key or "") not in self._http:
            headers = {"authorization": f"Bearer {key}"} if key else {}
            limits = httpx.Limits(max_connections=2048, max_keepalive_connections=2048)
            client = httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=60)
            self._http[(base_url, key or "")] = await self._stack.enter_async_context(client)
        return self._http[(base_url, key or "")]

    def raw(self, base_url: str, key: str | None) -> Pool:
        if (base_url, key or "") not in self._raw:
            headers = {"authorization": f"Bearer {key}"} if key else {}
            pool = Pool(base_url, headers, timeout=60)
            self._stack.callback(pool.close)
            self._raw[(base_url, key or "")] = pool
        return self._raw[(base_url, key or "")]

    async def channel(self, address: str) -> grpc.aio.Channel:
        if address not in self._grpc:
            self._grpc[address] = await self._stack.enter_async_context(grpc.aio.insecure_channel(address))
        return self._grpc[address]

    async def openai(self, base_url: str) -> AsyncOpenAI:
        if base_url not in self._openai:
            client = AsyncOpenAI(base_url=base_url, api_key="sk-bench-upstream", max_retries=0, timeout=60)
            self._openai[base_url] = await self._stack.enter_async_context(client)
        return self._openai[base_url]

    def agent(self, agent_file: str) -> Any:
        if agent_file not in self._agents:
            self._agents[agent_file] = load_agent(Path(agent_file), f"_bench_agent_{len(self._agents)}")
        return self._agents[agent_file]

    async def call(self, job: dict[str, Any]) -> Call:
        if job.get("targets"):
            # Round robin over several replicas, as a client-side balancer sends them.
            calls = itertools.cycle([await self.call({**job, "target": target, "targets": None}) for target in job["targets"]])
            return lambda: next(calls)()
        kind: str = job["kind"]
        transport, _, mode = kind.partition("_")
        stream = mode == "stream"
        messages, expect = job["messages"], job["expect"]
        if transport == "rest" and job.get("http_client") == "httpx":
            return rest_call_httpx(await self.http(job["target"], job.get("key")), job["model"], messages, expect, stream=stream)
        if transport == "rest":
            return rest_call(self.raw(job["target"], job.get("key")), job["model"], messages, expect, stream=stream)
        if transport == "responses":
            return responses_call(self.raw(job["target"], job.get("key")), job["model"], messages, expect, stream=stream)
        if transport == "grpc":
            return grpc_call(await self.channel(job["target"]), job["model"], messages, expect, job["key"], stream=stream)
        if transport == "sdk":
            client = await self.openai(job["target"])
            return sdk_call(self.agent(job["agent_file"]), client, job["target"], messages, expect, stream=stream)
        raise ValueError(f"unknown kind {kind!r}")

    async def aclose(self) -> None:
        await self._stack.aclose()


async def run_window(call: Call, *, concurrency: int, seconds: float, warmup: int, cpu_pids: list[int], drain_s: float | None = None) -> Window:
    """Untimed warm-up (``warmup`` calls, at most 32 at once), then ``concurrency`` clients
    back to back for ``seconds``; requests still running ``drain_s`` (default: ``min(1,
    seconds)``) after that are cancelled and not counted. CPU of ``cpu_pids`` and of this
    process is read at the edges of the timed window."""
    gate = asyncio.Semaphore(32)

    async def warm() -> None:
        async with gate:
            await call()

    outcomes = await asyncio.gather(*(warm() for _ in range(warmup)), return_exceptions=True)
    warm_errors = [describe(o) for o in outcomes if isinstance(o, BaseException)]
    gc.collect()
    latencies: list[float] = []
    ttfts: list[float] = []
    chunks = 0
    errors: list[str] = []
    server_before, client_before = cpu_seconds(cpu_pids), time.process_time()
    started = time.perf_counter()
    deadline = started + seconds

    async def client() -> None:
        nonlocal chunks
        while time.perf_counter() < deadline:
            begun = time.perf_counter()
            try:
                first, n = await call()
            except Exception as exc:  # noqa: BLE001 - counted and reported, not fatal
                errors.append(describe(exc))
                if len(errors) > max(100, len(latencies)):
                    return  # a path that only fails would otherwise spin for the whole window
                continue
            latencies.append(time.perf_counter() - begun)
            chunks += n
            if first is not None:
                ttfts.append(first - begun)

    # Requests still running a moment after the window are cancelled, not awaited: a slow
    # path at c=256 would otherwise stretch every window to the length of its longest queue.
    tasks = [asyncio.ensure_future(client()) for _ in range(concurrency)]
    _, pending = await asyncio.wait(tasks, timeout=seconds + (min(1.0, seconds) if drain_s is None else drain_s))
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = time.perf_counter() - started
    server_cpu = cpu_seconds(cpu_pids) - server_before if cpu_pids else None
    return Window(
        tool="loadgen",
        concurrency=concurrency,
        seconds=elapsed,
        latencies=latencies,
        ttfts=ttfts,
        chunks=chunks,
        errors=len(errors),
        first_error=(errors or warm_errors or [""])[0],
        server_cpu_s=server_cpu,
        client_cpu_s=time.process_time() - client_before,
    )


async def _job(clients: Clients, job: dict[str, Any]) -> dict[str, Any]:
    if job.get("kind") == "ping":
        return {"ok": True}
    try:
        call = await clients.call(job)
        gc.collect()
        gc.freeze()  # clients, agents and imports are here to stay: later collections skip them
        window = await run_window(
            call,
            concurrency=job["concurrency"],
            seconds=job["seconds"],
            warmup=job.get("warmup", 1),
            cpu_pids=job.get("cpu_pids", []),
            drain_s=job.get("drain_s"),
        )
        return {"ok": True, "window": asdict(window)}
    except Exception as exc:  # noqa: BLE001 - the job's failure is the answer
        return {"ok": False, "error": describe(exc)}


def main() -> int:
    set_tracing_disabled(True)
    with asyncio.Runner() as runner:
        clients = Clients()
        try:
            for line in sys.stdin:
                if line.strip():
                    answer = runner.run(_job(clients, json.loads(line)))
                    sys.stdout.write(json.dumps(answer) + "\n")
                    sys.stdout.flush()
        finally:
            runner.run(clients.aclose())
    return 0


if __name__ == "__main__":
    sys.exit(main())
