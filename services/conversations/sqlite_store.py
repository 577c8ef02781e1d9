"""The embedded conversation store: one SQLite file in ``GATEWAY_DATA_DIR``.

``conversations.sqlite3`` in WAL mode, opened (folder and schema created) on first use, shared
safely by every process that points at the same data dir (``--workers``, replicas on one
volume). sqlite3 blocks, so each call runs in a worker thread (``asyncio.to_thread``) behind
one connection lock, as the approval store does. Every write is one ``BEGIN IMMEDIATE``
transaction: an append reads the conversation's counters, checks the caps and inserts its
items at the next positions with no other writer in between, in this process or another.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

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
    MAX_PAGE_SIZE,
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
from services.errors import invalid_argument

__all__ = ["MAX_PAGE_SIZE", "SQLiteConversationStore"]

T = TypeVar("T")

# Expired rows are deleted by a write at most this often (per process), and by purge_expired.
_PURGE_INTERVAL_S = 60.0
_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    item_count INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    next_position INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_by_owner ON conversations (owner, created_at, id);
CREATE INDEX IF NOT EXISTS conversations_by_time ON conversations (created_at, id);
CREATE INDEX IF NOT EXISTS conversations_expiry ON conversations (expires_at);
CREATE TABLE IF NOT EXISTS conversation_items (
    conversation_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    item TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (conversation_id, position)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS conversation_items_by_id ON conversation_items (conversation_id, id);
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    response TEXT NOT NULL,
    previous_response_id TEXT,
    conversation_id TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_expiry ON responses (expires_at);
CREATE TABLE IF NOT EXISTS response_items (
    response_id TEXT NOT NULL,
    kind INTEGER NOT NULL,
    position INTEGER NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    item TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (response_id, kind, position)
) WITHOUT ROWID;
"""

_INPUT, _OUTPUT = 0, 1
_CONVERSATION_COLUMNS = "id, owner, metadata, created_at, updated_at, expires_at, item_count, size_bytes"
# An item row as _item_of reads it, with the size its JSON counts towards the byte cap.
_ITEM_COLUMNS = "position, id, type, item, created_at, length(CAST(item AS BLOB))"
_RESPONSE_COLUMNS = "id, owner, response, previous_response_id, conversation_id, created_at, expires_at"
# Where items live: the conversation's, or a stored response's input. (table, key condition)
_CONVERSATION_ITEMS = ("conversation_items", "conversation_id = ?")
_RESPONSE_INPUT = ("response_items", f"response_id = ? AND kind = {_INPUT}")


