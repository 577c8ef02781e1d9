"""The security layer's cost per request, measured in-process against the same loop without it.

What one chat request pays for security, in the order the gateway does it: authenticate the
presented key (SHA-256 + constant-time compare against every configured digest), decide
``use_model`` and write its audit event (ring + one JSON log line, formatted for real), reserve
rate-limit budget up front and settle it with the real usage, and decide + audit one tool call.
The baseline runs the same loop with those calls removed, in the same process and run.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.measure import Stats
from services.log import JsonFormatter
from services.security.gatekeeper import Gatekeeper

__all__ = ["SecurityCost", "measure_security_cost"]

_KEYS = {f"GW_BENCH_KEY_{i}": f"agw-bench-{i}-{'x' * 24}" for i in range(5)}


@dataclass(frozen=True)
class SecurityCost:
    iterations: int
    keys: int
    with_security: Stats
    without: Stats

    @property
    def added_p50_ms(self) -> float:
        return self.with_security.p50_ms - self.without.p50_ms


async def _measure(iterations: int) -> SecurityCost:
    with tempfile.TemporaryDirectory(prefix="agent-gateway-bench-security-") as tmp:
        path = Path(tmp) / "security.yaml"
        keys = [
            {
                "id": f"k{i}",
                "env": env,
                "models": ["default/*", "labs/*planner*"],
                "tools": ["get_weather", "lookup_*"],
                "rate_limit": {"requests_per_minute": 10**9, "tokens_per_minute": 10**12},
            }
            for i, env in enumerate(_KEYS)
        ]
        path.write_text(yaml.safe_dump({"api_keys": keys, "namespaces": {"labs": {"models": "deny"}}}))
        os.environ.update(_KEYS)
        gate = Gatekeeper.load(path)
    # Audit lines are formatted and written as in production (INFO, JSON), into memory.
    audit_log = logging.getLogger("agentgateway.audit")
    sink = logging.StreamHandler(io.StringIO())
    sink.setFormatter(JsonFormatter())
    audit_log.addHandler(sink)
    audit_log.setLevel(logging.INFO)
    audit_log.propagate = False
    metadata = (("x-request-id", "bench"), ("authorization", f"Bearer {_KEYS['GW_BENCH_KEY_4']}"))  # the last key: the worst case

    async def with_security() -> None:
        principal = gate.authenticate(metadata)
        await gate.require(principal, "use_model", "default/weather", "bench")
        reservation = await gate.reserve(principal, 20)
        await gate.authorize(principal, "use_tool", "get_weather", "bench")
        await gate.settle(reservation, 35)

    async def without() -> None:
        return None

    samples: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(min(200, iterations)):  # warm-up
        await with_security()
    for _ in range(iterations):  # interleaved, so drift hits both alike
        for name, fn in (("with", with_security), ("without", without)):
            start = time.perf_counter()
            await fn()
            samples[name].append(time.perf_counter() - start)
    audit_log.removeHandler(sink)
    audit_log.propagate = True
    return SecurityCost(iterations, len(keys), Stats.of(samples["with"]), Stats.of(samples["without"]))


def measure_security_cost(iterations: int) -> SecurityCost:
    return asyncio.run(_measure(iterations))
