"""REST routes for the gRPC services, from their ``google.api.http`` annotations.

grpc-gateway's transcoding, inside the shim. At start every binding of the ``agentgateway.v1``
descriptors (shim/http_rules.py) becomes a route, and a request to it becomes that RPC's
request message by the rules of google/api/http.proto: the path variables
(``/v1/{name=agents/**}``), the JSON body (``body: "*"``: the whole message; ``body:
"field"``: that field) and, for the fields neither binds, query parameters (``?pageSize=10``,
``?override.keyId=ops``, repeated fields by repeating the parameter). JSON is proto3 JSON
(``json_format``: lowerCamelCase names, the original names accepted too). The call goes through
the shim's channel with the caller's metadata (key, request id) like every other route; its
answer is the response message as proto3 JSON with every field, defaults included (a
``Decision`` says ``"allowed": false`` rather than leaving it out). Errors are the service's,
in OpenAI's error JSON (shim/errors.py), and request mapping errors are 400s naming the
parameter.

A server-streaming RPC answers with server-sent events, one ``data:`` frame per message and
``data: [DONE]`` at its end; a failure before the first message is an ordinary error reply,
after it the last frame (as chat completions stream). Client-streaming RPCs are refused.

Nothing here names a service or a method: annotating an RPC is all it takes to serve it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from typing import Any

import grpc
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor, FileDescriptor
from google.protobuf.message import Message
from starlette.convertors import CONVERTOR_TYPES
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from services.errors import GatewayError, invalid_argument
from services.settings import GatewaySettings
from shim.chunks import sse
from shim.completions import await_reply, next_or_none, parse_json_body, read_body
from shim.errors import error_body
from shim.event_stream import EventStream
from shim.http_rules import Binding, TemplateError, bindings_of, field_path, query_leaf
from shim.json_response import JSONResponse
from shim.shutdown import OpenCalls, shutting_down

__all__ = ["TranscodedRoute", "example_path", "route_conflicts", "transcoded_routes"]

_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})


class TranscodedRoute(Route):
    """A Starlette route matched by a binding's regex (path variables may span segments)."""

    def __init__(self, binding: Binding) -> None:
        async def endpoint(request: Request) -> Response:
            return await _call(request, binding)

        endpoint.__doc__ = f"{binding.method.containing_service.name}.{binding.method.name}"
        super().__init__(binding.path, endpoint, methods=[binding.verb], name=f"{binding.method.containing_service.name}.{binding.method.name}")
        self.binding = binding
        self.path_regex = binding.regex
        self.param_convertors = {group: CONVERTOR_TYPES["str"] for group, _ in binding.variables}


def transcoded_routes(files: Iterable[FileDescriptor]) -> list[TranscodedRoute]:
    return [TranscodedRoute(b) for b in bindings_of(files)]


def route_conflicts(routes: Sequence[BaseRoute]) -> list[str]:
    """Pairs of routes where a request for one (same method, an example path) would reach
    the other: a transcoded route against every route, the OpenAI ones included."""
    found: list[str] = []
    for route in routes:
        if not isinstance(route, TranscodedRoute):
            continue
        for other in routes:
            if other is route or not isinstance(other, Route):
                continue
            for a, b in ((route, other), (other, route)):
                for method in sorted((a.methods or set()) & (b.methods or set()) - {"HEAD"}):
                    scope = {"type": "http", "method": method, "path": example_path(a), "root_path": ""}
                    if b.matches(scope)[0] == Match.FULL:
                        found.append(f"{method} {a.path} ({a.name}) is also {b.path} ({b.name})")
    return sorted(set(found))


def example_path(route: Route) -> str:
    """A concrete path the route serves: each parameter filled in (``x``, ``x/y`` where a
    parameter spans segments)."""
    if isinstance(route, TranscodedRoute):
        spans = {p.name: "x/y" if "**" in p.pattern else "x" for p in route.binding.path_params}
        return re.sub(r"\{(\w+)\}", lambda m: spans[m.group(1)], route.path)
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: "x/y" if m.group(2) == ":path" else "x", route.path)


async def _call(request: Request, binding: Binding) -> Response:
    message = message_factory.GetMessageClass(binding.method.input_type)()
    await _merge_body(request, binding, message)
    _merge_query(request, binding, message)
    for group, fields in binding.variables:  # path variables last: they win over the body
        _merge(message, fields, request.path_params[group], ".".join(f.name for f in fields))
    settings: GatewaySettings = request.app.state.settings
    channel: grpc.aio.Channel = request.app.state.channel
    output = message_factory.GetMessageClass(binding.method.output_type)
    options: dict[str, Any] = {"metadata": request.state.grpc_metadata, "timeout": settings.request_timeout_s}
    if binding.method.server_streaming:
        stream = channel.unary_stream(binding.rpc, request_serializer=_serialize, response_deserializer=output.FromString)
        return await _event_stream(request, binding, stream(message, **options))
    call = channel.unary_unary(binding.rpc, request_serializer=_serialize, response_deserializer=output.FromString)
    reply: Message | None = await await_reply(request, call(message, **options))
    if reply is None:  # the client went away: the call is cancelled
        return Response(status_code=204)
    return JSONResponse(_answer(binding, reply))


def _answer(binding: Binding, reply: Message) -> Any:
    body: Any = json_format.MessageToDict(reply, always_print_fields_with_no_presence=True)
    if binding.response_body:
        body = body.get(binding.method.output_type.fields_by_name[binding.response_body].json_name)
    return body


