"""Scale-out on this machine: 1, 2 and 3 gateway replicas (processes on loopback) sharing one
Redis (``GATEWAY_STATE_URL``) behind a round-robin client, and what Redis-backed rate limiting
adds to a request over the in-memory limiter, in the same run.

The replicas and their redis-server start with every other service (start-up overlaps) and
wait idle until this phase. Both measurements use the declarative passthrough over REST:

- **scaling**: ``bench.loadgen`` sends c=32 round robin over the first N replicas' URLs (one
  request to each in turn, as a client-side balancer does), with a key that has a rate limit
  (every request is a Redis reservation and commit, so the shared limiter is in the path);
  req/s and the CPU of the replicas and Redis together per request.
- **rate-limit cost** at c=1 (``hey``, passes interleaved): an unlimited key and a limited key
  (a budget no window reaches) on an embedded gateway and on a Redis-backed replica. What the
  limiter adds is limited minus unlimited on each; unlimited Redis-backed minus embedded is
  what the rest of the shared state (buffered audit, cached overrides) adds.
"""

from __future__ import annotations

import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.drivers import Hey, LoadGen
from bench.gateway import ADMIN_KEY, DECLARATIVE_MODEL, LIMITED_KEY, Gateway, launch_gateway
from bench.measure import Window, describe
from bench.procs import Service, free_port, spawn
from bench.prompts import LONG_PROMPT, expected

__all__ = ["REPLICAS", "ReplicaResults", "ReplicaServices", "launch_replicas", "measure_replicas"]

REPLICAS = 3
RATE_PATHS = ("embedded, unlimited key", "embedded, limited key", "Redis, unlimited key", "Redis, limited key")


@dataclass
class ReplicaServices:
    redis: Service
    replicas: list[Gateway]

    def services(self) -> dict[str, Service]:
        return {"redis": self.redis, **{r.service.name: r.service for r in self.replicas}}


@dataclass
class ReplicaResults:
    scaling: dict[int, Window | str] = field(default_factory=dict)  # replicas -> c=32 window
    rate: dict[str, Window | str] = field(default_factory=dict)  # RATE_PATHS -> c=1 window
    redis_version: str = ""


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def launch_replicas(root: Path, upstream_url: str) -> ReplicaServices:
    """redis-server (no persistence) and ``REPLICAS`` gateways sharing it; they connect lazily."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (make bench installs the Debian package)")
    port = free_port()
    (root / "redis").mkdir(parents=True, exist_ok=True)
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(root / "redis")]
    redis = spawn("redis", cmd, {}, root / "redis" / "redis.log", port=port)
    url = f"redis://127.0.0.1:{port}/0"
    replicas = [launch_gateway(f"gw-replica-{n}", root, upstream_url, env_extra={"GATEWAY_STATE_URL": url}) for n in range(REPLICAS)]
    return ReplicaServices(redis, replicas)


def _pids(services: list[Service]) -> list[int]:
    return [pid for s in services for pid in s.cached_pids()]


def measure_replicas(
    started: ReplicaServices, embedded: Gateway, hey: Hey | None, loadgen: LoadGen, *, load_s: float, c1_s: float, passes: int, drain_s: float
) -> ReplicaResults:
    out = ReplicaResults()
    deadline = time.monotonic() + 10
    while not _redis_answers(started.redis.port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server did not answer PING: {started.redis.log_tail()}")
        time.sleep(0.05)
    messages = [{"role": "user", "content": LONG_PROMPT}]
    for n in range(1, len(started.replicas) + 1):
        used = started.replicas[:n]
        job = {
            "kind": "rest_unary",
            "targets": [r.openai_base_url for r in used],
            "target": used[0].openai_base_url,
            "model": DECLARATIVE_MODEL,
            "messages": messages,
            "expect": expected(LONG_PROMPT),
            "key": LIMITED_KEY,
            "concurrency": 32,
            "seconds": load_s,
            "warmup": 32,
            "drain_s": drain_s,
            "cpu_pids": _pids([r.service for r in used] + [started.redis]),
        }
        try:
            out.scaling[n] = loadgen.run(job, timeout=load_s + 180)
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            out.scaling[n] = describe(exc)
    if hey is None:
        out.rate = dict.fromkeys(RATE_PATHS, "hey not installed")
        return out
    shared = started.replicas[0]
    cases = {
        RATE_PATHS[0]: (embedded, ADMIN_KEY),
        RATE_PATHS[1]: (embedded, LIMITED_KEY),
        RATE_PATHS[2]: (shared, ADMIN_KEY),
        RATE_PATHS[3]: (shared, LIMITED_KEY),
    }
    body = {"model": DECLARATIVE_MODEL, "messages": messages}
    for _ in range(passes):
        for label, (gateway, key) in cases.items():
            try:
                window = hey.run(gateway.openai_base_url, body, key, concurrency=1, seconds=c1_s, warmup=3, cpu_pids=gateway.service.cached_pids())
            except Exception as exc:  # noqa: BLE001 - reported, not fatal
                out.rate[label] = describe(exc)
                continue
            earlier = out.rate.get(label)
            if isinstance(earlier, str):
                continue
            out.rate[label] = earlier.merged(window) if isinstance(earlier, Window) else window
    return out
