"""The machine and software a run measured on, for the report's header."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.litellm_proxy import litellm_version

__all__ = ["Environment", "environment", "loadavg"]

_PACKAGES = ("openai-agents", "openai", "grpcio", "protobuf", "httpx", "uvicorn", "starlette", "uvloop", "httptools", "orjson")


@dataclass(frozen=True)
class Environment:
    date: str
    cpu: str
    cores: int
    usable_cores: int
    python: str
    platform: str
    packages: str
    litellm: str
    load_tools: str
    load_before: str
    load_after: str


def loadavg() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _packages() -> str:
    versions = []
    for name in _PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} not installed")
    return ", ".join(versions)


def _debian_version(package: str) -> str:
    if not shutil.which(package):
        return f"{package} not installed"
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    return f"{package} {out or '(version unknown)'}"


def environment(load_before: str, load_after: str) -> Environment:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)
    return Environment(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cpu=_cpu_model(),
        cores=os.cpu_count() or 0,
        usable_cores=usable,
        python=platform.python_version(),
        platform=platform.platform(terse=True),
        packages=_packages(),
        litellm=litellm_version() or "not installed",
        load_tools=_debian_version("hey"),
        load_before=load_before,
        load_after=load_after,
    )
