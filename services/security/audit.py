"""The audit trail: one record per allow/deny decision.

Each event is written as one structured log line (the durable copy, shipped wherever logs go)
and kept in a bounded in-memory ring for ``ListAuditEvents`` (recent history for admins; the
oldest events fall off first). Events carry the key id, never the key. With shared state
(``GATEWAY_STATE_URL``) the ring is a capped Redis stream instead
(services/security/redis_stores.py ``RedisAuditLog``), readable from every replica.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Literal

from services.log import get_logger
from services.rpc.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from services.security.keys import Principal
from services.security.overrides import utc_now
from services.security.policy import Action, Decision

__all__ = ["AuditAction", "AuditEvent", "AuditFilter", "AuditLog", "decode_page_token", "encode_page_token", "log_event", "page_size_of"]

# What the trail records: the policy's decisions, and the humans' decisions on tool calls a
# run paused on (``resolve_approval``: allowed = approved, resource = the tool, policy names
# the approval and call).
AuditAction = Literal[Action, "resolve_approval"]

_TOKEN_PREFIX = "audit:"

log = get_logger("audit")


@dataclass(frozen=True)
class AuditEvent:
    time: datetime
    request_id: str
    key_id: str  # "" when unauthenticated
    action: str
    resource: str
    allowed: bool
    policy: str

    @classmethod
    def of(
        cls, decision: Decision, *, principal: Principal | None, action: str, resource: str, request_id: str = "", time: datetime | None = None
    ) -> AuditEvent:
        """The event for a decision just made."""
        return cls(
            time=time if time is not None else utc_now(),
            request_id=request_id,
            key_id=principal.key_id if principal is not None else "",
            action=action,
            resource=resource,
            allowed=decision.allowed,
            policy=decision.policy,
        )


class AuditLog:
    """Bounded, newest-first-readable audit ring. Synchronous: recording never waits."""

    def __init__(self, max_events: int = 10000) -> None:
        if max_events <= 0:
            raise ValueError("max_events must be positive")
        # (sequence number, event); sequence numbers only grow, so a page token stays meaningful
        # while older events fall off the ring.
        self._events: deque[tuple[int, AuditEvent]] = deque(maxlen=max_events)
        self._seq = itertools.count(1)

    def record(self, event: AuditEvent) -> None:
        """Log the event and keep it for ``list``. Never waits (the hot path calls it)."""
        log_event(event)
        self._keep(event)

    def _keep(self, event: AuditEvent) -> None:
        self._events.append((next(self._seq), event))

    async def close(self) -> None:
        """Nothing to flush in memory; a shared log writes out what it still buffers."""

    def __len__(self) -> int:
        return len(self._events)

    async def list(
        self,
        key_id: str | None = None,
        action: str | None = None,
        resource: str | None = None,
        allowed: bool | None = None,
        start_time: datetime | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_token: str = "",
    ) -> tuple[list[AuditEvent], str]:
        """Matching events newest first, and the token for the next page ("" when there is none).

        Filters: exact ``key_id`` and ``action``, fnmatch ``resource``, ``allowed``, events at or
        after ``start_time``. Empty strings count as "no filter" (proto defaults). ``page_size``
        <= 0 means the default; it is capped at 1000. A malformed ``page_token`` raises ValueError.
        The token does not bind the filters: pass the same ones with it.
        """
        raw = decode_page_token(page_token) if page_token else None
        if raw is not None and (not raw.isdigit() or int(raw) <= 0):
            raise ValueError("invalid page_token")
        before = int(raw) if raw is not None else None
        wanted = AuditFilter(key_id, action, resource, allowed, start_time)
        size = page_size_of(page_size)
        page: list[AuditEvent] = []
        last_seq = 0
        more = False
        for seq, event in reversed(self._events):
            if before is not None and seq >= before:
                continue
            if not wanted.matches(event):
                continue
            if len(page) == size:
                more = True
                break
            page.append(event)
            last_seq = seq
        return page, (encode_page_token(str(last_seq)) if more else "")


def log_event(event: AuditEvent) -> None:
    """The durable copy: one structured log line (logger ``agentgateway.audit``)."""
    log.info(
        "audit",
        extra={
            "fields": {
                "request_id": event.request_id,
                "key_id": event.key_id,
                "action": event.action,
                "resource": event.resource,
                "decision": "allow" if event.allowed else "deny",
                "policy": event.policy,
            }
        },
    )


def page_size_of(page_size: int) -> int:
    """``page_size`` <= 0: the default; capped at the maximum."""
    return DEFAULT_PAGE_SIZE if page_size <= 0 else min(page_size, MAX_PAGE_SIZE)


@dataclass(frozen=True)
class AuditFilter:
    """``ListAuditEvents``'s filters; None or "" is "no filter"."""

    key_id: str | None = None
    action: str | None = None
    resource: str | None = None
    allowed: bool | None = None
    start_time: datetime | None = None

    def matches(self, event: AuditEvent) -> bool:
        if self.key_id and event.key_id != self.key_id:
            return False
        if self.action and event.action != self.action:
            return False
        if self.resource and not fnmatchcase(event.resource, self.resource):
            return False
        if self.allowed is not None and event.allowed != self.allowed:
            return False
        return self.start_time is None or event.time >= self.start_time


def encode_page_token(position: str) -> str:
    """An opaque token (AIP-158: clients must not build or edit tokens) for ``position``, the
    place in the log after which the next page starts (a store-specific string)."""
    return base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{position}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> str:
    """The position ``encode_page_token`` wrapped; ValueError for anything else. The store
    checks the position's own form."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("invalid page_token") from None
    if not raw.startswith(_TOKEN_PREFIX) or not raw[len(_TOKEN_PREFIX) :]:
        raise ValueError("invalid page_token")
    return raw[len(_TOKEN_PREFIX) :]
