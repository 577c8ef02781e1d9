"""Which implementation each store gets: embedded by default, Redis when GATEWAY_STATE_URL is set.

One place decides, at start-up, for every piece of state that outlives a request. The rest of
the gateway talks to the interfaces (``RateLimitStore``, ``OverrideStore``, ``AuditLog``,
``ConversationStore``, ``ApprovalStore``) and never learns which one it holds.
"""

from __future__ import annotations

import redis.asyncio as redis

from services.conversations.redis_store import RedisConversationStore
from services.conversations.sqlite_store import SQLiteConversationStore
from services.conversations.store import ConversationStore
from services.executor.approval_store import ApprovalStore, SQLiteApprovalStore
from services.executor.redis_approval_store import RedisApprovalStore
from services.log import get_logger
from services.security.audit import AuditLog
from services.security.gatekeeper import SecurityStores
from services.security.overrides import InMemoryOverrideStore
from services.security.ratelimit import InMemoryRateLimitStore
from services.security.redis_stores import redis_security_stores
from services.settings import GatewaySettings
from services.state.redis_client import connect, describe

__all__ = ["SharedState"]

log = get_logger("state")


class SharedState:
    """The process's stores. ``redis`` is the one client they share (None: embedded)."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.redis: redis.Redis | None = connect(settings.state_url) if settings.state_url else None
        if self.redis is not None:
            log.info("shared state in redis", extra={"fields": {"state": describe(settings.state_url)}})

    def security(self) -> SecurityStores:
        if self.redis is not None:
            return redis_security_stores(self.redis, fail_open=self.settings.rate_limit_fail_mode == "open")
        return SecurityStores(InMemoryRateLimitStore(), InMemoryOverrideStore(), AuditLog())

    def conversations(self) -> ConversationStore:
        s = self.settings
        if self.redis is not None:
            return RedisConversationStore(self.redis, ttl_s=s.conversation_ttl_s, max_items=s.conversation_max_items, max_bytes=s.conversation_max_bytes)
        return SQLiteConversationStore(
            s.data_dir / "conversations.sqlite3",
            ttl_s=s.conversation_ttl_s,
            max_items=s.conversation_max_items,
            max_bytes=s.conversation_max_bytes,
        )

    def approvals(self) -> ApprovalStore:
        if self.redis is not None:
            return RedisApprovalStore(self.redis)
        return SQLiteApprovalStore(self.settings.data_dir / "approvals.sqlite3")

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
