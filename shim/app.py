"""The Starlette app: HTTP concerns only. Agent logic lives behind the executor's gRPC API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from google.protobuf.descriptor import FileDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from agentgateway.v1 import conversation_service_pb2_grpc as conv_grpc
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import registry_service_pb2 as reg_pb
from agentgateway.v1 import registry_service_pb2_grpc as reg_grpc
from agentgateway.v1 import security_service_pb2 as sec_pb
from agentgateway.v1 import security_service_pb2_grpc as sec_grpc
from services.errors import GatewayError
from services.log import get_logger
from services.metrics import AUTH_FAILURES, scrape
from services.rpc.inprocess import InProcessServer, channel_to
from services.settings import GatewaySettings
from shim.approvals import get_approval, resolve_approval
from shim.completions import chat_completions
from shim.conversations import (
    append_items,
    create_conversation,
    delete_conversation,
    delete_item,
    get_conversation,
    get_item,
    list_items,
    update_conversation,
)
from shim.errors import EXCEPTION_HANDLERS
from shim.http_rules import gateway_files
from shim.json_response import JSONResponse
from shim.middleware import RequestContext
from shim.openapi import openapi_json
from shim.responses import create_response, delete_response, get_response, list_input_items
from shim.shutdown import OpenCalls
from shim.transcoding import route_conflicts, transcoded_routes

__all__ = ["create_app"]

log = get_logger("shim")


async def list_models(request: Request) -> Response:
    registry: reg_grpc.RegistryServiceAsyncStub = request.app.state.registry
    data: list[dict[str, Any]] = []
    token = ""
    while True:
        page = await registry.ListAgents(reg_pb.ListAgentsRequest(page_size=1000, page_token=token), metadata=request.state.grpc_metadata, timeout=10)
        data.extend(_model_json(a) for a in page.agents)
        token = page.next_page_token
        if not token:
            break
    return JSONResponse({"object": "list", "data": data})


async def get_model(request: Request) -> Response:
    model_id: str = request.path_params["model_id"]
    registry: reg_grpc.RegistryServiceAsyncStub = request.app.state.registry
    found = await registry.GetAgent(reg_pb.GetAgentRequest(name=f"agents/{model_id}"), metadata=request.state.grpc_metadata, timeout=10)
    return JSONResponse(_model_json(found.agent))


async def metrics(request: Request) -> Response:
    """Prometheus text format for this process (with several workers: all of them, summed).
    Admin keys only (scrapers send a bearer token)."""
    security: sec_grpc.SecurityServiceAsyncStub = request.app.state.security
    me = await security.Authenticate(sec_pb.AuthenticateRequest(), metadata=request.state.grpc_metadata, timeout=5)
    if "admin" not in me.principal.roles:
        AUTH_FAILURES.labels("admin_required").inc()
        log.info("request refused", extra={"fields": {"reason": "admin_required", "path": "/metrics", "key_id": me.principal.key_id}})
        raise GatewayError("PERMISSION_DENIED", "ADMIN_REQUIRED", "metrics need an admin key")
    return Response(await scrape(), media_type=CONTENT_TYPE_LATEST)


async def healthz(request: Request) -> Response:
    # The health stub's methods, typed here: types-grpcio-health-checking's HealthStub declares none.
    check: grpc.aio.UnaryUnaryMultiCallable[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse] = request.app.state.health.Check
    try:
        reply = await check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        serving = reply.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.aio.AioRpcError:
        serving = False
    if request.app.state.draining:
        serving = False
    return JSONResponse({"status": "ok" if serving else "unavailable"}, status_code=200 if serving else 503)


def _model_json(agent: reg_pb.Agent) -> dict[str, Any]:
    # `aliases`: the other names the agent answers to (a gateway extension field).
    return {"id": agent.id, "object": "model", "created": 0, "owned_by": "agent-gateway", "description": agent.description, "aliases": list(agent.aliases)}


class _App(Starlette):
    response_headers: tuple[tuple[bytes, bytes], ...] = ()

    def build_middleware_stack(self) -> ASGIApp:
        # RequestContext is the outermost error handler, in place of Starlette's
        # ServerErrorMiddleware (whose plain-text 500 would carry neither the request id nor
        # OpenAI's error shape); ExceptionMiddleware runs EXCEPTION_HANDLERS as usual.
        return RequestContext(ExceptionMiddleware(self.router, handlers=self.exception_handlers), self.response_headers)


def create_app(
    settings: GatewaySettings,
    grpc_target: str,
    inprocess: InProcessServer | None = None,
    *,
    worker_pid: int | None = None,
    http_files: Sequence[FileDescriptor] | None = None,
) -> Starlette:
    """The shim. It reaches the gRPC services at ``grpc_target`` or, co-located, through
    ``inprocess`` (the same servicers and interceptors, no socket: services/rpc/inprocess.py).
    ``worker_pid``: this process is one of several workers; every response says which
    (``x-gateway-worker``), so a client or a load test can tell them apart. ``http_files``:
    the proto files whose ``google.api.http`` annotations become REST routes (default: every
    ``agentgateway.v1`` file). A route that would clash with another is an error here."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        channel: grpc.aio.Channel
        if inprocess is not None:
            channel = channel_to(inprocess)
        else:
            channel = grpc.aio.insecure_channel(
                grpc_target,
                options=[
                    ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
                    ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
                ],
            )
        app.state.channel = channel  # the REST admin routes call their RPCs on it (shim/transcoding.py)
        app.state.executor = ex_grpc.ExecutorServiceStub(channel)
        app.state.conversations = conv_grpc.ConversationServiceStub(channel)
        app.state.registry = reg_grpc.RegistryServiceStub(channel)
        app.state.health = health_pb2_grpc.HealthStub(channel)
        app.state.security = sec_grpc.SecurityServiceStub(channel)
        app.state.draining = False
        app.state.open_calls = OpenCalls()
        try:
            yield
        finally:
            await channel.close()

    routes: list[BaseRoute] = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/responses", create_response, methods=["POST"]),
        Route("/v1/responses/{response_id}", get_response, methods=["GET"]),
        Route("/v1/responses/{response_id}", delete_response, methods=["DELETE"]),
        Route("/v1/responses/{response_id}/input_items", list_input_items, methods=["GET"]),
        Route("/v1/conversations", create_conversation, methods=["POST"]),
        Route("/v1/conversations/{conversation_id}", get_conversation, methods=["GET"]),
        Route("/v1/conversations/{conversation_id}", update_conversation, methods=["POST"]),
        Route("/v1/conversations/{conversation_id}", delete_conversation, methods=["DELETE"]),
        Route("/v1/conversations/{conversation_id}/items", append_items, methods=["POST"]),
        Route("/v1/conversations/{conversation_id}/items", list_items, methods=["GET"]),
        # :path, as an item id a client chose may hold "/" (clients send it as %2F).
        Route("/v1/conversations/{conversation_id}/items/{item_id:path}", get_item, methods=["GET"]),
        Route("/v1/conversations/{conversation_id}/items/{item_id:path}", delete_item, methods=["DELETE"]),
        Route("/v1/approvals/{approval_id}", resolve_approval, methods=["POST"]),
        Route("/v1/approvals/{approval_id}", get_approval, methods=["GET"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
    # The admin and registry RPCs, from their google.api.http annotations.
    routes += transcoded_routes(gateway_files() if http_files is None else http_files)
    conflicts = route_conflicts(routes)
    if conflicts:
        raise ValueError(f"HTTP annotations clash with the shim's routes: {'; '.join(conflicts)}")
    app = _App(routes=routes, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    app.response_headers = () if worker_pid is None else ((b"x-gateway-worker", str(worker_pid).encode()),)
    app.state.settings = settings
    return app
