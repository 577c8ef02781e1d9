"""Health checks of upstreams: ``GET <base_url><path>`` on an interval, the state the results
decide (unknown, healthy, unhealthy), its metrics and log lines, and the error a request to an
upstream known to be down fails with at once (instead of waiting out its timeouts).

Nothing here sees the upstream's key: the probe it is given sends it, and errors are described
from their type (a refused connection, a timeout, an HTTP status), never from an exception's
text or a URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import aiohttp

from services.errors import GatewayError
from services.log import get_logger
from services.metrics import UPSTREAM_CHECK_SECONDS, UPSTREAM_UP
from services.upstreams.config import HealthCheckConfig

__all__ = ["HealthChecker", "HealthState", "UpstreamHealth", "upstream_down"]

log = get_logger("upstream")

HealthState = Literal["unknown", "healthy", "unhealthy"]

# After a check, a request that found the upstream unreachable may ask for the next one early
# (``HealthChecker.poke``), but never sooner than this after the last: a burst of failing
# requests must not become a burst of checks.
_MIN_GAP_S = 1.0


@dataclass(eq=False)
class UpstreamHealth:
    """What the checks of one upstream found. Changed on the event loop only."""

    upstream: str
    check: HealthCheckConfig  # as it applies to this upstream: `enabled` decided
    state: HealthState = "unknown"
    last_check: datetime | None = None
    last_duration_s: float | None = None
    last_error: str = ""
    last_error_time: datetime | None = None
    failures: int = 0  # in a row, since the last check that passed

    @property
    def down(self) -> bool:
        return self.state == "unhealthy"

    def checked(self, error: str | None, seconds: float) -> None:
        """Record one check: ``error`` None when it passed."""
        self.last_check, self.last_duration_s = datetime.now(UTC), seconds
        UPSTREAM_CHECK_SECONDS.labels(self.upstream).observe(seconds)
        if error is None:
            self.failures = 0
            self._become("healthy")
            return
        self.failures += 1
        self.last_error, self.last_error_time = error, self.last_check
        fields = {"upstream": self.upstream, "error": error, "failures": self.failures}
        if self.failures >= self.check.unhealthy_threshold:
            if not self.down:
                log.warning("upstream down", extra={"fields": fields})
            self._become("unhealthy")
        else:
            log.info("upstream health check failed", extra={"fields": fields})

    def request_succeeded(self) -> None:
        """A real request got its answer: the upstream is up, whatever the last check said."""
        if self.check.enabled and self.state != "healthy":
            self.failures = 0
            self._become("healthy")

    def _become(self, state: HealthState) -> None:
        if state == "healthy" and self.state != "healthy":
            log.info("upstream healthy", extra={"fields": {"upstream": self.upstream, "was": self.state}})
        self.state = state
        UPSTREAM_UP.labels(self.upstream).set(1 if state == "healthy" else 0)

    def forget(self) -> None:
        """This upstream is gone (or replaced): its series leave the metrics."""
        for metric in (UPSTREAM_UP, UPSTREAM_CHECK_SECONDS):
            with contextlib.suppress(KeyError):
                metric.remove(self.upstream)


def upstream_down(health: UpstreamHealth) -> GatewayError:
    """UNAVAILABLE ``UPSTREAM_DOWN`` (HTTP 503): a request routed to an upstream whose checks
    say it is down, refused before anything is sent; worth a retry after the next check."""
    return GatewayError(
        "UNAVAILABLE",
        "UPSTREAM_DOWN",
        f"upstream {health.upstream!r} is down: its last {health.failures} health check(s) failed ({health.last_error});"
        " requests to it fail at once until a check passes",
        {"upstream": health.upstream},
        max(1.0, health.check.interval_s),
    )


class HealthChecker:
    """Checks one upstream every ``interval_s`` in a task of its own, from ``start()`` until
    ``stop()``. ``probe`` sends the request and returns the HTTP status."""

    def __init__(self, health: UpstreamHealth, probe: Callable[[float], Awaitable[int]]) -> None:
        self.health = health
        self._probe = probe
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"upstream-health:{self.health.upstream}")

    def poke(self) -> None:
        """Check soon (a request just found the upstream unreachable)."""
        self._wake.set()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        interval = self.health.check.interval_s
        gap = min(interval, _MIN_GAP_S)
        while True:
            await self.check()
            self._wake.clear()
            await asyncio.sleep(gap)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval - gap):
                    await self._wake.wait()

    async def check(self) -> None:
        """One check, recorded in ``health``."""
        timeout_s = self.health.check.timeout_s
        started = time.perf_counter()
        error: str | None
        try:
            # The probe's own timeout bounds the request; this one, the whole of it.
            async with asyncio.timeout(timeout_s + 1):
                status = await self._probe(timeout_s)
            error = f"HTTP {status}" if status >= 500 else None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is a failed check, described by its kind
            error = _describe(exc, timeout_s)
        self.health.checked(error, time.perf_counter() - started)


def _describe(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts are TimeoutErrors too
        return f"no answer within {timeout_s:g}s"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "cannot resolve the host"
    if isinstance(exc, aiohttp.ClientConnectorError):
        code = errno.errorcode.get(exc.os_error.errno or 0)
        return f"cannot connect ({code})" if code else "cannot connect"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the connection closed before an answer"
    return f"the request failed ({type(exc).__name__})"