async def _event_stream(request: Request, binding: Binding, call: grpc.aio.UnaryStreamCall[Any, Any]) -> Response:
    """A server-streaming RPC as server-sent events: one ``data:`` frame per message, then
    ``data: [DONE]``. The headers wait for the first message (or the end), so a failure before
    it is an ordinary error reply; after it, the error is the last frame, as on chat completions."""
    messages = aiter(call)
    opened: tuple[Message | None] | None = await await_reply(request, call, _first(messages))
    if opened is None:  # the client went away: the call is cancelled
        return Response(status_code=204)
    open_calls: OpenCalls = request.app.state.open_calls
    return EventStream(_frames(binding, opened[0], messages, call, open_calls), headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


async def _first(messages: AsyncIterator[Any]) -> tuple[Message | None]:
    """The stream's first message, None if it ended without one (in a tuple: None is a client gone)."""
    return (await next_or_none(messages),)


async def _frames(
    binding: Binding, opening: Message | None, messages: AsyncIterator[Any], call: grpc.aio.UnaryStreamCall[Any, Any], open_calls: OpenCalls
) -> AsyncGenerator[bytes, None]:
    with open_calls.open(call):
        try:
            message = opening
            while message is not None:
                yield sse(_answer(binding, message))
                message = await next_or_none(messages)
            yield sse("[DONE]")
        except (GatewayError, asyncio.CancelledError) as error:
            if open_calls.cut:  # the shutdown grace ran out mid-stream
                yield sse(error_body(shutting_down()))
            elif isinstance(error, asyncio.CancelledError):
                raise
            else:
                yield sse(error_body(error))
        finally:
            call.cancel()  # also when EventStream stops us because the client left


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


async def _merge_body(request: Request, binding: Binding, message: Message) -> None:
    if not binding.body:
        return
    settings: GatewaySettings = request.app.state.settings
    data = await read_body(request, settings.max_body_bytes)
    if not data.strip():  # no body: an empty message (`curl -X POST .../v1/agents:refresh`)
        return
    value: dict[str, Any] = parse_json_body(data)
    if binding.body == "*":
        _parse(value, message, None)
    else:
        field = binding.method.input_type.fields_by_name[binding.body]
        _parse({field.json_name: value}, message, None)


def _merge_query(request: Request, binding: Binding, message: Message) -> None:
    for key in dict.fromkeys(request.query_params.keys()):
        if binding.body == "*":
            raise invalid_argument(f"Unknown parameter: '{key}'. This route takes its fields in the JSON body.", key, "UNKNOWN_PARAMETER")
        try:
            fields = field_path(binding.method.input_type, key)
        except TemplateError:
            raise invalid_argument(f"Unknown parameter: '{key}'.", key, "UNKNOWN_PARAMETER") from None
        if binding.binds(fields):
            raise invalid_argument(f"'{key}' is set by the path or the body of this route, not by a query parameter", key)
        leaf = fields[-1]
        if not query_leaf(leaf):
            raise invalid_argument(f"'{key}' is a message: set its fields ('{key}.<field>') or use the JSON body", key)
        values = request.query_params.getlist(key)
        if not leaf.is_repeated and len(values) > 1:
            raise invalid_argument(f"'{key}' takes one value", key)
        _merge(message, fields, values if leaf.is_repeated else values[0], key)


def _merge(message: Message, fields: tuple[FieldDescriptor, ...], raw: str | list[str], param: str) -> None:
    """Set the field at ``fields`` from text (a query or path value), as proto3 JSON reads it."""
    leaf = fields[-1]
    value: Any = [_scalar(leaf, v, param) for v in raw] if isinstance(raw, list) else _scalar(leaf, raw, param)
    for field in reversed(fields):
        value = {field.json_name: value}
    _parse(value, message, param)


def _scalar(field: FieldDescriptor, text: str, param: str) -> Any:
    """Query text as the JSON value json_format wants: booleans unquoted, the rest as text
    (it reads numbers, enums by name or number, timestamps and durations from strings)."""
    is_bool = field.type == FieldDescriptor.TYPE_BOOL or (field.message_type is not None and field.message_type.full_name == "google.protobuf.BoolValue")
    if not is_bool:
        return text
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise invalid_argument(f"Invalid value for '{param}': expected true or false", param)


_FAILED = re.compile(r"^Failed to parse (\S+) field: ")
_UNKNOWN = re.compile(r'^Message type "[^"]+" has no field named "([^"]+)"')
_POSITION = re.compile(r"\.? at \"?([\w.]+?)\"?\.*$")


def _parse(value: dict[str, Any], message: Message, param: str | None) -> None:
    """``json_format.ParseDict`` into ``message``; its errors as a 400 naming the field."""
    try:
        json_format.ParseDict(value, message)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise _bad_request(str(exc), param) from None


def _bad_request(text: str, param: str | None) -> GatewayError:
    text = text.split("\n", 1)[0]
    path: list[str] = []
    while found := _FAILED.match(text):
        path.append(found.group(1))
        text = text[found.end() :]
    unknown = _UNKNOWN.match(text)
    if unknown:
        name = param or ".".join([*path, unknown.group(1)])
        return invalid_argument(f"Unknown parameter: '{name}'.", name, "UNKNOWN_PARAMETER")
    position = _POSITION.search(text)
    if not path and position is not None:  # "Expected true or false without quotes at ListAuditEventsRequest.allowed"
        path = position.group(1).split(".")[1:]
    field = param or ".".join(path) or None
    text = _POSITION.sub("", text)
    return invalid_argument(f"Invalid value for '{field}': {text}" if field else text, field)
