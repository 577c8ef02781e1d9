"""RedisOverrideStore and RedisAuditLog against a real redis-server, each "replica" with a
client of its own: the same semantics as the in-memory stores, seen from everywhere."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
import redis.asyncio as redis
from prometheus_client import REGISTRY

from services.errors import GatewayError
from services.security.audit import AuditEvent, AuditLog
from services.security.config import RateLimit
from services.security.overrides import InMemoryOverrideStore, Override, new_override, utc_now
from services.security.ratelimit import InMemoryRateLimitStore
from services.security.redis_stores import OVERRIDE_REFRESH_S, RedisAuditLog, RedisOverrideStore, RedisRateLimitStore
from services.settings import GatewaySettings
from services.state.stores import SharedState
from tests.gateway_process import refused_port
from tests.redis_server import RedisServer
from tests.test_security_domain import T0, event

pytestmark = pytest.mark.asyncio


def grant(pattern: str = "labs/*", ttl: timedelta = timedelta(minutes=5), key_id: str = "user") -> Override:
    return new_override(action="use_model", pattern=pattern, effect="grant", ttl=ttl, key_id=key_id)


async def seen_within(check: Callable[[], Awaitable[bool]], limit_s: float) -> float:
    """Seconds until ``await check()`` is true, failing past ``limit_s``."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < limit_s, f"not seen within {limit_s} s"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def hgetall_calls(client: redis.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_hgetall", {}).get("calls", 0))


@pytest.fixture
async def override_stores(redis_clients: list[redis.Redis]) -> AsyncIterator[list[RedisOverrideStore]]:
    """One override store per client, as each replica has; closed (their subscriptions) after."""
    stores = [RedisOverrideStore(c) for c in redis_clients]
    yield stores
    for store in stores:
        await store.close()


async def test_overrides_made_or_deleted_on_one_replica_are_in_force_on_the_other_at_once(override_stores: list[RedisOverrideStore]) -> None:
    a, b = override_stores[:2]
    assert await b.active() == [] and await a.active() == []  # both hold a copy and subscribe
    await asyncio.sleep(0.1)
    made = await a.create(grant())
    assert [o.id for o in await a.active()] == [made.id]  # the maker sees it at once
    elapsed = await seen_within(lambda: _ids(b.active(), {made.id}), 1.0)
    assert elapsed < OVERRIDE_REFRESH_S / 2  # announced: not waiting for the refresh
    assert await b.get(made.id) == made and [o.id for o in await b.list()] == [made.id]

    assert await b.delete(made.id) is True
    assert await b.active() == []
    assert await seen_within(lambda: _ids(a.active(), set()), 1.0) < OVERRIDE_REFRESH_S / 2
    assert await a.delete(made.id) is False and await a.get(made.id) is None


async def test_an_unannounced_change_is_seen_within_the_refresh_interval(redis_clients: list[redis.Redis], override_stores: list[RedisOverrideStore]) -> None:
    store = override_stores[0]
    assert await store.active() == []
    writer = RedisOverrideStore(redis_clients[1])
    made = await writer.create(grant())
    await seen_within(lambda: _ids(store.active(), {made.id}), 1.0)
    await redis_clients[1].hdel("agw:overrides", made.id)  # removed behind the stores' back: no announcement
    assert await seen_within(lambda: _ids(store.active(), set()), 1.0) <= OVERRIDE_REFRESH_S + 0.2


async def _ids(overrides: Awaitable[list[Override]], wanted: set[str]) -> bool:
    return {o.id for o in await overrides} == wanted


async def test_override_store_semantics_match_the_in_memory_one(redis_clients: list[redis.Redis], override_stores: list[RedisOverrideStore]) -> None:
    store = override_stores[0]
    later = await store.create(grant("labs/b", timedelta(minutes=10)))
    sooner = await store.create(grant("labs/a", timedelta(minutes=1)))
    short = await store.create(grant("labs/c", timedelta(milliseconds=300)))
    with pytest.raises(ValueError, match="already exists"):
        await store.create(later)
    assert [o.id for o in await store.list()] == [short.id, sooner.id, later.id]  # by expire_time
    await asyncio.sleep(0.35)
    assert [o.id for o in await store.list()] == [sooner.id, later.id]  # expired ones vanish
    assert await store.get(short.id) is None and await store.delete(short.id) is False
    assert [o.id for o in await store.active()] == [sooner.id, later.id]
    # Both keys live until the last override expires.
    for key in ("agw:overrides", "agw:overrides:exp"):
        assert 9 * 60_000 < await redis_clients[0].pttl(key) <= 10 * 60_000


