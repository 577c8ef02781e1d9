"""Upstream LLM servers (anything OpenAI-compatible): ``upstreams.yaml`` (``config``), one
shared client per upstream swapped whole on reload (``pool``), health checks (``health``) and
the admin ``UpstreamService`` (``servicer``, imported on its own: it needs the gRPC stubs)."""

from services.upstreams.config import (
    HealthCheckConfig,
    UpstreamApi,
    UpstreamConfig,
    UpstreamResolver,
    UpstreamsFile,
    default_api,
    load_upstreams,
)
from services.upstreams.health import HealthState, UpstreamHealth
from services.upstreams.pool import Reload, Upstream, UpstreamPool, log_retry

__all__ = [
    "HealthCheckConfig",
    "HealthState",
    "Reload",
    "Upstream",
    "UpstreamApi",
    "UpstreamConfig",
    "UpstreamHealth",
    "UpstreamPool",
    "UpstreamResolver",
    "UpstreamsFile",
    "default_api",
    "load_upstreams",
    "log_retry",
]
