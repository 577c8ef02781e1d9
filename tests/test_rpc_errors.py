"""The gRPC error layer on a real server: handlers raise, ``ErrorInterceptor`` answers with a
rich status, and ``error_from_rpc_error`` recovers the same ``GatewayError`` on the client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from agentgateway.v1 import messages_pb2 as pb
from services.errors import GatewayError, invalid_argument
from services.rpc.interceptor import ErrorInterceptor
from services.rpc.paging import page_slice
from services.rpc.status import error_from_rpc_error

LIMITED = GatewayError("RESOURCE_EXHAUSTED", "RATE_LIMITED", "slow down", {"policy": "key:ops"}, retry_after_s=1.5)


async def _fail(request: bytes, context: Any) -> bytes:
    raise LIMITED


async def _bad_field(request: bytes, context: Any) -> bytes:
    raise invalid_argument("temperature must be <= 2", "sampling.temperature")


async def _bug(request: bytes, context: Any) -> bytes:
    raise RuntimeError("secret internals at /srv/app.py line 3")


async def _stream_then_fail(request: bytes, context: Any) -> AsyncIterator[bytes]:
    yield b"one"
    yield b"two"
    raise GatewayError("DEADLINE_EXCEEDED", "AGENT_TIMEOUT", "too slow")


async def _echo_model(request: pb.ChatRequest, context: Any) -> pb.ChatRequest:
    return request


async def _stream_model(request: pb.ChatRequest, context: Any) -> AsyncIterator[pb.ChatRequest]:
    yield request


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    typed = {"request_deserializer": pb.ChatRequest.FromString, "response_serializer": pb.ChatRequest.SerializeToString}
    handlers = {
        "Echo": grpc.unary_unary_rpc_method_handler(_echo_model, **typed),
        "EchoStream": grpc.unary_stream_rpc_method_handler(_stream_model, **typed),
        "Fail": grpc.unary_unary_rpc_method_handler(_fail),
        "BadField": grpc.unary_unary_rpc_method_handler(_bad_field),
        "Bug": grpc.unary_unary_rpc_method_handler(_bug),
        "StreamThenFail": grpc.unary_stream_rpc_method_handler(_stream_then_fail),
    }
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Errors", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield ch
    await server.stop(None)


async def _call(channel: grpc.aio.Channel, method: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.unary_unary(f"/test.Errors/{method}")(b"")
    return caught.value


async def test_gateway_error_becomes_a_rich_status_and_back(channel: grpc.aio.Channel) -> None:
    failure = await _call(channel, "Fail")
    assert failure.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and failure.details() == "slow down"
    assert error_from_rpc_error(failure) == LIMITED


async def test_field_errors_carry_bad_request(channel: grpc.aio.Channel) -> None:
    failure = await _call(channel, "BadField")
    status = rpc_status.from_call(failure)
    assert status is not None
    violations = [d for d in status.details if d.Is(error_details_pb2.BadRequest.DESCRIPTOR)]
    assert len(violations) == 1
    bad = error_details_pb2.BadRequest()
    violations[0].Unpack(bad)
    assert [v.field for v in bad.field_violations] == ["sampling.temperature"]
    assert error_from_rpc_error(failure).metadata == {"param": "sampling.temperature"}


async def test_a_handler_bug_is_internal_and_reveals_nothing(channel: grpc.aio.Channel) -> None:
    failure = await _call(channel, "Bug")
    error = error_from_rpc_error(failure)
    assert (error.status, error.reason) == ("INTERNAL", "INTERNAL")
    assert "secret" not in (failure.details() or "") and "Traceback" not in (failure.details() or "")


async def test_a_stream_ends_with_the_status_after_its_events(channel: grpc.aio.Channel) -> None:
    received = []
    call = channel.unary_stream("/test.Errors/StreamThenFail")(b"")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for message in call:
            received.append(message)
    assert received == [b"one", b"two"]
    assert error_from_rpc_error(caught.value).reason == "AGENT_TIMEOUT"


def test_page_tokens_round_trip_and_bad_ones_are_invalid_argument() -> None:
    keys = [f"k{i:02d}" for i in range(5)]
    start, end, token = page_slice(keys, 2, "")
    assert (start, end) == (0, 2) and token
    start, end, token = page_slice(keys, 2, token)
    assert keys[start:end] == ["k02", "k03"]
    assert page_slice(keys, 2, token) == (4, 5, "")
    for size, token, param in ((-1, "", "page_size"), (2, "%%%", "page_token")):
        with pytest.raises(GatewayError) as caught:
            page_slice(keys, size, token)
        assert (caught.value.status, caught.value.metadata["param"]) == ("INVALID_ARGUMENT", param)


def test_a_struct_json_cannot_carry_is_invalid_argument_naming_the_field() -> None:
    from google.protobuf import struct_pb2

    from services.rpc.structs import json_from_struct

    struct = struct_pb2.Struct()
    struct.update({"ok": 3.0, "bad": float("nan")})
    with pytest.raises(GatewayError) as caught:
        json_from_struct(struct, "extra")
    assert (caught.value.status, caught.value.metadata) == ("INVALID_ARGUMENT", {"param": "extra"})
    struct.update({"bad": 1.5})
    assert json_from_struct(struct, "extra") == {"ok": 3, "bad": 1.5}


def _nested_struct_bytes(levels: int) -> bytes:
    """A ChatRequest whose ``extra`` nests ``levels`` deep: over protobuf's decoding depth limit."""
    value: object = 1
    for _ in range(levels):
        value = {"x": value}
    chat = pb.ChatRequest(model="m")
    chat.extra.update({"deep": value})
    return chat.SerializeToString()


@pytest.mark.parametrize("payload", [b"\xff\xff\xff", b"\x0a\x05ab", _nested_struct_bytes(60)], ids=["garbage", "truncated", "too-deep"])
@pytest.mark.parametrize("method", ["Echo", "EchoStream"])
async def test_a_request_that_does_not_parse_is_invalid_argument_not_unknown(channel: grpc.aio.Channel, payload: bytes, method: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        if method == "Echo":
            await channel.unary_unary(f"/test.Errors/{method}")(payload)
        else:
            async for _ in channel.unary_stream(f"/test.Errors/{method}")(payload):
                pass
    error = error_from_rpc_error(caught.value)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error is not None and error.reason == "MALFORMED_REQUEST" and method in error.message


async def test_a_request_that_parses_still_arrives(channel: grpc.aio.Channel) -> None:
    sent = pb.ChatRequest(model="default/x", user="u")
    echoed = await channel.unary_unary("/test.Errors/Echo")(sent.SerializeToString())
    assert pb.ChatRequest.FromString(echoed) == sent
