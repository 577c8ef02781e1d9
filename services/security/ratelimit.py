"""Per-key rate limits: requests per minute and tokens per minute.

Algorithm: a sliding-window LOG over the last 60 s (one entry per admitted request: its time and
its token count). Chosen over GCRA because token usage is only known after the run: ``commit``
must replace a request's estimate with its real usage, which is a direct edit of one log entry,
and because the log gives an exact ``retry_after`` (when the entry that frees enough capacity
leaves the window). Memory is bounded by the admitted requests per key per minute.

A request is reserved up front (1 request + its estimated tokens) so concurrent requests cannot
all pass the check before any of them has used tokens. Usage may overshoot the budget after
``commit``; later requests then wait until enough of it slides out of the window.
"""

from __future__ import annotations

import itertools
import math
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from services.errors import GatewayError
from services.security.config import RateLimit
from services.security.keys import Principal

__all__ = [
    "WINDOW_S",
    "InMemoryRateLimitStore",
    "LimitName",
    "RateLimitStore",
    "RateLimiter",
    "Reservation",
    "StoreVerdict",
]

WINDOW_S = 60.0
LimitName = Literal["requests_per_minute", "tokens_per_minute"]


@dataclass(frozen=True)
class StoreVerdict:
    """What a store answers to a reservation attempt."""

    allowed: bool
    entry_id: str | None = None  # set when allowed: what `commit` refers to
    limit: LimitName | None = None  # set when refused: the limit that binds longest
    retry_after_s: float = 0.0  # set when refused: when the same reservation would succeed


class RateLimitStore(ABC):
    """Window state per key. ``reserve`` must check and record atomically (a Redis store: one Lua script)."""

    @abstractmethod
    async def reserve(self, key_id: str, limit: RateLimit, tokens: int, now: float) -> StoreVerdict:
        """Admit one request with ``tokens`` estimated tokens under ``limit`` at ``now`` (seconds), or refuse."""

    @abstractmethod
    async def commit(self, key_id: str, entry_id: str, tokens: int, now: float) -> None:
        """Replace the entry's token count with real usage. A no-op once the entry left the window."""


class _Entry:
    __slots__ = ("at", "id", "tokens")

    def __init__(self, at: float, id: str, tokens: int) -> None:
        self.at, self.id, self.tokens = at, id, tokens


class _Window:
    """One key's log, oldest first, with a running token total."""

    __slots__ = ("by_id", "entries", "tokens")

    def __init__(self) -> None:
        self.entries: deque[_Entry] = deque()
        self.by_id: dict[str, _Entry] = {}
        self.tokens = 0

    def prune(self, now: float) -> None:
        # The window is (now - 60 s, now]: an entry made at t counts until exactly t + 60 s.
        while self.entries and self.entries[0].at + WINDOW_S <= now:
            old = self.entries.popleft()
            del self.by_id[old.id]
            self.tokens -= old.tokens


