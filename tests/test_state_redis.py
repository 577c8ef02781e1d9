"""The Redis client every shared store uses: what a lost Redis means, and that it comes back."""

from __future__ import annotations

import pytest

from services.errors import GatewayError
from services.state.redis_client import connect, describe, translate_redis_errors
from tests.redis_server import RedisServer


def test_describe_never_shows_the_password() -> None:
    assert describe("redis://:s3cret-pw@cache.internal:6380/2") == "redis://cache.internal:6380/2"
    assert describe("rediss://user:s3cret-pw@cache.internal/0") == "rediss://cache.internal/0"


async def test_a_lost_redis_is_state_unavailable_and_the_client_recovers(redis_server: RedisServer) -> None:
    client = connect(redis_server.url)
    try:
        await client.set(b"k", b"v")
        redis_server.kill()
        with pytest.raises(GatewayError) as caught:
            async with translate_redis_errors("rate limits", "rate_limits"):
                await client.get(b"k")
        assert (caught.value.status, caught.value.reason) == ("UNAVAILABLE", "STATE_UNAVAILABLE")
        assert "rate limits" in caught.value.message and str(redis_server.port) not in caught.value.message
        redis_server.start()  # same port, empty: no restart of the client needed
        assert await client.get(b"k") is None
        await client.set(b"k", b"again")
        assert await client.get(b"k") == b"again"
    finally:
        await client.aclose()
