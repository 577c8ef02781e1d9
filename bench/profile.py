"""Where the gateway's CPU goes on the declarative REST passthrough (unary, c=1).

The matrix's in-process gateway runs as ``python -m bench.profile_launcher OUT serve ...``:
the real ``agent-gateway serve`` with a cProfile profiler that SIGUSR1 switches on (after the
load windows and a warm-up, so neither start-up nor they are in it) and SIGUSR2 switches off
and dumps. With the in-process shim transport the shim, executor and upstream client all run
on the main thread's event loop, which is what cProfile sees; ``hey`` (another process) sends
the requests. Profiling slows Python code down, so the report gives shares and per-request
milliseconds *under the profiler*, as a hint to where time goes.
"""

from __future__ import annotations

import json
import os
import pstats
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.drivers import Hey
from bench.gateway import ADMIN_KEY, DECLARATIVE_MODEL, Gateway
from bench.measure import describe
from bench.prompts import LONG_PROMPT

__all__ = ["Profile", "profile_rest_passthrough", "profiling_launcher"]


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


def profile_output(workdir: Path) -> Path:
    return workdir / "rest-passthrough.prof"


def profiling_launcher(workdir: Path) -> list[str]:
    """What to launch the gateway with instead of ``agent-gateway`` (``launch_gateway(launcher=...)``)."""
    return [sys.executable, "-m", "bench.profile_launcher", str(profile_output(workdir))]


def profile_rest_passthrough(gateway: Gateway, workdir: Path, requests: int) -> Profile | str:
    """``requests`` unary declarative REST requests at c=1 against a gateway launched with
    ``profiling_launcher(workdir)``."""
    hey = Hey.find()
    if hey is None:
        return "profile: not collected (hey not installed)"
    out = profile_output(workdir)
    try:
        body = {"model": DECLARATIVE_MODEL, "messages": [{"role": "user", "content": LONG_PROMPT}]}
        args = [hey.binary, "-c", "1", "-m", "POST", "-T", "application/json", "-d", json.dumps(body), "-H", f"Authorization: Bearer {ADMIN_KEY}"]
        url = f"{gateway.openai_base_url}/chat/completions"
        subprocess.run([*args, "-n", "50", url], capture_output=True, timeout=120, check=False)
        os.kill(gateway.service.pid, signal.SIGUSR1)
        time.sleep(0.05)  # the handler runs when the idle loop next wakes: at once
        done = subprocess.run([*args, "-n", str(requests), url], capture_output=True, text=True, timeout=300, check=False)
        os.kill(gateway.service.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 30
        while not out.exists() and time.monotonic() < deadline:  # written whole, then renamed
            time.sleep(0.02)
        if not out.exists() or "[200]" not in done.stdout:
            return f"profile: not collected (no profile written or requests failed: {done.stdout.strip()[-200:]})"
        return _summarise(out, requests)
    except Exception as exc:  # noqa: BLE001 - the report says why there is no profile
        return f"profile: not collected ({describe(exc)})"
