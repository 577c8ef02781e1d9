"""Capacity: many slow streams held open at once, and what they cost the gateway in memory.

``n`` streaming chat requests to the drop-in SDK agent are opened together against a gateway
whose upstream (``bench.hold_upstream``: the demo model's replies) holds every stream after
its first content chunk: once a stream has its first content delta it is open and idle —
holding a client connection, the shim's call into the executor, an agent run and an upstream
connection — until the bench releases them all. Resident memory of the gateway's process
tree is sampled every 0.25 s: before, once all are open, through a hold of ``hold_s`` (to see
whether it stays flat), and after they completed. Every stream must complete with the whole
reply. The client is ``bench.rawhttp`` (one connection per stream), cheap enough that the
gateway, not the client, sets how fast the streams open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass

from bench.procs import rss_mb
from bench.rawhttp import Pool, StreamReply, UnaryReply

__all__ = ["IDLE_PROMPT", "IdleStreams", "measure_idle_streams"]

IDLE_PROMPT = "hold"
_REPLY = f"You said: {IDLE_PROMPT}"


@dataclass(frozen=True)
class IdleStreams:
    streams: int
    completed: int
    errors: int
    first_error: str
    rss_before_mb: float  # after the warm-up streams completed
    rss_open_mb: float  # when every stream had its first delta
    rss_end_of_hold_mb: float  # at the end of the hold, just before the release
    rss_peak_mb: float
    rss_after_mb: float
    open_s: float  # until every stream had its first delta
    total_s: float
    hold_s: float = 0.0  # how long all streams were held open and idle
    rss_cold_mb: float = 0.0  # before the warm-up: the gateway as it started

    @property
    def first_use_mb(self) -> float:
        """What the warm-up streams left behind: one-time costs (lazy imports, schemas, pools)."""
        return self.rss_before_mb - self.rss_cold_mb

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


WARMUP_STREAMS = 3


async def _release_when_held(control: Pool, count: int) -> None:
    """``POST /bench/release`` once ``count`` streams are held (or after 30 s)."""
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline:
        reply = await control.send(control.request("/bench/held", b"", {"content-type": "application/json"}), UnaryReply)
        assert isinstance(reply, UnaryReply)
        if reply.json().get("held", 0) >= count:
            break
        await asyncio.sleep(0.05)
    await control.send(control.request("/bench/release", b"", {"content-type": "application/json"}), UnaryReply)


async def measure_idle_streams(
    base_url: str, key: str, model: str, pids: list[int], *, n: int, hold_s: float, upstream_url: str, open_timeout_s: float = 60.0, settle_s: float = 1.0
) -> IdleStreams:
    """``upstream_url``: the ``bench.hold_upstream`` the gateway's upstream points at;
    ``settle_s``: the wait after the streams completed before the *after* sample."""
    gateway = Pool(base_url, {"authorization": f"Bearer {key}"}, timeout=open_timeout_s + hold_s + 120)
    body = json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": IDLE_PROMPT}]}).encode()
    request = gateway.request("/chat/completions", body, {"content-type": "application/json", "accept": "text/event-stream"})
    control = Pool(upstream_url, timeout=30)
    cold = rss_mb(pids)
    # A few streams through the whole cycle first (held, released, completed), so that the
    # gateway's one-time first-use costs are not counted as the streams' (reported apart).
    await asyncio.gather(*(gateway.send(request, StreamReply) for _ in range(WARMUP_STREAMS)), _release_when_held(control, WARMUP_STREAMS))
    await control.send(control.request("/bench/hold", b"", {"content-type": "application/json"}), UnaryReply)
    await asyncio.sleep(settle_s)
    before = rss_mb(pids)
    started = time.perf_counter()
    opened = lost = 0  # lost: failed before it opened
    all_open = asyncio.Event()  # every stream opened or lost

    def one_open() -> None:
        nonlocal opened
        opened += 1
        if opened + lost == n:
            all_open.set()

    async def one() -> None:
        nonlocal lost
        replies: list[StreamReply] = []

        def new_reply() -> StreamReply:
            replies.append(StreamReply(one_open))
            return replies[-1]

        try:
            reply = await gateway.send(request, new_reply)
        except BaseException:
            if not any(r.first for r in replies):
                lost += 1
                if opened + lost == n:
                    all_open.set()
            raise
        assert isinstance(reply, StreamReply)
        if reply.status != 200 or not reply.streaming:
            raise RuntimeError(f"HTTP {reply.status}: {bytes(reply.body[:200])!r}")
        if reply.error:
            raise RuntimeError(f"{reply.error} after {reply.text!r}")
        if reply.text != _REPLY:
            raise RuntimeError(f"incomplete reply {reply.text!r}")

    peak = before

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, rss_mb(pids))
            await asyncio.sleep(0.25)

    tasks = [asyncio.ensure_future(one()) for _ in range(n)]
    sampler = asyncio.ensure_future(sample())
    gathered = asyncio.gather(*tasks, return_exceptions=True)
    try:
        with contextlib.suppress(TimeoutError):  # not all opened: the report says how many completed
            await asyncio.wait_for(all_open.wait(), timeout=open_timeout_s)
        open_s = time.perf_counter() - started
        at_open = rss_mb(pids)
        await asyncio.sleep(hold_s)
        end_of_hold = rss_mb(pids)
        held = time.perf_counter() - started - open_s
    finally:
        try:
            await control.send(control.request("/bench/release", b"", {"content-type": "application/json"}), UnaryReply)
        finally:
            control.close()
    try:
        outcomes = await gathered
    finally:
        sampler.cancel()
        gateway.close()
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    await asyncio.sleep(settle_s)  # let the gateway release what the streams held
    return IdleStreams(
        streams=n,
        completed=n - len(errors),
        errors=len(errors),
        first_error=f"{type(errors[0]).__name__}: {errors[0]}"[:300] if errors else "",
        rss_before_mb=before,
        rss_cold_mb=cold,
        rss_open_mb=at_open,
        rss_end_of_hold_mb=end_of_hold,
        rss_peak_mb=max(peak, at_open, end_of_hold),
        rss_after_mb=rss_mb(pids),
        open_s=open_s,
        total_s=time.perf_counter() - started,
        hold_s=held,
    )