async def test_decisions_read_a_local_copy_not_redis_per_request(redis_clients: list[redis.Redis], override_stores: list[RedisOverrideStore]) -> None:
    store = override_stores[0]
    await store.create(grant())
    before = await hgetall_calls(redis_clients[1])
    started = time.monotonic()
    for _ in range(20):
        await asyncio.gather(*(store.active() for _ in range(50)))  # 1000 decisions
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - started
    fetches = await hgetall_calls(redis_clients[1]) - before - 1  # INFO itself is not an HGETALL; the -1 is the first fetch
    assert fetches <= elapsed / OVERRIDE_REFRESH_S + 1


async def test_overrides_while_redis_is_down(redis_server: RedisServer, override_stores: list[RedisOverrideStore]) -> None:
    warm, cold = override_stores[:2]
    made = await warm.create(new_override(action="use_model", pattern="default/*", effect="revoke", ttl=timedelta(minutes=5), key_id="user"))
    assert [o.id for o in await warm.active()] == [made.id]
    redis_server.kill()
    await asyncio.sleep(OVERRIDE_REFRESH_S)
    # The last copy read still decides (nobody can change overrides now)...
    assert [o.id for o in await warm.active()] == [made.id]
    # ...a replica that never read them refuses rather than miss a revoke; admin calls are 503.
    for call in (cold.active(), warm.create(grant()), warm.list(), warm.delete(made.id)):
        with pytest.raises(GatewayError) as caught:
            await call
        assert caught.value.reason == "STATE_UNAVAILABLE"
    redis_server.start()  # empty again
    made = await warm.create(grant())
    assert [o.id for o in await cold.active()] == [made.id]


# ------------------------------------------------------------------------------------------- audit


async def flushed(*logs: RedisAuditLog) -> None:
    await seen_within(lambda: _all_written(logs), 2.0)


async def _all_written(logs: tuple[RedisAuditLog, ...]) -> bool:
    return all(len(log) == 0 for log in logs)


async def test_audit_recorded_on_one_replica_is_listed_on_another_with_the_same_filters(redis_clients: list[redis.Redis]) -> None:
    a, b = RedisAuditLog(redis_clients[0]), RedisAuditLog(redis_clients[1])
    a.record(event(1, resource="default/a"))
    a.record(event(2, key_id="ci", resource="labs/b", allowed=False))
    await flushed(a)  # the stream's order is the order events reach Redis
    b.record(event(3, action="use_tool", resource="fetch_doc"))
    await flushed(b)
    a.record(event(4, resource="labs/c"))
    await flushed(a)
    ids = lambda events: [e.request_id for e in events]  # noqa: E731
    assert ids((await b.list())[0]) == ["req-4", "req-3", "req-2", "req-1"]
    assert ids((await b.list(key_id="ci"))[0]) == ["req-2"]
    assert ids((await b.list(action="use_tool"))[0]) == ["req-3"]
    assert ids((await b.list(resource="labs/*"))[0]) == ["req-4", "req-2"]
    assert ids((await b.list(allowed=False))[0]) == ["req-2"]
    assert ids((await b.list(allowed=True, start_time=T0 + timedelta(seconds=3)))[0]) == ["req-4", "req-3"]
    assert await b.list(key_id="nobody") == ([], "")
    listed = (await a.list(key_id="ci"))[0][0]
    assert listed == event(2, key_id="ci", resource="labs/b", allowed=False)  # every field survives the trip


async def test_audit_paging_over_the_stream(redis_clients: list[redis.Redis]) -> None:
    a, b = RedisAuditLog(redis_clients[0]), RedisAuditLog(redis_clients[1])
    for i in range(1, 601):
        a.record(event(i, allowed=i % 2 == 1))
    await flushed(a)
    for size, wanted_pages in ((2, 150), (250, 2)):
        seen: list[str] = []
        token, pages = "", 0
        while True:
            page, token = await b.list(allowed=True, page_size=size, page_token=token)
            seen += [e.request_id for e in page]
            pages += 1
            if not token:
                break
        assert seen == [f"req-{i}" for i in range(599, 0, -2)] and pages == wanted_pages
    for bad in ("garbage!", "bm9wZQ", "YXVkaXQ6LTE", "YXVkaXQ6MTI"):  # not base64 / "nope" / "audit:-1" / "audit:12" (the in-memory form)
        with pytest.raises(ValueError, match="page_token"):
            await b.list(page_token=bad)


