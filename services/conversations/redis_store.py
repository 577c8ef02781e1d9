"""The shared conversation store: conversations and stored responses in Redis
(``GATEWAY_STATE_URL``), so every replica serves every conversation and response.

The same contract as ``SQLiteConversationStore`` (see ``store.py``), kept in these keys
(``agw:`` is the default prefix):

- ``agw:conv:<id>``: hash of the conversation (owner, metadata, times, counters, next position);
- ``agw:conv:<id>:items``: hash item id -> ``<position>|<created_at>\\n<item JSON>``;
- ``agw:conv:<id>:order``: sorted set of item ids by position (paging, ``after``);
- ``agw:convs:owner:<key id>`` and ``agw:convs:all``: conversation ids by creation time (listing);
- ``agw:convs:expiry``: ``[id, owner]`` by expiry time (purging the two listings);
- ``agw:resp:<id>``: hash of a stored response (the Response JSON, its input and output items);
- ``agw:resps:expiry``: response ids by expiry time.

Every write is one Lua script, which Redis runs atomically: an append checks the owner, expiry,
duplicate ids and caps and writes its items at the next positions with no other command in
between, whichever replica sent it; a turn stored with ``append_to_conversation`` lands in the
response and the conversation together. Reads are single commands or MULTI blocks.

Expiry: the times in the hashes decide (a record is NOT_FOUND the moment its ``expires_at``
passes, by the store's clock), and each key also gets a Redis TTL a little longer, so memory
is reclaimed even when nobody purges. The listings and expiry sets are purged by a write at
most once a minute per process and by ``purge_expired``. One Redis (or a Sentinel primary) is
assumed: the scripts name keys of several slots, which Redis Cluster would refuse.

A lost Redis is ``STATE_UNAVAILABLE`` (503) for the request at hand; the client reconnects by
itself when Redis is back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import redis.asyncio as redis

from services import json_wire
from services.conversations.items import PreparedItem, new_conversation_id, prepare_items
from services.conversations.store import (
    Conversation,
    ConversationPage,
    Item,
    ItemPage,
    Order,
    StoredResponse,
    conversation_item_not_found,
    conversation_not_found,
    conversation_too_large,
    response_not_found,
    validate_metadata,
)
from services.conversations.store_support import (
    after_not_found,
    checked_order,
    clamp_page_size,
    conversation_bound,
    conversation_page,
    duplicate_in_conversation,
    item_bound,
    item_page,
    prepare_response,
    refuse_repeated_ids,
)
from services.errors import GatewayError, invalid_argument
from services.log import get_logger
from services.state.redis_client import KEY_PREFIX, REDIS_DOWN, redis_call

__all__ = ["DEFAULT_PREFIX", "RedisConversationStore"]

T = TypeVar("T")
log = get_logger("conversations")

DEFAULT_PREFIX = KEY_PREFIX
_WHAT = "conversations and stored responses"
_STORE = "conversations"  # the agentgateway_state_errors_total label
# Expired records are purged by a write at most this often (per process), and by purge_expired.
_PURGE_INTERVAL_S = 60.0
_PURGE_BATCH = 500
# A key's Redis TTL outlives its expires_at by this much: the stored time decides, Redis reclaims.
_TTL_SLACK_MS = 60_000

# ARGV[1] is the key prefix and ARGV[2] the store's clock in every script; writes add
# ARGV[3] (the new expires_at) and ARGV[4] (the keys' TTL in ms). Times travel as Python's
# repr of the float and are stored as sent: Lua's own number formatting would round them.
_PRELUDE = """
local P, NOW_S = ARGV[1], ARGV[2]
local NOW = tonumber(NOW_S)
local function conv_key(id) return P .. 'conv:' .. id end
local function resp_key(id) return P .. 'resp:' .. id end

-- The owner of the live record at key: spec is '*' (any owner) or '=' .. owner.
local function live(key, spec)
  local f = redis.call('HMGET', key, 'owner', 'expires_at')
  if not f[1] or (spec ~= '*' and spec ~= '=' .. f[1]) or tonumber(f[2]) <= NOW then return nil end
  return f[1]
end

