"""Rate-limit budgets, overrides and the audit trail in Redis, shared by every replica.

Chosen by services/state/stores.py when ``GATEWAY_STATE_URL`` is set; the gatekeeper sees only
the interfaces (``RateLimitStore``, ``OverrideStore``, ``AuditLog``). docs/configuration.md
("Shared state (Redis)") is the operator's view: keys, consistency, failure behaviour.

Keys (``agw:`` prefix; a rate-limit key's two keys share a ``{key id}`` hash tag, so a script
touching both works on Redis Cluster too):

- ``agw:rl:{<key id>}:log``: sorted set, one member per admitted request (``<time>-<seq>``),
  scored by its admission time in microseconds of the Redis server's clock;
- ``agw:rl:{<key id>}:tok``: hash, entry -> tokens, plus ``#total`` (their sum) and ``#seq``;
  both expire one window after the key's last admission;
- ``agw:overrides``: hash, override id -> JSON; ``agw:overrides:exp``: sorted set, id -> its
  expiry (ms since the epoch); both expire when the last override does. Changes are announced
  on the pub/sub channel ``agw:overrides:changed``;
- ``agw:audit``: stream, capped at about ``max_events`` entries (``XADD MAXLEN ~``).

A lost connection is ``state_unavailable`` (503 / UNAVAILABLE ``STATE_UNAVAILABLE``) for the
request that needed Redis, counted in ``agentgateway_state_errors_total{store}`` and logged
once per outage (``_Outage``), never with the URL. The client's pool reconnects on its own.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

import redis.asyncio as redis

from services.log import get_logger
from services.metrics import AUDIT_DROPPED, RATE_LIMIT_FAIL_OPEN, STATE_ERRORS
from services.rpc.paging import DEFAULT_PAGE_SIZE
from services.security.audit import AuditEvent, AuditFilter, AuditLog, decode_page_token, encode_page_token, page_size_of
from services.security.config import RateLimit
from services.security.gatekeeper import SecurityStores
from services.security.overrides import Override, OverrideStore, utc_now
from services.security.ratelimit import WINDOW_S, LimitName, RateLimitStore, StoreVerdict
from services.state.redis_client import KEY_PREFIX, REDIS_DOWN, again_on_a_stale_connection, redis_call, state_unavailable, translate_redis_errors

__all__ = [
    "OVERRIDE_REFRESH_S",
    "RedisAuditLog",
    "RedisOverrideStore",
    "RedisRateLimitStore",
    "redis_security_stores",
]

# How long the audit flusher waits after the first new event, so that one write carries the
# events of many requests; also how much later than its log line an event reaches the stream.
AUDIT_GATHER_S = 0.02
# How stale a replica's view of the overrides may be (see RedisOverrideStore).
OVERRIDE_REFRESH_S = 0.5

log = get_logger("state")


class _Outage:
    """Logs a store's outage once when it starts and once when it ends, not per failed call."""

    def __init__(self, store: str) -> None:
        self.store = store
        self.down_since: float | None = None

    def down(self, exc: BaseException, consequence: str) -> None:
        STATE_ERRORS.labels(self.store).inc()
        if self.down_since is None:
            self.down_since = time.monotonic()
            # The exception's type only: its text names host and port, and nothing here may risk a credential.
            log.warning("shared state unreachable", extra={"fields": {"store": self.store, "error": type(exc).__name__, "consequence": consequence}})

    def up(self) -> None:
        if self.down_since is not None:
            log.info("shared state reachable again", extra={"fields": {"store": self.store, "outage_s": round(time.monotonic() - self.down_since, 3)}})
            self.down_since = None


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


# ---------------------------------------------------------------------------------------- rate limits

