"""Where a bench run's wall time goes: each phase is logged (with the time since the start)
as it begins and ends, and the list goes into the report, so a slow run says why."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

__all__ = ["Clock", "log"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Clock:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.phases: list[tuple[str, float]] = []

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def log(self, message: str) -> None:
        log(f"[{self.elapsed():6.1f} s] {message}")

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.log(f"{name} ...")
        begun = time.perf_counter()
        try:
            yield
        finally:
            took = time.perf_counter() - begun
            self.phases.append((name, took))
            self.log(f"{name}: {took:.1f} s")

    def summary(self) -> str:
        return "; ".join(f"{name} {took:.0f} s" for name, took in self.phases)
