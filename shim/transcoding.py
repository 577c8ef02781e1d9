"""REST routes for the gRPC services, read from their ``google.api.http`` annotations.

grpc-gateway's transcoding, inside the shim. At start every method of the ``agentgateway.v1``
descriptors that carries an HTTP binding becomes a route, and a request to it becomes that
RPC's request message by the rules of google/api/http.proto: the path variables
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
One rule differs from http.proto, to keep the route table unambiguous: ``**`` matches one or
more segments (zero would make ``GET /v1/agents``, the listing, also a ``GetAgent``).
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import grpc
from google.api import annotations_pb2, http_pb2
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor, MethodDescriptor
from google.protobuf.descriptor_pb2 import MethodOptions
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
from shim.json_response import JSONResponse
from shim.shutdown import OpenCalls, shutting_down

if TYPE_CHECKING:
    from google.protobuf.internal.extension_dict import _ExtensionFieldDescriptor

__all__ = [
    "Binding",
    "PathParam",
    "TemplateError",
    "TranscodedRoute",
    "bindings_of",
    "example_path",
    "gateway_files",
    "query_fields",
    "route_conflicts",
    "transcoded_routes",
]

# The `(google.api.http)` method option (googleapis-common-protos' stub types it as a plain field).
_HTTP = cast("_ExtensionFieldDescriptor[MethodOptions, http_pb2.HttpRule]", annotations_pb2.http)
_VERBS = ("get", "put", "post", "delete", "patch")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_FIELD_PATH = re.compile(rf"^{_IDENT}(?:\.{_IDENT})*$")
_LITERAL = re.compile(r"^[^/{}*:]+$")
# Well-known types whose JSON is a string, number or bool: they can come from a query parameter.
_SCALAR_WKT = frozenset(
    f"google.protobuf.{name}"
    for name in (
        "Timestamp",
        "Duration",
        "FieldMask",
        "DoubleValue",
        "FloatValue",
        "Int64Value",
        "UInt64Value",
        "Int32Value",
        "UInt32Value",
        "BoolValue",
        "StringValue",
        "BytesValue",
    )
)
_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})


@dataclass(frozen=True)
class PathParam:
    """A path parameter as /openapi.json and the docs write it (``{agent}`` in
    ``/v1/agents/{agent}``), and the field its variable sets."""

    name: str
    field: str  # "name", "override.name"
    pattern: str  # what the variable matches: "agents/**"


@dataclass(frozen=True)
class Binding:
    """One HTTP binding of a method (its rule or one of its ``additional_bindings``)."""

    method: MethodDescriptor
    verb: str  # GET, POST...
    template: str  # as annotated: "/v1/{name=agents/**}"
    body: str  # "", "*" or a field name
    response_body: str
    regex: re.Pattern[str]
    variables: tuple[tuple[str, tuple[FieldDescriptor, ...]], ...]  # regex group -> the field it sets
    path: str  # the OpenAPI form: "/v1/agents/{agent}"
    path_params: tuple[PathParam, ...]

    @property
    def rpc(self) -> str:
        """The gRPC method path: ``/agentgateway.v1.RegistryService/GetAgent``."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    def binds(self, fields: Sequence[FieldDescriptor]) -> bool:
        """Whether the path or the body sets the field at ``fields`` (or one above or below
        it): a query parameter may not."""
        if self.body == "*":
            return True
        names = tuple(f.name for f in fields)
        bound = [tuple(f.name for f in path) for _, path in self.variables] + ([(self.body,)] if self.body else [])
        return any(names[: len(b)] == b or b[: len(names)] == names for b in bound)


class TemplateError(ValueError):
    """An annotation this transcoder cannot serve: the gateway does not start with it."""


def gateway_files() -> list[FileDescriptor]:
    """The descriptors of every generated ``agentgateway.v1`` module (a new service file is
    picked up by being there)."""
    package = importlib.import_module("agentgateway.v1")
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name.endswith("_pb2"))
    return [importlib.import_module(f"agentgateway.v1.{name}").DESCRIPTOR for name in names]


