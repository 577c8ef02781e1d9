"""The one place where a servicer's ``GatewayError`` becomes a gRPC status.

Servicers (and the auth interceptor inside this one) raise ``GatewayError``; this interceptor,
outermost on every server, ends the RPC with the rich status of ``to_status``. Anything else a
handler raises is a bug: it is logged with its traceback and the caller gets INTERNAL with a
message that reveals nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

import grpc

from services.errors import GatewayError
from services.log import get_logger
from services.rpc.handlers import RequestT, ResponseT, unary_stream_of, unary_unary_of
from services.rpc.status import to_status

__all__ = ["ErrorInterceptor", "abort"]

log = get_logger("rpc")


async def abort(context: grpc.aio.ServicerContext[Any, Any], error: GatewayError) -> NoReturn:
    status = to_status(error)
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("unreachable")  # context.abort always raises


async def _fail(context: grpc.aio.ServicerContext[Any, Any], exc: Exception, method: str) -> NoReturn:
    if isinstance(exc, GatewayError):
        await abort(context, exc)
    log.error("RPC handler failed", exc_info=exc, extra={"fields": {"method": method, "error_type": type(exc).__name__}})
    await abort(context, GatewayError("INTERNAL", "INTERNAL", "the gateway failed to handle this request"))


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[RequestT, ResponseT] | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[RequestT, ResponseT] | None:
        handler = await continuation(details)
        method: str = details.method
        if handler is None:
            return handler
        inner_uu = unary_unary_of(handler)
        if inner_uu is not None:

            async def unary_unary(request: RequestT, context: grpc.aio.ServicerContext[RequestT, ResponseT]) -> ResponseT:
                try:
                    return await inner_uu(request, context)
                except (asyncio.CancelledError, grpc.aio.AbortError):
                    raise
                except Exception as exc:  # noqa: BLE001 - every failure becomes a status here
                    await _fail(context, exc, method)

            return grpc.unary_unary_rpc_method_handler(unary_unary, handler.request_deserializer, handler.response_serializer)
        inner_us = unary_stream_of(handler)
        if inner_us is not None:

            async def unary_stream(request: RequestT, context: grpc.aio.ServicerContext[RequestT, ResponseT]) -> AsyncIterator[ResponseT]:
                try:
                    async for response in inner_us(request, context):
                        yield response
                except (asyncio.CancelledError, grpc.aio.AbortError):
                    raise
                except Exception as exc:  # noqa: BLE001 - every failure becomes a status here
                    await _fail(context, exc, method)

            return grpc.unary_stream_rpc_method_handler(unary_stream, handler.request_deserializer, handler.response_serializer)
        return handler  # no client-streaming RPCs in agentgateway.v1
