"""RedisRateLimitStore against a real redis-server: atomic across clients, commit semantics,
exact retry_after, expiry, and what happens when Redis goes away and comes back."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as redis

from services.errors import GatewayError
from services.security.config import RateLimit
from services.security.keys import Principal
from services.security.ratelimit import RateLimiter
from services.security.redis_stores import RedisRateLimitStore
from services.state.redis_client import connect
from tests.redis_server import RedisServer

pytestmark = pytest.mark.asyncio


async def server_time_us(client: redis.Redis) -> int:
    seconds, micros = await client.time()
    return int(seconds) * 1_000_000 + int(micros)


async def test_concurrent_reservations_from_several_clients_admit_exactly_the_limit(redis_clients: list[redis.Redis]) -> None:
    stores = [RedisRateLimitStore(c) for c in redis_clients]
    limit = RateLimit(requests_per_minute=7)
    verdicts = await asyncio.gather(*(stores[i % 4].reserve("k", limit, 10, 0.0) for i in range(80)))
    assert sum(v.allowed for v in verdicts) == 7
    assert len({v.entry_id for v in verdicts if v.allowed}) == 7
    refused = [v for v in verdicts if not v.allowed]
    assert all(v.limit == "requests_per_minute" and 59 < v.retry_after_s <= 60 for v in refused)

    # Tokens per minute the same way: 100 tokens each against 1000 admits exactly ten.
    tokens = RateLimit(tokens_per_minute=1000)
    verdicts = await asyncio.gather(*(stores[i % 4].reserve("t", tokens, 100, 0.0) for i in range(60)))
    assert sum(v.allowed for v in verdicts) == 10
    assert {v.limit for v in verdicts if not v.allowed} == {"tokens_per_minute"}
    # Keys are separate budgets.
    assert (await stores[0].reserve("other", limit, 10, 0.0)).allowed


async def test_commit_replaces_the_estimate_with_real_usage(redis_clients: list[redis.Redis]) -> None:
    a, b = RedisRateLimitStore(redis_clients[0]), RedisRateLimitStore(redis_clients[1])
    limit = RateLimit(tokens_per_minute=400)
    first = await a.reserve("k", limit, 300, 0.0)
    assert first.allowed and first.entry_id
    refused = await b.reserve("k", limit, 200, 0.0)
    assert not refused.allowed and refused.limit == "tokens_per_minute"
    await a.commit("k", first.entry_id, 100, 0.0)  # it used less than estimated: room again, seen from b
    second = await b.reserve("k", limit, 200, 0.0)
    assert second.allowed and second.entry_id
    # Usage past the budget is recorded; later requests wait (and zero-token ones too).
    await b.commit("k", second.entry_id, 900, 0.0)
    assert not (await a.reserve("k", limit, 0, 0.0)).allowed
    # Committing an entry that does not exist (or left the window) changes nothing.
    await a.commit("k", "123-1", 0, 0.0)
    await a.commit("never-reserved", "1-1", 5, 0.0)
    assert await redis_clients[0].hget("agw:rl:{k}:tok", "#total") == b"1000"
    assert not await redis_clients[0].exists("agw:rl:{never-reserved}:log", "agw:rl:{never-reserved}:tok")


async def test_retry_after_is_exact_and_keys_expire_with_the_window(redis_clients: list[redis.Redis]) -> None:
    client = redis_clients[0]
    store = RedisRateLimitStore(client)
    limit = RateLimit(requests_per_minute=2, tokens_per_minute=1000)
    assert (await store.reserve("k", limit, 600, 0.0)).allowed
    await asyncio.sleep(0.05)
    assert (await store.reserve("k", limit, 100, 0.0)).allowed
    scores = [int(s) for _, s in await client.zrange("agw:rl:{k}:log", 0, -1, withscores=True)]

    # Requests: the oldest entry must leave, at its time + 60 s, measured on Redis's clock.
    before = await server_time_us(client)
    verdict = await store.reserve("k", limit, 1, 0.0)
    after = await server_time_us(client)
    assert not verdict.allowed and verdict.limit == "requests_per_minute"
    assert (scores[0] + 60_000_000 - after) / 1e6 <= verdict.retry_after_s <= (scores[0] + 60_000_000 - before) / 1e6

    # Tokens (600 + 100 used of 1000): 400 more fit once the first entry leaves, 950 only once
    # both have; with requests to spare, the token wait is the one reported.
    big = RateLimit(requests_per_minute=10, tokens_per_minute=1000)
    before = await server_time_us(client)
    verdict = await store.reserve("k", big, 400, 0.0)
    after = await server_time_us(client)
    assert not verdict.allowed and verdict.limit == "tokens_per_minute"
    assert (scores[0] + 60_000_000 - after) / 1e6 <= verdict.retry_after_s <= (scores[0] + 60_000_000 - before) / 1e6
    verdict = await store.reserve("k", big, 950, 0.0)
    assert not verdict.allowed and verdict.retry_after_s > (scores[1] + 60_000_000 - after) / 1e6 - 0.001

    for key in ("agw:rl:{k}:log", "agw:rl:{k}:tok"):
        assert 59_000 < await client.pttl(key) <= 61_000


async def test_the_window_slides_on_redis_time(redis_clients: list[redis.Redis]) -> None:
    store = RedisRateLimitStore(redis_clients[0], window_s=0.5)
    limit = RateLimit(requests_per_minute=1)
    assert (await store.reserve("k", limit, 1, 0.0)).allowed
    refused = await store.reserve("k", limit, 1, 0.0)
    assert not refused.allowed and 0 < refused.retry_after_s <= 0.5
    await asyncio.sleep(refused.retry_after_s + 0.01)
    assert (await store.reserve("k", limit, 1, 0.0)).allowed
    await asyncio.sleep(1.6)  # one window after the last admission (+1 s slack) the keys are gone
    assert not await redis_clients[0].exists("agw:rl:{k}:log", "agw:rl:{k}:tok")


async def test_the_limiter_over_redis_raises_rate_limited_with_whole_milliseconds(redis_clients: list[redis.Redis]) -> None:
    limiter = RateLimiter(RedisRateLimitStore(redis_clients[0]))
    principal = Principal("limited", frozenset(), ("*",), ("*",), RateLimit(requests_per_minute=1))
    reservation = await limiter.reserve(principal, 10)
    assert reservation.entry_id is None  # no token budget: nothing to settle, no commit round trip
    with pytest.raises(GatewayError) as caught:
        await limiter.reserve(principal, 10)
    assert caught.value.reason == "RATE_LIMITED" and caught.value.retry_after_s is not None
    assert 59 < caught.value.retry_after_s <= 60 and round(caught.value.retry_after_s * 1000) == caught.value.retry_after_s * 1000
    await limiter.commit(reservation, 3)


async def test_redis_down_fails_closed_or_open_and_recovers(redis_server: RedisServer) -> None:
    client = connect(redis_server.url)
    try:
        closed, open_ = RedisRateLimitStore(client), RedisRateLimitStore(client, fail_open=True)
        limit = RateLimit(requests_per_minute=1)
        first = await closed.reserve("k", limit, 1, 0.0)
        assert first.allowed and first.entry_id
        redis_server.kill()

        started = time.monotonic()
        with pytest.raises(GatewayError) as caught:
            await closed.reserve("k", limit, 1, 0.0)
        assert time.monotonic() - started < 1.0  # never a hang
        assert (caught.value.status, caught.value.reason) == ("UNAVAILABLE", "STATE_UNAVAILABLE")
        assert caught.value.retry_after_s is not None and "redis://" not in caught.value.message
        admitted = await open_.reserve("k", limit, 1, 0.0)
        assert admitted.allowed and admitted.entry_id is None  # uncounted: nothing to commit
        await closed.commit("k", first.entry_id, 5, 0.0)  # best effort: no error after the run

        redis_server.start()  # empty, and without the scripts: EVALSHA gets NOSCRIPT, the library loads them again
        assert (await closed.reserve("k", limit, 1, 0.0)).allowed
        assert not (await open_.reserve("k", limit, 1, 0.0)).allowed
    finally:
        await client.aclose()


async def test_no_503_from_connections_that_predate_a_redis_restart(redis_server: RedisServer, redis_clients: list[redis.Redis]) -> None:
    store = RedisRateLimitStore(redis_clients[0])
    limit = RateLimit(requests_per_minute=100)
    await asyncio.gather(*(store.reserve("k", limit, 1, 0.0) for _ in range(8)))  # the pool holds several connections now
    redis_server.restart()  # not used meanwhile: every pooled connection is stale
    verdicts = await asyncio.gather(*(store.reserve("k", limit, 1, 0.0) for _ in range(8)))
    assert all(v.allowed for v in verdicts)
    assert await redis_clients[0].zcard("agw:rl:{k}:log") == 8  # each counted once on the new server
