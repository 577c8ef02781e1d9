"""The security facade every enforcement point uses: authenticate a credential, decide and
audit an action, reserve and settle rate-limit budget, reload policy.

One instance per process (the interceptor, the executor and the servicer share it). State
that must be shared between replicas sits behind the override and rate-limit store
interfaces, whose defaults are in-memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from services.config_files import ConfigError
from services.errors import GatewayError
from services.log import get_logger
from services.security.audit import AuditEvent, AuditLog
from services.security.config import SecurityFile, load_security
from services.security.keys import KeyRing, Principal
from services.security.overrides import InMemoryOverrideStore, OverrideStore
from services.security.policy import Action, Decision, Policy
from services.security.ratelimit import InMemoryRateLimitStore, RateLimiter, RateLimitStore, Reservation

__all__ = ["Gatekeeper", "credential_from_metadata"]

log = get_logger("security")
T = TypeVar("T")


def credential_from_metadata(metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
    """``authorization: Bearer <key>`` or ``x-api-key: <key>``; anything else is no credential."""
    for key, value in metadata:
        if not isinstance(value, str):
            continue
        if key == "authorization":
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif key == "x-api-key" and value.strip():
            return value.strip()
    return None


@dataclass
class SecurityStores:
    """What the gatekeeper keeps across requests; services/state/ picks the implementations."""

    rate_limits: RateLimitStore
    overrides: OverrideStore
    audit: AuditLog


class Gatekeeper:
    def __init__(
        self,
        path: Path,
        file: SecurityFile | None,
        keyring: KeyRing,
        *,
        generated_key: str | None = None,
        overrides: OverrideStore | None = None,
        rate_store: RateLimitStore | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.path = path
        self.generated_key = generated_key
        # `is not None`, not `or`: an audit log with nothing buffered has len() 0 and is falsy.
        self.overrides = overrides if overrides is not None else InMemoryOverrideStore()
        self.audit = audit if audit is not None else AuditLog()
        self.limiter = RateLimiter(rate_store if rate_store is not None else InMemoryRateLimitStore())
        self._file = file
        self._keyring = keyring
        self._policy = Policy(file, self.overrides)

    @classmethod
    def load(cls, path: Path, *, generated_admin_digest: str | None = None, stores: SecurityStores | None = None) -> Gatekeeper:
        """Read ``security.yaml``. With none, generate an admin key (the caller shows it once),
        or accept the one already generated whose digest is ``generated_admin_digest``.
        ``stores``: where budgets, overrides and audit live (services/state/); default in memory."""
        file = load_security(path)
        kept = stores or SecurityStores(InMemoryRateLimitStore(), InMemoryOverrideStore(), AuditLog())

        def made(keyring: KeyRing, key: str | None = None) -> Gatekeeper:
            return cls(path, file, keyring, generated_key=key, overrides=kept.overrides, rate_store=kept.rate_limits, audit=kept.audit)

        if file is None and generated_admin_digest is not None:
            return made(KeyRing.generated_admin_with(generated_admin_digest))
        if file is None:
            return made(*KeyRing.generated_admin())
        return made(KeyRing.from_config(file))

    @property
    def configured(self) -> bool:
        return self._file is not None

    @property
    def policy(self) -> Policy:
        return self._policy

    def principal(self, key_id: str) -> Principal | None:
        return self._keyring.principal(key_id)

    def authenticate(self, metadata: Iterable[tuple[str, str | bytes]]) -> Principal | None:
        return self._keyring.authenticate(credential_from_metadata(metadata))

    async def authorize(self, principal: Principal | None, action: Action, resource: str, request_id: str = "", *, audit: bool = True) -> Decision:
        decision = await self._policy.decide(principal, action, resource)
        if audit:
            self.audit.record(AuditEvent.of(decision, principal=principal, action=action, resource=resource, request_id=request_id))
        return decision

    async def visible(self, principal: Principal | None, action: Action, items: Sequence[T], key: Callable[[T], str]) -> list[T]:
        """The ``items`` whose ``key`` ``principal`` may act on, for listings. Filtering a list
        is not an access attempt, so it is not audited."""
        allowed = set(await self._policy.allowed(principal, action, (key(item) for item in items)))
        return [item for item in items if key(item) in allowed]

    async def require(self, principal: Principal | None, action: Action, resource: str, request_id: str = "") -> Decision:
        decision = await self.authorize(principal, action, resource, request_id)
        if not decision.allowed:
            if principal is None:
                raise GatewayError("UNAUTHENTICATED", "UNAUTHENTICATED", "a valid API key is required")
            noun = {"use_model": "model", "use_tool": "tool", "call_admin": "admin RPC", "load_module": "module"}[action]
            raise GatewayError(
                "PERMISSION_DENIED",
                "PERMISSION_DENIED",
                f"key {principal.key_id!r} may not use the {noun} {resource!r} (policy: {decision.policy})",
                {"policy": decision.policy, "resource": resource},
            )
        return decision

    async def reserve(self, principal: Principal | None, estimated_tokens: int) -> Reservation | None:
        if principal is None:
            return None
        return await self.limiter.reserve(principal, estimated_tokens)

    async def settle(self, reservation: Reservation | None, actual_tokens: int) -> None:
        if reservation is not None:
            await self.limiter.commit(reservation, actual_tokens)

    async def close(self) -> None:
        """Write out what the stores still buffer (a shared audit log's pending events) and stop
        what they run in the background."""
        await self.overrides.close()
        await self.audit.close()

    def reload(self) -> int:
        """Re-read the policy file. A malformed or missing file is rejected; the old policy stays."""
        try:
            file = load_security(self.path)
        except ConfigError as exc:
            log.error("policy reload rejected", extra={"fields": {"error": str(exc)}})
            raise GatewayError("FAILED_PRECONDITION", "POLICY_INVALID", f"policy not reloaded, the old policy stays: {exc}") from None
        if file is None:
            raise GatewayError("FAILED_PRECONDITION", "POLICY_MISSING", f"policy not reloaded, the old policy stays: {self.path} does not exist")
        keyring = KeyRing.from_config(file)
        self._file, self._keyring, self._policy = file, keyring, Policy(file, self.overrides)
        log.info("policy reloaded", extra={"fields": {"keys": len(file.api_keys)}})
        return len(file.api_keys)
