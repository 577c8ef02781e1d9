"""Capacity: many slow streams held open at once, and what they cost the gateway in memory.

``n`` streaming chat requests to a drop-in agent are opened together. The fake upstream
streams each reply one word at a time over ``hold_s`` (the pause between words stays under
the upstream's read timeout), long enough that every stream is open and idle at once — each holding a client connection, a gRPC stream inside
the gateway, an agent run and an upstream connection. The gateway's resident memory (``/proc/<pid>/status``
VmRSS) is read before, while all are held, and after they completed; every stream must
complete with the whole reply.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.fake_upstream import FakeUpstream, TextReply

__all__ = ["IdleStreams", "measure_idle_streams"]

_REPLY = "held open for a while, then finished after all"
_WORDS = len(_REPLY.split())


@dataclass(frozen=True)
class IdleStreams:
    streams: int
    completed: int
    errors: int
    first_error: str
    rss_before_mb: float
    rss_held_mb: float  # when every stream had reached the upstream
    rss_peak_mb: float  # the most while they ran (sampled every 0.25 s)
    rss_after_mb: float
    open_s: float  # until every stream had reached the upstream
    total_s: float

    @property
    def growth_mb(self) -> float:
        return self.rss_peak_mb - self.rss_before_mb

    @property
    def kb_per_stream(self) -> float:
        return self.growth_mb * 1024 / self.streams if self.streams else 0.0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


async def measure_idle_streams(base_url: str, key: str, upstream: FakeUpstream, gateway_pid: int, *, n: int = 1000, hold_s: float = 48.0) -> IdleStreams:
    upstream.queue(*[TextReply(_REPLY, chunks=_WORDS, chunk_delay=hold_s / _WORDS) for _ in range(n)])
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    body = {"model": "default/weather", "stream": True, "messages": [{"role": "user", "content": "hold"}]}
    seen_before = len(upstream.chat_requests)
    before = _rss_mb(gateway_pid)
    started = time.perf_counter()

    async def one(http: httpx.AsyncClient) -> None:
        text = ""
        async with http.stream("POST", "/chat/completions", json=body) as response:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {(await response.aread())[:200]!r}")
            async for line in response.aiter_lines():
                if line.startswith("data: {") and '"content":"' in line:
                    text += line.split('"content":"', 1)[1].split('"', 1)[0]
        if text != _REPLY:
            raise RuntimeError(f"incomplete reply {text!r}")

    async with httpx.AsyncClient(base_url=base_url, headers={"authorization": f"Bearer {key}"}, limits=limits, timeout=hold_s * 4 + 60) as http:
        tasks = [asyncio.ensure_future(one(http)) for _ in range(n)]
        peak = before

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, _rss_mb(gateway_pid))
                await asyncio.sleep(0.25)

        sampler = asyncio.ensure_future(sample())
        try:
            await upstream.wait_for_async(lambda: len(upstream.chat_requests) - seen_before >= n, timeout=hold_s * 0.9)
        except TimeoutError:
            pass  # not all reached the upstream within the hold: the report says how many completed
        opened_at = time.perf_counter()
        held = _rss_mb(gateway_pid)
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        sampler.cancel()
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    await asyncio.sleep(1.0)  # let the gateway release what the streams held
    return IdleStreams(
        streams=n,
        completed=n - len(errors),
        errors=len(errors),
        first_error=f"{type(errors[0]).__name__}: {errors[0]}"[:300] if errors else "",
        rss_before_mb=before,
        rss_held_mb=held,
        rss_peak_mb=max(peak, held),
        rss_after_mb=_rss_mb(gateway_pid),
        open_s=opened_at - started,
        total_s=time.perf_counter() - started,
    )
