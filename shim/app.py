"""The Starlette app: HTTP concerns only. Agent logic lives behind the executor's gRPC API."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import registry_service_pb2 as reg_pb
from agentgateway.v1 import registry_service_pb2_grpc as reg_grpc
from agentgateway.v1 import security_service_pb2 as sec_pb
from agentgateway.v1 import security_service_pb2_grpc as sec_grpc
from services.errors import GatewayError
from services.log import get_logger
from services.rpc.status import error_from_rpc_error
from services.settings import GatewaySettings
from shim.completions import chat_completions
from shim.errors import error_response

__all__ = ["create_app"]

log = get_logger("shim")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_FORWARDED_AUTH = ("authorization", "x-api-key")
_PUBLIC_PATHS = frozenset({"/healthz"})


class RequestContext:
    """Per-request id, the gRPC metadata to forward, and the headers every response carries."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        metadata: list[tuple[str, str]] = [("x-request-id", request_id)]
        for name in _FORWARDED_AUTH:
            value = headers.get(name)
            # gRPC metadata is printable ASCII; anything else cannot be a key of ours.
            if value and value.isascii() and value.isprintable() and len(value) <= 4096:
                metadata.append((name, value))
        if len(metadata) == 1 and scope["path"] not in _PUBLIC_PATHS:
            # No usable credential: refuse here. Keys themselves are verified by the gRPC
            # services (one place), so a split deployment's shim needs no key material.
            response = error_response(
                GatewayError("UNAUTHENTICATED", "UNAUTHENTICATED", "a valid API key is required (Authorization: Bearer <key> or x-api-key)"),
                {"x-request-id": request_id, "www-authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["grpc_metadata"] = tuple(metadata)
        state["response_headers"] = {"x-request-id": request_id}

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                if not any(k.lower() == b"x-request-id" for k, _ in raw):
                    raw.append((b"x-request-id", request_id.encode()))
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_id)


async def list_models(request: Request) -> Response:
    registry = request.app.state.registry
    data: list[dict[str, Any]] = []
    token = ""
    try:
        while True:
            page = await registry.ListAgents(reg_pb.ListAgentsRequest(page_size=1000, page_token=token), metadata=request.state.grpc_metadata, timeout=10)
            data.extend(_model_json(a) for a in page.agents)
            token = page.next_page_token
            if not token:
                break
    except grpc.aio.AioRpcError as exc:
        return error_response(error_from_rpc_error(exc), request.state.response_headers)
    return JSONResponse({"object": "list", "data": data}, headers=request.state.response_headers)


async def get_model(request: Request) -> Response:
    model_id = request.path_params["model_id"]
    try:
        found = await request.app.state.registry.GetAgent(reg_pb.GetAgentRequest(name=f"agents/{model_id}"), metadata=request.state.grpc_metadata, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return error_response(error_from_rpc_error(exc), request.state.response_headers)
    return JSONResponse(_model_json(found.agent), headers=request.state.response_headers)


async def metrics(request: Request) -> Response:
    """Prometheus text format for this process. Admin keys only (scrapers send a bearer token)."""
    try:
        me = await request.app.state.security.Authenticate(sec_pb.AuthenticateRequest(), metadata=request.state.grpc_metadata, timeout=5)
    except grpc.aio.AioRpcError as exc:
        return error_response(error_from_rpc_error(exc), request.state.response_headers)
    if "admin" not in me.principal.roles:
        return error_response(GatewayError("PERMISSION_DENIED", "ADMIN_REQUIRED", "metrics need an admin key"), request.state.response_headers)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST, headers=request.state.response_headers)


async def healthz(request: Request) -> Response:
    try:
        reply = await request.app.state.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        serving = reply.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.aio.AioRpcError:
        serving = False
    if request.app.state.draining:
        serving = False
    return JSONResponse({"status": "ok" if serving else "unavailable"}, status_code=200 if serving else 503)


def _model_json(agent: reg_pb.Agent) -> dict[str, Any]:
    return {"id": agent.id, "object": "model", "created": 0, "owned_by": "agent-gateway", "description": agent.description}


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(GatewayError("NOT_FOUND", "NOT_FOUND", f"no route for {request.method} {request.url.path}"))


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {
            "error": {
                "message": f"method {request.method} is not allowed on {request.url.path}",
                "type": "invalid_request_error",
                "param": None,
                "code": "method_not_allowed",
            }
        },
        status_code=405,
    )


async def _internal(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc, extra={"fields": {"path": request.url.path}})
    return error_response(GatewayError("INTERNAL", "INTERNAL", "the gateway failed to handle this request"))


def create_app(settings: GatewaySettings, grpc_target: str) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        channel = grpc.aio.insecure_channel(
            grpc_target,
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024), ("grpc.max_send_message_length", 64 * 1024 * 1024)],
        )
        app.state.settings = settings
        app.state.executor = ex_grpc.ExecutorServiceStub(channel)
        app.state.registry = reg_grpc.RegistryServiceStub(channel)
        app.state.health = health_pb2_grpc.HealthStub(channel)
        app.state.security = sec_grpc.SecurityServiceStub(channel)
        app.state.draining = False
        try:
            yield
        finally:
            await channel.close()

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        middleware=[Middleware(RequestContext)],
        exception_handlers={404: _not_found, 405: _method_not_allowed, Exception: _internal},
        lifespan=lifespan,
    )
    return app
