"""API keys: generation, hashing and authentication into a ``Principal``.

The gateway never stores or logs a plaintext key. Configured keys are SHA-256 digests (or an env
var whose value is hashed once at load); a presented key is hashed and compared against every
configured digest in constant time, so neither timing nor log lines reveal which key matched.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.log import get_logger
from services.security.config import ApiKey, RateLimit, SecurityFile

__all__ = [
    "ADMIN_ROLE",
    "GENERATED_ADMIN_ID",
    "KEY_PREFIX",
    "MAX_KEY_LENGTH",
    "KeyRing",
    "Principal",
    "generate_key",
    "hash_key",
    "is_acceptable_key",
]

KEY_PREFIX = "agw_"
ADMIN_ROLE = "admin"
GENERATED_ADMIN_ID = "generated-admin"
# Generated keys are ~47 chars; anything far longer is garbage or an attempt to make us hash megabytes.
MAX_KEY_LENGTH = 4096

log = get_logger("security")


def generate_key() -> str:
    """A new random key: ``agw_`` + 256 bits of url-safe randomness. The prefix makes leaked keys greppable."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The lowercase SHA-256 hex digest that goes into ``security.yaml``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def is_acceptable_key(value: object) -> bool:
    """Whether a presented value is even worth hashing: non-empty, at most 4096 chars, printable ASCII."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_KEY_LENGTH
        and value.isascii()
        and value.isprintable()  # with isascii: 0x20..0x7E only, no NUL, no control chars
    )


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. Carries the key id, never the key."""

    key_id: str
    roles: frozenset[str]
    models: tuple[str, ...]
    tools: tuple[str, ...]
    # None when the key has no limits at all (rate limiting is then a no-op).
    rate_limit: RateLimit | None = None

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    @classmethod
    def from_api_key(cls, key: ApiKey) -> Principal:
        limit = key.rate_limit if key.rate_limit is not None and not key.rate_limit.is_unlimited else None
        return cls(key_id=key.id, roles=frozenset(key.roles), models=tuple(key.models), tools=tuple(key.tools), rate_limit=limit)


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    principal: Principal


class KeyRing:
    """The configured keys, ready to authenticate presented values. Immutable: reload builds a new ring."""

    def __init__(self, entries: Iterable[tuple[str, Principal]] = ()) -> None:
        """``entries`` are (sha256 hex digest, principal) pairs."""
        self._entries = tuple(_Entry(bytes.fromhex(digest), principal) for digest, principal in entries)
        self._by_id = {entry.principal.key_id: entry.principal for entry in self._entries}

    @classmethod
    def from_config(cls, file: SecurityFile | None, environ: Mapping[str, str] = os.environ) -> KeyRing:
        """Build the ring. An ``env:`` key whose variable is unset/empty is disabled with a WARNING (never fatal)."""
        if file is None:
            return cls()
        entries: list[tuple[str, Principal]] = []
        for key in file.api_keys:
            if key.sha256 is not None:
                digest = key.sha256
            else:
                assert key.env is not None  # the config model guarantees exactly one source
                value = environ.get(key.env, "")
                if not is_acceptable_key(value):
                    # Log the key id and the variable name only; the value (if any) never leaves this frame.
                    problem = "environment variable not set" if not value else "environment variable holds no usable key (too long or not printable ASCII)"
                    log.warning("API key disabled", extra={"fields": {"key_id": key.id, "env": key.env, "problem": problem}})
                    continue
                digest = hash_key(value)  # hashed once here, not per request
            entries.append((digest, Principal.from_api_key(key)))
        return cls(entries)

    @classmethod
    def generated_admin(cls) -> tuple[KeyRing, str]:
        """The "no security.yaml" ring: one fresh admin key. The plaintext is returned once, to be printed once."""
        key = generate_key()
        return cls.generated_admin_with(hash_key(key)), key

    @classmethod
    def generated_admin_with(cls, digest: str) -> KeyRing:
        """The same ring for a key generated elsewhere (a worker's parent), known by its digest."""
        principal = Principal(key_id=GENERATED_ADMIN_ID, roles=frozenset({ADMIN_ROLE}), models=("*",), tools=("*",))
        return cls([(digest, principal)])

    def authenticate(self, presented: str | None) -> Principal | None:
        """The principal for a presented key, or None. Never raises for any input."""
        if not is_acceptable_key(presented):
            return None
        assert isinstance(presented, str)
        digest = hashlib.sha256(presented.encode("ascii")).digest()
        found: Principal | None = None
        # Compare against every digest, with no early exit, so timing does not depend on which
        # (or whether a) key matched. Config validation rules out duplicate digests among sha256
        # keys; if an env key duplicates another, the first in file order wins.
        for entry in self._entries:
            if hmac.compare_digest(digest, entry.digest) and found is None:
                found = entry.principal
        return found

    def principal(self, key_id: str) -> Principal | None:
        """Look a principal up by key id (Authorize/PreviewDecision for another key)."""
        return self._by_id.get(key_id)

    def __len__(self) -> int:
        return len(self._entries)
