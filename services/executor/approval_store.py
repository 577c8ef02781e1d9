"""Where paused runs wait for a human: the approval store interface and its embedded default.

A pending approval holds the SDK's serialised ``RunState`` of a run that stopped on tools with
``needs_approval``. It is kept server-side (clients only ever see its id), belongs to the key
that started the run, is resolved at most once, and expires. ``ApprovalStore`` is the seam for
a shared store (Redis) when replicas must resume each other's runs; ``SQLiteApprovalStore`` in
``GATEWAY_DATA_DIR`` is the default, and several processes may share its file.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from services.errors import GatewayError
from services.executor.events import ApprovalCall

__all__ = [
    "TOMBSTONE_S",
    "ApprovalStore",
    "PendingApproval",
    "SQLiteApprovalStore",
    "approval_refused",
    "calls_from_json",
    "calls_to_json",
    "refusal_of",
]

# Why a lookup found no pending approval for this key.
Refusal = Literal["not_found", "resolved", "expired"]

# Resolved and expired approvals are kept this long (without their run state) so a late or
# repeated resolve gets "already resolved" / "expired" rather than "not found".
TOMBSTONE_S = 24 * 3600.0


@dataclass(frozen=True)
class PendingApproval:
    approval_id: str
    key_id: str  # the principal that started the run; nobody else may see or resolve it
    model_id: str
    calls: tuple[ApprovalCall, ...]
    created_at: float  # Unix seconds
    expires_at: float
    # The original request's settings the resumed run needs (sampling, response_format, user...).
    request: dict[str, Any] = field(default_factory=dict)
    # The SDK RunState as JSON text; empty in what ``get`` returns (only a claim hands it out).
    state: str = ""


def approval_refused(refusal: Refusal, approval_id: str) -> GatewayError:
    """The error for a lookup that found nothing resolvable. Another key's approval is
    "not found" too, so ids never reveal that someone else's run exists."""
    if refusal == "resolved":
        return GatewayError("FAILED_PRECONDITION", "APPROVAL_ALREADY_RESOLVED", f"approval {approval_id!r} was already resolved", {"approval": approval_id})
    if refusal == "expired":
        return GatewayError(
            "FAILED_PRECONDITION", "APPROVAL_EXPIRED", f"approval {approval_id!r} expired; send the request again to start a new run", {"approval": approval_id}
        )
    return GatewayError("NOT_FOUND", "APPROVAL_NOT_FOUND", f"no pending approval {approval_id!r}", {"approval": approval_id})


def refusal_of(found: bool, resolved: bool, expires_at: float, now: float) -> Refusal | None:
    """Why an approval (found under its id and the caller's key, or not) cannot be resolved
    now; None if it can. A tombstone past its day is as gone as a purged one."""
    if not found or expires_at <= now - TOMBSTONE_S:
        return "not_found"
    if resolved:
        return "resolved"
    if expires_at <= now:
        return "expired"
    return None


def calls_to_json(calls: tuple[ApprovalCall, ...]) -> str:
    return json.dumps([c.__dict__ for c in calls])


def calls_from_json(text: str | bytes) -> tuple[ApprovalCall, ...]:
    return tuple(ApprovalCall(**c) for c in json.loads(text))