# Clock: the limiter passes ``now`` from its own ``time.monotonic``, which means nothing to
# another process (each has its own origin). Every script therefore reads the Redis server's
# ``TIME`` instead and ignores the caller's ``now``: one clock for all replicas, so a window
# is the same 60 s everywhere and ``retry_after`` is exact whichever replica asks. (Redis 5+
# replicates a script's effects, not the script, so calling TIME before writing is allowed.)
# Times are integer microseconds; as Lua doubles they are exact (< 2^53), and they are written
# with '%.0f' because Lua's own number formatting would round them.
_PRUNE_LUA = """
local function fmt(x) return string.format('%.0f', x) end
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
-- Drop the entries that left the window (made at or before now - window) and return the
-- remaining token total.
local function prune(log, tok, horizon)
  local total = tonumber(redis.call('HGET', tok, '#total') or '0')
  local gone = redis.call('ZRANGEBYSCORE', log, '-inf', fmt(horizon))
  if #gone == 0 then return total end
  for i = 1, #gone, 500 do
    local chunk = {}
    for j = i, math.min(i + 499, #gone) do chunk[#chunk + 1] = gone[j] end
    local amounts = redis.call('HMGET', tok, unpack(chunk))
    for j = 1, #chunk do total = total - tonumber(amounts[j] or '0') end
    redis.call('HDEL', tok, unpack(chunk))
  end
  redis.call('ZREMRANGEBYSCORE', log, '-inf', fmt(horizon))
  redis.call('HSET', tok, '#total', fmt(total))
  return total
end
"""

# KEYS: log, tok. ARGV: requests/min (-1: none), tokens/min (-1: none), estimated tokens, window (µs).
# Returns {1, entry id} or {0, limit name, wait in µs}: the same algorithm as InMemoryRateLimitStore.
_RESERVE_LUA = (
    _PRUNE_LUA
    + """
local log, tok = KEYS[1], KEYS[2]
local rpm, tpm, tokens, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_us()
local total = prune(log, tok, now - window)
local refused, wait, limit = false, 0, ''
local count = redis.call('ZCARD', log)
if rpm >= 0 and count >= rpm then
  -- Admitting needs count - rpm + 1 of the oldest entries gone: wait for the last of them.
  local freeing = redis.call('ZRANGE', log, count - rpm, count - rpm, 'WITHSCORES')
  refused, limit = true, 'requests_per_minute'
  wait = freeing[2] and (tonumber(freeing[2]) + window - now) or window
end
local needed = math.max(tokens, 1)
if tpm >= 0 and total + needed > tpm then
  local w = window
  local entries = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
  local freed = 0
  for i = 1, #entries, 2 do  -- oldest first: the entry whose expiry frees enough
    freed = freed + tonumber(redis.call('HGET', tok, entries[i]) or '0')
    if total - freed + needed <= tpm then w = tonumber(entries[i + 1]) + window - now; break end
  end
  if not refused or w > wait then wait, limit = w, 'tokens_per_minute' end
  refused = true
end
if refused then return {0, limit, fmt(wait)} end
local seq = redis.call('HINCRBY', tok, '#seq', 1)
local id = fmt(now) .. '-' .. seq
local kept = math.max(tokens, 0)
redis.call('ZADD', log, fmt(now), id)
redis.call('HSET', tok, id, fmt(kept), '#total', fmt(total + kept))
-- Everything here has left the window one window after this, the newest, admission.
local ttl = math.ceil(window / 1000) + 1000
redis.call('PEXPIRE', log, ttl)
redis.call('PEXPIRE', tok, ttl)
return {1, id}
"""
)

# KEYS: log, tok. ARGV: entry id, actual tokens, window (µs). Returns 1, or 0 once the entry left the window.
_COMMIT_LUA = (
    _PRUNE_LUA
    + """
local log, tok = KEYS[1], KEYS[2]
local total = prune(log, tok, now_us() - tonumber(ARGV[3]))
local old = redis.call('HGET', tok, ARGV[1])
if not old then return 0 end
local new = math.max(tonumber(ARGV[2]), 0)
redis.call('HSET', tok, ARGV[1], fmt(new), '#total', fmt(total + new - tonumber(old)))
return 1
"""
)


