"""What the gateways logged during a run (they log at WARNING): distinct records, counted."""

from __future__ import annotations

import json

from bench.measure import redact
from bench.procs import Service

__all__ = ["log_summary"]


def _key(line: str) -> str:
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        return line.strip()
    key = f"{record.get('level', '?')} {record.get('logger', '?')}: {record.get('msg', '')}"
    exc = str(record.get("exc") or "").strip()
    return key + (f" -- {exc.splitlines()[-1]}" if exc else "")


def log_summary(services: list[Service], limit: int = 20) -> tuple[str, ...]:
    """JSON records shortened to level, logger, message and the last line of any traceback."""
    counts: dict[str, int] = {}
    for service in services:
        text = service.log_path.read_text(errors="replace") if service.log_path.exists() else ""
        for line in text.splitlines():
            if line.strip():
                key = redact(_key(line))
                key = f"{service.name}: " + (key if len(key) <= 300 else key[:297] + "...")
                counts[key] = counts.get(key, 0) + 1
    lines = [f"{n:>6} x {key}" for key, n in counts.items()]
    return tuple(lines[:limit] + ([f"... and {len(lines) - limit} more distinct records"] if len(lines) > limit else []))
