"""Every RPC is counted and timed once, with its final status code, whether it came over the
socket or the in-process channel: both servers run the same interceptor chain, as in the gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from services.errors import GatewayError
from services.rpc.inprocess import InProcessServer, channel_to, registering_on
from services.rpc.interceptor import ErrorInterceptor

pytestmark = pytest.mark.asyncio

SVC = "test.MeteredSvc"


# Messages are raw bytes (no serializers) on both transports.
async def _ok(request: bytes, context: Any) -> bytes:
    return request


async def _missing(request: bytes, context: Any) -> bytes:
    raise GatewayError("NOT_FOUND", "THING_NOT_FOUND", "no such thing")


async def _slow(request: bytes, context: Any) -> bytes:
    await asyncio.sleep(10)
    return request


async def _stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
    for i in range(3):
        yield request + b" %d" % i


def _counts(method: str) -> dict[str, float]:
    """code -> calls handled, and "seconds" -> observations of the latency histogram."""
    counts: dict[str, float] = {}
    for metric in REGISTRY.collect():
        for s in metric.samples:
            if s.labels.get("method") != f"/{SVC}/{method}":
                continue
            if s.name == "agentgateway_grpc_server_handled_total":
                counts[s.labels["code"]] = s.value
            elif s.name == "agentgateway_grpc_server_handling_seconds_count":
                counts["seconds"] = s.value
    return counts


@pytest.fixture
async def channels() -> AsyncIterator[dict[str, grpc.aio.Channel]]:
    interceptors = [ErrorInterceptor()]
    socket_server = grpc.aio.server(interceptors=interceptors)
    inprocess = InProcessServer(interceptors)
    methods = {
        "Ok": grpc.unary_unary_rpc_method_handler(_ok),
        "Missing": grpc.unary_unary_rpc_method_handler(_missing),
        "Slow": grpc.unary_unary_rpc_method_handler(_slow),
        "Stream": grpc.unary_stream_rpc_method_handler(_stream),
    }
    registering_on(socket_server, inprocess).add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SVC, methods)])
    port = socket_server.add_insecure_port("127.0.0.1:0")
    await socket_server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as socket_channel:
        yield {"socket": socket_channel, "inprocess": channel_to(inprocess)}
    await socket_server.stop(None)


@pytest.mark.parametrize("transport", ["socket", "inprocess"])
async def test_each_call_is_counted_once_with_its_status_code(channels: dict[str, grpc.aio.Channel], transport: str) -> None:
    channel = channels[transport]
    before = {m: _counts(m) for m in ("Ok", "Missing", "Slow", "Stream")}
    unary = {m: channel.unary_unary(f"/{SVC}/{m}") for m in ("Ok", "Missing", "Slow")}
    assert await unary["Ok"](b"a") == b"a"
    assert await unary["Ok"](b"b") == b"b"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await unary["Missing"](b"x")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await unary["Slow"](b"x", timeout=0.2)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    stream = channel.unary_stream(f"/{SVC}/Stream")
    assert [m async for m in stream(b"s")] == [b"s 0", b"s 1", b"s 2"]

    # The server side of a deadline may end just after the client's: wait for it.
    for _ in range(50):
        if _counts("Slow").get("DEADLINE_EXCEEDED", 0) > before["Slow"].get("DEADLINE_EXCEEDED", 0):
            break
        await asyncio.sleep(0.05)
    grew = {m: {k: v - before[m].get(k, 0) for k, v in _counts(m).items()} for m in before}
    assert grew["Ok"] == {"OK": 2, "seconds": 2}
    assert grew["Missing"] == {"OK": 0, "NOT_FOUND": 1, "seconds": 1}
    assert grew["Slow"] == {"OK": 0, "DEADLINE_EXCEEDED": 1, "seconds": 1}
    assert grew["Stream"] == {"OK": 1, "seconds": 1}  # one call, however many messages
