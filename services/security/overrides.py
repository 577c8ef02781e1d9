"""Temporary grants and revocations ("overrides") and where they are kept.

An override always expires: an emergency revoke or a short grant should not quietly become
permanent policy. The store interface is async so a shared (Redis) store can replace the
in-memory one without touching callers.
"""

from __future__ import annotations

import builtins
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

__all__ = [
    "OVERRIDE_ACTIONS",
    "InMemoryOverrideStore",
    "Override",
    "OverrideEffect",
    "OverrideStore",
    "new_override",
    "override_id_from_name",
    "utc_now",
]

OverrideEffect = Literal["grant", "revoke"]
# Only these actions consult overrides: `call_admin` is decided by role alone (an override must not
# mint admins) and `load_module` by `modules:` at load time (there is no request to override).
OVERRIDE_ACTIONS = ("use_model", "use_tool")
_NAME_PREFIX = "overrides/"
_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Override:
    id: str
    key_id: str | None
    namespace: str | None
    action: str
    pattern: str
    effect: OverrideEffect
    expire_time: datetime
    reason: str = ""

    def __post_init__(self) -> None:
        # Validated here so every store (and every caller) sees only well-formed overrides;
        # ValueError messages are meant for INVALID_ARGUMENT.
        if not _ID_RE.match(self.id):
            raise ValueError(f"override id {self.id!r} is not valid")
        if (self.key_id is None or self.key_id == "") == (self.namespace is None or self.namespace == ""):
            raise ValueError("an override applies to exactly one of key_id or namespace")
        if self.action not in OVERRIDE_ACTIONS:
            raise ValueError(f"overrides apply to actions {list(OVERRIDE_ACTIONS)}, not {self.action!r}")
        if self.namespace and self.action != "use_model":
            raise ValueError("namespace overrides apply to use_model only (tools have no namespace)")
        if self.effect not in ("grant", "revoke"):
            raise ValueError(f"effect must be 'grant' or 'revoke', not {self.effect!r}")
        if not self.pattern or self.pattern != self.pattern.strip():
            raise ValueError("pattern must be a non-empty fnmatch pattern without surrounding whitespace")
        if self.expire_time.tzinfo is None:
            raise ValueError("expire_time must be timezone-aware")
        object.__setattr__(self, "expire_time", self.expire_time.astimezone(UTC))

    @property
    def name(self) -> str:
        """The resource name used over gRPC: ``overrides/{id}``."""
        return f"{_NAME_PREFIX}{self.id}"

    def is_live(self, now: datetime) -> bool:
        return now < self.expire_time


def new_override(
    *,
    action: str,
    pattern: str,
    effect: OverrideEffect,
    ttl: timedelta,
    key_id: str | None = None,
    namespace: str | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Override:
    """A fresh override with a random ``ovr_<hex>`` id expiring ``ttl`` from ``now``. ValueError if invalid."""
    if ttl <= timedelta(0):
        raise ValueError("ttl must be positive")
    start = now if now is not None else utc_now()
    return Override(
        id=f"ovr_{secrets.token_hex(8)}",
        key_id=key_id or None,
        namespace=namespace or None,
        action=action,
        pattern=pattern,
        effect=effect,
        expire_time=start + ttl,
        reason=reason,
    )


def override_id_from_name(name: str) -> str:
    """``overrides/ovr_1a2b`` -> ``ovr_1a2b``; ValueError for anything else."""
    if not name.startswith(_NAME_PREFIX) or not _ID_RE.match(name[len(_NAME_PREFIX) :]):
        raise ValueError(f"{name!r} is not an override name (expected 'overrides/<id>')")
    return name[len(_NAME_PREFIX) :]


class OverrideStore(ABC):
    """Where live overrides are kept. Expired overrides are never returned."""

    @abstractmethod
    async def create(self, override: Override) -> Override:
        """Store ``override``; ValueError if its id is taken. Returns what was stored."""

    @abstractmethod
    async def list(self, now: datetime | None = None) -> builtins.list[Override]:
        """Live overrides in a stable order (expire_time, then id), for listing and paging."""

    @abstractmethod
    async def get(self, id: str) -> Override | None:
        """The live override with this id, or None (unknown or expired)."""

    @abstractmethod
    async def delete(self, id: str) -> bool:
        """Remove it; False when there was no live override with that id."""

    @abstractmethod
    async def active(self, now: datetime | None = None) -> builtins.list[Override]:
        """Live overrides to apply to a decision at ``now``."""

    async def close(self) -> None:  # noqa: B027 (optional: most stores run nothing in the background)
        """Stop what the store runs in the background (a shared store's change subscription)."""


class InMemoryOverrideStore(OverrideStore):
    """One process's overrides. Nothing awaits inside a method, so each is atomic within the event loop."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._items: dict[str, Override] = {}

    def _prune(self, now: datetime) -> None:
        # Expired overrides vanish on their own: every read filters by time and drops them.
        for key in [k for k, o in self._items.items() if not o.is_live(now)]:
            del self._items[key]

    async def create(self, override: Override) -> Override:
        self._prune(self._clock())
        if override.id in self._items:
            raise ValueError(f"override {override.id!r} already exists")
        self._items[override.id] = override
        return override

    async def list(self, now: datetime | None = None) -> builtins.list[Override]:
        now = now if now is not None else self._clock()
        self._prune(now)
        return sorted(self._items.values(), key=lambda o: (o.expire_time, o.id))

    async def get(self, id: str) -> Override | None:
        override = self._items.get(id)
        return override if override is not None and override.is_live(self._clock()) else None

    async def delete(self, id: str) -> bool:
        override = self._items.pop(id, None)
        return override is not None and override.is_live(self._clock())

    async def active(self, now: datetime | None = None) -> builtins.list[Override]:
        return await self.list(now)