class SQLiteConversationStore:
    """``ConversationStore`` over one SQLite file (see the module doc)."""

    def __init__(self, path: Path, *, ttl_s: float, max_items: int, max_bytes: int, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self.ttl_s = ttl_s
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._last_purge = -math.inf

    # ------------------------------------------------------------------ the protocol

    async def create_conversation(
        self, owner: str, *, metadata: Mapping[str, str] | None = None, items: Sequence[Mapping[str, Any]] = ()
    ) -> tuple[Conversation, list[Item]]:
        clean = validate_metadata(metadata)
        prepared = prepare_items(items)
        return await asyncio.to_thread(self._create_conversation, owner, clean, prepared)

    async def get_conversation(self, conversation_id: str, owner: str | None) -> Conversation:
        return await asyncio.to_thread(self._read, lambda db: self._conversation(db, conversation_id, owner))

    async def list_conversations(self, owner: str | None, *, page_size: int, page_token: str = "") -> ConversationPage:
        return await asyncio.to_thread(self._read, lambda db: self._list_conversations(db, owner, clamp_page_size(page_size), page_token))

    async def update_conversation(self, conversation_id: str, owner: str | None, *, metadata: Mapping[str, str]) -> Conversation:
        clean = validate_metadata(metadata)

        def write(db: sqlite3.Connection, now: float) -> Conversation:
            conversation = self._conversation(db, conversation_id, owner)
            db.execute(
                "UPDATE conversations SET metadata = ?, updated_at = ?, expires_at = ? WHERE id = ?",
                (json_wire.dumps(clean), now, now + self.ttl_s, conversation.id),
            )
            return self._conversation(db, conversation.id, owner)

        return await asyncio.to_thread(self._write, write)

    async def delete_conversation(self, conversation_id: str, owner: str | None) -> Conversation:
        return await asyncio.to_thread(self._write, lambda db, now: self._delete_conversation(db, conversation_id, owner))

    async def append_items(self, conversation_id: str, owner: str, items: Sequence[Mapping[str, Any]]) -> list[Item]:
        prepared = prepare_items(items)
        return await asyncio.to_thread(self._write, lambda db, now: self._append(db, conversation_id, owner, prepared, now))

    async def list_items(
        self, conversation_id: str, owner: str | None, *, page_size: int, page_token: str = "", order: Order = "asc", after: str = ""
    ) -> ItemPage:
        def read(db: sqlite3.Connection) -> ItemPage:
            conversation = self._conversation(db, conversation_id, owner)
            return self._page(db, _CONVERSATION_ITEMS, conversation.id, f"c:{conversation.id}", clamp_page_size(page_size), page_token, order, after)

        return await asyncio.to_thread(self._read, read)

    async def get_item(self, conversation_id: str, item_id: str, owner: str | None) -> Item:
        def read(db: sqlite3.Connection) -> Item:
            return _item_of(self._item_row(db, self._conversation(db, conversation_id, owner), item_id))

        return await asyncio.to_thread(self._read, read)

    async def delete_item(self, conversation_id: str, item_id: str, owner: str | None) -> tuple[Conversation, Item]:
        def write(db: sqlite3.Connection, now: float) -> tuple[Conversation, Item]:
            conversation = self._conversation(db, conversation_id, owner)
            row = self._item_row(db, conversation, item_id)
            db.execute("DELETE FROM conversation_items WHERE conversation_id = ? AND position = ?", (conversation.id, row[0]))
            # next_position stays: the other items keep their positions, and page tokens theirs.
            db.execute(
                "UPDATE conversations SET item_count = item_count - 1, size_bytes = size_bytes - ?, updated_at = ?, expires_at = ? WHERE id = ?",
                (row[5], now, now + self.ttl_s, conversation.id),
            )
            return self._conversation(db, conversation.id, owner), _item_of(row)

        return await asyncio.to_thread(self._write, write)

    async def conversation_history(self, conversation_id: str, owner: str) -> list[dict[str, Any]]:
        def read(db: sqlite3.Connection) -> list[dict[str, Any]]:
            self._conversation(db, conversation_id, owner)
            rows = db.execute("SELECT item FROM conversation_items WHERE conversation_id = ? ORDER BY position", (conversation_id,))
            return [json_wire.loads(item) for (item,) in rows]

        return await asyncio.to_thread(self._read, read)

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
        response_id, body, prepared_in, prepared_out = prepared.id, prepared.body, prepared.input, prepared.output

        def write(db: sqlite3.Connection, now: float) -> StoredResponse:
            created_at = prepared.created(now)
            if previous_response_id is not None:
                self._response_row(db, previous_response_id, owner, param="previous_response_id")
            if conversation_id is not None:
                self._conversation(db, conversation_id, owner, param="conversation")
            existing = db.execute("SELECT owner FROM responses WHERE id = ?", (response_id,)).fetchone()
            if existing is not None and existing[0] != owner:
                raise invalid_argument(f"response id {response_id!r} is taken", "id")
            if append_to_conversation:
                assert conversation_id is not None
                self._append(db, conversation_id, owner, [*prepared_in, *prepared_out], now, param="input")
            expires_at = now + self.ttl_s
            db.execute("DELETE FROM response_items WHERE response_id = ?", (response_id,))
            db.execute(
                "INSERT OR REPLACE INTO responses (id, owner, response, previous_response_id, conversation_id, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (response_id, owner, json_wire.dumps(body), previous_response_id, conversation_id, created_at, expires_at),
            )
            db.executemany(
                "INSERT INTO response_items (response_id, kind, position, id, type, item, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (response_id, kind, i, p.id, p.type, p.json, now)
                    for kind, batch in ((_INPUT, prepared_in), (_OUTPUT, prepared_out))
                    for i, p in enumerate(batch)
                ],
            )
            return StoredResponse(
                id=response_id,
                owner=owner,
                response=body,
                input_items=[p.item for p in prepared_in],
                output_items=[p.item for p in prepared_out],
                previous_response_id=previous_response_id,
                conversation_id=conversation_id,
                created_at=created_at,
                expires_at=expires_at,
            )

        return await asyncio.to_thread(self._write, write)

    async def get_response(self, response_id: str, owner: str | None) -> StoredResponse:
        return await asyncio.to_thread(self._read, lambda db: self._stored_response(db, self._response_row(db, response_id, owner)))

    async def delete_response(self, response_id: str, owner: str | None) -> StoredResponse:
        def write(db: sqlite3.Connection, now: float) -> StoredResponse:
            stored = self._stored_response(db, self._response_row(db, response_id, owner))
            db.execute("DELETE FROM response_items WHERE response_id = ?", (stored.id,))
            db.execute("DELETE FROM responses WHERE id = ?", (stored.id,))
            return stored

        return await asyncio.to_thread(self._write, write)

    async def response_chain(self, response_id: str, owner: str) -> list[StoredResponse]:
        def read(db: sqlite3.Connection) -> list[StoredResponse]:
            chain = [self._stored_response(db, self._response_row(db, response_id, owner))]
            seen = {response_id}
            while (previous := chain[-1].previous_response_id) is not None and previous not in seen:
                seen.add(previous)
                row = self._live_response_row(db, previous, owner)
                if row is None:  # deleted or expired: the history starts after it
                    break
                chain.append(self._stored_response(db, row))
            chain.reverse()
            return chain

        return await asyncio.to_thread(self._read, read)

    async def list_response_input_items(
        self, response_id: str, owner: str | None, *, page_size: int, page_token: str = "", order: Order = "asc", after: str = ""
    ) -> ItemPage:
        def read(db: sqlite3.Connection) -> ItemPage:
            row = self._response_row(db, response_id, owner)
            return self._page(db, _RESPONSE_INPUT, row[0], f"r:{row[0]}", clamp_page_size(page_size), page_token, order, after)

        return await asyncio.to_thread(self._read, read)

    async def purge_expired(self) -> int:
        return await asyncio.to_thread(self._write, lambda db, now: self._purge(db, now), purge=False)

    async def ready(self) -> None:
        """A local file: nothing to reach (a full disk fails the write itself)."""

    async def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # ------------------------------------------------------------------ transactions

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self._path, timeout=10, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            # WAL with synchronous=NORMAL survives any process crash; only an OS crash or power
            # loss may drop the last commits.
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            self._db = db
        return self._db

    @contextlib.contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        db.execute(begin)
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _read(self, read: Callable[[sqlite3.Connection], T]) -> T:
        # One (deferred) transaction: every statement of a read sees the same snapshot.
        with self._lock, self._transaction("BEGIN") as db:
            return read(db)

    def _write(self, write: Callable[[sqlite3.Connection, float], T], *, purge: bool = True) -> T:
        with self._lock:
            now = self._clock()
            with self._transaction("BEGIN IMMEDIATE") as db:
                result = write(db, now)
            if purge and now - self._last_purge >= _PURGE_INTERVAL_S:
                with self._transaction("BEGIN IMMEDIATE") as db:
                    self._purge(db, now)
        return result

    def _purge(self, db: sqlite3.Connection, now: float) -> int:
        self._last_purge = now
        db.execute("DELETE FROM conversation_items WHERE conversation_id IN (SELECT id FROM conversations WHERE expires_at <= ?)", (now,))
        gone = db.execute("DELETE FROM conversations WHERE expires_at <= ?", (now,)).rowcount
        db.execute("DELETE FROM response_items WHERE response_id IN (SELECT id FROM responses WHERE expires_at <= ?)", (now,))
        gone += db.execute("DELETE FROM responses WHERE expires_at <= ?", (now,)).rowcount
        return gone

    # ------------------------------------------------------------------ conversations

    def _create_conversation(self, owner: str, metadata: dict[str, str], prepared: list[PreparedItem]) -> tuple[Conversation, list[Item]]:
        conversation_id = new_conversation_id()

        def write(db: sqlite3.Connection, now: float) -> tuple[Conversation, list[Item]]:
            db.execute(
                "INSERT INTO conversations (id, owner, metadata, created_at, updated_at, expires_at, item_count, size_bytes, next_position)"
                " VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0)",
                (conversation_id, owner, json_wire.dumps(metadata), now, now, now + self.ttl_s),
            )
            items = self._append(db, conversation_id, owner, prepared, now)
            return self._conversation(db, conversation_id, owner), items

        return self._write(write)

    def _conversation(self, db: sqlite3.Connection, conversation_id: str, owner: str | None, *, param: str | None = None) -> Conversation:
        row = db.execute(f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None or (owner is not None and row[1] != owner) or row[5] <= self._clock():
            raise conversation_not_found(conversation_id, param)
        return _conversation_of(row)

    def _list_conversations(self, db: sqlite3.Connection, owner: str | None, size: int, page_token: str) -> ConversationPage:
        scope = owner if owner is not None else "*"
        where, params = ["expires_at > ?"], list[Any]([self._clock()])
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        bound = conversation_bound(page_token, scope)
        if bound is not None:
            where.append("(created_at, id) < (?, ?)")
            params += list(bound)
        rows = db.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT ?", (*params, size + 1)
        ).fetchall()
        return conversation_page([_conversation_of(row) for row in rows], size, scope)

    def _delete_conversation(self, db: sqlite3.Connection, conversation_id: str, owner: str | None) -> Conversation:
        conversation = self._conversation(db, conversation_id, owner)
        db.execute("DELETE FROM conversation_items WHERE conversation_id = ?", (conversation.id,))
        db.execute("DELETE FROM conversations WHERE id = ?", (conversation.id,))
        return conversation

    def _item_row(self, db: sqlite3.Connection, conversation: Conversation, item_id: str) -> tuple[Any, ...]:
        row: tuple[Any, ...] | None = db.execute(
            f"SELECT {_ITEM_COLUMNS} FROM conversation_items WHERE conversation_id = ? AND id = ?", (conversation.id, item_id)
        ).fetchone()
        if row is None:
            raise conversation_item_not_found(conversation.id, item_id)
        return row

    def _append(
        self, db: sqlite3.Connection, conversation_id: str, owner: str, prepared: Sequence[PreparedItem], now: float, *, param: str = "items"
    ) -> list[Item]:
        """Inside the caller's immediate transaction: all of ``prepared`` or nothing."""
        conversation = self._conversation(db, conversation_id, owner, param=None if param == "items" else "conversation")
        refuse_repeated_ids(prepared, param)
        ids = [p.id for p in prepared]
        for start in range(0, len(ids), 500):  # well under SQLite's bound-parameter limit
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            taken = db.execute(f"SELECT id FROM conversation_items WHERE conversation_id = ? AND id IN ({marks}) LIMIT 1", (conversation.id, *chunk)).fetchone()
            if taken is not None:
                raise duplicate_in_conversation(conversation.id, taken[0], param, ids.index(taken[0]))
        if conversation.item_count + len(prepared) > self.max_items:
            raise conversation_too_large(conversation.id, what="items", limit=self.max_items, param=param)
        added_bytes = sum(p.size for p in prepared)
        if conversation.size_bytes + added_bytes > self.max_bytes:
            raise conversation_too_large(conversation.id, what="bytes", limit=self.max_bytes, param=param)
        (first,) = db.execute("SELECT next_position FROM conversations WHERE id = ?", (conversation.id,)).fetchone()
        db.executemany(
            "INSERT INTO conversation_items (conversation_id, position, id, type, item, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(conversation.id, first + i, p.id, p.type, p.json, now) for i, p in enumerate(prepared)],
        )
        db.execute(
            "UPDATE conversations SET item_count = item_count + ?, size_bytes = size_bytes + ?, next_position = next_position + ?,"
            " updated_at = ?, expires_at = ? WHERE id = ?",
            (len(prepared), added_bytes, len(prepared), now, now + self.ttl_s, conversation.id),
        )
        return [Item(p.id, p.type, first + i, p.item, now) for i, p in enumerate(prepared)]

    # ------------------------------------------------------------------ paging items

    def _page(
        self,
        db: sqlite3.Connection,
        source: tuple[str, str],
        key: str,
        scope: str,
        size: int,
        page_token: str,
        order: Order,
        after: str,
    ) -> ItemPage:
        order = checked_order(order)
        table, where = source
        bound = item_bound(page_token, scope, order)
        if bound is None and after:
            found = db.execute(f"SELECT position FROM {table} WHERE {where} AND id = ?", (key, after)).fetchone()
            if found is None:
                raise after_not_found(after)
            bound = found[0]
        comparison, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
        condition, params = (f" AND position {comparison} ?", (key, bound)) if bound is not None else ("", (key,))
        rows = db.execute(f"SELECT {_ITEM_COLUMNS} FROM {table} WHERE {where}{condition} ORDER BY position {direction} LIMIT ?", (*params, size + 1)).fetchall()
        return item_page([_item_of(row) for row in rows], size, scope, order)

    # ------------------------------------------------------------------ responses

    def _live_response_row(self, db: sqlite3.Connection, response_id: str, owner: str | None) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = db.execute(f"SELECT {_RESPONSE_COLUMNS} FROM responses WHERE id = ?", (response_id,)).fetchone()
        if row is None or (owner is not None and row[1] != owner) or row[6] <= self._clock():
            return None
        return row

    def _response_row(self, db: sqlite3.Connection, response_id: str, owner: str | None, *, param: str | None = None) -> tuple[Any, ...]:
        row = self._live_response_row(db, response_id, owner)
        if row is None:
            raise response_not_found(response_id, param)
        return row

    def _stored_response(self, db: sqlite3.Connection, row: tuple[Any, ...]) -> StoredResponse:
        response_id, owner, body, previous, conversation_id, created_at, expires_at = row
        items: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
        for kind, item in db.execute("SELECT kind, item FROM response_items WHERE response_id = ? ORDER BY kind, position", (response_id,)):
            items[kind].append(json_wire.loads(item))
        return StoredResponse(
            id=response_id,
            owner=owner,
            response=json_wire.loads(body),
            input_items=items[_INPUT],
            output_items=items[_OUTPUT],
            previous_response_id=previous,
            conversation_id=conversation_id,
            created_at=created_at,
            expires_at=expires_at,
        )


def _item_of(row: tuple[Any, ...]) -> Item:
    position, item_id, item_type, item, created_at, _size = row
    return Item(id=item_id, type=item_type, position=position, item=json_wire.loads(item), created_at=created_at)


def _conversation_of(row: tuple[Any, ...]) -> Conversation:
    conversation_id, owner, metadata, created_at, updated_at, expires_at, item_count, size_bytes = row
    return Conversation(
        id=conversation_id,
        owner=owner,
        created_at=created_at,
        updated_at=updated_at,
        expires_at=expires_at,
        metadata=json_wire.loads(metadata),
        item_count=item_count,
        size_bytes=size_bytes,
    )
