"""The SQLite approval store: principal binding, single use (atomic, across processes sharing
the file), expiry with an injected clock, and the data folder created on first use."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from services.errors import GatewayError
from services.executor.approval_store import PendingApproval, SQLiteApprovalStore
from services.executor.events import ApprovalCall
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


async def refusal(coro: object) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        await coro  # type: ignore[misc]
    return caught.value


async def test_the_data_folder_is_created_on_first_use_and_state_only_leaves_by_claim(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "approvals.sqlite3"
    store = SQLiteApprovalStore(path, clock=Clock())
    assert not path.parent.exists()
    await store.create(approval())
    assert path.exists()
    seen = await store.get("apr_1", "alice")
    assert (seen.model_id, seen.calls[0].tool_name, seen.request, seen.state) == ("default/approver", "close_ticket", {"sampling": {"temperature": 0.5}}, "")
    claimed = await store.claim("apr_1", "alice")
    assert claimed.state == '{"the": "run state"}' and claimed.key_id == "alice"
    # The run state is gone from the file once claimed: only a tombstone stays.
    assert sqlite3.connect(path).execute("SELECT state FROM approvals").fetchall() == [(None,)]
    await store.close()


async def test_another_principal_gets_not_found_like_an_unknown_id(tmp_path: Path) -> None:
    store = SQLiteApprovalStore(tmp_path / "a.sqlite3", clock=Clock())
    await store.create(approval())
    foreign = await refusal(store.get("apr_1", "mallory"))
    unknown = await refusal(store.get("apr_404", "alice"))
    assert (foreign.status, foreign.reason) == (unknown.status, unknown.reason) == ("NOT_FOUND", "APPROVAL_NOT_FOUND")
    assert (await refusal(store.claim("apr_1", "mallory"))).reason == "APPROVAL_NOT_FOUND"
    assert (await store.claim("apr_1", "alice")).state  # mallory's attempts did not spend it
    await store.close()


async def test_a_second_claim_is_refused(tmp_path: Path) -> None:
    store = SQLiteApprovalStore(tmp_path / "a.sqlite3", clock=Clock())
    await store.create(approval())
    await store.claim("apr_1", "alice")
    again = await refusal(store.claim("apr_1", "alice"))
    assert (again.status, again.reason) == ("FAILED_PRECONDITION", "APPROVAL_ALREADY_RESOLVED")
    assert http_status_of(again)[0] == 409
    assert (await refusal(store.get("apr_1", "alice"))).reason == "APPROVAL_ALREADY_RESOLVED"
    await store.close()


def test_concurrent_claims_from_two_processes_sharing_the_file_have_one_winner(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    asyncio.run(SQLiteApprovalStore(path).create(approval(ttl=3600, now=time.time())))
    stores = [SQLiteApprovalStore(path) for _ in range(8)]  # one connection each, as separate workers have
    start = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def claim(store: SQLiteApprovalStore) -> None:
        start.wait()
        try:
            asyncio.run(store.claim("apr_1", "alice"))
            outcomes.append("won")
        except GatewayError as error:
            outcomes.append(error.reason)

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["APPROVAL_ALREADY_RESOLVED"] * 7 + ["won"]


async def test_an_expired_approval_cannot_be_read_or_claimed(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "a.sqlite3"
    store = SQLiteApprovalStore(path, clock=clock)
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
    rows = dict(sqlite3.connect(path).execute("SELECT id, state FROM approvals").fetchall())
    assert rows["apr_1"] is None and rows["apr_2"]
    clock.now += 2 * 24 * 3600
    await store.create(approval("apr_3", now=clock.now))
    assert (await refusal(store.get("apr_1", "alice"))).reason == "APPROVAL_NOT_FOUND"
    await store.close()
