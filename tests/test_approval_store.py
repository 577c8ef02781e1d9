"""The approval store contract, run against both implementations (the SQLite file and Redis, a
real redis-server): principal binding, single use (atomic, across processes or replicas
sharing the storage), expiry with an injected clock, and the pending count."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from services.errors import GatewayError
from services.executor.approval_store import ApprovalStore, PendingApproval, SQLiteApprovalStore
from services.executor.events import ApprovalCall
from services.executor.redis_approval_store import RedisApprovalStore
from services.state.redis_client import connect
from shim.errors import http_status_of


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def approval(approval_id: str = "apr_1", key_id: str = "alice", ttl: float = 60.0, now: float = 1_000_000.0) -> PendingApproval:
    return PendingApproval(
        approval_id=approval_id,
        key_id=key_id,
        model_id="default/approver",
        calls=(ApprovalCall("call_1", "close_ticket", '{"ticket_id": 1}', "Approver", "sdk"),),
        created_at=now,
        expires_at=now + ttl,
        request={"sampling": {"temperature": 0.5}},
        state='{"the": "run state"}',
    )


class Backend:
    """Where a test's stores keep approvals; ``store()`` opens another store on it (as another
    process or replica would); ``stored_states`` are the run states the storage still holds."""

    def store(self, clock: Clock | None = None) -> ApprovalStore:
        raise NotImplementedError

    async def stored_states(self) -> dict[str, str | None]:
        raise NotImplementedError

    async def release(self, store: ApprovalStore) -> None:
        """Close ``store`` and what it alone holds (in the event loop that used it)."""
        await store.close()

    async def close(self) -> None: ...


class SQLiteBackend(Backend):
    def __init__(self, path: Path) -> None:
        self.path = path

    def store(self, clock: Clock | None = None) -> ApprovalStore:
        return SQLiteApprovalStore(self.path, clock=clock or time.time)

    async def stored_states(self) -> dict[str, str | None]:
        return dict(sqlite3.connect(self.path).execute("SELECT id, state FROM approvals").fetchall())


class RedisBackend(Backend):
    def __init__(self, url: str) -> None:
        self.url = url
        self.raw = connect(url)
        self.clients: list[redis.Redis] = []

    def store(self, clock: Clock | None = None) -> ApprovalStore:
        client = connect(self.url)
        self.clients.append(client)
        return RedisApprovalStore(client, clock=clock or time.time)

    async def stored_states(self) -> dict[str, str | None]:
        states: dict[str, str | None] = {}
        async for key in self.raw.scan_iter(match="agw:apr:*"):
            name = key.decode()
            if not name.endswith(":state"):
                state = await self.raw.get(f"{name}:state")
                states[name.split(":")[2]] = state.decode() if state is not None else None
        return states

    async def release(self, store: ApprovalStore) -> None:
        assert isinstance(store, RedisApprovalStore)
        self.clients.remove(store._redis)
        await store._redis.aclose()

    async def close(self) -> None:
        for client in [*self.clients, self.raw]:
            await client.aclose()


@pytest.fixture(params=["sqlite", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    b: Backend = (
        SQLiteBackend(tmp_path / "data" / "approvals.sqlite3") if request.param == "sqlite" else RedisBackend(request.getfixturevalue("redis_server").url)
    )
    yield b
    await b.close()


async def refusal(coro: object) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        await coro  # type: ignore[misc]
    return caught.value


async def test_the_sqlite_data_folder_is_created_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "approvals.sqlite3"
    store = SQLiteApprovalStore(path, clock=Clock())
    assert not path.parent.exists()
    await store.create(approval())
    assert path.exists()
    await store.close()


async def test_the_run_state_only_leaves_by_claim_and_then_is_gone(backend: Backend) -> None:
    store = backend.store(Clock())
    await store.create(approval())
    seen = await store.get("apr_1", "alice")
    assert (seen.model_id, seen.calls, seen.request, seen.state) == ("default/approver", approval().calls, {"sampling": {"temperature": 0.5}}, "")
    assert (seen.created_at, seen.expires_at) == (1_000_000.0, 1_000_060.0)
    assert await backend.stored_states() == {"apr_1": '{"the": "run state"}'}
    claimed = await store.claim("apr_1", "alice")
    assert claimed.state == '{"the": "run state"}' and claimed.key_id == "alice" and claimed.calls == seen.calls
    # Only a tombstone stays: the run state is gone from the storage once claimed.
    assert await backend.stored_states() == {"apr_1": None}
    await store.close()


async def test_another_principal_gets_not_found_like_an_unknown_id(backend: Backend) -> None:
    store = backend.store(Clock())
    await store.create(approval())
    foreign = await refusal(store.get("apr_1", "mallory"))
    unknown = await refusal(store.get("apr_404", "alice"))
    assert (foreign.status, foreign.reason) == (unknown.status, unknown.reason) == ("NOT_FOUND", "APPROVAL_NOT_FOUND")
    assert (await refusal(store.claim("apr_1", "mallory"))).reason == "APPROVAL_NOT_FOUND"
    assert (await store.claim("apr_1", "alice")).state  # mallory's attempts did not spend it
    await store.close()


async def test_a_second_claim_is_refused(backend: Backend) -> None:
    store = backend.store(Clock())
    await store.create(approval())
    await store.claim("apr_1", "alice")
    again = await refusal(store.claim("apr_1", "alice"))
    assert (again.status, again.reason) == ("FAILED_PRECONDITION", "APPROVAL_ALREADY_RESOLVED")
    assert http_status_of(again)[0] == 409
    assert (await refusal(store.get("apr_1", "alice"))).reason == "APPROVAL_ALREADY_RESOLVED"
    await store.close()


def test_concurrent_claims_from_processes_sharing_the_storage_have_one_winner(backend: Backend) -> None:
    contenders = 8  # a store (one connection) and an event loop each, as separate workers or replicas have
    start = threading.Barrier(contenders)
    outcomes: list[str] = []

    async def create() -> None:
        store = backend.store()
        await store.create(approval(ttl=3600, now=time.time()))
        await backend.release(store)

    async def claim_once() -> None:
        store = backend.store()
        start.wait()
        try:
            await store.claim("apr_1", "alice")
            outcomes.append("won")
        except GatewayError as error:
            outcomes.append(error.reason)
        finally:
            await backend.release(store)

    asyncio.run(create())
    threads = [threading.Thread(target=asyncio.run, args=(claim_once(),)) for _ in range(contenders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["APPROVAL_ALREADY_RESOLVED"] * 7 + ["won"]


async def test_an_expired_approval_cannot_be_read_or_claimed(backend: Backend) -> None:
    clock = Clock()
    store = backend.store(clock)
    await store.create(approval(ttl=60))
    clock.now += 59.9
    assert (await store.get("apr_1", "alice")).approval_id == "apr_1"
    clock.now += 0.1
    for attempt in (store.get("apr_1", "alice"), store.claim("apr_1", "alice")):
        expired = await refusal(attempt)
        assert (expired.status, expired.reason) == ("FAILED_PRECONDITION", "APPROVAL_EXPIRED") and http_status_of(expired)[0] == 410
    # Another key still learns nothing, expired or not.
    assert (await refusal(store.get("apr_1", "mallory"))).reason == "APPROVAL_NOT_FOUND"
    # The next write drops the run state nobody can resume; a day later the tombstone goes too.
    await store.create(approval("apr_2", now=clock.now))
    rows = await backend.stored_states()
    assert rows["apr_1"] is None and rows["apr_2"]
    clock.now += 2 * 24 * 3600
    await store.create(approval("apr_3", now=clock.now))
    assert (await refusal(store.get("apr_1", "alice"))).reason == "APPROVAL_NOT_FOUND"
    await store.close()


async def test_pending_count_is_unresolved_and_unexpired_of_every_owner(backend: Backend) -> None:
    clock = Clock()
    store, other = backend.store(clock), backend.store(clock)  # two replicas count the same
    assert await store.pending_count() == 0
    await store.create(approval("apr_1", ttl=60))
    await other.create(approval("apr_2", key_id="bob", ttl=120))
    await store.create(approval("apr_3", ttl=120))
    assert await store.pending_count() == await other.pending_count() == 3
    await other.claim("apr_3", "alice")
    assert await store.pending_count() == 2
    clock.now += 60  # apr_1 expires
    assert await store.pending_count() == 1
    await store.close()
    await other.close()