def bindings_of(files: Iterable[FileDescriptor]) -> list[Binding]:
    """Every HTTP binding of the methods of ``files``, in declaration order."""
    found: list[Binding] = []
    for file in files:
        for service in file.services_by_name.values():
            for method in service.methods:
                options = method.GetOptions()
                if not options.HasExtension(_HTTP):
                    continue
                rule = options.Extensions[_HTTP]
                if method.client_streaming:
                    raise TemplateError(f"{service.full_name}.{method.name}: REST transcoding serves unary and server-streaming methods only")
                for one in (rule, *rule.additional_bindings):
                    found.append(_binding(method, one))
    return found


def _binding(method: MethodDescriptor, rule: http_pb2.HttpRule) -> Binding:
    where = f"{method.containing_service.full_name}.{method.name}"
    kind = rule.WhichOneof("pattern")
    if kind in _VERBS:
        verb, template = kind.upper(), str(getattr(rule, kind))
    elif kind == "custom":
        verb, template = rule.custom.kind.upper(), rule.custom.path
    else:
        raise TemplateError(f"{where}: the HTTP rule has no path")
    if rule.body and rule.body != "*":
        field = method.input_type.fields_by_name.get(rule.body)
        if field is None or field.message_type is None or field.is_repeated:
            raise TemplateError(f"{where}: body {rule.body!r} must name a singular message field of {method.input_type.name}")
    if rule.response_body and rule.response_body not in method.output_type.fields_by_name:
        raise TemplateError(f"{where}: response_body {rule.response_body!r} is not a field of {method.output_type.name}")
    try:
        regex, variables, path, params = _compile(template, method.input_type)
    except TemplateError as exc:
        raise TemplateError(f"{where}: {template!r}: {exc}") from None
    return Binding(method, verb, template, rule.body, rule.response_body, regex, variables, path, params)


def _compile(template: str, message: Descriptor) -> tuple[re.Pattern[str], tuple[tuple[str, tuple[FieldDescriptor, ...]], ...], str, tuple[PathParam, ...]]:
    """The regex of a path template, its variables, and its OpenAPI form."""
    if not template.startswith("/"):
        raise TemplateError("a path template starts with '/'")
    segments, verb = _split(template[1:])
    regex: list[str] = []
    path: list[str] = []
    variables: list[tuple[str, tuple[FieldDescriptor, ...]]] = []
    params: list[PathParam] = []
    for segment in segments:
        if segment.startswith("{"):
            field, _, pattern = segment[1:-1].partition("=")
            if not _FIELD_PATH.match(field):
                raise TemplateError(f"{field!r} is not a field path")
            group = f"v{len(variables)}"
            parts = (pattern or "*").split("/")
            regex.append(f"(?P<{group}>{'/'.join(map(_segment_regex, parts))})")
            variables.append((group, _field_path(message, field)))
            shown = []
            for index, part in enumerate(parts):
                if part in ("*", "**"):
                    name = _param_name(parts[index - 1] if index else "", field, [p.name for p in params])
                    params.append(PathParam(name, field, pattern or "*"))
                    shown.append(f"{{{name}}}")
                else:
                    shown.append(part)
            path.append("/".join(shown))
        else:
            regex.append(_segment_regex(segment))
            if segment in ("*", "**"):
                name = _param_name("", f"segment{len(params)}", [p.name for p in params])
                params.append(PathParam(name, "", segment))
                segment = f"{{{name}}}"
            path.append(segment)
    suffix = f":{verb}" if verb else ""
    return re.compile("^/" + "/".join(regex) + re.escape(suffix) + "$"), tuple(variables), "/" + "/".join(path) + suffix, tuple(params)


