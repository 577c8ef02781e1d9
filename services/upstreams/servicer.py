"""UpstreamService over gRPC: transport only; the upstreams live in ``UpstreamPool``. Admin-only
(services/security/interceptor.py). Never puts a key in a message: only the name of the
variable that holds it, and whether it is set."""

from __future__ import annotations

from datetime import datetime

import grpc
from google.protobuf import duration_pb2, timestamp_pb2

from agentgateway.v1 import upstream_service_pb2 as pb
from agentgateway.v1 import upstream_service_pb2_grpc as pb_grpc
from services.errors import GatewayError
from services.rpc.enums import ProtoEnum
from services.rpc.names import resource_id
from services.rpc.paging import page_of
from services.upstreams.config import HealthCheckConfig, UpstreamApi, display_url
from services.upstreams.health import HealthState
from services.upstreams.pool import Upstream, UpstreamPool

__all__ = ["UpstreamServicer", "upstream_to_proto"]

API: ProtoEnum[UpstreamApi, pb.UpstreamApi] = ProtoEnum(pb.UpstreamApi, UpstreamApi)
HEALTH: ProtoEnum[HealthState, pb.HealthState] = ProtoEnum(pb.HealthState, HealthState)


def _duration(seconds: float) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromNanoseconds(round(seconds * 1e9))
    return out


def _timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value)
    return out


def _check_to_proto(check: HealthCheckConfig) -> pb.HealthCheck:
    return pb.HealthCheck(
        enabled=bool(check.enabled),
        path=check.path,
        interval=_duration(check.interval_s),
        timeout=_duration(check.timeout_s),
        unhealthy_threshold=check.unhealthy_threshold,
    )


def upstream_to_proto(upstream: Upstream, default_name: str | None) -> pb.Upstream:
    config = upstream.config
    out = pb.Upstream(
        name=f"upstreams/{config.name}",
        upstream_id=config.name,
        base_url=display_url(config.base_url),
        api=API.to_proto(config.api or "chat_completions"),
        model=config.model or "",
        default_upstream=config.name == default_name,
        api_key_env=config.api_key_env or "",
        api_key_set=upstream.has_key,
        timeout=_duration(config.timeout_s),
        max_retries=config.max_retries,
        max_connections=config.max_connections,
    )
    health = upstream.health
    if health is None:
        out.health_state = pb.HEALTH_STATE_UNKNOWN
        return out
    out.health_check.CopyFrom(_check_to_proto(health.check))
    out.health_state = HEALTH.to_proto(health.state)
    out.last_error = health.last_error
    out.consecutive_failures = health.failures
    if health.last_check is not None:
        out.last_check_time.CopyFrom(_timestamp(health.last_check))
    if health.last_duration_s is not None:
        out.last_check_duration.CopyFrom(_duration(health.last_duration_s))
    if health.last_error_time is not None:
        out.last_error_time.CopyFrom(_timestamp(health.last_error_time))
    return out


def _upstream_name(upstream: Upstream) -> str:
    return upstream.name


class UpstreamServicer(pb_grpc.UpstreamServiceServicer):
    def __init__(self, pool: UpstreamPool) -> None:
        self._pool = pool

    async def ListUpstreams(
        self, request: pb.ListUpstreamsRequest, context: grpc.aio.ServicerContext[pb.ListUpstreamsRequest, pb.ListUpstreamsResponse]
    ) -> pb.ListUpstreamsResponse:
        default = self._pool.config.default_name
        page, token = page_of(self._pool.list(), _upstream_name, request.page_size, request.page_token)
        return pb.ListUpstreamsResponse(upstreams=[upstream_to_proto(u, default) for u in page], next_page_token=token)

    async def GetUpstream(
        self, request: pb.GetUpstreamRequest, context: grpc.aio.ServicerContext[pb.GetUpstreamRequest, pb.GetUpstreamResponse]
    ) -> pb.GetUpstreamResponse:
        name = resource_id(request.name, "upstreams")
        upstream = self._pool.find(name)
        if upstream is None:
            raise GatewayError("NOT_FOUND", "UPSTREAM_NOT_FOUND", f"no upstream named {name!r}", {"upstream": name})
        return pb.GetUpstreamResponse(upstream=upstream_to_proto(upstream, self._pool.config.default_name))

    async def RefreshUpstreams(
        self, request: pb.RefreshUpstreamsRequest, context: grpc.aio.ServicerContext[pb.RefreshUpstreamsRequest, pb.RefreshUpstreamsResponse]
    ) -> pb.RefreshUpstreamsResponse:
        done = await self._pool.reload()
        return pb.RefreshUpstreamsResponse(upstream_count=done.count, added=list(done.added), changed=list(done.changed), removed=list(done.removed))