class RedisRateLimitStore(RateLimitStore):
    """The sliding-window log of ``InMemoryRateLimitStore``, one Lua script per reservation and
    per commit: check and record run inside Redis as one step, so replicas cannot race between
    them. ``fail_open``: while Redis is unreachable, admit uncounted (logged once, counted in
    ``agentgateway_rate_limit_fail_open_total``) instead of refusing with 503."""

    def __init__(self, client: redis.Redis, *, fail_open: bool = False, prefix: str = KEY_PREFIX, window_s: float = WINDOW_S) -> None:
        # register_script: EVALSHA, and on NOSCRIPT (a restarted Redis) the library loads the script again.
        self._reserve = client.register_script(_RESERVE_LUA)
        self._commit = client.register_script(_COMMIT_LUA)
        self._fail_open = fail_open
        self._prefix = prefix
        self._window_us = int(window_s * 1_000_000)  # WINDOW_S; shorter only in tests
        self._outage = _Outage("rate_limits")

    def _keys(self, key_id: str) -> list[str]:
        base = f"{self._prefix}rl:{{{key_id}}}"
        return [f"{base}:log", f"{base}:tok"]

    async def reserve(self, key_id: str, limit: RateLimit, tokens: int, now: float) -> StoreVerdict:
        # ``now`` (this process's monotonic clock) is not used: the script reads Redis's TIME.
        args = [limit.requests_per_minute or -1, limit.tokens_per_minute or -1, max(int(tokens), 0), self._window_us]
        try:
            result = cast(list[Any], await again_on_a_stale_connection(lambda: self._reserve(keys=self._keys(key_id), args=args)))
        except REDIS_DOWN as exc:
            if not self._fail_open:
                self._outage.down(exc, "requests of keys with rate limits refused (503)")
                raise state_unavailable("requests of keys with rate limits") from exc
            self._outage.down(exc, "requests of keys with rate limits admitted uncounted (GATEWAY_RATE_LIMIT_FAIL_MODE=open)")
            RATE_LIMIT_FAIL_OPEN.inc()
            return StoreVerdict(True)  # no entry: nothing to commit
        self._outage.up()
        if int(result[0]) == 1:
            return StoreVerdict(True, entry_id=_text(result[1]))
        name = cast(LimitName, _text(result[1]))
        return StoreVerdict(False, limit=name, retry_after_s=max(int(result[2]) / 1_000_000, 0.001))

    async def commit(self, key_id: str, entry_id: str, tokens: int, now: float) -> None:
        # Best effort: the run is over; failing its response because usage could not be written
        # would be worse than the estimate standing. Counted and logged like any outage.
        try:
            args: list[str | int] = [entry_id, max(int(tokens), 0), self._window_us]
            await again_on_a_stale_connection(lambda: self._commit(keys=self._keys(key_id), args=args))
        except REDIS_DOWN as exc:
            self._outage.down(exc, "token usage not recorded; the estimate stands")
            return
        self._outage.up()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# ------------------------------------------------------------------------------------------- overrides

