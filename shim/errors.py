"""OpenAI-shaped error responses: the gRPC status -> HTTP status table (docs/api.md, "Errors")
and the app's exception handlers, the one place where errors become HTTP responses."""

from __future__ import annotations

import math
from typing import Any

import grpc
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from services.errors import GatewayError
from services.rpc.status import error_from_rpc_error
from shim.json_response import JSONResponse

__all__ = ["EXCEPTION_HANDLERS", "error_body", "error_response", "http_status_of"]

_BY_STATUS: dict[str, tuple[int, str]] = {
    "INVALID_ARGUMENT": (400, "invalid_request_error"),
    "UNAUTHENTICATED": (401, "authentication_error"),
    "PERMISSION_DENIED": (403, "permission_error"),
    "NOT_FOUND": (404, "invalid_request_error"),
    "RESOURCE_EXHAUSTED": (429, "rate_limit_error"),
    "UNAVAILABLE": (503, "service_unavailable_error"),
    "DEADLINE_EXCEEDED": (504, "timeout_error"),
    "UNIMPLEMENTED": (501, "server_error"),
}
# Upstream failures are the gateway's upstream misbehaving: 502, whatever the gRPC code.
_UPSTREAM_502 = {"UPSTREAM_ERROR", "UPSTREAM_UNREACHABLE", "UPSTREAM_BAD_RESPONSE", "UPSTREAM_NOT_CONFIGURED"}


_BY_REASON: dict[str, tuple[int, str]] = {
    "REQUEST_TOO_LARGE": (413, "invalid_request_error"),
    "METHOD_NOT_ALLOWED": (405, "invalid_request_error"),
    "HOSTED_TOOL_UNSUPPORTED": (400, "invalid_request_error"),
    # A paused run that can no longer resume: the client must send its request again.
    "APPROVAL_ALREADY_RESOLVED": (409, "invalid_request_error"),
    "APPROVAL_EXPIRED": (410, "invalid_request_error"),
    "APPROVAL_AGENT_CHANGED": (409, "invalid_request_error"),
    # A reload refused because the file is malformed (the old config stays): FAILED_PRECONDITION,
    # which Google's HTTP mapping (and grpc-gateway's) makes a 400, not a server failure.
    "POLICY_INVALID": (400, "invalid_request_error"),
    "POLICY_MISSING": (400, "invalid_request_error"),
    "TOOLS_CONFIG_INVALID": (400, "invalid_request_error"),
}


def http_status_of(error: GatewayError) -> tuple[int, str]:
    if error.reason in _BY_REASON:
        return _BY_REASON[error.reason]
    if error.reason in _UPSTREAM_502:
        return 502, "upstream_error"
    return _BY_STATUS.get(error.status, (500, "server_error"))


def error_body(error: GatewayError) -> dict[str, Any]:
    _, kind = http_status_of(error)
    return {
        "error": {
            "message": error.message,
            "type": kind,
            "param": error.metadata.get("param"),
            "code": error.reason.lower(),
        }
    }


def error_response(error: GatewayError, headers: dict[str, str] | None = None) -> JSONResponse:
    status, _ = http_status_of(error)
    all_headers = dict(headers or {})
    if error.retry_after_s is not None:
        all_headers["retry-after"] = str(max(1, math.ceil(error.retry_after_s)))
    if error.metadata.get("retryable") == "false":
        # OpenAI clients honour this: no automatic retry of a request that cannot succeed.
        all_headers["x-should-retry"] = "false"
    return JSONResponse(error_body(error), status_code=status, headers=all_headers)


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


async def _rpc_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, grpc.aio.AioRpcError)
    return error_response(error_from_rpc_error(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no route) and 405 (wrong method)."""
    assert isinstance(exc, HTTPException)
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 405:
        return error_response(GatewayError("INVALID_ARGUMENT", "METHOD_NOT_ALLOWED", f"method {request.method} is not allowed on {request.url.path}"))
    return error_response(GatewayError("NOT_FOUND", "NOT_FOUND", f"no route for {where}"))


EXCEPTION_HANDLERS = {GatewayError: _gateway_error, grpc.aio.AioRpcError: _rpc_error, 404: _http_error, 405: _http_error}
