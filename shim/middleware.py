"""The outermost layer of the shim: the request id, the credentials to forward, the
``x-request-id`` and ``x-gateway-overhead-ms`` headers (and ``x-gateway-worker`` with several
workers) on every response, and the last-resort 500.

It sits outside Starlette's own error middleware on purpose: a handler bug must still answer
in OpenAI's error shape, with the request id, logged under that id, and never with internals.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services import request_ids
from services.errors import GatewayError
from services.log import get_logger
from services.metrics import AUTH_FAILURES
from shim.errors import error_response
from shim.overhead import overhead_header

__all__ = ["RequestContext"]

log = get_logger("shim")
_FORWARDED_AUTH = ("authorization", "x-api-key")
_PUBLIC_PATHS = frozenset({"/healthz"})
_WANTED = frozenset({"x-request-id", *_FORWARDED_AUTH})
_INTERNAL = GatewayError("INTERNAL", "INTERNAL", "the gateway failed to handle this request")
_UNAUTHENTICATED = GatewayError("UNAUTHENTICATED", "UNAUTHENTICATED", "a valid API key is required (Authorization: Bearer <key> or x-api-key)")


class RequestContext:
    """Sets ``request.state.request_id`` and ``request.state.grpc_metadata`` (request id and
    credentials, for the executor and registry calls)."""

    def __init__(self, app: ASGIApp, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        self.app = app
        self._headers = list(headers)  # the same on every response of this process

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived = time.perf_counter()
        # Only the headers read here are decoded (this frame lives as long as the response).
        headers = _wanted_headers(scope["headers"])
        request_id = request_ids.accept(headers.get("x-request-id"))
        request_ids.bind(request_id)  # this request's task: its log lines carry the id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                raw = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message["headers"] = [*raw, (b"x-request-id", request_id.encode()), overhead_header(scope, arrived), *self._headers]
            await send(message)

        metadata: list[tuple[str, str]] = [("x-request-id", request_id)]
        for name in _FORWARDED_AUTH:
            value = headers.get(name)
            # gRPC metadata is printable ASCII; anything else cannot be a key of ours.
            if value and value.isascii() and value.isprintable() and len(value) <= 4096:
                metadata.append((name, value))
        if len(metadata) == 1 and scope["path"] not in _PUBLIC_PATHS:
            # No usable credential: refuse here. Keys themselves are verified by the gRPC
            # services (one place), so a split deployment's shim needs no key material.
            AUTH_FAILURES.labels("unauthenticated").inc()
            log.info("request refused", extra={"fields": {"reason": "unauthenticated", "path": scope["path"]}})
            await error_response(_UNAUTHENTICATED, {"www-authenticate": "Bearer"})(scope, receive, send_with_id)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["grpc_metadata"] = tuple(metadata)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log.error("unhandled error", exc_info=exc, extra={"fields": {"path": scope["path"], "request_id": request_id}})
            if started:
                raise  # headers are out: the server closes the connection
            await error_response(_INTERNAL)(scope, receive, send_with_id)


def _wanted_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The request id and credential headers, decoded (the last of repeated ones, as before)."""
    wanted: dict[str, str] = {}
    for key, value in raw:
        name = key.decode("latin-1").lower()
        if name in _WANTED:
            wanted[name] = value.decode("latin-1")
    return wanted
