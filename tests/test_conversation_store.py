"""The conversation store contract, run against both implementations (the SQLite file and
Redis, a real redis-server): ownership, ordered appends under the size caps (all or nothing),
paging (tokens, order, OpenAI's ``after``), TTL with an injected clock, metadata updates,
single items read and deleted, real deletes, response chains, and one storage shared by
several stores (processes, replicas)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from services.conversations.items import prepare_items
from services.conversations.redis_store import RedisConversationStore
from services.conversations.sqlite_store import SQLiteConversationStore
from services.conversations.store import ConversationStore, history_of
from services.errors import GatewayError
from services.state.redis_client import connect
from shim.errors import http_status_of

DAY = 24 * 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


CAPS: dict[str, Any] = {"ttl_s": 30 * DAY, "max_items": 1000, "max_bytes": 8 * 1024 * 1024}


class Backend:
    """Where the stores of a test keep their state; ``store()`` opens another store on it (as
    another process or replica would), and the ``stored_*`` methods look at the raw rows or keys."""

    name: str

    def store(self, clock: Clock | None = None, **caps: Any) -> ConversationStore:
        raise NotImplementedError

    async def stored_conversation_ids(self) -> set[str]:
        """Every conversation id the storage still holds anything of."""
        raise NotImplementedError

    async def stored_item_ids(self) -> set[str]:
        """Every conversation item id the storage holds."""
        raise NotImplementedError

    async def close(self) -> None: ...


class SQLiteBackend(Backend):
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stores: list[ConversationStore] = []

    def store(self, clock: Clock | None = None, **caps: Any) -> ConversationStore:
        s = SQLiteConversationStore(self.path, clock=clock or Clock(), **{**CAPS, **caps})
        self.stores.append(s)
        return s

    async def stored_conversation_ids(self) -> set[str]:
        db = sqlite3.connect(self.path)
        rows = db.execute("SELECT id FROM conversations UNION SELECT conversation_id FROM conversation_items").fetchall()
        return {r[0] for r in rows}

    async def stored_item_ids(self) -> set[str]:
        return {r[0] for r in sqlite3.connect(self.path).execute("SELECT id FROM conversation_items")}

    async def close(self) -> None:
        for s in self.stores:
            await s.close()


class RedisBackend(Backend):
    name = "redis"

    def __init__(self, url: str) -> None:
        self.url = url
        self.clients: list[redis.Redis] = []
        self.raw = connect(url)

    def store(self, clock: Clock | None = None, **caps: Any) -> ConversationStore:
        client = connect(self.url)  # a client (a connection pool) each, as replicas have
        self.clients.append(client)
        return RedisConversationStore(client, clock=clock or Clock(), **{**CAPS, **caps})

    async def stored_conversation_ids(self) -> set[str]:
        ids = {k.decode().split(":")[2] async for k in self.raw.scan_iter(match="agw:conv:*")}
        ids |= {m.decode() for m in await self.raw.zrange("agw:convs:all", 0, -1)}
        ids |= {m.decode().split('"')[1] for m in await self.raw.zrange("agw:convs:expiry", 0, -1)}
        async for key in self.raw.scan_iter(match="agw:convs:owner:*"):
            ids |= {m.decode() for m in await self.raw.zrange(key, 0, -1)}
        return ids

    async def stored_item_ids(self) -> set[str]:
        ids: set[str] = set()
        async for key in self.raw.scan_iter(match="agw:conv:*:items"):
            ids |= {k.decode() for k in await self.raw.hkeys(key)}
        async for key in self.raw.scan_iter(match="agw:conv:*:order"):
            ids |= {m.decode() for m in await self.raw.zrange(key, 0, -1)}
        return ids

    async def close(self) -> None:
        for client in [*self.clients, self.raw]:
            await client.aclose()


@pytest.fixture(params=["sqlite", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    b: Backend
    if request.param == "sqlite":
        b = SQLiteBackend(tmp_path / "data" / "conversations.sqlite3")
    else:
        b = RedisBackend(request.getfixturevalue("redis_server").url)
    yield b
    await b.close()


@pytest.fixture
def store(backend: Backend) -> ConversationStore:
    return backend.store()


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


async def refusal(coro: Any) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        await coro
    return caught.value


def texts(items: Any) -> list[str]:
    return [i.item["content"][0]["text"] for i in items]


async def test_items_are_expanded_and_given_ids_as_openai_lists_them(store: ConversationStore) -> None:
    conversation, items = await store.create_conversation(
        "alice",
        metadata={"topic": "demo"},
        items=[
            user("hi"),
            {"type": "message", "role": "assistant", "content": "hello"},
            {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "42", "id": "fco_mine"},
        ],
    )
    assert conversation.id.startswith("conv_") and len(conversation.id) == 5 + 48
    assert conversation.owner == "alice" and conversation.metadata == {"topic": "demo"} and conversation.item_count == 4
    assert [i.type for i in items] == ["message", "message", "function_call", "function_call_output"]
    assert [i.id[: i.id.index("_")] for i in items] == ["msg", "msg", "fc", "fco"] and items[3].id == "fco_mine"
    assert [i.position for i in items] == [0, 1, 2, 3]
    assert items[0].item == {"id": items[0].id, "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    assert items[1].item["content"] == [{"type": "output_text", "text": "hello", "annotations": []}]
    assert conversation.size_bytes == sum(p.size for p in prepare_items([i.item for i in items]))
    assert await store.conversation_history(conversation.id, "alice") == [i.item for i in items]


async def test_an_item_with_a_null_id_is_given_one(store: ConversationStore) -> None:
    # Found by test_conversation_input's property test: the null id overwrote the new one (500).
    _, items = await store.create_conversation("alice", items=[{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}", "id": None}])
    assert items[0].id.startswith("fc_") and items[0].item["id"] == items[0].id


@pytest.mark.parametrize(
    ("item", "param"),
    [
        ("just text", "items[0]"),
        ({"content": "no type or role"}, "items[0].type"),
        ({"type": "message", "role": "robot", "content": "x"}, "items[0].role"),
        ({"type": "message", "role": "user", "content": 7}, "items[0].content"),
        ({"type": "message", "role": "user", "content": "x", "id": 5}, "items[0].id"),
    ],
)
async def test_bad_items_are_invalid_argument_naming_the_field(store: ConversationStore, item: Any, param: str) -> None:
    error = await refusal(store.create_conversation("alice", items=[item]))
    assert (error.status, error.metadata["param"]) == ("INVALID_ARGUMENT", param)
    assert (await store.list_conversations("alice", page_size=10)).conversations == []  # nothing was created


async def test_metadata_follows_openais_limits(store: ConversationStore) -> None:
    assert (await refusal(store.create_conversation("alice", metadata={f"k{i}": "v" for i in range(17)}))).metadata["param"] == "metadata"
    assert (await refusal(store.create_conversation("alice", metadata={"k" * 65: "v"}))).metadata["param"] == "metadata"
    assert (await refusal(store.create_conversation("alice", metadata={"k": "v" * 513}))).metadata["param"] == "metadata"
    conversation, _ = await store.create_conversation("alice", metadata={f"k{i}": "v" * 512 for i in range(16)})
    assert len(conversation.metadata) == 16


async def test_another_owner_gets_not_found_exactly_as_for_an_unknown_id(store: ConversationStore) -> None:
    conversation, items = await store.create_conversation("alice", items=[user("secret")])
    for call in (
        store.get_conversation(conversation.id, "mallory"),
        store.update_conversation(conversation.id, "mallory", metadata={"owner": "mallory"}),
        # Another owner's item is the conversation's NOT_FOUND: nothing says the item exists.
        store.get_item(conversation.id, items[0].id, "mallory"),
        store.delete_item(conversation.id, items[0].id, "mallory"),
        store.list_items(conversation.id, "mallory", page_size=10),
        store.append_items(conversation.id, "mallory", [user("x")]),
        store.delete_conversation(conversation.id, "mallory"),
        store.conversation_history(conversation.id, "mallory"),
    ):
        foreign = await refusal(call)
        assert (foreign.status, foreign.reason, foreign.message) == ("NOT_FOUND", "CONVERSATION_NOT_FOUND", f"no conversation {conversation.id!r}")
    unknown = await refusal(store.get_conversation("conv_nope", "alice"))
    assert (unknown.status, unknown.reason) == ("NOT_FOUND", "CONVERSATION_NOT_FOUND")
    assert http_status_of(unknown)[0] == 404
    # Nothing mallory tried changed alice's conversation; any owner (None: admin) sees it.
    assert (await store.get_conversation(conversation.id, None)).item_count == 1
    assert (await store.get_conversation(conversation.id, "alice")).metadata == {}
    assert texts((await store.list_items(conversation.id, "alice", page_size=10)).items) == ["secret"]
    assert (await store.list_conversations("mallory", page_size=10)).conversations == []


async def test_paging_in_both_orders_with_tokens_and_after(store: ConversationStore) -> None:
    conversation, _ = await store.create_conversation("alice", items=[user(f"m{i}") for i in range(7)])
    for order, expected in (("asc", [f"m{i}" for i in range(7)]), ("desc", [f"m{i}" for i in reversed(range(7))])):
        seen, token, pages = [], "", 0
        while True:
            page = await store.list_items(conversation.id, "alice", page_size=3, page_token=token, order=order)  # type: ignore[arg-type]
            seen += texts(page.items)
            pages += 1
            assert page.has_more == bool(page.next_page_token)
            token = page.next_page_token
            if not token:
                break
        assert (seen, pages) == (expected, 3)
    everything = (await store.list_items(conversation.id, "alice", page_size=100)).items
    third = everything[2].id
    assert texts((await store.list_items(conversation.id, "alice", page_size=2, after=third)).items) == ["m3", "m4"]
    assert texts((await store.list_items(conversation.id, "alice", page_size=5, after=third, order="desc")).items) == ["m1", "m0"]
    last = await store.list_items(conversation.id, "alice", page_size=5, after=everything[-1].id)
    assert (last.items, last.has_more, last.next_page_token) == ([], False, "")
    assert (await refusal(store.list_items(conversation.id, "alice", page_size=5, after="msg_unknown"))).metadata["param"] == "after"


async def test_a_page_token_only_continues_the_listing_it_came_from(store: ConversationStore) -> None:
    first, _ = await store.create_conversation("alice", items=[user(f"a{i}") for i in range(3)])
    second, _ = await store.create_conversation("alice", items=[user(f"b{i}") for i in range(3)])
    token = (await store.list_items(first.id, "alice", page_size=1)).next_page_token
    for bad in (
        store.list_items(second.id, "alice", page_size=1, page_token=token),  # another conversation
        store.list_items(first.id, "alice", page_size=1, page_token=token, order="desc"),  # another order
        store.list_items(first.id, "alice", page_size=1, page_token="%%%garbage"),
        store.list_items(first.id, "alice", page_size=1, page_token="e30"),  # {} in base64: well-formed, not ours
    ):
        error = await refusal(bad)
        assert (error.status, error.metadata["param"]) == ("INVALID_ARGUMENT", "page_token")
    listing = await store.list_conversations("alice", page_size=1)
    assert (await refusal(store.list_conversations(None, page_size=1, page_token=listing.next_page_token))).metadata["param"] == "page_token"


async def test_listing_conversations_newest_first_per_owner_or_all(backend: Backend) -> None:
    clock = Clock()
    store = backend.store(clock)
    made: dict[str, list[str]] = {"alice": [], "bob": []}
    for _ in range(5):
        for owner in made:
            clock.now += 1
            made[owner].append((await store.create_conversation(owner))[0].id)
    seen, token = [], ""
    while True:
        page = await store.list_conversations("alice", page_size=2, page_token=token)
        assert all(c.owner == "alice" for c in page.conversations)
        seen += [c.id for c in page.conversations]
        if not (token := page.next_page_token):
            break
    assert seen == made["alice"][::-1]
    everyone = (await store.list_conversations(None, page_size=100)).conversations
    assert len(everyone) == 10 and [c.created_at for c in everyone] == sorted((c.created_at for c in everyone), reverse=True)


async def test_the_caps_refuse_an_append_whole(backend: Backend) -> None:
    store = backend.store(max_items=5, max_bytes=10_000)
    conversation, _ = await store.create_conversation("alice", items=[user("one"), user("two")])
    too_many = await refusal(store.append_items(conversation.id, "alice", [user(f"x{i}") for i in range(4)]))
    assert (too_many.status, too_many.reason, too_many.metadata["limit"], too_many.metadata["param"]) == (
        "INVALID_ARGUMENT",
        "CONVERSATION_TOO_LARGE",
        "5",
        "items",
    )
    assert http_status_of(too_many)[0] == 400  # not a 429: retrying cannot help
    assert (await store.get_conversation(conversation.id, "alice")).item_count == 2  # not even the first three went in
    assert len(await store.append_items(conversation.id, "alice", [user("three"), user("four"), user("five")])) == 3
    assert (await refusal(store.append_items(conversation.id, "alice", [user("six")]))).reason == "CONVERSATION_TOO_LARGE"
    # Bytes: one big item over the cap, into a conversation that has room for items.
    roomy, _ = await store.create_conversation("alice")
    big = await refusal(store.append_items(roomy.id, "alice", [user("y" * 5000), user("z" * 5000)]))
    assert (big.reason, big.metadata["limit_kind"]) == ("CONVERSATION_TOO_LARGE", "bytes")
    assert (await store.get_conversation(roomy.id, "alice")).size_bytes == 0
    assert (await refusal(store.create_conversation("alice", items=[user(f"x{i}") for i in range(6)]))).reason == "CONVERSATION_TOO_LARGE"


async def test_duplicate_item_ids_are_refused_and_nothing_is_added(store: ConversationStore) -> None:
    conversation, items = await store.create_conversation("alice", items=[user("one")])
    again = await refusal(store.append_items(conversation.id, "alice", [user("two"), {**items[0].item}]))
    assert (again.reason, again.metadata["param"]) == ("DUPLICATE_ITEM", "items[1].id")
    twice = await refusal(store.append_items(conversation.id, "alice", [{**user("a"), "id": "msg_x"}, {**user("b"), "id": "msg_x"}]))
    assert twice.reason == "DUPLICATE_ITEM"
    assert (await store.get_conversation(conversation.id, "alice")).item_count == 1


async def test_concurrent_appends_get_distinct_consecutive_positions(backend: Backend) -> None:
    # Two stores on one file (one Redis) stand for two processes (replicas) sharing it.
    stores = [backend.store(), backend.store()]
    conversation, _ = await stores[0].create_conversation("alice")
    await asyncio.gather(*(stores[i % 2].append_items(conversation.id, "alice", [user(f"{i}a"), user(f"{i}b")]) for i in range(20)))
    items = (await stores[1].list_items(conversation.id, "alice", page_size=100)).items
    assert [i.position for i in items] == list(range(40))
    # Each append's two items are adjacent: appends do not interleave.
    assert all(texts(items[i : i + 2])[0][:-1] == texts(items[i : i + 2])[1][:-1] for i in range(0, 40, 2))
    assert (await stores[0].get_conversation(conversation.id, "alice")).item_count == 40


async def test_conversations_expire_after_their_last_change_and_are_purged(backend: Backend) -> None:
    clock = Clock()
    store = backend.store(clock, ttl_s=100.0)
    idle, _ = await store.create_conversation("alice", items=[user("old")])
    busy, _ = await store.create_conversation("alice")
    clock.now += 60
    await store.append_items(busy.id, "alice", [user("renewed")])  # busy now lives until +160
    clock.now += 50  # +110: idle is past its TTL, busy is not
    assert (await refusal(store.get_conversation(idle.id, "alice"))).reason == "CONVERSATION_NOT_FOUND"
    assert (await refusal(store.append_items(idle.id, "alice", [user("too late")]))).reason == "CONVERSATION_NOT_FOUND"
    assert (await store.get_conversation(busy.id, "alice")).expires_at == clock.now - 50 + 100
    assert [c.id for c in (await store.list_conversations("alice", page_size=10)).conversations] == [busy.id]
    # The rows are gone once purged, not just hidden.
    assert await store.purge_expired() == 1
    assert await backend.stored_conversation_ids() == {busy.id}
    assert await backend.stored_item_ids() == {(await store.list_items(busy.id, "alice", page_size=1)).items[0].id}


async def test_writes_purge_expired_rows_by_themselves(backend: Backend) -> None:
    clock = Clock()
    store = backend.store(clock, ttl_s=10.0)
    old, _ = await store.create_conversation("alice", items=[user("x")])
    clock.now += 120  # past the TTL and the purge interval
    await store.create_conversation("bob")
    assert old.id not in await backend.stored_conversation_ids()


async def test_deleting_a_conversation_removes_its_rows(backend: Backend) -> None:
    store = backend.store()
    conversation, _ = await store.create_conversation("alice", items=[user("bye")])
    deleted = await store.delete_conversation(conversation.id, "alice")
    assert deleted.id == conversation.id
    assert (await refusal(store.get_conversation(conversation.id, "alice"))).reason == "CONVERSATION_NOT_FOUND"
    assert (await refusal(store.delete_conversation(conversation.id, "alice"))).reason == "CONVERSATION_NOT_FOUND"
    assert await backend.stored_conversation_ids() == await backend.stored_item_ids() == set()


async def test_an_update_replaces_the_metadata_and_renews_the_ttl(backend: Backend) -> None:
    clock = Clock()
    store = backend.store(clock, ttl_s=100.0)
    conversation, _ = await store.create_conversation("alice", metadata={"topic": "weather", "lang": "en"}, items=[user("hi")])
    clock.now += 60
    updated = await store.update_conversation(conversation.id, "alice", metadata={"topic": "travel"})
    # Replaced whole, as OpenAI's update: "lang" is gone. An update is activity: the TTL restarts.
    assert updated.metadata == {"topic": "travel"} and (updated.updated_at, updated.expires_at) == (clock.now, clock.now + 100)
    assert (updated.created_at, updated.item_count, updated.size_bytes) == (conversation.created_at, 1, conversation.size_bytes)
    assert await store.get_conversation(conversation.id, "alice") == updated
    clock.now += 90  # +150: past the creation's TTL, within the update's
    assert (await store.get_conversation(conversation.id, "alice")).metadata == {"topic": "travel"}
    # Any owner (None: an admin) may update; an empty mapping clears the metadata.
    assert (await store.update_conversation(conversation.id, None, metadata={})).metadata == {}
    for bad in ({f"k{i}": "v" for i in range(17)}, {"k" * 65: "v"}, {"k": "v" * 513}, {"k": 1}):
        error = await refusal(store.update_conversation(conversation.id, "alice", metadata=bad))  # type: ignore[dict-item]
        assert (error.status, error.metadata["param"]) == ("INVALID_ARGUMENT", "metadata")
    assert (await store.get_conversation(conversation.id, "alice")).metadata == {}  # the refused ones changed nothing
    clock.now += 101
    assert (await refusal(store.update_conversation(conversation.id, "alice", metadata={"a": "b"}))).reason == "CONVERSATION_NOT_FOUND"


async def test_one_item_is_read_and_deleted_for_real(backend: Backend) -> None:
    clock = Clock()
    store = backend.store(clock, ttl_s=100.0)
    conversation, items = await store.create_conversation("alice", items=[user("keep"), user("drop"), {**user("also keep"), "id": "notes/1"}])
    assert await store.get_item(conversation.id, items[1].id, "alice") == items[1]
    assert (await store.get_item(conversation.id, "notes/1", None)).position == 2  # an id with "/" is an id like any
    first_page = await store.list_items(conversation.id, "alice", page_size=1)
    clock.now += 60
    after, deleted = await store.delete_item(conversation.id, items[1].id, "alice")
    assert deleted == items[1]
    # The counts the caps check shrink by it, and a deletion is activity: the TTL restarts.
    keep_bytes = sum(p.size for p in prepare_items([items[0].item, items[2].item]))
    assert (after.item_count, after.size_bytes, after.updated_at, after.expires_at) == (2, keep_bytes, clock.now, clock.now + 100)
    assert await store.get_conversation(conversation.id, "alice") == after
    assert [i["id"] for i in await store.conversation_history(conversation.id, "alice")] == [items[0].id, "notes/1"]
    # The others keep their positions, and a token from before the deletion still continues.
    rest = await store.list_items(conversation.id, "alice", page_size=10, page_token=first_page.next_page_token)
    assert [(i.id, i.position) for i in rest.items] == [("notes/1", 2)]
    for call in (store.get_item(conversation.id, items[1].id, "alice"), store.delete_item(conversation.id, items[1].id, "alice")):
        gone = await refusal(call)
        assert (gone.status, gone.reason, gone.metadata["item"]) == ("NOT_FOUND", "CONVERSATION_ITEM_NOT_FOUND", items[1].id)
        assert http_status_of(gone)[0] == 404
    assert (await refusal(store.list_items(conversation.id, "alice", page_size=5, after=items[1].id))).metadata["param"] == "after"
    assert items[1].id not in await backend.stored_item_ids()
    # Its id is free again; a new item goes after every position ever used.
    (again,) = await store.append_items(conversation.id, "alice", [items[1].item])
    assert (again.id, again.position) == (items[1].id, 3)
    assert (await refusal(store.get_item("conv_nope", items[0].id, "alice"))).reason == "CONVERSATION_NOT_FOUND"


async def test_a_deleted_item_makes_room_under_the_caps(backend: Backend) -> None:
    store = backend.store(max_items=2, max_bytes=6000)
    conversation, items = await store.create_conversation("alice", items=[user("x" * 5000), user("small")])
    assert (await refusal(store.append_items(conversation.id, "alice", [user("third")]))).metadata["limit_kind"] == "items"
    await store.delete_item(conversation.id, items[1].id, "alice")
    assert (await refusal(store.append_items(conversation.id, "alice", [user("y" * 1000)]))).metadata["limit_kind"] == "bytes"
    after, _ = await store.delete_item(conversation.id, items[0].id, "alice")
    assert (after.item_count, after.size_bytes) == (0, 0)
    assert len(await store.append_items(conversation.id, "alice", [user("y" * 1000), user("z")])) == 2


def response(response_id: str, text: str, created_at: int = 1_700_000_000) -> dict[str, Any]:
    output = [
        {
            "type": "message",
            "id": f"msg_{response_id}",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
    ]
    return {"id": response_id, "object": "response", "created_at": created_at, "status": "completed", "output": output}


async def test_responses_chain_back_through_previous_response_id(store: ConversationStore) -> None:
    first = await store.put_response("alice", response("resp_1", "A1"), input_items=[user("Q1")])
    assert first.input_items[0]["id"].startswith("msg_") and first.output_items[0]["id"] == "msg_resp_1"
    assert first.created_at == 1_700_000_000 and first.expires_at > first.created_at
    await store.put_response("alice", response("resp_2", "A2"), input_items=[user("Q2")], previous_response_id="resp_1")
    third = await store.put_response("alice", response("resp_3", "A3"), input_items=[user("Q3")], previous_response_id="resp_2")
    assert third.input_item_ids == [third.input_items[0]["id"]]
    chain = await store.response_chain("resp_3", "alice")
    assert [r.id for r in chain] == ["resp_1", "resp_2", "resp_3"]
    history = history_of(chain)
    assert [(i["role"], i["content"][0]["text"]) for i in history] == [
        ("user", "Q1"),
        ("assistant", "A1"),
        ("user", "Q2"),
        ("assistant", "A2"),
        ("user", "Q3"),
        ("assistant", "A3"),
    ]
    got = await store.get_response("resp_2", "alice")
    assert got.response["output"][0]["content"][0]["text"] == "A2" and got.previous_response_id == "resp_1"
    page = await store.list_response_input_items("resp_3", "alice", page_size=10)
    assert texts(page.items) == ["Q3"]
    # Deleting a middle response cuts the chain there; the rows are gone.
    await store.delete_response("resp_2", "alice")
    assert [r.id for r in await store.response_chain("resp_3", "alice")] == ["resp_3"]
    assert (await refusal(store.get_response("resp_2", "alice"))).reason == "RESPONSE_NOT_FOUND"


async def test_responses_belong_to_their_owner_and_expire(backend: Backend) -> None:
    clock = Clock()
    store = backend.store(clock, ttl_s=100.0)
    await store.put_response("alice", response("resp_a", "mine"), input_items=[user("q")])
    for call in (
        store.get_response("resp_a", "mallory"),
        store.delete_response("resp_a", "mallory"),
        store.response_chain("resp_a", "mallory"),
        store.list_response_input_items("resp_a", "mallory", page_size=1),
    ):
        error = await refusal(call)
        assert (error.status, error.reason) == ("NOT_FOUND", "RESPONSE_NOT_FOUND")
    # Continuing from another key's response is as impossible as from one that never was.
    foreign = await refusal(store.put_response("mallory", response("resp_m", "x"), input_items=[], previous_response_id="resp_a"))
    assert (foreign.reason, foreign.metadata["param"]) == ("RESPONSE_NOT_FOUND", "previous_response_id")
    assert (await refusal(store.get_response("resp_m", "mallory"))).reason == "RESPONSE_NOT_FOUND"  # nothing stored
    clock.now += 101
    assert (await refusal(store.get_response("resp_a", "alice"))).reason == "RESPONSE_NOT_FOUND"
    assert await store.purge_expired() == 1


async def test_a_turn_lands_in_its_conversation_whole_or_not_at_all(backend: Backend) -> None:
    store = backend.store(max_items=3)
    conversation, _ = await store.create_conversation("alice", items=[user("Q1")])
    stored = await store.put_response("alice", response("resp_1", "A1"), input_items=[user("Q2")], conversation_id=conversation.id, append_to_conversation=True)
    assert stored.conversation_id == conversation.id
    history = await store.conversation_history(conversation.id, "alice")
    assert [i["content"][0]["text"] for i in history] == ["Q1", "Q2", "A1"]
    assert history[1]["id"] == stored.input_items[0]["id"] and history[2]["id"] == "msg_resp_1"
    # Over the cap: neither the response nor its items are kept.
    over = await refusal(
        store.put_response("alice", response("resp_2", "A2"), input_items=[user("Q3")], conversation_id=conversation.id, append_to_conversation=True)
    )
    assert over.reason == "CONVERSATION_TOO_LARGE"
    assert (await refusal(store.get_response("resp_2", "alice"))).reason == "RESPONSE_NOT_FOUND"
    assert (await store.get_conversation(conversation.id, "alice")).item_count == 3
    missing = await refusal(store.put_response("alice", response("resp_3", "x"), input_items=[], conversation_id="conv_nope"))
    assert (missing.reason, missing.metadata["param"]) == ("CONVERSATION_NOT_FOUND", "conversation")


async def test_output_items_without_ids_get_them_in_the_stored_response_too(store: ConversationStore) -> None:
    body = response("resp_x", "hi")
    del body["output"][0]["id"]
    stored = await store.put_response("alice", body, input_items=[])
    item_id = stored.output_items[0]["id"]
    assert item_id.startswith("msg_") and (await store.get_response("resp_x", "alice")).response["output"][0]["id"] == item_id


async def test_state_survives_another_store_on_the_same_storage(backend: Backend) -> None:
    store = backend.store()
    conversation, _ = await store.create_conversation("alice", items=[user("persist")])
    await store.put_response("alice", response("resp_p", "kept"), input_items=[user("q")])
    await store.close()
    reopened = backend.store()  # a restarted process, or another replica
    assert texts((await reopened.list_items(conversation.id, "alice", page_size=1)).items) == ["persist"]
    assert (await reopened.get_response("resp_p", "alice")).output_items[0]["content"][0]["text"] == "kept"


async def test_the_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    store = SQLiteConversationStore(path, clock=Clock(), **CAPS)
    await store.create_conversation("alice")
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)
    await store.close()
