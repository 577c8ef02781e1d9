"""Upstream LLM servers (anything OpenAI-compatible): ``upstreams.yaml`` (``config``) and one
shared client per upstream (``pool``)."""

from services.upstreams.config import UpstreamApi, UpstreamConfig, UpstreamsFile, default_api, load_upstreams
from services.upstreams.pool import Upstream, UpstreamPool, log_retry

__all__ = ["Upstream", "UpstreamApi", "UpstreamConfig", "UpstreamPool", "UpstreamsFile", "default_api", "load_upstreams", "log_retry"]