local function renew(cid, owner)
  local key = conv_key(cid)
  redis.call('HSET', key, 'updated_at', NOW_S, 'expires_at', ARGV[3])
  for _, k in ipairs({key, key .. ':items', key .. ':order'}) do redis.call('PEXPIRE', k, ARGV[4]) end
  redis.call('ZADD', P .. 'convs:expiry', ARGV[3], cjson.encode({cid, owner}))
end

-- n at ARGV[at], then n ids, then n item JSON texts.
local function read_items(at)
  local n = tonumber(ARGV[at])
  local ids, jsons = {}, {}
  for i = 1, n do ids[i] = ARGV[at + i]; jsons[i] = ARGV[at + n + i] end
  return ids, jsons
end

-- nil, or the refusal of appending ids (adding `added` bytes) to a conversation.
local function check_append(cid, ids, added, max_items, max_bytes)
  local key = conv_key(cid)
  local items = key .. ':items'
  for i, id in ipairs(ids) do
    if redis.call('HEXISTS', items, id) == 1 then return {'duplicate', i - 1} end
  end
  local c = redis.call('HMGET', key, 'item_count', 'size_bytes')
  if tonumber(c[1]) + #ids > max_items then return {'too_large', 'items'} end
  if tonumber(c[2]) + added > max_bytes then return {'too_large', 'bytes'} end
  return nil
end

