"""OpenAI-shaped error responses, and the gRPC status -> HTTP status table of CONVENTIONS.md."""

from __future__ import annotations

import math
from typing import Any

from starlette.responses import JSONResponse

from services.errors import GatewayError

__all__ = ["error_body", "error_response", "http_status_of"]

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


_BY_REASON: dict[str, tuple[int, str]] = {"REQUEST_TOO_LARGE": (413, "invalid_request_error")}


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
