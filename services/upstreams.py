"""Upstream LLM servers (anything OpenAI-compatible) and one shared client per upstream.

Config comes from ``upstreams.yaml``; with none, a single upstream named ``default`` is
built from ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` / ``GATEWAY_DEFAULT_MODEL``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx2
from openai import AsyncOpenAI, DefaultAsyncHttpxClient
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services import request_ids
from services.config_files import load_yaml_model
from services.errors import GatewayError
from services.log import get_logger
from services.metrics import UPSTREAM_RETRIES
from services.upstream_http import UpstreamHTTP

__all__ = ["Upstream", "UpstreamApi", "UpstreamConfig", "UpstreamPool", "UpstreamsFile", "default_api", "load_upstreams", "log_retry"]

_OPENAI_DEFAULT_BASE = "https://api.openai.com/v1"

log = get_logger("upstream")

# The API drop-in agents are run with: the SDK's Chat Completions or its Responses model.
UpstreamApi = Literal["chat_completions", "responses"]


def default_api(base_url: str) -> UpstreamApi:
    """``responses`` on the OpenAI API itself (the SDK's own default there), else
    ``chat_completions``: the API every OpenAI-compatible server (vLLM, Ollama...) speaks."""
    return "responses" if urlsplit(base_url).hostname == "api.openai.com" else "chat_completions"


class UpstreamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    base_url: str
    # Name of the env var holding the key; never the key itself.
    api_key_env: str | None = None
    model: str | None = None
    # None in the file means "by provider" (``default_api``); always set once validated.
    api: UpstreamApi | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    # Connections open to this upstream at once (each stream holds one while it lasts), and how
    # long a request waits for a free one before failing with 503 upstream_busy.
    max_connections: int = Field(default=1024, ge=1)
    pool_timeout_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _default_api(self) -> UpstreamConfig:
        if self.api is None:
            self.api = default_api(self.base_url)
        return self

    @property
    def speaks_responses(self) -> bool:
        return self.api == "responses"


class UpstreamsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: str | None = None
    upstreams: list[UpstreamConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> UpstreamsFile:
        names = [u.name for u in self.upstreams]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate upstream names {duplicates}")
        if self.default is not None and self.default not in names:
            raise ValueError(f"default upstream {self.default!r} is not in upstreams {names}")
        return self

    def resolve(self, name: str | None) -> UpstreamConfig | None:
        """The upstream an agent naming ``name`` (None: the default one) is routed to."""
        wanted = name or self.default or (self.upstreams[0].name if self.upstreams else None)
        return next((u for u in self.upstreams if u.name == wanted), None)


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


def load_upstreams(path: Path, default_model: str) -> UpstreamsFile:
    parsed = load_yaml_model(path, UpstreamsFile)
    if parsed is not None and parsed.upstreams:
        return parsed
    env_default = UpstreamConfig(
        name="default",
        base_url=os.environ.get("OPENAI_BASE_URL") or _OPENAI_DEFAULT_BASE,
        api_key_env="OPENAI_API_KEY",
        model=default_model,
    )
    return UpstreamsFile(default="default", upstreams=[env_default])


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
        event_hooks={"request": [_send_request_id, _RetryLog(config.name)]},
    )
    client = AsyncOpenAI(base_url=config.base_url, api_key=api_key, timeout=timeout, max_retries=config.max_retries, http_client=http)
    lean = UpstreamHTTP(config.base_url, timeout_s=config.timeout_s, max_connections=config.max_connections, pool_timeout_s=config.pool_timeout_s)
    return Upstream(config, client, lean, {"authorization": f"Bearer {api_key}"})


def log_retry(upstream: str, attempt: int | str, path: str) -> None:
    """Log and count one retry to ``upstream`` (by its configured name only: never its key)."""
    UPSTREAM_RETRIES.labels(upstream).inc()
    log.warning("retrying upstream request", extra={"fields": {"upstream": upstream, "retry": str(attempt), "path": path}})


async def _send_request_id(request: httpx2.Request) -> None:
    """The gateway request's id goes upstream as ``x-request-id`` (each attempt of it), so the
    upstream's logs can be matched with the gateway's."""
    request_id = request_ids.current()
    if request_id:
        request.headers[request_ids.HEADER] = request_id


class _RetryLog:
    """Logs and counts each retry the openai client makes (it numbers its attempts in the
    ``x-stainless-retry-count`` header), naming the upstream by its configured name only."""

    def __init__(self, upstream: str) -> None:
        self._upstream = upstream

    async def __call__(self, request: httpx2.Request) -> None:
        attempt = request.headers.get("x-stainless-retry-count", "0")
        if attempt != "0":
            log_retry(self._upstream, attempt, request.url.path)
