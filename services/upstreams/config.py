"""``upstreams.yaml``: the upstream LLM servers (anything OpenAI-compatible) and how each is
health-checked. With no file (or no entries), a single upstream named ``default`` is built
from ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` / ``GATEWAY_DEFAULT_MODEL``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.config_files import load_yaml_model

__all__ = [
    "HealthCheckConfig",
    "UpstreamApi",
    "UpstreamConfig",
    "UpstreamResolver",
    "UpstreamsFile",
    "api_key_of",
    "default_api",
    "display_url",
    "load_upstreams",
]

_OPENAI_DEFAULT_BASE = "https://api.openai.com/v1"

# The API drop-in agents are run with: the SDK's Chat Completions or its Responses model.
UpstreamApi = Literal["chat_completions", "responses"]


def default_api(base_url: str) -> UpstreamApi:
    """``responses`` on the OpenAI API itself (the SDK's own default there), else
    ``chat_completions``: the API every OpenAI-compatible server (vLLM, Ollama...) speaks."""
    return "responses" if urlsplit(base_url).hostname == "api.openai.com" else "chat_completions"


def display_url(base_url: str) -> str:
    """``base_url`` without the credentials it may carry (``http://user:pass@host``)."""
    parts = urlsplit(base_url)
    if parts.username is None and parts.password is None:
        return base_url
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit(parts._replace(netloc=netloc))


class HealthCheckConfig(BaseModel):
    """``GET <base_url><path>`` every ``interval_s``. An answer with a status below 500 passes
    (the server is up: a 401 or 404 says the key or path is wrong, not that it is down); no
    answer within ``timeout_s``, a connection failure or a 5xx fails. ``unhealthy_threshold``
    failures in a row make the upstream unhealthy; one pass makes it healthy again."""

    model_config = ConfigDict(extra="forbid")

    # None ("auto"): on for upstreams without an API key (local servers), off for those with
    # one: hosted APIs bill and rate-limit per key, and a check every interval_s would spend both.
    enabled: bool | None = None
    interval_s: float = Field(default=30.0, ge=0.05)
    timeout_s: float = Field(default=5.0, gt=0)
    path: str = Field(default="/models", pattern=r"^/[^\s#]*$")
    unhealthy_threshold: int = Field(default=2, ge=1, le=100)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `health_check: false` / `true`: only the switch; `enabled: auto` is what leaving it out means.
        if isinstance(data, bool):
            return {"enabled": data}
        if isinstance(data, dict) and data.get("enabled") == "auto":
            return {**data, "enabled": None}
        return data

    def over(self, base: HealthCheckConfig) -> HealthCheckConfig:
        """``base`` with the fields this one sets (in the file) in its place."""
        return base.model_copy(update={name: getattr(self, name) for name in self.model_fields_set})


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
    # Fields given here replace the file's top-level `health_check` for this upstream.
    health_check: HealthCheckConfig | None = None

    @model_validator(mode="after")
    def _default_api(self) -> UpstreamConfig:
        if self.api is None:
            self.api = default_api(self.base_url)
        return self

    @property
    def speaks_responses(self) -> bool:
        return self.api == "responses"


def api_key_of(config: UpstreamConfig) -> str | None:
    """The key in the upstream's ``api_key_env`` variable, None when it names none or it is empty."""
    return (os.environ.get(config.api_key_env) if config.api_key_env else None) or None


class UpstreamsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: str | None = None
    # The health check of every upstream that does not set its own (field by field).
    health_check: HealthCheckConfig = Field(default_factory=HealthCheckConfig)
    upstreams: list[UpstreamConfig] = Field(default_factory=list)

    @field_validator("health_check", mode="before")
    @classmethod
    def _no_null(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _check(self) -> UpstreamsFile:
        names = [u.name for u in self.upstreams]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate upstream names {duplicates}")
        if self.default is not None and self.default not in names:
            raise ValueError(f"default upstream {self.default!r} is not in upstreams {names}")
        return self

    @property
    def default_name(self) -> str | None:
        return self.default or (self.upstreams[0].name if self.upstreams else None)

    def resolve(self, name: str | None) -> UpstreamConfig | None:
        """The upstream an agent naming ``name`` (None: the default one) is routed to."""
        wanted = name or self.default_name
        return next((u for u in self.upstreams if u.name == wanted), None)

    def health_check_of(self, upstream: UpstreamConfig) -> HealthCheckConfig:
        """The upstream's check: its own fields over the file's, ``enabled`` decided ("auto":
        on unless the upstream has an API key)."""
        check = upstream.health_check.over(self.health_check) if upstream.health_check is not None else self.health_check
        if check.enabled is None:
            check = check.model_copy(update={"enabled": api_key_of(upstream) is None})
        return check


class UpstreamResolver(Protocol):
    """What the registry needs of the upstreams: the config an agent's upstream name resolves to
    (an ``UpstreamsFile``, or the executor's pool, which follows reloads)."""

    def resolve(self, name: str | None) -> UpstreamConfig | None: ...


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
    return UpstreamsFile(default="default", upstreams=[env_default], health_check=parsed.health_check if parsed is not None else HealthCheckConfig())
