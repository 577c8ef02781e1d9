"""Authorization: who may use which model or tool, call admin RPCs, or have a module loaded.

Every decision names the policy that made it (``"key:ops models[1]='default/*'"``) so the audit
trail and error messages explain themselves. Patterns are ``fnmatch`` patterns matched
case-sensitively (model ids are lower-case by construction; tool names are exact).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Literal, get_args

from services.model_ids import namespace_of
from services.security.config import SecurityFile
from services.security.keys import ADMIN_ROLE, Principal
from services.security.overrides import Override, OverrideStore, utc_now

__all__ = ["ACTIONS", "Action", "Decision", "Policy", "pattern_names_namespace"]

Action = Literal["use_model", "use_tool", "call_admin", "load_module"]
ACTIONS: tuple[str, ...] = get_args(Action)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # What decided, e.g. "key:ops models[1]='default/*'", "namespace:labs models=deny", "overrides/ovr_1a revoke 'labs/*'".
    policy: str
    # A sentence for humans (error messages, PreviewDecision).
    reason: str


def pattern_names_namespace(pattern: str, namespace: str) -> bool:
    """Whether a key's model pattern speaks about ``namespace`` at all.

    ``*`` names every namespace; otherwise the part before the first ``/`` must fnmatch the
    namespace (``labs/*planner*`` names ``labs``). For nested namespaces (``team/sub``) the part
    before the last ``/`` is tried too, so ``team/sub/*`` names ``team/sub``.
    """
    if pattern == "*":
        return True
    head = pattern.split("/", 1)[0]
    if fnmatchcase(namespace, head):
        return True
    prefix, sep, _ = pattern.rpartition("/")
    return bool(sep) and fnmatchcase(namespace, prefix)


class Policy:
    """Decisions over one loaded ``security.yaml`` plus the live overrides.

    Immutable with respect to the file: a reload builds a new ``Policy`` (sharing the same
    ``OverrideStore``, so overrides survive reloads) and swaps it in.
    """

    def __init__(self, file: SecurityFile | None, overrides: OverrideStore) -> None:
        self._file = file
        self._overrides = overrides

    @property
    def file(self) -> SecurityFile | None:
        return self._file

    @property
    def overrides(self) -> OverrideStore:
        return self._overrides

    # ------------------------------------------------------------------ decisions

    async def decide(self, principal: Principal | None, action: Action, resource: str, now: datetime | None = None) -> Decision:
        """Decide one request. Does not audit: the caller records the decision (PreviewDecision must not)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        # Only fetch overrides when they can matter: they are async (maybe remote) and most calls are use_model.
        live = await self._overrides.active(now if now is not None else utc_now()) if action in ("use_model", "use_tool") and principal else []
        return self._decide(principal, action, resource, live)

    async def allowed(self, principal: Principal | None, action: Action, resources: Iterable[str], now: datetime | None = None) -> list[str]:
        """The resources (in input order) the principal may act on. Overrides are read once for the whole list."""
        if principal is None:
            return []
        live = await self._overrides.active(now if now is not None else utc_now())
        return [resource for resource in resources if self._decide(principal, action, resource, live).allowed]

    def module_allowed(self, model_id: str) -> tuple[bool, str]:
        """Whether a drop-in with this model id may be imported: ``(allowed, policy)``. Deny wins.

        Synchronous on purpose: the registry calls it while loading, before any request exists.
        """
        if self._file is None:
            return True, "modules.allow (default)"
        modules = self._file.modules
        for index, pattern in enumerate(modules.deny):
            if fnmatchcase(model_id, pattern):
                return False, f"modules.deny[{index}]={pattern!r}"
        for index, pattern in enumerate(modules.allow):
            if fnmatchcase(model_id, pattern):
                return True, f"modules.allow[{index}]={pattern!r}"
        return False, f"modules.allow (no pattern matches {model_id!r})"

    # ------------------------------------------------------------------ internals

    def _decide(self, principal: Principal | None, action: str, resource: str, live: Sequence[Override]) -> Decision:
        if principal is None:
            return Decision(False, "unauthenticated", "no valid API key was presented")
        key = principal.key_id
        if action == "call_admin":
            if principal.is_admin:
                return Decision(True, f"role:{ADMIN_ROLE}", f"key {key!r} has role {ADMIN_ROLE}")
            return Decision(False, f"key:{key} lacks role {ADMIN_ROLE}", f"key {key!r} may not call {resource or 'admin RPCs'}: it lacks role {ADMIN_ROLE}")
        if action == "load_module":
            allowed, policy = self.module_allowed(resource)
            return Decision(allowed, policy, f"module {resource!r} is {'allowed' if allowed else 'denied'} by {policy}")

        decided = self._by_overrides(principal, action, resource, live)
        if decided is not None:
            return decided

        field = "models" if action == "use_model" else "tools"
        kind = "model" if action == "use_model" else "tool"
        patterns = principal.models if action == "use_model" else principal.tools
        for index, pattern in enumerate(patterns):
            if fnmatchcase(resource, pattern):
                return Decision(True, f"key:{key} {field}[{index}]={pattern!r}", f"key {key!r} may use {kind} {resource!r}")

        if action == "use_model" and self._file is not None:
            namespace = namespace_of(resource)
            default = self._file.namespaces.get(namespace)
            # A namespace default only speaks for keys that say nothing about that namespace;
            # a key that names it (even with patterns that miss this id) keeps its own answer.
            if default is not None and not any(pattern_names_namespace(p, namespace) for p in patterns):
                allowed = default.models == "allow"
                verb = "may" if allowed else "may not"
                return Decision(
                    allowed, f"namespace:{namespace} models={default.models}", f"key {key!r} {verb} use models in namespace {namespace!r} (namespace default)"
                )

        return Decision(False, f"key:{key} {field} (no pattern matches {resource!r})", f"key {key!r} may not use {kind} {resource!r}")

    @staticmethod
    def _by_overrides(principal: Principal, action: str, resource: str, live: Sequence[Override]) -> Decision | None:
        namespace = namespace_of(resource) if action == "use_model" else None
        grant: Override | None = None
        for override in live:
            if override.action != action or not fnmatchcase(resource, override.pattern):
                continue
            applies = override.key_id == principal.key_id or (namespace is not None and override.namespace == namespace)
            if not applies:
                continue
            if override.effect == "revoke":
                # A revoke wins over every grant and every key pattern: it is the emergency brake.
                return Decision(False, f"{override.name} revoke {override.pattern!r}", _override_reason(override, "revoked"))
            if grant is None:
                grant = override
        if grant is not None:
            return Decision(True, f"{grant.name} grant {grant.pattern!r}", _override_reason(grant, "granted"))
        return None


def _override_reason(override: Override, verb: str) -> str:
    until = override.expire_time.isoformat().replace("+00:00", "Z")
    why = f": {override.reason}" if override.reason else ""
    return f"{verb} by a temporary override until {until}{why}"