class ApprovalStore(Protocol):
    async def create(self, approval: PendingApproval) -> None:
        """Store a new pending approval (with its state)."""

    async def get(self, approval_id: str, key_id: str) -> PendingApproval:
        """The pending approval, without its state; raises ``GatewayError`` (``approval_refused``)."""

    async def claim(self, approval_id: str, key_id: str) -> PendingApproval:
        """Atomically mark it resolved and return it with its state: of concurrent claims
        exactly one succeeds, the others get APPROVAL_ALREADY_RESOLVED."""

    async def pending_count(self) -> int:
        """Approvals that can still be resumed (unresolved, unexpired), whoever's they are."""

    async def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    calls TEXT NOT NULL,
    request TEXT NOT NULL,
    state TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    resolved_at REAL
);
CREATE INDEX IF NOT EXISTS approvals_expiry ON approvals (expires_at);
"""


class SQLiteApprovalStore:
    """Approvals in one SQLite file, created (with its folder) on first use.

    sqlite3 blocks, so every call runs in a worker thread (``asyncio.to_thread``); one
    connection serialised by a lock is plenty for approval traffic. Claims are a single
    ``UPDATE ... WHERE resolved_at IS NULL`` inside an immediate transaction, which SQLite
    makes atomic across threads and processes sharing the file.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self._path, timeout=10, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    async def create(self, approval: PendingApproval) -> None:
        await asyncio.to_thread(self._create, approval)

    async def get(self, approval_id: str, key_id: str) -> PendingApproval:
        return await asyncio.to_thread(self._get, approval_id, key_id)

    async def claim(self, approval_id: str, key_id: str) -> PendingApproval:
        return await asyncio.to_thread(self._claim, approval_id, key_id)

    async def pending_count(self) -> int:
        return await asyncio.to_thread(self._pending_count)

    async def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _create(self, a: PendingApproval) -> None:
        calls = calls_to_json(a.calls)
        with self._lock:
            db = self._connection()
            db.execute(
                "INSERT INTO approvals (id, key_id, model_id, calls, request, state, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (a.approval_id, a.key_id, a.model_id, calls, json.dumps(a.request), a.state, a.created_at, a.expires_at),
            )
            # Housekeeping on the write path: drop run states nobody can resume any more, and
            # forget tombstones after a day.
            now = self._clock()
            db.execute("UPDATE approvals SET state = NULL WHERE state IS NOT NULL AND expires_at <= ?", (now,))
            db.execute("DELETE FROM approvals WHERE expires_at <= ?", (now - TOMBSTONE_S,))

    def _pending_count(self) -> int:
        with self._lock:
            row = self._connection().execute("SELECT COUNT(*) FROM approvals WHERE resolved_at IS NULL AND expires_at > ?", (self._clock(),)).fetchone()
        return int(row[0])

    def _get(self, approval_id: str, key_id: str) -> PendingApproval:
        with self._lock:
            row = self._row(approval_id, key_id)
        return self._pending(approval_id, key_id, row, with_state=False)

    def _claim(self, approval_id: str, key_id: str) -> PendingApproval:
        now = self._clock()
        with self._lock:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                row = self._row(approval_id, key_id)
                pending = self._pending(approval_id, key_id, row, with_state=True)
                won = db.execute(
                    "UPDATE approvals SET resolved_at = ?, state = NULL WHERE id = ? AND key_id = ? AND resolved_at IS NULL AND expires_at > ?",
                    (now, approval_id, key_id, now),
                ).rowcount
                if won != 1:  # cannot happen inside the immediate transaction; a second lock
                    raise approval_refused("resolved", approval_id)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return pending

    def _row(self, approval_id: str, key_id: str) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = (
            self._connection()
            .execute(
                "SELECT model_id, calls, request, state, created_at, expires_at, resolved_at FROM approvals WHERE id = ? AND key_id = ?",
                (approval_id, key_id),
            )
            .fetchone()
        )
        return row

    def _pending(self, approval_id: str, key_id: str, row: tuple[Any, ...] | None, *, with_state: bool) -> PendingApproval:
        if row is None:
            raise approval_refused("not_found", approval_id)
        model_id, calls, request, state, created_at, expires_at, resolved_at = row
        refusal = refusal_of(True, resolved_at is not None, expires_at, self._clock())
        if refusal is not None:
            raise approval_refused(refusal, approval_id)
        return PendingApproval(
            approval_id=approval_id,
            key_id=key_id,
            model_id=model_id,
            calls=calls_from_json(calls),
            created_at=created_at,
            expires_at=expires_at,
            request=json.loads(request),
            state=state if with_state else "",
        )
