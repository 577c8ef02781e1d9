"""One shared client (and connection pool) per upstream of ``upstreams.yaml``."""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx2
from openai import AsyncOpenAI, DefaultAsyncHttpxClient

from services.errors import GatewayError
from services.log import get_logger
from services.metrics import UPSTREAM_RETRIES
from services.upstream_http import UpstreamHTTP
from services.upstreams.config import UpstreamConfig, UpstreamsFile

__all__ = ["Upstream", "UpstreamPool", "log_retry"]

log = get_logger("upstream")


@dataclass(frozen=True)
class Upstream:
    config: UpstreamConfig
    # For SDK agents, which need the openai client.
    client: AsyncOpenAI
    # The declarative passthrough's own pool (services/upstream_http.py says why).
    lean: UpstreamHTTP
    # Sent on every request; never logged.
    auth_headers: dict[str, str]

    @property
    def name(self) -> str:
        return self.config.name


class UpstreamPool:
    """One ``AsyncOpenAI`` client (and connection pool) per upstream, shared by all requests."""

    def __init__(self, config: UpstreamsFile) -> None:
        self._config = config
        self._upstreams = {u.name: _upstream(u) for u in config.upstreams}

    def get(self, name: str | None) -> Upstream:
        resolved = self._config.resolve(name)
        upstream = self._upstreams.get(resolved.name) if resolved is not None else None
        if upstream is None:
            raise GatewayError("FAILED_PRECONDITION", "UPSTREAM_NOT_CONFIGURED", f"upstream {name!r} is not configured")
        return upstream

    async def aclose(self) -> None:
        for upstream in self._upstreams.values():
            await upstream.client.close()
            await upstream.lean.aclose()


def _upstream(config: UpstreamConfig) -> Upstream:
    # A missing key is fine for local servers (Ollama, vLLM); the openai client insists on a value.
    api_key = (os.environ.get(config.api_key_env) if config.api_key_env else None) or "not-needed"
    timeout = httpx2.Timeout(config.timeout_s, pool=config.pool_timeout_s)
    # The openai client's own HTTP client type (openai 3 is built on httpx2), with a pool sized
    # for a gateway rather than a single script.
    http = DefaultAsyncHttpxClient(
        timeout=timeout,
        limits=httpx2.Limits(max_connections=config.max_connections, max_keepalive_connections=min(config.max_connections, 64)),
        event_hooks={"request": [_RetryLog(config.name)]},
    )
    client = AsyncOpenAI(base_url=config.base_url, api_key=api_key, timeout=timeout, max_retries=config.max_retries, http_client=http)
    lean = UpstreamHTTP(config.base_url, timeout_s=config.timeout_s, max_connections=config.max_connections, pool_timeout_s=config.pool_timeout_s)
    return Upstream(config, client, lean, {"authorization": f"Bearer {api_key}"})


def log_retry(upstream: str, attempt: int | str, path: str) -> None:
    """Log and count one retry to ``upstream`` (by its configured name only: never its key)."""
    UPSTREAM_RETRIES.labels(upstream).inc()
    log.warning("retrying upstream request", extra={"fields": {"upstream": upstream, "retry": str(attempt), "path": path}})


class _RetryLog:
    """Logs and counts each retry the openai client makes (it numbers its attempts in the
    ``x-stainless-retry-count`` header), naming the upstream by its configured name only."""

    def __init__(self, upstream: str) -> None:
        self._upstream = upstream

    async def __call__(self, request: httpx2.Request) -> None:
        attempt = request.headers.get("x-stainless-retry-count", "0")
        if attempt != "0":
            log_retry(self._upstream, attempt, request.url.path)
