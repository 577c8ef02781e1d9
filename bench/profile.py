"""Where the gateway's CPU goes on the declarative REST passthrough (unary, c=1).

The gateway runs as ``python -m bench.profile OUT serve ...``: the real ``agent-gateway serve``
with a cProfile profiler that SIGUSR1 switches on (after warm-up, so start-up is not in it)
and SIGUSR2 switches off and dumps. With the in-process shim transport the shim, executor and
upstream client all run on the main thread's event loop, which is what cProfile sees; ``hey``
(another process) sends the requests. Profiling slows Python code down, so the report gives
shares and per-request milliseconds *under the profiler*, as a hint to where time goes.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bench.drivers import Hey
from bench.gateway import ADMIN_KEY, DECLARATIVE_MODEL, start_gateway
from bench.measure import describe
from bench.paths import LONG_PROMPT

__all__ = ["Profile", "profile_rest_passthrough"]


@dataclass(frozen=True)
class Profile:
    requests: int
    total_ms_per_request: float  # profiled CPU of the main thread per request
    by_area: list[tuple[str, float]]  # (area, ms per request), largest first
    top_functions: list[tuple[str, float]]  # (function, own ms per request)


def _area(filename: str) -> str:
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins / C calls"
    parts = Path(filename).parts
    if "site-packages" in parts:
        package = parts[parts.index("site-packages") + 1]
        return package.split(".")[0].removeprefix("_")
    for root in ("services", "shim", "agentgateway"):
        if root in parts:
            rest = parts[parts.index(root) :]
            return "/".join(rest[:2]) if len(rest) > 2 else root
    if "asyncio" in parts:
        return "asyncio (stdlib)"
    return "other stdlib"


def _summarise(path: Path, requests: int) -> Profile:
    stats = pstats.Stats(str(path))
    areas: dict[str, float] = {}
    functions: list[tuple[str, float]] = []
    total = 0.0
    for (filename, line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if "poll' of 'select." in name:
            continue  # the event loop waiting for I/O: idle, not work
        own = row[2]  # tottime
        total += own
        areas[_area(filename)] = areas.get(_area(filename), 0.0) + own
        short = filename if filename.startswith(("~", "<")) else "/".join(Path(filename).parts[-2:])
        functions.append((f"{short}:{line} {name}", own))
    per = 1000 / requests
    by_area = sorted(((a, s * per) for a, s in areas.items()), key=lambda x: -x[1])
    top = sorted(((f, s * per) for f, s in functions), key=lambda x: -x[1])[:12]
    return Profile(requests, total * per, by_area, top)


def profile_rest_passthrough(workdir: Path, upstream_base_url: str, requests: int) -> Profile | str:
    """``requests`` unary declarative REST requests at c=1 against a profiled gateway."""
    hey = Hey.find()
    if hey is None:
        return "profile: not collected (hey not installed)"
    out = workdir / "rest-passthrough.prof"
    try:
        gateway = start_gateway("gw-profiled", workdir, upstream_base_url, launcher=[sys.executable, "-m", "bench.profile", str(out)])
    except Exception as exc:  # noqa: BLE001 - the report says why there is no profile
        return f"profile: not collected (the profiled gateway did not start: {describe(exc)})"
    try:
        body = {"model": DECLARATIVE_MODEL, "messages": [{"role": "user", "content": LONG_PROMPT}]}
        args = [hey.binary, "-c", "1", "-m", "POST", "-T", "application/json", "-d", json.dumps(body), "-H", f"Authorization: Bearer {ADMIN_KEY}"]
        url = f"{gateway.openai_base_url}/chat/completions"
        subprocess.run([*args, "-n", "50", url], capture_output=True, timeout=120, check=False)
        os.kill(gateway.service.pid, signal.SIGUSR1)
        time.sleep(0.2)
        done = subprocess.run([*args, "-n", str(requests), url], capture_output=True, text=True, timeout=300, check=False)
        os.kill(gateway.service.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 30
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if not out.exists() or "[200]" not in done.stdout:
            return f"profile: not collected (no profile written or requests failed: {done.stdout.strip()[-200:]})"
        time.sleep(0.5)  # dump_stats finishes writing
        return _summarise(out, requests)
    except Exception as exc:  # noqa: BLE001 - the report says why there is no profile
        return f"profile: not collected ({describe(exc)})"
    finally:
        gateway.service.stop()


def _serve_profiled(out: str, argv: list[str]) -> int:
    profiler = cProfile.Profile()

    def on(signum: int, frame: FrameType | None) -> None:
        profiler.enable()

    def off(signum: int, frame: FrameType | None) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, on)
    signal.signal(signal.SIGUSR2, off)
    from services.cli import main as gateway_main

    return gateway_main(argv)


if __name__ == "__main__":
    sys.exit(_serve_profiled(sys.argv[1], sys.argv[2:]))
