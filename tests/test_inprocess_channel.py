"""The in-process channel behaves like a grpc.aio channel where the shim can tell: responses,
rich error statuses, deadlines, cancellation and interceptors, with no socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest

from services.errors import GatewayError
from services.rpc.inprocess import InProcessServer, channel_to
from services.rpc.interceptor import ErrorInterceptor
from services.rpc.status import error_from_rpc_error

pytestmark = pytest.mark.asyncio

LIMITED = GatewayError("RESOURCE_EXHAUSTED", "RATE_LIMITED", "slow down", {"policy": "key:ops"}, retry_after_s=1.5)


class Recorder(grpc.aio.ServerInterceptor):
    """Notes what interceptors are shown: the method and the caller's metadata."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, tuple[Any, ...]]] = []

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]], details: grpc.HandlerCallDetails) -> Any:
        self.seen.append((details.method, tuple(details.invocation_metadata or ())))
        return await continuation(details)


class Handlers:
    def __init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.produced = 0

    async def echo(self, request: str, context: Any) -> str:
        return f"echo {request}"

    async def fail(self, request: str, context: Any) -> str:
        raise LIMITED

    async def slow(self, request: str, context: Any) -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return "late"

    async def count(self, request: str, context: Any) -> AsyncIterator[str]:
        for i in range(3):
            yield f"{request} {i}"
        if request == "then fail":
            raise GatewayError("DEADLINE_EXCEEDED", "AGENT_TIMEOUT", "too slow")

    async def many(self, request: str, context: Any) -> AsyncIterator[int]:
        for i in range(1000):
            self.produced += 1
            yield i

    async def forever(self, request: str, context: Any) -> AsyncIterator[str]:
        try:
            yield "first"
            await asyncio.sleep(10)
            yield "never"
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


@pytest.fixture
def served() -> tuple[grpc.aio.Channel, Handlers, Recorder]:
    handlers, recorder = Handlers(), Recorder()
    server = InProcessServer([ErrorInterceptor(), recorder])
    methods = {
        "Echo": grpc.unary_unary_rpc_method_handler(handlers.echo),
        "Fail": grpc.unary_unary_rpc_method_handler(handlers.fail),
        "Slow": grpc.unary_unary_rpc_method_handler(handlers.slow),
        "Count": grpc.unary_stream_rpc_method_handler(handlers.count),
        "Forever": grpc.unary_stream_rpc_method_handler(handlers.forever),
        "Many": grpc.unary_stream_rpc_method_handler(handlers.many),
    }
    server.add_registered_method_handlers("test.Svc", methods)
    return channel_to(server), handlers, recorder


async def test_a_unary_call_runs_through_the_interceptors_with_the_metadata(served: tuple[grpc.aio.Channel, Handlers, Recorder]) -> None:
    channel, _, recorder = served
    assert await channel.unary_unary("/test.Svc/Echo")("hi", metadata=(("authorization", "Bearer k"),)) == "echo hi"
    assert recorder.seen == [("/test.Svc/Echo", (("authorization", "Bearer k"),))]


async def test_a_gateway_error_arrives_as_the_same_rich_status(served: tuple[grpc.aio.Channel, Handlers, Recorder]) -> None:
    channel, _, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.unary_unary("/test.Svc/Fail")("x")
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_from_rpc_error(caught.value) == LIMITED  # reason, metadata and retry delay survive


async def test_a_deadline_cancels_the_handler(served: tuple[grpc.aio.Channel, Handlers, Recorder]) -> None:
    channel, handlers, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.unary_unary("/test.Svc/Slow")("x", timeout=0.05)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(handlers.cancelled.wait(), 1)


async def test_cancelling_a_unary_call_cancels_the_handler(served: tuple[grpc.aio.Channel, Handlers, Recorder]) -> None:
    channel, handlers, _ = served
    call = channel.unary_unary("/test.Svc/Slow")("x")
    waiting = asyncio.ensure_future(call)
    await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.wait_for(handlers.cancelled.wait(), 1)


async def test_a_stream_yields_in_order_then_ends_with_its_status(served: tuple[grpc.aio.Channel, Handlers, Recorder]) -> None:
    channel, _, _ = served
    assert [m async for m in channel.unary_stream("/test.Svc/Count")("n")] == ["n 0", "n 1", "n 2"]
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for message in channel.unary_stream("/test.Svc/Count")("then fail"):
            received.append(message)
    assert len(received) == 3 and caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error_from_rpc_error(caught.value).reason == "AGENT_TIMEOUT"


async def test_cancelling_a_stream_wakes_the_reader_and_cancels_the_handler(served: tuple[grpc.aio.Channel, Handlers, Recorder]) -> None:
    channel, handlers, _ = served
    call = channel.unary_stream("/test.Svc/Forever")("x")
    messages = aiter(call)
    assert await anext(messages) == "first"
    reading = asyncio.ensure_future(anext(messages))
    await asyncio.sleep(0.01)
    call.cancel()  # from elsewhere, as the shim's shutdown cut does
    with pytest.raises(asyncio.CancelledError):
        await reading
    await asyncio.wait_for(handlers.cancelled.wait(), 1)


async def test_a_stream_the_reader_does_not_keep_up_with_holds_the_handler_back(served: tuple[grpc.aio.Channel, Handlers, Recorder]) -> None:
    channel, handlers, _ = served
    messages = aiter(channel.unary_stream("/test.Svc/Many")("x"))
    assert await anext(messages) == 0
    await asyncio.sleep(0.05)
    assert handlers.produced <= 66  # a bounded buffer (64) ahead of the reader, not the whole stream
    assert [m async for m in messages] == list(range(1, 1000))  # then everything, in order
    assert handlers.produced == 1000


async def test_an_unknown_method_is_unimplemented(served: tuple[grpc.aio.Channel, Handlers, Recorder]) -> None:
    channel, _, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.unary_unary("/test.Svc/Nope")("x")
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    with pytest.raises(grpc.aio.AioRpcError):
        async for _ in channel.unary_stream("/test.Svc/Nope")("x"):
            pass
