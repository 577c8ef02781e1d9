"""``python -m bench.profile_launcher OUT serve ...``: the real ``agent-gateway serve``
(``services.cli.main``, what the console script calls) with a cProfile profiler that is off
until SIGUSR1 switches it on; SIGUSR2 switches it off and writes OUT. Until then it costs
nothing: no profile hook is installed. Only the standard library is imported here, so the
gateway it launches is the one ``agent-gateway serve`` starts."""

from __future__ import annotations

import cProfile
import os
import signal
import sys
from types import FrameType

__all__ = ["serve_profiled"]


def serve_profiled(out: str, argv: list[str]) -> int:
    profiler = cProfile.Profile()

    def on(signum: int, frame: FrameType | None) -> None:
        profiler.enable()

    def off(signum: int, frame: FrameType | None) -> None:
        profiler.disable()
        profiler.dump_stats(out + ".part")
        os.replace(out + ".part", out)  # the bench waits for the file: it must appear complete

    signal.signal(signal.SIGUSR1, on)
    signal.signal(signal.SIGUSR2, off)
    from services.cli import main as gateway_main

    return gateway_main(argv)


if __name__ == "__main__":
    sys.exit(serve_profiled(sys.argv[1], sys.argv[2:]))
