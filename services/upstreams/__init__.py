"""Upstream LLM servers (anything OpenAI-compatible): ``upstreams.yaml`` (``config``), one
shared client per upstream swapped whole on reload (``pool``) and the admin
``UpstreamService`` (``servicer``, imported on its own: it needs the gRPC stubs)."""

from services.upstreams.config import (
    UpstreamApi,
    UpstreamConfig,
    UpstreamResolver,
    UpstreamsFile,
    default_api,
    load_upstreams,
)
from services.upstreams.pool import Reload, Upstream, UpstreamPool, log_retry

__all__ = [
    "Reload",
    "Upstream",
    "UpstreamApi",
    "UpstreamConfig",
    "UpstreamPool",
    "UpstreamResolver",
    "UpstreamsFile",
    "default_api",
    "load_upstreams",
    "log_retry",
]