def _split(template: str) -> tuple[list[str], str]:
    """Top-level segments (a variable may hold '/') and the trailing ``:verb``."""
    segments: list[str] = []
    current = ""
    depth = 0
    verb = ""
    for index, char in enumerate(template):
        if char == "{":
            depth += 1
            if depth > 1:
                raise TemplateError("variables do not nest")
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise TemplateError("unbalanced '}'")
        elif depth == 0 and char == "/":
            segments.append(current)
            current = ""
            continue
        elif depth == 0 and char == ":":
            verb = template[index + 1 :]
            if not _LITERAL.match(verb):
                raise TemplateError(f"{verb!r} is not a verb")
            break
        current += char
    if depth:
        raise TemplateError("unbalanced '{'")
    segments.append(current)
    for segment in segments:
        if not (segment in ("*", "**") or _LITERAL.match(segment) or (segment.startswith("{") and segment.endswith("}"))):
            raise TemplateError(f"{segment!r} is not a segment")
    return segments, verb


def _segment_regex(segment: str) -> str:
    if segment == "*":
        return "[^/]+"
    if segment == "**":
        return "[^/]+(?:/[^/]+)*"
    if not _LITERAL.match(segment):
        raise TemplateError(f"{segment!r} is not a segment")
    return re.escape(segment)


def _param_name(collection: str, field: str, taken: Sequence[str]) -> str:
    """``agents`` -> ``agent`` (AIP collection ids are plural), else the field path."""
    base = collection[:-1] if len(collection) > 1 and collection.endswith("s") else (collection or field.replace(".", "_"))
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    return name


def _field_path(message: Descriptor, path: str) -> tuple[FieldDescriptor, ...]:
    """The fields along ``a.b.c`` (proto or JSON names), each but the last a singular message."""
    fields: list[FieldDescriptor] = []
    current: Descriptor | None = message
    for part in path.split("."):
        if current is None or current.full_name in _SCALAR_WKT:
            raise TemplateError(f"{path!r}: {fields[-1].name!r} has no fields")
        field = current.fields_by_name.get(part) or next((f for f in current.fields if f.json_name == part), None)
        if field is None:
            raise TemplateError(f"{current.name} has no field {part!r}")
        if fields and fields[-1].is_repeated:
            raise TemplateError(f"{path!r}: {fields[-1].name!r} is repeated")
        fields.append(field)
        current = field.message_type
    return tuple(fields)


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


def query_fields(binding: Binding, message: Descriptor | None = None, above: tuple[FieldDescriptor, ...] = ()) -> list[tuple[FieldDescriptor, ...]]:
    """The fields a query parameter of ``binding`` may set: those neither the path nor the
    body binds, scalar (or a well-known type with a scalar JSON form), through singular
    message fields. Cyclic messages are followed three levels deep."""
    found: list[tuple[FieldDescriptor, ...]] = []
    for field in (message or binding.method.input_type).fields:
        path = (*above, field)
        if binding.binds(path):
            continue
        if _query_leaf(field):
            found.append(path)
        elif field.message_type is not None and not field.is_repeated and len(path) < 3:
            found.extend(query_fields(binding, field.message_type, path))
    return found


def _query_leaf(field: FieldDescriptor) -> bool:
    return field.message_type is None or field.message_type.full_name in _SCALAR_WKT


def _merge_query(request: Request, binding: Binding, message: Message) -> None:
    for key in dict.fromkeys(request.query_params.keys()):
        if binding.body == "*":
            raise invalid_argument(f"Unknown parameter: '{key}'. This route takes its fields in the JSON body.", key, "UNKNOWN_PARAMETER")
        try:
            fields = _field_path(binding.method.input_type, key)
        except TemplateError:
            raise invalid_argument(f"Unknown parameter: '{key}'.", key, "UNKNOWN_PARAMETER") from None
        if binding.binds(fields):
            raise invalid_argument(f"'{key}' is set by the path or the body of this route, not by a query parameter", key)
        leaf = fields[-1]
        if not _query_leaf(leaf):
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
