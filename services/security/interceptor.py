"""The gRPC server interceptor: every RPC is authenticated except health and reflection;
admin RPCs need the admin role. Failures are raised as ``GatewayError``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from services import request_ids
from services.errors import GatewayError
from services.log import get_logger
from services.metrics import AUTH_FAILURES
from services.rpc.handlers import RequestT, ResponseT, wrapped
from services.security.context import CallContext, current_call
from services.security.gatekeeper import Gatekeeper

__all__ = ["ADMIN_METHODS", "PUBLIC_PREFIXES", "AuthInterceptor"]

log = get_logger("security")

PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/", "/grpc.reflection.v1.ServerReflection/")

ADMIN_METHODS = frozenset(
    {
        "/agentgateway.v1.RegistryService/RefreshAgents",
        "/agentgateway.v1.RegistryService/ListDiagnostics",
        "/agentgateway.v1.ToolService/RefreshTools",
        "/agentgateway.v1.SecurityService/PreviewDecision",
        "/agentgateway.v1.SecurityService/CreateOverride",
        "/agentgateway.v1.SecurityService/ListOverrides",
        "/agentgateway.v1.SecurityService/DeleteOverride",
        "/agentgateway.v1.SecurityService/ListAuditEvents",
        "/agentgateway.v1.SecurityService/ReloadPolicy",
        "/agentgateway.v1.UpstreamService/ListUpstreams",
        "/agentgateway.v1.UpstreamService/GetUpstream",
        "/agentgateway.v1.UpstreamService/RefreshUpstreams",
    }
)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Runs inside ``services.rpc.interceptor.ErrorInterceptor``: failures are raised as
    ``GatewayError`` and become statuses there."""

    def __init__(self, gatekeeper: Gatekeeper) -> None:
        self._gatekeeper = gatekeeper

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[RequestT, ResponseT] | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[RequestT, ResponseT] | None:
        method: str = details.method
        handler = await continuation(details)
        if handler is None or method.startswith(PUBLIC_PREFIXES):
            return handler
        metadata = tuple(details.invocation_metadata or ())
        request_id = request_ids.from_metadata(metadata)
        principal = self._gatekeeper.authenticate(metadata)
        if principal is None:
            error = GatewayError("UNAUTHENTICATED", "UNAUTHENTICATED", "a valid API key is required (authorization: Bearer <key> or x-api-key)")
            return _failing(handler, _refused(error, method, request_id))
        if method in ADMIN_METHODS:
            service, rpc = method.rsplit("/", 2)[-2:]
            decision = await self._gatekeeper.authorize(principal, "call_admin", f"{service}/{rpc}", request_id)
            if not decision.allowed:
                error = GatewayError(
                    "PERMISSION_DENIED", "ADMIN_REQUIRED", f"{rpc} needs the admin role (policy: {decision.policy})", {"policy": decision.policy}
                )
                return _failing(handler, _refused(error, method, request_id, principal.key_id))
        return _with_context(handler, CallContext(principal, request_id))


def _refused(error: GatewayError, method: str, request_id: str, key_id: str = "") -> GatewayError:
    """Count and log a refusal (by key id at most: never the credential)."""
    reason = error.reason.lower()
    AUTH_FAILURES.labels(reason).inc()
    fields = {"reason": reason, "method": method, "request_id": request_id}
    if key_id:
        fields["key_id"] = key_id
    log.info("request refused", extra={"fields": fields})
    return error


def _with_context(handler: grpc.RpcMethodHandler[RequestT, ResponseT], call: CallContext) -> grpc.RpcMethodHandler[RequestT, ResponseT]:
    @contextlib.asynccontextmanager
    async def as_caller(context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[None]:
        current_call.set(call)
        request_ids.bind(call.request_id)
        yield

    return wrapped(handler, as_caller)


def _failing(handler: grpc.RpcMethodHandler[RequestT, ResponseT], error: GatewayError) -> grpc.RpcMethodHandler[RequestT, ResponseT]:
    @contextlib.asynccontextmanager
    async def refuse(context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[None]:
        raise error
        yield  # pragma: no cover - makes this a generator

    return wrapped(handler, refuse)
