"""The one place where a servicer's ``GatewayError`` becomes a gRPC status, and where every
RPC is measured.

Servicers (and the auth interceptor inside this one) raise ``GatewayError``; this interceptor,
outermost on every server, ends the RPC with the rich status of ``to_status``. Anything else a
handler raises is a bug: it is logged with its traceback and the caller gets INTERNAL with a
message that reveals nothing.

Knowing every call's final status, it also counts and times each one
(``agentgateway_grpc_server_handled_total{method,code}``, ``..._handling_seconds{method}``;
a stream: until its end). The socket server and the co-located shim's in-process server run
this same chain (services/rpc/inprocess.py), and a call takes one of them, so each call is
measured once, whichever way it came. Measured in this wrapper rather than by an interceptor of
its own: another layer would add a generator hop to every message of every stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

import grpc

from services.errors import GatewayError
from services.log import get_logger
from services.metrics import grpc_method_metrics
from services.rpc.handlers import MalformedRequest, RequestT, ResponseT, wrapped
from services.rpc.status import to_status

__all__ = ["ErrorInterceptor"]

log = get_logger("rpc")

_DEADLINE_SLACK_S = 0.05


async def _abort(context: grpc.aio.ServicerContext[Any, Any], error: GatewayError) -> NoReturn:
    status = to_status(error)
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("unreachable")  # context.abort always raises


@contextlib.asynccontextmanager
async def _statuses(context: grpc.aio.ServicerContext[Any, Any], method: str) -> AsyncIterator[None]:
    started = time.perf_counter()
    code = "CANCELLED"  # a caller gone (or a stream closed early) unless something below says otherwise
    try:
        yield
        code = "OK"
    except asyncio.CancelledError:
        remaining = context.time_remaining()
        # The call's deadline cancelled it. Over a socket the client gives up first and its
        # cancellation arrives a moment before the server's own copy of the deadline.
        if remaining is not None and remaining < _DEADLINE_SLACK_S:
            code = "DEADLINE_EXCEEDED"
        raise
    except grpc.aio.AbortError:
        code = "UNKNOWN"  # aborted by the handler itself (none of ours does)
        raise
    except MalformedRequest:
        # gRPC's convention for unparsable messages is INTERNAL; the caller sent them, so say so.
        code = "INVALID_ARGUMENT"
        await _abort(context, GatewayError("INVALID_ARGUMENT", "MALFORMED_REQUEST", f"the request message could not be parsed as the request of {method}"))
    except GatewayError as error:
        code = error.status
        await _abort(context, error)
    except Exception as exc:
        code = "INTERNAL"
        log.error("RPC handler failed", exc_info=exc, extra={"fields": {"method": method, "error_type": type(exc).__name__}})
        await _abort(context, GatewayError("INTERNAL", "INTERNAL", "the gateway failed to handle this request"))
    finally:
        grpc_method_metrics(method).observe(code, time.perf_counter() - started)


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
