"""Following the catalogue: what each refresh changed, as events, for whoever watches.

``changes()`` compares two snapshots. ``Followers`` hands each refresh's events to every open
``Follower`` (one per ``RegistryService/WatchAgents`` stream) without ever blocking a refresh:
a follower that lets too many batches pile up is dropped with ``WATCH_LAGGED`` (it watches
again and gets a fresh snapshot), and ``end()`` (server shutdown) ends every follower so no
stream holds the drain.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from services.errors import GatewayError
from services.log import get_logger

if TYPE_CHECKING:
    from services.registry.catalog import AgentEntry, Diagnostic

__all__ = ["CatalogEvent", "EventKind", "Follower", "Followers", "changes"]

log = get_logger("registry")

EventKind = Literal["added", "updated", "removed", "failed"]

# Refreshes a follower may be behind before it is dropped (each is one batch, however large).
_MAX_PENDING = 256


@dataclass(frozen=True)
class CatalogEvent:
    kind: EventKind
    agent_id: str  # the agent's id, or the would-be id of a load that failed
    # added / updated: as served now; removed: as it was; failed: the stale last good version
    # still served, or None for an agent that is not served.
    entry: AgentEntry | None = None
    diagnostic: Diagnostic | None = None  # failed only


def changes(
    old_entries: Sequence[AgentEntry], new_entries: Sequence[AgentEntry], old_diagnostics: Iterable[Diagnostic], new_diagnostics: Iterable[Diagnostic]
) -> tuple[CatalogEvent, ...]:
    """What a refresh changed. A served agent whose newer version failed is ``failed`` (with
    the stale entry); a failed load of an agent that is not served is ``failed`` without one.
    A diagnostic already listed before is not news."""
    before = {e.id: e for e in old_entries}
    after = {e.id: e for e in new_entries}
    events = [CatalogEvent("removed", i, before[i]) for i in sorted(before.keys() - after.keys())]
    for agent_id in sorted(after):
        entry, previous = after[agent_id], before.get(agent_id)
        if previous is None:
            events.append(CatalogEvent("added", agent_id, entry))
        elif entry.stale_reason is not None and entry.stale_reason != previous.stale_reason:
            events.append(CatalogEvent("failed", agent_id, entry, entry.stale_reason))
        elif entry != previous:
            events.append(CatalogEvent("updated", agent_id, entry))
    known = set(old_diagnostics)
    served = {(e.path, e.id) for e in new_entries}
    for diagnostic in new_diagnostics:
        # A stale diagnostic is its agents' `failed` above; one about a served agent (hosted
        # tools on a Chat Completions upstream) is a warning, not a failed load.
        if diagnostic not in known and not diagnostic.stale and (diagnostic.path, diagnostic.agent_id) not in served:
            events.append(CatalogEvent("failed", diagnostic.agent_id, None, diagnostic))
    return tuple(events)


class Follower:
    """One watcher of the catalogue: ``snapshot`` is the catalogue when it started following,
    ``next()`` each later refresh's events in order (``None`` once the catalogue ended it)."""

    def __init__(self, snapshot: Sequence[AgentEntry]) -> None:
        self.snapshot = tuple(snapshot)
        self._pending: deque[tuple[CatalogEvent, ...]] = deque()
        self._wake = asyncio.Event()
        self.ended = False
        self.lagged = False

    def push(self, events: tuple[CatalogEvent, ...]) -> None:
        if len(self._pending) >= _MAX_PENDING:
            self.lagged = True
            self._pending.clear()
        else:
            self._pending.append(events)
        self._wake.set()

    def end(self) -> None:
        self.ended = True
        self._wake.set()

    async def next(self) -> tuple[CatalogEvent, ...] | None:
        while True:
            if self.lagged:
                raise GatewayError("UNAVAILABLE", "WATCH_LAGGED", f"this watch fell more than {_MAX_PENDING} catalogue changes behind; watch again")
            if self._pending:
                return self._pending.popleft()
            if self.ended:
                return None
            self._wake.clear()
            await self._wake.wait()


class Followers:
    """The open followers of one catalogue."""

    def __init__(self, snapshot: Callable[[], Sequence[AgentEntry]]) -> None:
        self._snapshot = snapshot
        self._open: set[Follower] = set()
        self._ended = False

    def __len__(self) -> int:
        return len(self._open)

    @contextlib.contextmanager
    def follow(self) -> Iterator[Follower]:
        # The snapshot and the registration happen together (no await between them), so no
        # refresh falls between what the follower was shown and what it is told next.
        follower = Follower(self._snapshot())
        if self._ended:
            follower.end()
        self._open.add(follower)
        log.info("agent watch started", extra={"fields": {"watches": len(self._open)}})
        reason = "cancelled"
        try:
            yield follower
            reason = "ended"
        except GatewayError as exc:
            reason = exc.reason
            raise
        finally:
            self._open.discard(follower)
            if follower.ended and reason == "ended":
                reason = "shutdown"
            log.info("agent watch ended", extra={"fields": {"watches": len(self._open), "reason": reason}})

    def publish(self, events: tuple[CatalogEvent, ...]) -> None:
        for follower in self._open:
            follower.push(events)

    def end(self) -> None:
        """End every follower (now and to come): the server is shutting down."""
        self._ended = True
        for follower in self._open:
            follower.end()