# KEYS: hash, expiry zset. ARGV: id, JSON, expiry (ms), change channel. 1: stored (and announced); 0: the
# id is taken by a live override.
_CREATE_OVERRIDE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', now))
for i = 1, #gone do redis.call('HDEL', KEYS[1], gone[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', now))
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
-- Both keys live until the last override expires.
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
redis.call('PEXPIREAT', KEYS[2], last[2])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return 1
"""

# KEYS: hash, expiry zset. ARGV: id, change channel. The expiry (ms) of what was removed (and
# announced), or -1 when there was none.
_DELETE_OVERRIDE_LUA = """
local expiry = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return -1 end
redis.call('PUBLISH', ARGV[2], ARGV[1])
return expiry and tonumber(expiry) or -1
"""


def _override_json(override: Override) -> str:
    return json.dumps(
        {
            "id": override.id,
            "key_id": override.key_id,
            "namespace": override.namespace,
            "action": override.action,
            "pattern": override.pattern,
            "effect": override.effect,
            "expire_time": override.expire_time.isoformat(),
            "reason": override.reason,
        },
        separators=(",", ":"),
    )


def _override_of(raw: bytes | str) -> Override | None:
    try:
        data = json.loads(raw)
        return Override(
            id=data["id"],
            key_id=data["key_id"],
            namespace=data["namespace"],
            action=data["action"],
            pattern=data["pattern"],
            effect=data["effect"],
            expire_time=datetime.fromisoformat(data["expire_time"]),
            reason=data.get("reason", ""),
        )
    except (ValueError, KeyError, TypeError):
        log.error("unreadable override in the shared state skipped")
        return None


class RedisOverrideStore(OverrideStore):
    """Overrides in a Redis hash, visible to every replica.

    ``create``, ``list``, ``get`` and ``delete`` (admin RPCs) go to Redis every time. ``active``
    (every ``use_model`` / ``use_tool`` decision) reads a local copy instead, so most requests
    make no round trip. The copy is fetched again (one HGETALL, shared by concurrent decisions)
    when it is older than ``OVERRIDE_REFRESH_S`` (0.5 s), or at once after a change: create and
    delete announce themselves on ``agw:overrides:changed`` (published by the same script that
    changes the hash), and every replica subscribes. So a change is in force everywhere within
    milliseconds normally, and within 0.5 s plus one round trip when an announcement was
    missed (the subscriber reconnecting); on the replica that made it, at once.

    While Redis is unreachable, decisions use the last copy fetched (expired overrides still
    drop out by time): nobody can change the overrides then, as CreateOverride and
    DeleteOverride need Redis too. A replica that has never fetched them refuses such
    decisions with 503 rather than ignore a revoke it cannot see.
    """

    def __init__(
        self, client: redis.Redis, *, prefix: str = KEY_PREFIX, clock: Callable[[], datetime] = utc_now, refresh_s: float = OVERRIDE_REFRESH_S
    ) -> None:
        self._client = client
        self._hash = f"{prefix}overrides"
        self._expiry = f"{prefix}overrides:exp"
        self._channel = f"{prefix}overrides:changed"
        self._create = client.register_script(_CREATE_OVERRIDE_LUA)
        self._delete = client.register_script(_DELETE_OVERRIDE_LUA)
        self._clock = clock
        self._refresh_s = refresh_s
        self._outage = _Outage("overrides")
        self._copy: builtins.list[Override] | None = None  # all stored overrides, sorted
        self._fetched_at = float("-inf")  # monotonic time of the fetch that made the copy
        self._generation = 0  # bumped by local changes: a fetch begun before one is not fresh
        self._fetching: asyncio.Future[None] | None = None
        self._listener: asyncio.Task[None] | None = None

    async def _all(self) -> builtins.list[Override]:
        raw = cast(dict[bytes, bytes], await again_on_a_stale_connection(lambda: self._client.hgetall(self._hash)))
        found = [o for o in (_override_of(v) for v in raw.values()) if o is not None]
        return sorted(found, key=lambda o: (o.expire_time, o.id))

    def _changed(self) -> None:
        self._generation += 1
        self._fetched_at = float("-inf")

    async def create(self, override: Override) -> Override:
        async with translate_redis_errors("overrides", "overrides"):
            stored = await self._create(keys=[self._hash, self._expiry], args=[override.id, _override_json(override), _ms(override.expire_time), self._channel])
        self._changed()
        if not int(cast(int, stored)):
            raise ValueError(f"override {override.id!r} already exists")
        return override

    async def list(self, now: datetime | None = None) -> builtins.list[Override]:
        now = now if now is not None else self._clock()
        async with translate_redis_errors("overrides", "overrides"):
            found = await self._all()
        return [o for o in found if o.is_live(now)]

    async def get(self, id: str) -> Override | None:
        raw = await redis_call("overrides", "overrides", lambda: self._client.hget(self._hash, id))
        override = _override_of(raw) if raw is not None else None
        return override if override is not None and override.is_live(self._clock()) else None

    async def delete(self, id: str) -> bool:
        async with translate_redis_errors("overrides", "overrides"):
            expiry = int(cast(int, await self._delete(keys=[self._hash, self._expiry], args=[id, self._channel])))
        self._changed()
        return expiry >= 0 and expiry > _ms(self._clock())

    async def active(self, now: datetime | None = None) -> builtins.list[Override]:
        now = now if now is not None else self._clock()
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen(), name="override changes")
        if time.monotonic() - self._fetched_at >= self._refresh_s:
            await self._refresh()
        if self._copy is None:
            raise state_unavailable("requests that overrides may apply to")
        return [o for o in self._copy if o.is_live(now)]

    async def _refresh(self) -> None:
        if self._fetching is None:
            self._fetching = asyncio.ensure_future(self._fetch())
        fetching = self._fetching
        # shield: a cancelled request must not cancel the fetch the others wait for.
        await asyncio.shield(fetching)

    async def _fetch(self) -> None:
        generation, started = self._generation, time.monotonic()
        try:
            self._copy = await self._all()
        except REDIS_DOWN as exc:
            self._outage.down(exc, "decisions use the overrides last read" if self._copy is not None else "decisions that overrides may apply to refused (503)")
            if self._copy is not None:
                # Try again after the same interval, not on every request of the outage. (With
                # no copy yet every decision is refused anyway: the next one tries again.)
                self._fetched_at = started
            return
        finally:
            self._fetching = None
        self._outage.up()
        if generation == self._generation:
            self._fetched_at = started

    async def _listen(self) -> None:
        """Drop the copy whenever any replica announces a change; reconnect after an outage
        (the refresh interval covers what is announced meanwhile)."""
        backoff = 0.1
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._changed()  # whatever was announced while nobody listened
                backoff = 0.1
                while True:
                    # A bounded wait, so the client's 0.5 s socket timeout never reads as an outage.
                    if await pubsub.get_message(timeout=1.0) is not None:
                        self._changed()
            except REDIS_DOWN:
                await asyncio.sleep(backoff)  # the fetches count and log the outage
                backoff = min(backoff * 2, 2.0)
            except Exception:  # e.g. an ACL refusing SUBSCRIBE: the refresh interval alone bounds staleness
                log.exception("override change announcements unavailable; overrides refresh every 0.5 s")
                return
            finally:
                with contextlib.suppress(*REDIS_DOWN):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None


# ------------------------------------------------------------------------------------------- audit

_STREAM_ID = re.compile(r"^\d+-\d+$")


def _event_fields(event: AuditEvent) -> dict[str, str]:
    return {
        "t": event.time.isoformat(),
        "r": event.request_id,
        "k": event.key_id,
        "a": event.action,
        "s": event.resource,
        "ok": "1" if event.allowed else "0",
        "p": event.policy,
    }


def _event_of(fields: dict[bytes, bytes]) -> AuditEvent:
    def get(name: str) -> str:
        return fields.get(name.encode(), b"").decode()

    when = datetime.fromisoformat(get("t"))
    return AuditEvent(
        time=when if when.tzinfo is not None else when.replace(tzinfo=UTC),
        request_id=get("r"),
        key_id=get("k"),
        action=get("a"),
        resource=get("s"),
        allowed=get("ok") == "1",
        policy=get("p"),
    )


class RedisAuditLog(AuditLog):
    """The audit ring as a capped Redis stream (``XADD MAXLEN ~ max_events``), listed from any replica.

    ``record`` stays synchronous and never waits: it writes the log line (the durable copy, as
    before) and appends the event to a local buffer that a background task writes out, each
    batch in one pipelined round trip. Listing is eventually consistent: an event shows on
    every replica once its batch is written (about ``AUDIT_GATHER_S`` after the first event of the batch).

    While Redis is unreachable the buffer keeps up to ``buffer_max`` events and is retried
    (backing off to 2 s); past that the oldest are dropped, counted in
    ``agentgateway_audit_dropped_total`` and logged once per outage. The log lines are never lost.
    """

    def __init__(self, client: redis.Redis, *, prefix: str = KEY_PREFIX, max_events: int = 10000, buffer_max: int = 10000, batch: int = 500) -> None:
        super().__init__(max_events)
        self._client = client
        self._stream = f"{prefix}audit"
        self._max_events = max_events
        self._buffer: deque[AuditEvent] = deque()
        self._buffer_max = buffer_max
        self._batch = batch
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._outage = _Outage("audit")
        self._dropped = 0  # in the current outage
        self._writing = 0  # events of the batch being written

    def __len__(self) -> int:
        return len(self._buffer) + self._writing  # what this process has not written yet

    def _keep(self, event: AuditEvent) -> None:
        if len(self._buffer) >= self._buffer_max:
            self._drop(1)
            self._buffer.popleft()
        self._buffer.append(event)
        self._nudge()

    def _drop(self, count: int) -> None:
        AUDIT_DROPPED.inc(count)
        if self._dropped == 0:
            log.warning("audit events dropped: the shared state is unreachable and the buffer is full", extra={"fields": {"buffer": self._buffer_max}})
        self._dropped += count

    def _nudge(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # recorded from a thread: wake the flusher on its own loop
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._wake.set)
            return
        if self._task is None or self._task.done():
            self._loop = loop
            self._task = loop.create_task(self._flush_forever(), name="audit flusher")
        self._wake.set()

    async def _flush_forever(self) -> None:
        backoff = 0.05
        while True:
            await self._wake.wait()
            # A moment for the events of requests in flight to join this batch: one pipelined
            # round trip for many requests instead of one per request (at c=32, ~20 events).
            await asyncio.sleep(AUDIT_GATHER_S)
            self._wake.clear()
            while self._buffer:
                if await self._flush_batch():
                    backoff = 0.05
                else:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)

    async def _flush_batch(self) -> bool:
        """Write the oldest batch in one pipelined round trip; False (the batch kept) when Redis is down."""
        batch = [self._buffer.popleft() for _ in range(min(self._batch, len(self._buffer)))]
        self._writing = len(batch)

        async def write() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                for event in batch:
                    pipe.xadd(self._stream, _event_fields(event), maxlen=self._max_events, approximate=True)  # type: ignore[arg-type]
                await pipe.execute()

        try:
            # A connection from before a Redis restart fails without reaching the new server:
            # the batch was not written, so sending it again cannot duplicate it.
            await again_on_a_stale_connection(write)
        except REDIS_DOWN as exc:
            self._outage.down(exc, "audit events buffered and retried")
            self._buffer.extendleft(reversed(batch))  # back in front, oldest first
            excess = len(self._buffer) - self._buffer_max
            if excess > 0:
                self._drop(excess)
                for _ in range(excess):
                    self._buffer.popleft()
            return False
        except asyncio.CancelledError:  # closing mid-write: close() writes it again
            self._buffer.extendleft(reversed(batch))
            raise
        except Exception:  # a bug or a foreign key of the wrong type: never retry forever
            log.exception("audit events could not be written to the shared state")
            AUDIT_DROPPED.inc(len(batch))
            return True
        finally:
            self._writing = 0
        if self._dropped:
            log.warning("audit events were dropped during the outage", extra={"fields": {"dropped": self._dropped}})
            self._dropped = 0
        self._outage.up()
        return True

    async def close(self, timeout_s: float = 2.0) -> None:
        """Stop the flusher, then write out what is buffered (for at most ``timeout_s``)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        deadline = time.monotonic() + timeout_s
        while self._buffer and time.monotonic() < deadline:
            if not await self._flush_batch():
                await asyncio.sleep(0.05)
        if self._buffer:
            log.warning("audit events not written at shutdown: the shared state is unreachable", extra={"fields": {"events": len(self._buffer)}})

    async def list(
        self,
        key_id: str | None = None,
        action: str | None = None,
        resource: str | None = None,
        allowed: bool | None = None,
        start_time: datetime | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_token: str = "",
    ) -> tuple[builtins.list[AuditEvent], str]:
        """As ``AuditLog.list``, over the stream: newest first, the token is a stream entry id."""
        before = decode_page_token(page_token) if page_token else None
        if before is not None and not _STREAM_ID.match(before):
            raise ValueError("invalid page_token")
        wanted = AuditFilter(key_id, action, resource, allowed, start_time)
        size = page_size_of(page_size)
        page: builtins.list[AuditEvent] = []
        last = ""
        upper = f"({before}" if before is not None else "+"
        chunk_size = max(size + 1, 1000)  # entries read per round trip
        async with translate_redis_errors("the audit trail", "audit"):
            while True:
                chunk = cast(
                    Sequence[tuple[bytes, dict[bytes, bytes]]],
                    await again_on_a_stale_connection(partial(self._client.xrevrange, self._stream, upper, "-", count=chunk_size)),
                )
                for entry_id, fields in chunk:
                    event = _event_of(fields)
                    if not wanted.matches(event):
                        continue
                    if len(page) == size:
                        return page, encode_page_token(last)
                    page.append(event)
                    last = _text(entry_id)
                if len(chunk) < chunk_size:
                    return page, ""
                upper = f"({_text(chunk[-1][0])}"


def redis_security_stores(client: redis.Redis, *, fail_open: bool) -> SecurityStores:
    """The three shared security stores over one client (services/state/stores.py)."""
    return SecurityStores(RedisRateLimitStore(client, fail_open=fail_open), RedisOverrideStore(client), RedisAuditLog(client))
