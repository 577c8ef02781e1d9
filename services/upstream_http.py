"""The declarative passthrough's HTTP connection pool to one upstream (aiohttp).

SDK agents reach an upstream through the ``openai`` client (built on httpx2). The passthrough
only needs bytes in and bytes out, and on this path the HTTP client is most of the gateway's
own cost: measured on one request to a local upstream, httpx2 (httpcore2, h11, anyio) spends
~1.2 ms of CPU, aiohttp (C-accelerated parser, plain asyncio) ~0.4 ms. So the passthrough
has its own pool, with the same limits as the openai client's:

- ``max_connections`` requests in flight at once (a stream holds its slot until it ends); a
  request that finds none free within ``pool_timeout_s`` fails with ``PoolExhausted`` (503
  ``upstream_busy``), as httpx's pool timeout does on the other client;
- ``timeout_s`` bounds connecting and each read (as httpx's per-phase timeout), not the whole
  reply, so a long stream that keeps talking is never cut;
- proxies from ``HTTP(S)_PROXY`` / ``NO_PROXY``, as the openai client honours them, looked up
  once (aiohttp's ``trust_env`` would read the environment and ``~/.netrc`` in a worker
  thread on every request: two thread hops per call);
- no cookie jar: a cookie one caller's reply set must not ride on another caller's request.

The session is created on first use: aiohttp binds it to the running event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

__all__ = ["PoolExhausted", "UpstreamHTTP"]


class PoolExhausted(Exception):
    """Every connection to the upstream stayed in use for ``pool_timeout_s``."""


class UpstreamHTTP:
    def __init__(self, base_url: str, *, timeout_s: float, max_connections: int, pool_timeout_s: float) -> None:
        self._proxy: URL | None = None
        self._proxy_auth: aiohttp.BasicAuth | None = None
        with suppress(LookupError):  # raised when no proxy applies to this host
            self._proxy, self._proxy_auth = get_env_proxy_for_url(URL(base_url))
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s)
        self._pool_timeout_s = pool_timeout_s
        # The limit is kept here, not by aiohttp's connector, so that running out of
        # connections is told apart from a slow upstream (aiohttp times both out alike).
        self._slots = asyncio.Semaphore(max_connections)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=60, keepalive_timeout=30)
            # No User-Agent of aiohttp's own, no response decompression beyond what the
            # upstream was asked for (it is sent as it was asked).
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent",),
                proxy=self._proxy,
                proxy_auth=self._proxy_auth,
            )
        return self._session

    @asynccontextmanager
    async def post(self, url: URL, body: bytes, headers: dict[str, str]) -> AsyncIterator[aiohttp.ClientResponse]:
        """``POST url`` holding one of the pool's slots until the response is released."""
        if self._slots.locked():  # all in use: wait, but not for ever (no timer otherwise)
            try:
                async with asyncio.timeout(self._pool_timeout_s):
                    await self._slots.acquire()
            except TimeoutError:
                raise PoolExhausted from None
        else:
            await self._slots.acquire()  # returns at once
        try:
            async with self._open().post(url, data=body, headers=headers) as response:
                yield response
        finally:
            self._slots.release()

    async def probe(self, url: URL, headers: dict[str, str], timeout_s: float) -> int:
        """``GET url`` (a health check) and its status. Outside the slots: a check must neither
        queue behind the requests it checks for nor take a slot from them."""
        async with self._open().get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            await response.read()  # a read body lets the connection be reused
            return response.status

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
