"""Capacity: many slow streams held open at once, and what they cost the gateway in memory.

``n`` streaming chat requests to the drop-in SDK agent are opened together against a gateway
whose upstream is a demo model with a long pause between chunks: once each stream has its
first content delta, it is open and idle — holding a client connection, the shim's call into
the executor, an agent run and an upstream connection — until the next chunk. Resident memory
of the gateway's process tree is sampled every 0.25 s: before, once all are open, through the
hold (to see whether it stays flat) and after they completed. Every stream must complete.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from bench.procs import rss_mb

__all__ = ["IDLE_PROMPT", "IdleStreams", "measure_idle_streams"]

IDLE_PROMPT = "hold"
_REPLY = f"You said: {IDLE_PROMPT}"


@dataclass(frozen=True)
class IdleStreams:
    streams: int
    completed: int
    errors: int
    first_error: str
    rss_before_mb: float
    rss_open_mb: float  # when every stream had its first delta
    rss_end_of_hold_mb: float  # just before the streams' next chunk
    rss_peak_mb: float
    rss_after_mb: float
    open_s: float  # until every stream had its first delta
    total_s: float

    @property
    def growth_mb(self) -> float:
        return self.rss_peak_mb - self.rss_before_mb

    @property
    def drift_mb(self) -> float:
        """Change while all streams were held and idle: flat is ~0."""
        return self.rss_end_of_hold_mb - self.rss_open_mb

    @property
    def kb_per_stream(self) -> float:
        return self.growth_mb * 1024 / self.streams if self.streams else 0.0


async def measure_idle_streams(base_url: str, key: str, model: str, pids: list[int], *, n: int, chunk_delay_s: float) -> IdleStreams:
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": IDLE_PROMPT}]}
    before = rss_mb(pids)
    started = time.perf_counter()
    opened = 0
    first_open = 0.0
    all_open = asyncio.Event()

    async def one(http: httpx.AsyncClient) -> None:
        nonlocal opened, first_open
        text = ""
        async with http.stream("POST", "/chat/completions", json=body) as response:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {(await response.aread())[:200]!r}")
            async for line in response.aiter_lines():
                if line.startswith('data: {"error"'):
                    raise RuntimeError(f"stream error after {text!r}: {line[6:300]}")
                if line.startswith("data: {") and '"content":"' in line:
                    if not text:
                        opened += 1
                        first_open = first_open or time.perf_counter()
                        if opened == n:
                            all_open.set()
                    text += line.split('"content":"', 1)[1].split('"', 1)[0]
        if text != _REPLY:
            raise RuntimeError(f"incomplete reply {text!r}")

    peak = before
    async with httpx.AsyncClient(base_url=base_url, headers={"authorization": f"Bearer {key}"}, limits=limits, timeout=chunk_delay_s * 4 + 120) as http:
        tasks = [asyncio.ensure_future(one(http)) for _ in range(n)]

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, rss_mb(pids))
                await asyncio.sleep(0.25)

        sampler = asyncio.ensure_future(sample())
        gathered = asyncio.gather(*tasks, return_exceptions=True)
        try:
            # The demo upstream sends the role chunk at once and each word after a pause.
            await asyncio.wait_for(all_open.wait(), timeout=chunk_delay_s * 2.5)
        except TimeoutError:
            pass  # not all opened: the report says how many completed
        open_s = time.perf_counter() - started
        at_open = rss_mb(pids)
        # Sample again just before the first-opened stream gets its next chunk.
        await asyncio.sleep(max(0.0, first_open + chunk_delay_s * 0.9 - time.perf_counter()))
        end_of_hold = rss_mb(pids)
        outcomes = await gathered
        sampler.cancel()
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    await asyncio.sleep(1.0)  # let the gateway release what the streams held
    return IdleStreams(
        streams=n,
        completed=n - len(errors),
        errors=len(errors),
        first_error=f"{type(errors[0]).__name__}: {errors[0]}"[:300] if errors else "",
        rss_before_mb=before,
        rss_open_mb=at_open,
        rss_end_of_hold_mb=end_of_hold,
        rss_peak_mb=max(peak, at_open, end_of_hold),
        rss_after_mb=rss_mb(pids),
        open_s=open_s,
        total_s=time.perf_counter() - started,
    )
