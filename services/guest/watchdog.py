"""The loop-lag watchdog: any callback that holds the event loop too long is logged and
counted, naming the drop-in agent whose code was running.

Thread pools contain sync agent code, not ``time.sleep`` inside an ``async def``, CPU-bound
pure-Python work or a native call that keeps the GIL: those run on the loop itself. So a
heartbeat callback re-arms itself on the loop every ``interval``; a monitor thread checks that
it ran on time. When the loop is ``threshold`` late, the monitor reads the loop thread's
current stack (``sys._current_frames()``) *while it is still blocked* and finds the innermost
frame from a drop-in's folder: that names the agent (``gateway`` when none is on the stack,
e.g. the gateway's own code or a library called outside agent code). The heartbeat, once it
runs again, records how long the stall lasted.

Costs: one timer callback on the loop and one thread wake-up per ``interval`` (50 ms at most).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Mapping
from types import FrameType

from services.log import get_logger
from services.metrics import LOOP_STALL_SECONDS, LOOP_STALLS

__all__ = ["GATEWAY_CODE", "LoopWatchdog", "set_guest_folders"]

log = get_logger("watchdog")

GATEWAY_CODE = "gateway"  # the agent label of a stall with no drop-in frame on the stack

# Drop-in folder (absolute, with a trailing separator) -> model id; replaced whole by each
# catalogue refresh, read by the monitor thread.
_guest_folders: Mapping[str, str] = {}


def set_guest_folders(folders: Mapping[str, str]) -> None:
    """The served drop-ins: folder -> model id (their helper modules count as theirs)."""
    global _guest_folders
    _guest_folders = {os.path.join(os.path.abspath(folder), ""): agent_id for folder, agent_id in folders.items()}


def _culprit(frame: FrameType | None) -> tuple[str, str]:
    """(agent id, "file:line in function") of the innermost drop-in frame of a stack."""
    folders = _guest_folders
    innermost = ""
    while frame is not None:
        code = frame.f_code
        where = f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"
        innermost = innermost or where
        for folder, agent_id in folders.items():
            if code.co_filename.startswith(folder):
                return agent_id, where
        frame = frame.f_back
    return GATEWAY_CODE, innermost


class LoopWatchdog:
    def __init__(self, threshold_s: float, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.threshold_s = threshold_s
        self.interval_s = min(0.05, threshold_s / 4)
        self._loop = loop or asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._due = time.monotonic() + self.interval_s  # when the next heartbeat should run
        self._stall: tuple[str, str] | None = None  # (agent, where) of the stall being lived through
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)

    def start(self) -> LoopWatchdog:
        self._loop.call_later(self.interval_s, self._beat)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _beat(self) -> None:
        now = time.monotonic()
        late = now - self._due
        stall, self._stall = self._stall, None
        if stall is not None and late >= self.threshold_s:
            agent, where = stall
            LOOP_STALL_SECONDS.labels(agent).observe(late)
            log.warning("event loop was blocked", extra={"fields": {"agent": agent, "blocked_ms": round(late * 1000), "where": where}})
        self._due = now + self.interval_s
        if not self._stop.is_set():
            self._loop.call_later(self.interval_s, self._beat)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            late = time.monotonic() - self._due
            if late < self.threshold_s or self._stall is not None:
                continue
            agent, where = _culprit(sys._current_frames().get(self._loop_thread))
            self._stall = (agent, where)
            LOOP_STALLS.labels(agent).inc()
            log.warning(
                "event loop blocked",
                extra={"fields": {"agent": agent, "blocked_ms": round(late * 1000), "threshold_ms": round(self.threshold_s * 1000), "where": where}},
            )
