"""Gateway settings: flags over environment over defaults (docs/configuration.md).

Built once, before the event loop starts, and passed explicitly to every service.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["ALL_SERVICES", "GatewaySettings", "usable_cores"]

ALL_SERVICES = ("registry", "executor", "tools", "security", "shim")


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 50051
    agent_discovery_path: Path = Path("./agents")
    config_dir: Path = Path("./config")
    services: Annotated[tuple[str, ...], NoDecode] = ALL_SERVICES

    agent_config: Path | None = None
    upstream_config: Path | None = None
    tool_config: Path | None = None
    security_config: Path | None = None

    agent_exports: Annotated[tuple[str, ...], NoDecode] = ("agent", "build_agent", "create_agent", "get_agent", "run_workflow")
    agent_watch: bool = False
    log_level: str = "INFO"
    log_format: str = "json"

    # Where a shim-only process finds the executor and registry (a split deployment).
    # Empty: this process's own services.
    grpc_target: str = ""
    # How a co-located shim reaches them: "inprocess" (no socket, the same servicers and
    # interceptors) or "socket" (its own gRPC port, as a split deployment does).
    shim_transport: Literal["inprocess", "socket"] = "inprocess"
    # The event loop: "auto" runs uvloop (the [fast] extra) when it is installed, else asyncio's
    # own loop; "asyncio" never uses uvloop; "uvloop" asks for it (asyncio if it is missing).
    # See fast_path.py (on uvloop, gRPC's fork support is turned off).
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    # Largest accepted HTTP request body.
    max_body_bytes: int = 4 * 1024 * 1024
    # Largest gRPC message either way (RESOURCE_EXHAUSTED beyond). Above max_body_bytes, since
    # the shim forwards a whole HTTP body as one message.
    grpc_max_message_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    # Deadline the shim puts on each executor call when the agent names none.
    request_timeout_s: float = 300.0
    # Seconds in-flight requests get to finish after SIGTERM.
    shutdown_grace_s: float = 10.0
    # The SDK's own trace export to OpenAI; off unless an operator turns it on.
    openai_tracing: bool = False
    # The SDK's spans as the gateway's metrics and log lines (services/executor/tracing.py);
    # off: runs create no spans (unless openai_tracing).
    sdk_tracing: bool = True
    # Model inputs/outputs and tool arguments/results in span logs and exports.
    trace_include_sensitive_data: bool = False
    # An OTLP/HTTP collector's base URL: SDK spans are exported there (the [otel] extra).
    otel_endpoint: str = ""
    default_model: str = Field(default="gpt-4.1-mini")
    # Embedded state (SQLite files: pending approvals, conversations), created on first use.
    data_dir: Path = Path("./data")
    # Shared state for replicas (services/state/): a Redis URL moves rate-limit budgets,
    # overrides, audit, conversations, stored responses and approvals there. Empty: embedded.
    # May carry a password: never logged.
    state_url: str = ""
    # What a rate-limited request gets while Redis is unreachable: "closed" refuses it (503
    # STATE_UNAVAILABLE), "open" admits it uncounted (logged and counted).
    rate_limit_fail_mode: Literal["closed", "open"] = "closed"
    # The loop-lag watchdog: a callback holding the event loop longer than this is logged and
    # counted, naming the agent (services/guest/watchdog.py). 0 turns it off.
    loop_lag_warn_s: float = Field(default=0.2, ge=0)
    # How long a run paused for a human approval can be resumed.
    approval_ttl_s: float = Field(default=3600.0, gt=0)
    # Conversations and stored responses (services/conversations/): a conversation is kept this
    # long after its last change, a response this long after it was stored (OpenAI keeps
    # responses 30 days); one conversation holds at most this many items and bytes of item JSON.
    conversation_ttl_s: float = Field(default=30 * 24 * 3600.0, gt=0)
    conversation_max_items: int = Field(default=1000, gt=0)
    conversation_max_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    # This process's own GET /metrics listener (services/metrics_server.py). Unset: only the
    # shim's route serves metrics, so a gRPC-only process (a split deployment's backend) needs it.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # Gateway processes sharing the ports (services/supervisor.py); "auto": one per usable core.
    workers: int = Field(default=1, ge=1)

    @field_validator("workers", mode="before")
    @classmethod
    def _auto_workers(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return usable_cores()
        return value

    @field_validator("services", "agent_exports", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("services")
    @classmethod
    def _known_services(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(ALL_SERVICES))
        if unknown:
            raise ValueError(f"unknown service(s) {unknown}; choose from {list(ALL_SERVICES)}")
        if not value:
            raise ValueError("at least one service is required")
        return value

    def config_file(self, kind: str) -> Path:
        """``kind`` is agents, upstreams, tools or security."""
        explicit = {
            "agents": self.agent_config,
            "upstreams": self.upstream_config,
            "tools": self.tool_config,
            "security": self.security_config,
        }[kind]
        return explicit if explicit is not None else self.config_dir / f"{kind}.yaml"

    @property
    def grpc_services(self) -> tuple[str, ...]:
        return tuple(s for s in self.services if s != "shim")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset
    narrow), not the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)
