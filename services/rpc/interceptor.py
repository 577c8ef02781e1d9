"""The one place where a servicer's ``GatewayError`` becomes a gRPC status.

Servicers (and the auth interceptor inside this one) raise ``GatewayError``; this interceptor,
outermost on every server, ends the RPC with the rich status of ``to_status``. Anything else a
handler raises is a bug: it is logged with its traceback and the caller gets INTERNAL with a
message that reveals nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

import grpc

from services.errors import GatewayError
from services.log import get_logger
from services.rpc.handlers import MalformedRequest, RequestT, ResponseT, wrapped
from services.rpc.status import to_status

__all__ = ["ErrorInterceptor"]

log = get_logger("rpc")


async def _abort(context: grpc.aio.ServicerContext[Any, Any], error: GatewayError) -> NoReturn:
    status = to_status(error)
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("unreachable")  # context.abort always raises


@contextlib.asynccontextmanager
async def _statuses(context: grpc.aio.ServicerContext[Any, Any], method: str) -> AsyncIterator[None]:
    try:
        yield
    except (asyncio.CancelledError, grpc.aio.AbortError):
        raise
    except MalformedRequest:
        # gRPC's convention for unparsable messages is INTERNAL; the caller sent them, so say so.
        await _abort(context, GatewayError("INVALID_ARGUMENT", "MALFORMED_REQUEST", f"the request message could not be parsed as the request of {method}"))
    except GatewayError as error:
        await _abort(context, error)
    except Exception as exc:
        log.error("RPC handler failed", exc_info=exc, extra={"fields": {"method": method, "error_type": type(exc).__name__}})
        await _abort(context, GatewayError("INTERNAL", "INTERNAL", "the gateway failed to handle this request"))


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
        return wrapped(handler, lambda context: _statuses(context, method), lenient=True)