-- Writes the items at the next positions and renews the conversation; the first position.
local function do_append(cid, owner, ids, jsons, added)
  local key = conv_key(cid)
  local first = tonumber(redis.call('HGET', key, 'next_position'))
  local n = #ids
  for start = 1, n, 500 do
    local h, z = {}, {}
    for i = start, math.min(n, start + 499) do
      local pos = first + i - 1
      h[#h + 1] = ids[i]; h[#h + 1] = pos .. '|' .. NOW_S .. '\\n' .. jsons[i]
      z[#z + 1] = pos; z[#z + 1] = ids[i]
    end
    redis.call('HSET', key .. ':items', unpack(h))
    redis.call('ZADD', key .. ':order', unpack(z))
  end
  if n > 0 then
    redis.call('HINCRBY', key, 'item_count', n)
    redis.call('HINCRBY', key, 'size_bytes', added)
    redis.call('HINCRBY', key, 'next_position', n)
  end
  renew(cid, owner)
  return first
end

local function drop_conversation(cid, owner)
  local key = conv_key(cid)
  redis.call('DEL', key, key .. ':items', key .. ':order')
  redis.call('ZREM', P .. 'convs:owner:' .. owner, cid)
  redis.call('ZREM', P .. 'convs:all', cid)
  redis.call('ZREM', P .. 'convs:expiry', cjson.encode({cid, owner}))
end
"""

# ARGV[5] id, [6] owner, [7] metadata, [8] max_items, [9] max_bytes, [10] added bytes, [11...] items
_CREATE = """
local cid, owner = ARGV[5], ARGV[6]
local ids, jsons = read_items(11)
local added = tonumber(ARGV[10])
if #ids > tonumber(ARGV[8]) then return {'too_large', 'items'} end
if added > tonumber(ARGV[9]) then return {'too_large', 'bytes'} end
redis.call('HSET', conv_key(cid), 'owner', owner, 'metadata', ARGV[7], 'created_at', NOW_S, 'updated_at', NOW_S,
  'expires_at', ARGV[3], 'item_count', 0, 'size_bytes', 0, 'next_position', 0)
redis.call('ZADD', P .. 'convs:owner:' .. owner, NOW_S, cid)
redis.call('ZADD', P .. 'convs:all', NOW_S, cid)
return {'ok', do_append(cid, owner, ids, jsons, added)}
"""

# ARGV[5] id, [6] owner spec, [7] max_items, [8] max_bytes, [9] added bytes, [10...] items
_APPEND = """
local cid = ARGV[5]
local owner = live(conv_key(cid), ARGV[6])
if not owner then return {'not_found'} end
local ids, jsons = read_items(10)
local added = tonumber(ARGV[9])
local refused = check_append(cid, ids, added, tonumber(ARGV[7]), tonumber(ARGV[8]))
if refused then return refused end
local first = do_append(cid, owner, ids, jsons, added)
return {'ok', first, redis.call('HGETALL', conv_key(cid))}
"""

# ARGV[5] id, [6] owner spec, [7] metadata
_UPDATE = """
local cid = ARGV[5]
local owner = live(conv_key(cid), ARGV[6])
if not owner then return {'not_found'} end
redis.call('HSET', conv_key(cid), 'metadata', ARGV[7])
renew(cid, owner)
return {'ok', redis.call('HGETALL', conv_key(cid))}
"""

# ARGV[5] id, [6] owner spec
_DELETE_CONVERSATION = """
local cid = ARGV[5]
local owner = live(conv_key(cid), ARGV[6])
if not owner then return {'not_found'} end
local before = redis.call('HGETALL', conv_key(cid))
drop_conversation(cid, owner)
return {'ok', before}
"""

# ARGV[5] id, [6] owner spec, [7] item id
_DELETE_ITEM = """
local cid = ARGV[5]
local key = conv_key(cid)
local owner = live(key, ARGV[6])
if not owner then return {'not_found'} end
local record = redis.call('HGET', key .. ':items', ARGV[7])
if not record then return {'item_not_found'} end
redis.call('HDEL', key .. ':items', ARGV[7])
redis.call('ZREM', key .. ':order', ARGV[7])
-- The byte cap counts the item's JSON: what follows the header line.
redis.call('HINCRBY', key, 'item_count', -1)
redis.call('HINCRBY', key, 'size_bytes', -(#record - string.find(record, '\\n', 1, true)))
renew(cid, owner)
return {'ok', record, redis.call('HGETALL', key)}
"""

# ARGV[5] id, [6] owner, [7] previous ('' none), [8] conversation ('' none), [9] '1': append,
# [10] max_items, [11] max_bytes, [12] added bytes, [13] response, [14] created_at,
# [15] input items, [16] output items (JSON arrays), [17...] the items to append
_PUT_RESPONSE = """
local rid, owner, previous, cid = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local spec = '=' .. owner
if previous ~= '' and not live(resp_key(previous), spec) then return {'previous_not_found'} end
if cid ~= '' and not live(conv_key(cid), spec) then return {'conversation_not_found'} end
local holder = redis.call('HGET', resp_key(rid), 'owner')
if holder and holder ~= owner then return {'taken'} end
if ARGV[9] == '1' then
  local ids, jsons = read_items(17)
  local added = tonumber(ARGV[12])
  local refused = check_append(cid, ids, added, tonumber(ARGV[10]), tonumber(ARGV[11]))
  if refused then return refused end
  do_append(cid, owner, ids, jsons, added)
end
local key = resp_key(rid)
redis.call('DEL', key)
redis.call('HSET', key, 'owner', owner, 'response', ARGV[13], 'previous', previous, 'conversation', cid,
  'created_at', ARGV[14], 'expires_at', ARGV[3], 'stored_at', NOW_S, 'input', ARGV[15], 'output', ARGV[16])
redis.call('PEXPIRE', key, ARGV[4])
redis.call('ZADD', P .. 'resps:expiry', ARGV[3], rid)
return {'ok'}
"""

# ARGV[5] id, [6] owner spec
_DELETE_RESPONSE = """
local key = resp_key(ARGV[5])
if not live(key, ARGV[6]) then return {'not_found'} end
local before = redis.call('HGETALL', key)
redis.call('DEL', key)
redis.call('ZREM', P .. 'resps:expiry', ARGV[5])
return {'ok', before}
"""

# ARGV[3] id, [4] owner spec: the response and its live ancestors, newest first.
_CHAIN = """
local chain, seen, id = {}, {}, ARGV[3]
while id and id ~= '' and not seen[id] do
  seen[id] = true
  local key = resp_key(id)
  if not live(key, ARGV[4]) then break end
  chain[#chain + 1] = redis.call('HGETALL', key)
  id = redis.call('HGET', key, 'previous')
end
return chain
"""

# ARGV[3] id, [4] owner spec, [5] '' | 'p' (after a position) | 'a' (after an item id),
# [6] the position or id, [7] 'asc' | 'desc', [8] how many
_ITEM_PAGE = """
local key = conv_key(ARGV[3])
if not live(key, ARGV[4]) then return {'not_found'} end
local order = key .. ':order'
local bound = nil
if ARGV[5] == 'a' then
  bound = redis.call('ZSCORE', order, ARGV[6])
  if not bound then return {'after'} end
elseif ARGV[5] == 'p' then
  bound = ARGV[6]
end
local ids
if ARGV[7] == 'asc' then
  ids = redis.call('ZRANGEBYSCORE', order, bound and '(' .. bound or '-inf', '+inf', 'LIMIT', 0, ARGV[8])
else
  ids = redis.call('ZREVRANGEBYSCORE', order, bound and '(' .. bound or '+inf', '-inf', 'LIMIT', 0, ARGV[8])
end
if #ids == 0 then return {'ok', {}, {}} end
return {'ok', ids, redis.call('HMGET', key .. ':items', unpack(ids))}
"""

# ARGV[3] how many of each kind: deletes expired conversations and responses; how many went.
_PURGE = """
local gone, limit = 0, tonumber(ARGV[3])
for _, member in ipairs(redis.call('ZRANGEBYSCORE', P .. 'convs:expiry', '-inf', NOW_S, 'LIMIT', 0, limit)) do
  local c = cjson.decode(member)
  drop_conversation(c[1], c[2])
  gone = gone + 1
end
for _, rid in ipairs(redis.call('ZRANGEBYSCORE', P .. 'resps:expiry', '-inf', NOW_S, 'LIMIT', 0, limit)) do
  redis.call('DEL', resp_key(rid))
  redis.call('ZREM', P .. 'resps:expiry', rid)
  gone = gone + 1
end
return gone
"""


def _spec(owner: str | None) -> str:
    return "*" if owner is None else f"={owner}"


def _hash(flat: Sequence[bytes]) -> dict[str, bytes]:
    """A hash as HGETALL inside a script returns it: field, value, field, value..."""
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}


def _fields(raw: Mapping[Any, Any]) -> dict[str, bytes]:
    """HGETALL's reply (bytes: the client does not decode) keyed by str."""
    return {k.decode(): v for k, v in raw.items()}


def _conversation_of(conversation_id: str, h: Mapping[str, bytes]) -> Conversation:
    return Conversation(
        id=conversation_id,
        owner=h["owner"].decode(),
        created_at=float(h["created_at"]),
        updated_at=float(h["updated_at"]),
        expires_at=float(h["expires_at"]),
        metadata=json_wire.loads(h["metadata"]),
        item_count=int(h["item_count"]),
        size_bytes=int(h["size_bytes"]),
    )


def _item_of(record: bytes) -> Item:
    header, text = record.split(b"\n", 1)
    position, created_at = header.split(b"|", 1)
    item = json_wire.loads(text)
    return Item(id=item["id"], type=item["type"], position=int(position), item=item, created_at=float(created_at))


def _json_list(prepared: Sequence[PreparedItem]) -> bytes:
    return b"[" + b",".join(p.json for p in prepared) + b"]"


def _items_args(prepared: Sequence[PreparedItem]) -> list[Any]:
    return [len(prepared), *(p.id for p in prepared), *(p.json for p in prepared)]


class RedisConversationStore:
    """``ConversationStore`` in Redis (see the module doc). ``client`` is the process's one
    client (``SharedState.redis``): the store does not close it."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        ttl_s: float,
        max_items: int,
        max_bytes: int,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client
        self.ttl_s = ttl_s
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._prefix = prefix
        self._clock = clock
        self._last_purge = -math.inf
        scripts = {
            name: client.register_script(_PRELUDE + body)
            for name, body in (
                ("create", _CREATE),
                ("append", _APPEND),
                ("update", _UPDATE),
                ("delete_conversation", _DELETE_CONVERSATION),
                ("delete_item", _DELETE_ITEM),
                ("put_response", _PUT_RESPONSE),
                ("delete_response", _DELETE_RESPONSE),
                ("chain", _CHAIN),
                ("item_page", _ITEM_PAGE),
                ("purge", _PURGE),
            )
        }
        self._scripts = scripts

    # ------------------------------------------------------------------ keys and scripts

    def _conv_key(self, conversation_id: str) -> str:
        return f"{self._prefix}conv:{conversation_id}"

    def _resp_key(self, response_id: str) -> str:
        return f"{self._prefix}resp:{response_id}"

    async def _call(self, command: Callable[[], Awaitable[T]]) -> T:
        return await redis_call(_WHAT, _STORE, command)

    async def _read(self, name: str, *args: Any) -> Any:
        return await self._call(lambda: self._scripts[name](args=[self._prefix, repr(self._clock()), *args]))

    async def _write(self, name: str, *args: Any) -> tuple[Any, float]:
        """Runs a write script; (its reply, the time it ran at). Purges now and then after it."""
        now = self._clock()
        expires = now + self.ttl_s
        ttl_ms = max(1, math.ceil(self.ttl_s * 1000)) + _TTL_SLACK_MS
        reply = await self._call(lambda: self._scripts[name](args=[self._prefix, repr(now), repr(expires), ttl_ms, *args]))
        if now - self._last_purge >= _PURGE_INTERVAL_S:
            try:
                await self._purge(now)
            except REDIS_DOWN:  # the write is kept; the purge is tried again by a later one
                log.warning("purging expired conversations failed: redis unreachable")
        return reply, now

    async def _purge(self, now: float) -> int:
        self._last_purge = now
        gone = 0
        while True:
            batch = int(await self._scripts["purge"](args=[self._prefix, repr(now), _PURGE_BATCH]))
            gone += batch
            if batch < _PURGE_BATCH:
                return gone

    async def _multi(self, then: Callable[[Any], Any], conversation_id: str) -> list[Any]:
        """The conversation's hash and ``then``'s command, in one MULTI block: one snapshot."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(self._conv_key(conversation_id))
            then(pipe)
            return list(await pipe.execute())

    def _refused(self, reply: Sequence[Any], conversation_id: str, prepared: Sequence[PreparedItem], param: str) -> GatewayError:
        """The error for an append script's refusal."""
        status = reply[0].decode()
        if status == "duplicate":
            index = int(reply[1])
            return duplicate_in_conversation(conversation_id, prepared[index].id, param, index)
        if status == "too_large":
            what = reply[1].decode()
            return conversation_too_large(conversation_id, what=what, limit=self.max_items if what == "items" else self.max_bytes, param=param)
        return conversation_not_found(conversation_id, None if param == "items" else "conversation")

    # ------------------------------------------------------------------ conversations

    async def create_conversation(
        self, owner: str, *, metadata: Mapping[str, str] | None = None, items: Sequence[Mapping[str, Any]] = ()
    ) -> tuple[Conversation, list[Item]]:
        clean = validate_metadata(metadata)
        prepared = prepare_items(items)
        conversation_id = new_conversation_id()
        added = sum(p.size for p in prepared)
        reply, now = await self._write("create", conversation_id, owner, json_wire.dumps(clean), self.max_items, self.max_bytes, added, *_items_args(prepared))
        if reply[0] != b"ok":
            raise self._refused(reply, conversation_id, prepared, "items")
        conversation = Conversation(conversation_id, owner, now, now, now + self.ttl_s, clean, len(prepared), added)
        return conversation, [Item(p.id, p.type, i, p.item, now) for i, p in enumerate(prepared)]

    async def get_conversation(self, conversation_id: str, owner: str | None) -> Conversation:
        raw = await self._call(lambda: self._redis.hgetall(self._conv_key(conversation_id)))
        return self._live_conversation(conversation_id, owner, _fields(raw))

    def _live_conversation(self, conversation_id: str, owner: str | None, h: Mapping[str, bytes]) -> Conversation:
        if not h or (owner is not None and h["owner"].decode() != owner) or float(h["expires_at"]) <= self._clock():
            raise conversation_not_found(conversation_id)
        return _conversation_of(conversation_id, h)

    async def list_conversations(self, owner: str | None, *, page_size: int, page_token: str = "") -> ConversationPage:
        size = clamp_page_size(page_size)
        scope = owner if owner is not None else "*"
        bound = conversation_bound(page_token, scope)
        index = f"{self._prefix}convs:owner:{owner}" if owner is not None else f"{self._prefix}convs:all"

        async def listing() -> list[Conversation]:
            found: list[Conversation] = []
            offset = 0
            # Newest first: by creation time, then id, both descending (a sorted set orders
            # equal scores by member). Entries of expired conversations wait for a purge; skip them.
            while len(found) <= size:
                top: float | str = bound[0] if bound is not None else "+inf"
                batch: list[Any] = await self._redis.zrevrangebyscore(index, top, "-inf", start=offset, num=size + 1, withscores=True)
                if not batch:
                    break
                offset += len(batch)
                ids = [member.decode() for member, score in batch if bound is None or (score, member.decode()) < bound]
                async with self._redis.pipeline(transaction=False) as pipe:
                    for conversation_id in ids:
                        pipe.hgetall(self._conv_key(conversation_id))
                    hashes = await pipe.execute()
                now = self._clock()
                for conversation_id, raw in zip(ids, hashes, strict=True):
                    h = _fields(raw)
                    if h and (owner is None or h["owner"].decode() == owner) and float(h["expires_at"]) > now:
                        found.append(_conversation_of(conversation_id, h))
            return found

        found = await self._call(listing)
        return conversation_page(found[: size + 1], size, scope)

    async def update_conversation(self, conversation_id: str, owner: str | None, *, metadata: Mapping[str, str]) -> Conversation:
        clean = validate_metadata(metadata)
        reply, _ = await self._write("update", conversation_id, _spec(owner), json_wire.dumps(clean))
        if reply[0] != b"ok":
            raise conversation_not_found(conversation_id)
        return _conversation_of(conversation_id, _hash(reply[1]))

    async def delete_conversation(self, conversation_id: str, owner: str | None) -> Conversation:
        reply, _ = await self._write("delete_conversation", conversation_id, _spec(owner))
        if reply[0] != b"ok":
            raise conversation_not_found(conversation_id)
        return _conversation_of(conversation_id, _hash(reply[1]))

    async def append_items(self, conversation_id: str, owner: str, items: Sequence[Mapping[str, Any]]) -> list[Item]:
        prepared = prepare_items(items)
        reply, now = await self._write(
            "append", conversation_id, _spec(owner), self.max_items, self.max_bytes, sum(p.size for p in prepared), *_items_args(prepared)
        )
        if reply[0] != b"ok":
            raise self._refused(reply, conversation_id, prepared, "items")
        first = int(reply[1])
        return [Item(p.id, p.type, first + i, p.item, now) for i, p in enumerate(prepared)]

    async def list_items(
        self, conversation_id: str, owner: str | None, *, page_size: int, page_token: str = "", order: Order = "asc", after: str = ""
    ) -> ItemPage:
        order = checked_order(order)
        size = clamp_page_size(page_size)
        scope = f"c:{conversation_id}"
        bound = item_bound(page_token, scope, order)
        mode, value = ("p", str(bound)) if bound is not None else ("a", after) if after else ("", "")
        reply = await self._read("item_page", conversation_id, _spec(owner), mode, value, order, size + 1)
        if reply[0] == b"after":
            raise after_not_found(after)
        if reply[0] != b"ok":
            raise conversation_not_found(conversation_id)
        return item_page([_item_of(record) for record in reply[2] if record is not None], size, scope, order)

    async def get_item(self, conversation_id: str, item_id: str, owner: str | None) -> Item:
        raw, record = await self._call(lambda: self._multi(lambda pipe: pipe.hget(f"{self._conv_key(conversation_id)}:items", item_id), conversation_id))
        self._live_conversation(conversation_id, owner, _fields(raw))
        if record is None:
            raise conversation_item_not_found(conversation_id, item_id)
        return _item_of(record)

    async def delete_item(self, conversation_id: str, item_id: str, owner: str | None) -> tuple[Conversation, Item]:
        reply, _ = await self._write("delete_item", conversation_id, _spec(owner), item_id)
        if reply[0] == b"item_not_found":
            raise conversation_item_not_found(conversation_id, item_id)
        if reply[0] != b"ok":
            raise conversation_not_found(conversation_id)
        return _conversation_of(conversation_id, _hash(reply[2])), _item_of(reply[1])

    async def conversation_history(self, conversation_id: str, owner: str) -> list[dict[str, Any]]:
        raw, records = await self._call(lambda: self._multi(lambda pipe: pipe.hvals(f"{self._conv_key(conversation_id)}:items"), conversation_id))
        self._live_conversation(conversation_id, owner, _fields(raw))
        return [i.item for i in sorted(map(_item_of, records), key=lambda i: i.position)]

    # ------------------------------------------------------------------ responses

    async def put_response(
        self,
        owner: str,
        response: Mapping[str, Any],
        *,
        input_items: Sequence[Mapping[str, Any]],
        output_items: Sequence[Mapping[str, Any]] | None = None,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        append_to_conversation: bool = False,
    ) -> StoredResponse:
        prepared = prepare_response(response, input_items, output_items, previous_response_id, conversation_id, append_to_conversation)
        turn = [*prepared.input, *prepared.output] if append_to_conversation else []
        refuse_repeated_ids(turn, "input")
        now = self._clock()
        created_at = prepared.created(now)
        reply, now = await self._write(
            "put_response",
            prepared.id,
            owner,
            previous_response_id or "",
            conversation_id or "",
            "1" if append_to_conversation else "0",
            self.max_items,
            self.max_bytes,
            sum(p.size for p in turn),
            json_wire.dumps(prepared.body),
            repr(created_at),
            _json_list(prepared.input),
            _json_list(prepared.output),
            *_items_args(turn),
        )
        status = reply[0].decode()
        if status == "previous_not_found":
            raise response_not_found(previous_response_id or "", "previous_response_id")
        if status == "conversation_not_found":
            raise conversation_not_found(conversation_id or "", "conversation")
        if status == "taken":
            raise invalid_argument(f"response id {prepared.id!r} is taken", "id")
        if status != "ok":
            raise self._refused(reply, conversation_id or "", turn, "input")
        return StoredResponse(
            id=prepared.id,
            owner=owner,
            response=prepared.body,
            input_items=[p.item for p in prepared.input],
            output_items=[p.item for p in prepared.output],
            previous_response_id=previous_response_id,
            conversation_id=conversation_id,
            created_at=created_at,
            expires_at=now + self.ttl_s,
        )

    def _stored_response(self, response_id: str, h: Mapping[str, bytes]) -> StoredResponse:
        return StoredResponse(
            id=response_id,
            owner=h["owner"].decode(),
            response=json_wire.loads(h["response"]),
            input_items=json_wire.loads(h["input"]),
            output_items=json_wire.loads(h["output"]),
            previous_response_id=h["previous"].decode() or None,
            conversation_id=h["conversation"].decode() or None,
            created_at=float(h["created_at"]),
            expires_at=float(h["expires_at"]),
        )

    async def _live_response(self, response_id: str, owner: str | None) -> dict[str, bytes]:
        h = _fields(await self._call(lambda: self._redis.hgetall(self._resp_key(response_id))))
        if not h or (owner is not None and h["owner"].decode() != owner) or float(h["expires_at"]) <= self._clock():
            raise response_not_found(response_id)
        return h

    async def get_response(self, response_id: str, owner: str | None) -> StoredResponse:
        return self._stored_response(response_id, await self._live_response(response_id, owner))

    async def delete_response(self, response_id: str, owner: str | None) -> StoredResponse:
        reply, _ = await self._write("delete_response", response_id, _spec(owner))
        if reply[0] != b"ok":
            raise response_not_found(response_id)
        return self._stored_response(response_id, _hash(reply[1]))

    async def response_chain(self, response_id: str, owner: str) -> list[StoredResponse]:
        hashes = await self._read("chain", response_id, _spec(owner))
        if not hashes:
            raise response_not_found(response_id)
        chain = [_hash(flat) for flat in hashes]
        ids = [response_id, *(h["previous"].decode() for h in chain[:-1])]
        return [self._stored_response(i, h) for i, h in zip(ids, chain, strict=True)][::-1]

    async def list_response_input_items(
        self, response_id: str, owner: str | None, *, page_size: int, page_token: str = "", order: Order = "asc", after: str = ""
    ) -> ItemPage:
        order = checked_order(order)
        size = clamp_page_size(page_size)
        h = await self._live_response(response_id, owner)
        scope = f"r:{response_id}"
        stored_at = float(h["stored_at"])
        items = [Item(i["id"], i["type"], n, i, stored_at) for n, i in enumerate(json_wire.loads(h["input"]))]
        bound = item_bound(page_token, scope, order)
        if bound is None and after:
            bound = next((i.position for i in items if i.id == after), None)
            if bound is None:
                raise after_not_found(after)
        if order == "desc":
            items.reverse()
        if bound is not None:
            items = [i for i in items if (i.position > bound if order == "asc" else i.position < bound)]
        return item_page(items[: size + 1], size, scope, order)

    async def purge_expired(self) -> int:
        now = self._clock()
        return await self._call(lambda: self._purge(now))

    async def ready(self) -> None:
        await self._call(self._redis.ping)

    async def close(self) -> None:
        """Nothing of its own to close: the client belongs to ``SharedState``."""
