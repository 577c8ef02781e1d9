"""What only the Redis conversation and approval stores have (the contracts they share with the
SQLite stores are tests/test_conversation_store.py and tests/test_approval_store.py): a lost
Redis is STATE_UNAVAILABLE at once, counted, and the stores work again when it returns (scripts
reloaded); keys carry TTLs; SharedState picks them when GATEWAY_STATE_URL is set."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from services.conversations.redis_store import RedisConversationStore
from services.errors import GatewayError
from services.executor.approval_store import PendingApproval
from services.executor.events import ApprovalCall
from services.executor.redis_approval_store import RedisApprovalStore
from services.metrics import STATE_ERRORS
from services.settings import GatewaySettings
from services.state.redis_client import connect
from services.state.stores import SharedState
from shim.errors import http_status_of
from tests.redis_server import RedisServer

DAY = 24 * 3600.0


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[redis.Redis]:
    c = connect(redis_server.url)
    yield c
    await c.aclose()


def conversations(client: redis.Redis, **caps: Any) -> RedisConversationStore:
    return RedisConversationStore(client, **{"ttl_s": 30 * DAY, "max_items": 100, "max_bytes": 1 << 20, **caps})


def approval(approval_id: str = "apr_1", ttl: float = 600.0) -> PendingApproval:
    now = time.time()
    calls = (ApprovalCall("call_1", "close_ticket", "{}", "Approver", "sdk"),)
    return PendingApproval(approval_id, "alice", "default/approver", calls, now, now + ttl, {}, "state")


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


async def unavailable(coro: Any) -> GatewayError:
    started = time.monotonic()
    with pytest.raises(GatewayError) as caught:
        await coro
    assert time.monotonic() - started < 3.0  # fails fast, never hangs
    return caught.value


async def test_a_lost_redis_is_state_unavailable_and_both_stores_recover(redis_server: RedisServer, client: redis.Redis) -> None:
    store, approvals = conversations(client), RedisApprovalStore(client)
    conversation, _ = await store.create_conversation("alice", items=[user("before")])
    await approvals.create(approval())
    before = {name: STATE_ERRORS.labels(name)._value.get() for name in ("conversations", "approvals")}
    redis_server.kill()
    for call in (
        store.create_conversation("alice"),
        store.get_conversation(conversation.id, "alice"),
        store.append_items(conversation.id, "alice", [user("lost")]),
        store.list_items(conversation.id, "alice", page_size=5),
        store.put_response("alice", {"id": "resp_1", "output": []}, input_items=[]),
        store.response_chain("resp_1", "alice"),
        store.ready(),
    ):
        error = await unavailable(call)
        assert (error.status, error.reason, http_status_of(error)[0]) == ("UNAVAILABLE", "STATE_UNAVAILABLE", 503)
        assert "conversations" in error.message and str(redis_server.port) not in error.message
    for call in (approvals.get("apr_1", "alice"), approvals.claim("apr_1", "alice"), approvals.pending_count(), approvals.create(approval("apr_2"))):
        error = await unavailable(call)
        assert (error.reason, "approvals" in error.message) == ("STATE_UNAVAILABLE", True)
    assert STATE_ERRORS.labels("conversations")._value.get() == before["conversations"] + 7
    assert STATE_ERRORS.labels("approvals")._value.get() == before["approvals"] + 4
    # Back, empty (no persistence): the same client and stores work again; the scripts Redis
    # forgot are loaded again by themselves.
    redis_server.start()
    assert (await unavailable(store.get_conversation(conversation.id, "alice"))).reason == "CONVERSATION_NOT_FOUND"
    again, _ = await store.create_conversation("alice", items=[user("after")])
    assert len(await store.append_items(again.id, "alice", [user("more")])) == 1
    await approvals.create(approval("apr_3"))
    assert (await approvals.claim("apr_3", "alice")).state == "state"
    assert await approvals.pending_count() == 0


async def test_every_key_has_a_ttl_so_memory_is_reclaimed_without_a_purge(client: redis.Redis) -> None:
    store = conversations(client, ttl_s=3600.0)
    conversation, _ = await store.create_conversation("alice", items=[user("hi")])
    await store.put_response("alice", {"id": "resp_1", "output": []}, input_items=[user("q")], conversation_id=conversation.id, append_to_conversation=True)
    approvals = RedisApprovalStore(client)
    await approvals.create(approval(ttl=600.0))
    ttls = {key.decode(): await client.pttl(key) async for key in client.scan_iter(match="agw:*")}
    for key in (f"agw:conv:{conversation.id}", f"agw:conv:{conversation.id}:items", f"agw:conv:{conversation.id}:order", "agw:resp:resp_1"):
        assert 3600_000 < ttls[key] <= 3660_000, key  # the TTL, plus a minute: the stored time decides
    assert 600_000 < ttls["agw:apr:apr_1:state"] <= 660_000  # the run state goes at expiry
    assert DAY * 1000 < ttls["agw:apr:apr_1"] <= (DAY + 660) * 1000  # the tombstone a day later
    # The shared listings and expiry sets are the only keys without one (purged instead).
    assert {k for k, ttl in ttls.items() if ttl < 0} == {"agw:convs:all", "agw:convs:owner:alice", "agw:convs:expiry", "agw:resps:expiry", "agw:aprs:pending"}


async def test_two_replicas_appending_to_one_conversation_never_lose_or_interleave(redis_server: RedisServer) -> None:
    clients = [connect(redis_server.url) for _ in range(2)]
    stores = [conversations(c, max_items=1000) for c in clients]
    conversation, _ = await stores[0].create_conversation("alice")
    # 150 concurrent appends per client: more than its pool's 100 connections, so some wait for one.
    appends = 300
    await asyncio.gather(*(stores[i % 2].append_items(conversation.id, "alice", [user(f"{i}-a"), user(f"{i}-b"), user(f"{i}-c")]) for i in range(appends)))
    items = (await stores[1].list_items(conversation.id, "alice", page_size=1000)).items
    assert [i.position for i in items] == list(range(3 * appends))
    texts = [i.item["content"][0]["text"] for i in items]
    assert sorted(texts[k].split("-")[0] for k in range(0, 3 * appends, 3)) == sorted(str(i) for i in range(appends))
    assert all(len({t.split("-")[0] for t in texts[k : k + 3]}) == 1 for k in range(0, 3 * appends, 3))  # no interleaving
    assert (await stores[0].get_conversation(conversation.id, "alice")).item_count == 3 * appends
    for c in clients:
        await c.aclose()


async def test_shared_state_picks_the_redis_stores_when_a_state_url_is_set(tmp_path: Path, redis_server: RedisServer) -> None:
    shared = SharedState(GatewaySettings(state_url=redis_server.url, data_dir=tmp_path))
    assert isinstance(shared.conversations(), RedisConversationStore) and isinstance(shared.approvals(), RedisApprovalStore)
    await shared.close()
    embedded = SharedState(GatewaySettings(data_dir=tmp_path))
    assert type(embedded.conversations()).__name__ == "SQLiteConversationStore" and type(embedded.approvals()).__name__ == "SQLiteApprovalStore"
    await embedded.close()


async def test_the_first_request_after_redis_returns_succeeds_on_a_pooled_connection(redis_server: RedisServer, client: redis.Redis) -> None:
    # Each pooled connection still holds the old server's socket: it is retried at once, not a 503.
    store, approvals = conversations(client), RedisApprovalStore(client)
    conversation, _ = await store.create_conversation("alice")
    await approvals.pending_count()
    redis_server.restart()
    with pytest.raises(GatewayError) as caught:
        await store.get_conversation(conversation.id, "alice")
    assert caught.value.reason == "CONVERSATION_NOT_FOUND"  # reached the new (empty) Redis
    redis_server.restart()
    assert await approvals.pending_count() == 0
    redis_server.restart()
    await store.ready()
