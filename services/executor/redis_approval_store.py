"""Pending approvals in Redis (``GATEWAY_STATE_URL``): a run paused on one replica is approved
and resumed on any other, and exactly once.

Keys (``agw:`` is the default prefix):

- ``agw:apr:<id>``: hash of the approval (key id, model, calls, request, times, ``resolved_at``);
  its Redis TTL is the approval's expiry plus the day a tombstone is kept, so a late or repeated
  resolve still gets "already resolved" / "expired";
- ``agw:apr:<id>:state``: the SDK RunState, with a TTL of the approval's expiry: Redis drops a
  run state nobody can resume on its own, and a claim deletes it;
- ``agw:aprs:pending``: unresolved approval ids by expiry time, so ``pending_count`` is one
  ZCOUNT (O(log n)) rather than a scan at every metrics scrape.

A claim is one Lua script (check the key, unresolved, unexpired; mark resolved; take the state):
Redis runs it atomically, so of concurrent claims from any number of replicas exactly one gets
the state and the others APPROVAL_ALREADY_RESOLVED. The stored times decide expiry (by the
store's clock); the TTLs reclaim memory.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis.asyncio as redis

from services.executor.approval_store import (
    TOMBSTONE_S,
    PendingApproval,
    approval_refused,
    calls_from_json,
    calls_to_json,
    refusal_of,
)
from services.state.redis_client import KEY_PREFIX, redis_call

__all__ = ["DEFAULT_PREFIX", "RedisApprovalStore"]

DEFAULT_PREFIX = KEY_PREFIX
_WHAT = "approvals"
_STORE = "approvals"  # the agentgateway_state_errors_total label
_TTL_SLACK_MS = 60_000

# ARGV[1] prefix, [2] now, [3] id, [4] key id, [5] model, [6] calls, [7] request, [8] state,
# [9] created_at, [10] expires_at, [11] the hash's TTL (ms), [12] the state's TTL (ms)
_CREATE = """
local P, NOW_S = ARGV[1], ARGV[2]
local pending = P .. 'aprs:pending'
-- Housekeeping on the write path: run states nobody can resume any more go now.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', pending, '-inf', NOW_S, 'LIMIT', 0, 500)) do
  redis.call('DEL', P .. 'apr:' .. id .. ':state')
  redis.call('ZREM', pending, id)
end
local key = P .. 'apr:' .. ARGV[3]
redis.call('DEL', key)
redis.call('HSET', key, 'key_id', ARGV[4], 'model_id', ARGV[5], 'calls', ARGV[6], 'request', ARGV[7],
  'created_at', ARGV[9], 'expires_at', ARGV[10], 'resolved_at', '')
redis.call('PEXPIRE', key, ARGV[11])
redis.call('SET', key .. ':state', ARGV[8], 'PX', ARGV[12])
redis.call('ZADD', pending, ARGV[10], ARGV[3])
return 1
"""

# ARGV[1] prefix, [2] now, [3] id, [4] key id, [5] how long a tombstone is kept (s)
_CLAIM = """
local P, NOW_S = ARGV[1], ARGV[2]
local NOW = tonumber(NOW_S)
local key = P .. 'apr:' .. ARGV[3]
local f = redis.call('HMGET', key, 'key_id', 'resolved_at', 'expires_at')
if not f[1] or f[1] ~= ARGV[4] or tonumber(f[3]) <= NOW - tonumber(ARGV[5]) then return {'not_found'} end
if f[2] ~= '' then return {'resolved'} end
if tonumber(f[3]) <= NOW then return {'expired'} end
local state = redis.call('GET', key .. ':state')
if not state then return {'expired'} end  -- dropped with its TTL: nothing left to resume
redis.call('HSET', key, 'resolved_at', NOW_S)
redis.call('DEL', key .. ':state')
redis.call('ZREM', P .. 'aprs:pending', ARGV[3])
return {'ok', redis.call('HGETALL', key), state}
"""


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000)) + _TTL_SLACK_MS


class RedisApprovalStore:
    """``ApprovalStore`` in Redis (see the module doc). ``client`` belongs to ``SharedState``."""

    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX, clock: Callable[[], float] = time.time) -> None:
        self._redis = client
        self._prefix = prefix
        self._clock = clock
        self._create = client.register_script(_CREATE)
        self._claim = client.register_script(_CLAIM)

    def _key(self, approval_id: str) -> str:
        return f"{self._prefix}apr:{approval_id}"

    async def create(self, approval: PendingApproval) -> None:
        a = approval
        now = self._clock()
        await redis_call(
            _WHAT,
            _STORE,
            lambda: self._create(
                args=[
                    self._prefix,
                    repr(now),
                    a.approval_id,
                    a.key_id,
                    a.model_id,
                    calls_to_json(a.calls),
                    json.dumps(a.request),
                    a.state,
                    repr(a.created_at),
                    repr(a.expires_at),
                    _ms(a.expires_at - now + TOMBSTONE_S),
                    _ms(a.expires_at - now),
                ]
            ),
        )

    async def get(self, approval_id: str, key_id: str) -> PendingApproval:
        raw: Mapping[Any, Any] = await redis_call(_WHAT, _STORE, lambda: self._redis.hgetall(self._key(approval_id)))
        h: dict[str, bytes] = {k.decode(): v for k, v in raw.items()}
        found = bool(h) and h["key_id"].decode() == key_id
        refusal = refusal_of(found, bool(h.get("resolved_at")), float(h["expires_at"]) if found else 0.0, self._clock())
        if refusal is not None:
            raise approval_refused(refusal, approval_id)
        return _pending(approval_id, h)

    async def claim(self, approval_id: str, key_id: str) -> PendingApproval:
        now = self._clock()
        reply = await redis_call(_WHAT, _STORE, lambda: self._claim(args=[self._prefix, repr(now), approval_id, key_id, TOMBSTONE_S]))
        status = reply[0].decode()
        if status != "ok":
            raise approval_refused("resolved" if status == "resolved" else "expired" if status == "expired" else "not_found", approval_id)
        flat = reply[1]
        h = {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}
        return _pending(approval_id, h, state=reply[2].decode())

    async def pending_count(self) -> int:
        now = self._clock()
        return int(await redis_call(_WHAT, _STORE, lambda: self._redis.zcount(f"{self._prefix}aprs:pending", f"({now!r}", "+inf")))

    async def close(self) -> None:
        """Nothing of its own to close: the client belongs to ``SharedState``."""


def _pending(approval_id: str, h: Mapping[str, Any], state: str = "") -> PendingApproval:
    return PendingApproval(
        approval_id=approval_id,
        key_id=h["key_id"].decode(),
        model_id=h["model_id"].decode(),
        calls=calls_from_json(h["calls"]),
        created_at=float(h["created_at"]),
        expires_at=float(h["expires_at"]),
        request=json.loads(h["request"]),
        state=state,
    )
