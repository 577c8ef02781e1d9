"""``--metrics-port``: a process's own ``GET /metrics`` listener, for processes without the shim.

A split deployment's backend (``--services registry,executor,tools,security``) has no HTTP
port, yet it is where the run counters live; a shim-only process has the shim's ``/metrics``
but may want a port of its own too. With ``GATEWAY_METRICS_PORT`` set, every process serves
prometheus_client's own ASGI app (its content negotiation, OpenMetrics and gzip included) on
that port, for that process (with ``--workers``: for all workers, summed — they share the port
as they share the others). The rule of the shim's route holds: an admin key is required.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from prometheus_client import make_asgi_app
from starlette.types import Receive, Scope, Send

from services import json_wire, request_ids
from services.log import get_logger
from services.metrics import AUTH_FAILURES, exposition_registry, refresh

__all__ = ["Authorize", "Verdict", "metrics_app"]

log = get_logger("metrics")

# What a scrape's credential is worth.
Verdict = Literal["admin", "unauthenticated", "admin_required"]
# The credential headers (``authorization``, ``x-api-key``) as metadata -> the verdict.
Authorize = Callable[[Sequence[tuple[str, str]]], Awaitable[Verdict]]

_CREDENTIALS = (b"authorization", b"x-api-key")
_REFUSALS: dict[str, tuple[int, str, str]] = {
    "unauthenticated": (401, "authentication_error", "a valid API key is required (Authorization: Bearer <key> or x-api-key)"),
    "admin_required": (403, "permission_error", "metrics need an admin key"),
    "not_found": (404, "invalid_request_error", "this port serves GET /metrics only"),
}


def metrics_app(authorize: Authorize) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    exposition = make_asgi_app(registry=exposition_registry())

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.lower(): v for k, v in scope["headers"]}
        request_id = request_ids.accept(headers.get(b"x-request-id", b"").decode("latin-1"))
        request_ids.bind(request_id)
        if scope["path"] != "/metrics" or scope["method"] not in ("GET", "HEAD"):
            await _refuse(send, "not_found", request_id)
            return
        metadata = [(name.decode(), headers[name].decode("latin-1")) for name in _CREDENTIALS if name in headers]
        verdict = await authorize(metadata) if metadata else "unauthenticated"
        if verdict != "admin":
            AUTH_FAILURES.labels(verdict).inc()
            log.info("request refused", extra={"fields": {"reason": verdict, "path": scope["path"]}})
            await _refuse(send, verdict, request_id)
            return
        await refresh()
        await exposition(scope, receive, send)

    return app


async def _refuse(send: Send, why: str, request_id: str) -> None:
    status, kind, message = _REFUSALS[why]
    body = json_wire.dumps({"error": {"message": message, "type": kind, "param": None, "code": why}})
    headers = [(b"content-type", b"application/json"), (b"x-request-id", request_id.encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
