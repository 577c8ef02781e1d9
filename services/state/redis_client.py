"""The one Redis client of a process, and what a Redis failure means to a caller.

The ``redis`` package's asyncio client with a connection pool; short socket timeouts so a Redis
that is gone fails a request in well under a second instead of hanging it, and a health-check
interval so a connection broken while idle is noticed before it is used. The pool reconnects on
its own: when Redis returns, the next command succeeds without a restart.

The URL may carry a password (``redis://:secret@host:6379/0``): it is never logged or put in
an error; ``describe`` gives the safe form (scheme, host, port, db).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.errors import GatewayError
from services.metrics import STATE_ERRORS

__all__ = ["KEY_PREFIX", "REDIS_DOWN", "again_on_a_stale_connection", "connect", "describe", "redis_call", "state_unavailable", "translate_redis_errors"]

T = TypeVar("T")

# Every key the gateway writes starts with this, so one Redis can hold other data beside it.
KEY_PREFIX = "agw:"

# What a Redis that cannot serve raises: a lost or refused connection, a timeout, a replica
# that is read-only after a failover, a server out of memory (maxmemory with noeviction).
# Everything else (a script error, a wrong type) is a bug and stays an INTERNAL error.
REDIS_DOWN: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, OutOfMemoryError, OSError)


def connect(url: str, *, timeout_s: float = 0.5, max_connections: int = 100) -> redis.Redis:
    """A client for ``url`` (redis:// or rediss://, or unix://). No connection is made yet.

    The pool blocks: a command that finds all ``max_connections`` in use waits (up to
    ``timeout_s``) for one to come free. redis-py's default pool raises at once instead, which
    turned a burst of more than 100 concurrent requests into 503s for a Redis that was fine."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=5,
        decode_responses=False,
    )
    return redis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes it


def describe(url: str) -> str:
    """``url`` without credentials, for logs and diagnostics."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def state_unavailable(what: str) -> GatewayError:
    """UNAVAILABLE ``STATE_UNAVAILABLE`` (HTTP 503): the shared store could not be reached."""
    return GatewayError(
        "UNAVAILABLE",
        "STATE_UNAVAILABLE",
        f"the shared state store is unreachable, so {what} cannot be served right now; retry shortly",
        {"store": "redis"},
        retry_after_s=1.0,
    )


@asynccontextmanager
async def translate_redis_errors(what: str, store: str) -> AsyncIterator[None]:
    """Turn a lost Redis connection inside the block into ``state_unavailable(what)``,
    counted under ``store`` (agentgateway_state_errors_total)."""
    try:
        yield
    except REDIS_DOWN as exc:
        STATE_ERRORS.labels(store).inc()
        raise state_unavailable(what) from exc


async def again_on_a_stale_connection(command: Callable[[], Awaitable[T]]) -> T:
    """``command()``, run once more at once if the connection was closed under it: after Redis
    restarted, each pooled connection still holds the old server's socket and its first command
    fails without reaching the new server, so without this the first request per connection
    would get a 503 after Redis is back. For reads and for writes whose repetition is harmless.
    A timeout is not retried (Redis may have run the command, and it would double the wait on a
    Redis that is really gone); a Redis still down fails twice, fast."""
    try:
        return await command()
    except RedisConnectionError:
        return await command()


async def redis_call(what: str, store: str, command: Callable[[], Awaitable[T]]) -> T:
    """``again_on_a_stale_connection(command)`` inside ``translate_redis_errors(what, store)``:
    counted once and a 503 if Redis cannot serve."""
    async with translate_redis_errors(what, store):
        return await again_on_a_stale_connection(command)