class InMemoryRateLimitStore(RateLimitStore):
    """One process's windows. No ``await`` inside a method: each call is atomic within the event loop,
    so concurrent requests cannot interleave between the check and the record."""

    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}
        self._ids = itertools.count(1)

    async def reserve(self, key_id: str, limit: RateLimit, tokens: int, now: float) -> StoreVerdict:
        window = self._windows.setdefault(key_id, _Window())
        window.prune(now)
        waits: list[tuple[float, LimitName]] = []

        rpm = limit.requests_per_minute
        if rpm is not None and len(window.entries) >= rpm:
            # Admitting needs len - rpm + 1 of the oldest entries gone; wait for the last of them.
            freeing = window.entries[len(window.entries) - rpm]
            waits.append((freeing.at + WINDOW_S - now, "requests_per_minute"))

        tpm = limit.tokens_per_minute
        # A request counts as at least one token here so an exhausted budget (used == tpm) refuses
        # zero-estimate requests too: they will use tokens.
        needed = max(tokens, 1)
        if tpm is not None and window.tokens + needed > tpm:
            freed = 0
            for entry in window.entries:  # oldest first: find the entry whose expiry frees enough
                freed += entry.tokens
                if window.tokens - freed + needed <= tpm:
                    waits.append((entry.at + WINDOW_S - now, "tokens_per_minute"))
                    break
            else:  # the caller rejects needed > tpm beforehand; be safe anyway
                waits.append((WINDOW_S, "tokens_per_minute"))

        if waits:
            wait, name = max(waits, key=lambda w: w[0])
            return StoreVerdict(False, limit=name, retry_after_s=max(wait, 0.001))

        entry = _Entry(now, str(next(self._ids)), max(tokens, 0))
        window.entries.append(entry)
        window.by_id[entry.id] = entry
        window.tokens += entry.tokens
        return StoreVerdict(True, entry_id=entry.id)

    async def commit(self, key_id: str, entry_id: str, tokens: int, now: float) -> None:
        window = self._windows.get(key_id)
        if window is None:
            return
        window.prune(now)
        entry = window.by_id.get(entry_id)
        if entry is None:
            return
        tokens = max(tokens, 0)
        window.tokens += tokens - entry.tokens
        entry.tokens = tokens


@dataclass(frozen=True)
class Reservation:
    """A reserved request. ``entry_id`` is None for keys without limits (commit is then a no-op)."""

    key_id: str | None
    estimated_tokens: int
    entry_id: str | None = None  # None: no limit applies, nothing to settle


class RateLimiter:
    """Applies each principal's ``rate_limit`` through a store. ``clock`` is injectable for tests."""

    def __init__(self, store: RateLimitStore, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock

    async def reserve(self, principal: Principal | None, estimated_tokens: int) -> Reservation:
        """Reserve 1 request + ``estimated_tokens``; raise RESOURCE_EXHAUSTED / RATE_LIMITED when over a limit."""
        estimate = max(int(estimated_tokens), 0)
        limit = principal.rate_limit if principal is not None else None
        if principal is None or limit is None or limit.is_unlimited:
            return Reservation(principal.key_id if principal else None, estimate)
        key_id = principal.key_id

        tpm = limit.tokens_per_minute
        if tpm is not None and estimate > tpm:
            raise GatewayError(
                "RESOURCE_EXHAUSTED",
                "RATE_LIMITED",
                f"this request is estimated at {estimate} tokens, more than the whole limit of {tpm} tokens per minute "
                f"for key {key_id!r}; retrying cannot help: send a smaller request",
                {"limit": "tokens_per_minute", "key_id": key_id, "retryable": "false"},
                retry_after_s=None,
            )

        verdict = await self._store.reserve(key_id, limit, estimate, self._clock())
        if not verdict.allowed:
            name: LimitName = verdict.limit or "requests_per_minute"
            # Whole milliseconds, rounded up, so a client that waits exactly this long succeeds.
            retry_after = math.ceil(verdict.retry_after_s * 1000) / 1000
            amount = limit.requests_per_minute if name == "requests_per_minute" else limit.tokens_per_minute
            unit = "requests" if name == "requests_per_minute" else "tokens"
            raise GatewayError(
                "RESOURCE_EXHAUSTED",
                "RATE_LIMITED",
                f"rate limit of {amount} {unit} per minute reached for key {key_id!r}; retry in {retry_after:g} s",
                {"limit": name, "key_id": key_id},
                retry_after_s=retry_after,
            )
        # Usage only matters to a token budget: without one there is nothing to settle (and, with
        # a shared store, no second round trip per request).
        return Reservation(key_id, estimate, verdict.entry_id if tpm is not None else None)

    async def commit(self, reservation: Reservation, actual_tokens: int) -> None:
        """Replace the reservation's estimate with real usage (may exceed the budget: later requests wait)."""
        if reservation.entry_id is None or reservation.key_id is None:
            return
        if int(actual_tokens) == reservation.estimated_tokens:
            return  # the estimate stands as recorded
        await self._store.commit(reservation.key_id, reservation.entry_id, max(int(actual_tokens), 0), self._clock())