async def test_audit_stream_is_capped(redis_clients: list[redis.Redis]) -> None:
    log = RedisAuditLog(redis_clients[0], max_events=100)
    for i in range(2000):
        log.record(event(i))
    await flushed(log)
    length = await redis_clients[0].xlen("agw:audit")
    assert 100 <= length < 400  # MAXLEN ~: trimmed by whole stream nodes
    assert (await log.list(page_size=1))[0][0].request_id == "req-1999"


def dropped() -> float:
    return REGISTRY.get_sample_value("agentgateway_audit_dropped_total") or 0.0


async def test_audit_buffers_while_redis_is_down_drops_past_the_bound_and_recovers(
    redis_server: RedisServer, redis_clients: list[redis.Redis], caplog: pytest.LogCaptureFixture
) -> None:
    log = RedisAuditLog(redis_clients[0], buffer_max=20)
    log.record(event(0))
    await flushed(log)
    redis_server.kill()
    before = dropped()
    with caplog.at_level(logging.INFO, logger="agentgateway.state"):
        started = time.monotonic()
        for i in range(1, 51):
            log.record(event(i))
            await asyncio.sleep(0)  # let the flusher try (and fail) in between
        assert time.monotonic() - started < 0.5  # recording never waits on Redis
        with pytest.raises(GatewayError) as caught:
            await log.list()
        assert caught.value.reason == "STATE_UNAVAILABLE"
        await asyncio.sleep(0.3)  # a few failed retries
        assert dropped() - before == 30 and len(log) == 20
        redis_server.start()
        await flushed(log)  # the retry (backing off, at most 2 s) writes the buffer
    assert [e.request_id for e in (await log.list())[0]] == [f"req-{i}" for i in range(50, 30, -1)]
    messages = [r.getMessage() for r in caplog.records]
    assert (
        messages.count("shared state unreachable") == 1 and messages.count("audit events dropped: the shared state is unreachable and the buffer is full") == 1
    )
    assert "shared state reachable again" in messages
    assert not any("redis://" in str(r.__dict__) for r in caplog.records)


async def test_close_writes_out_the_buffer(redis_clients: list[redis.Redis]) -> None:
    log = RedisAuditLog(redis_clients[0])
    for i in range(5):
        log.record(AuditEvent(utc_now(), f"r{i}", "k", "use_model", "m", True, "p"))
    await log.close()
    assert await redis_clients[0].xlen("agw:audit") == 5


# ------------------------------------------------------------------------------------ store selection


async def test_embedded_stores_by_default_redis_ones_with_a_state_url(redis_server: RedisServer) -> None:
    embedded = SharedState(GatewaySettings())
    stores = embedded.security()
    assert (type(stores.rate_limits), type(stores.overrides), type(stores.audit)) == (InMemoryRateLimitStore, InMemoryOverrideStore, AuditLog)
    await embedded.close()
    shared = SharedState(GatewaySettings(state_url=redis_server.url, rate_limit_fail_mode="open"))
    stores = shared.security()
    assert isinstance(stores.rate_limits, RedisRateLimitStore) and isinstance(stores.overrides, RedisOverrideStore)
    assert isinstance(stores.audit, RedisAuditLog)
    assert (await stores.rate_limits.reserve("k", RateLimit(requests_per_minute=1), 1, 0.0)).entry_id  # counted in Redis
    await shared.close()


async def test_the_urls_password_is_never_logged_or_returned(caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cr3t-pa55word-value"
    state = SharedState(GatewaySettings(state_url=f"redis://:{secret}@127.0.0.1:{refused_port()}/0"))
    stores = state.security()
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for call in (stores.rate_limits.reserve("k", RateLimit(requests_per_minute=1), 1, 0.0), stores.overrides.active(), stores.audit.list()):
            with pytest.raises(GatewayError) as caught:
                await call
            texts += [str(caught.value), repr(caught.value.metadata)]
        stores.audit.record(event(1))
        await asyncio.sleep(0.2)
        await stores.audit.close(timeout_s=0.2)
        await stores.overrides.close()
    await state.close()
    texts += [r.getMessage() + repr(r.__dict__) for r in caplog.records]
    assert any("shared state unreachable" in t for t in texts)
    assert not any(secret in t for t in texts)
