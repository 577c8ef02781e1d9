"""``GET /openapi.json``: an OpenAPI 3.1 description of every route the shim serves, generated.

Nothing in it is written by hand. The OpenAI-compatible routes come from the app's route
table, with the JSON Schema of the pydantic model a route validates its body with
(``REQUEST_BODIES``; a route with none documents an object); the REST admin routes from their
bindings (shim/http_rules.py) and the proto descriptors: path and query parameters, request
and response messages as the JSON Schema of their proto3 JSON. A route added to the app, or an
RPC annotated, is in the document at the next start; tests/test_openapi.py checks that every
route is documented and every documented operation is served.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services import json_wire
from shim.approvals import ResolveApprovalBody, resolve_approval
from shim.completions import chat_completions
from shim.conversations import AppendItemsBody, CreateConversationBody, UpdateConversationBody, append_items, create_conversation, update_conversation
from shim.http_rules import Binding, query_fields
from shim.responses import CreateResponseBody, create_response
from shim.schemas import ChatCompletionRequest
from shim.transcoding import TranscodedRoute

__all__ = ["REQUEST_BODIES", "openapi_document", "openapi_json"]

# The body model of each hand-written route that validates one with pydantic.
REQUEST_BODIES: dict[Any, type[BaseModel]] = {
    chat_completions: ChatCompletionRequest,
    create_response: CreateResponseBody,
    resolve_approval: ResolveApprovalBody,
    create_conversation: CreateConversationBody,
    update_conversation: UpdateConversationBody,
    append_items: AppendItemsBody,
}
# Routes that answer `stream: true` with server-sent events.
_STREAMING = frozenset({chat_completions, create_response, resolve_approval})
_PUBLIC = frozenset({"/healthz"})
_REF = "#/components/schemas/{model}"

_INT64 = {"type": ["string", "integer"], "format": "int64", "description": "a 64-bit integer: a string in proto3 JSON"}
_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_SFIXED64: _INT64,
    FieldDescriptor.TYPE_UINT64: {**_INT64, "format": "uint64"},
    FieldDescriptor.TYPE_FIXED64: {**_INT64, "format": "uint64"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "uint32", "minimum": 0},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "uint32", "minimum": 0},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}
# Well-known types have a JSON form of their own (the proto3 JSON mapping).
_WKT: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$", "description": 'seconds with an "s": "3600s", "1.5s"'},
    "google.protobuf.FieldMask": {"type": "string", "description": "comma-separated lowerCamelCase field paths"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {"type": "object", "properties": {"@type": {"type": "string"}}, "required": ["@type"]},
    "google.protobuf.DoubleValue": {"type": ["number", "null"]},
    "google.protobuf.FloatValue": {"type": ["number", "null"]},
    "google.protobuf.Int64Value": {**_INT64, "type": ["string", "integer", "null"]},
    "google.protobuf.UInt64Value": {**_INT64, "type": ["string", "integer", "null"], "format": "uint64"},
    "google.protobuf.Int32Value": {"type": ["integer", "null"], "format": "int32"},
    "google.protobuf.UInt32Value": {"type": ["integer", "null"], "format": "uint32"},
    "google.protobuf.BoolValue": {"type": ["boolean", "null"]},
    "google.protobuf.StringValue": {"type": ["string", "null"]},
    "google.protobuf.BytesValue": {"type": ["string", "null"], "contentEncoding": "base64"},
}
_ERROR = {
    "type": "object",
    "description": "OpenAI's error shape; `code` is the gRPC ErrorInfo reason in lower case",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}


async def openapi_json(request: Request) -> Response:
    """The OpenAPI 3.1 description of this gateway's HTTP routes."""
    state = request.app.state
    if getattr(state, "openapi", None) is None:  # built once per process, from the final route table
        state.openapi = json_wire.dumps(openapi_document(request.app.routes))
    return Response(state.openapi, media_type="application/json")


def openapi_document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    schemas = _ProtoSchemas()
    models = sorted({REQUEST_BODIES[r.endpoint] for r in routes if isinstance(r, Route) and r.endpoint in REQUEST_BODIES}, key=lambda m: m.__name__)
    refs, defs = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    bodies = {model: refs[(model, "validation")] for model in models}
    paths: dict[str, dict[str, Any]] = {}
    names: set[str] = set()
    for route in routes:
        if not isinstance(route, Route):
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            if isinstance(route, TranscodedRoute):
                path, operation = route.path, _admin_operation(route.binding, schemas)
            else:
                path, operation = _openai_operation(route, method, bodies)
            operation["operationId"] = _unique(operation["operationId"], names)
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Agent Gateway",
            "version": _version(),
            "description": "OpenAI Agents SDK agents served as models: the OpenAI-compatible API, and the admin and registry RPCs as REST (docs/api.md).",
        },
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
            "schemas": {"Error": _ERROR, **defs.get("$defs", {}), **schemas.components},
        },
    }


def _openai_operation(route: Route, method: str, bodies: dict[type[BaseModel], dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    params = []
    for name, convertor in re.findall(r"\{(\w+)(?::(\w+))?\}", route.path):
        spans = convertor == "path"
        described = {"description": "may contain '/'"} if spans else {}
        params.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}, **described})
    doc = (route.endpoint.__doc__ or "").strip().split("\n\n", 1)[0]
    operation: dict[str, Any] = {
        "operationId": route.endpoint.__name__,
        "tags": ["OpenAI-compatible"],
        "summary": " ".join(doc.split()) or route.endpoint.__name__.replace("_", " "),
        "responses": _responses({"type": "object"}, route.endpoint in _STREAMING),
    }
    if params:
        operation["parameters"] = params
    model = REQUEST_BODIES.get(route.endpoint)
    if model is not None and method in ("POST", "PUT", "PATCH"):
        operation["requestBody"] = {"required": route.endpoint is not create_conversation, "content": {"application/json": {"schema": bodies[model]}}}
    if route.path in _PUBLIC:
        operation["security"] = []
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path), operation


def _admin_operation(binding: Binding, schemas: _ProtoSchemas) -> dict[str, Any]:
    service, method = binding.method.containing_service, binding.method
    params: list[dict[str, Any]] = []
    for param in binding.path_params:
        spans = "**" in param.pattern
        where = f"`{param.field}` is `{param.pattern}` with this parameter in place of its wildcard" if param.field else "a path segment"
        params.append(
            {
                "name": param.name,
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": where + (", and may contain '/'" if spans else ""),
            }
        )
    for fields in query_fields(binding):
        schema = schemas.field(fields[-1])
        params.append({"name": ".".join(f.json_name for f in fields), "in": "query", "required": False, "schema": schema})
    output: dict[str, Any] = schemas.message(method.output_type)
    if binding.response_body:
        output = schemas.field(method.output_type.fields_by_name[binding.response_body])
    operation: dict[str, Any] = {
        "operationId": f"{service.name}_{method.name}",
        "tags": [service.name],
        "summary": f"{service.full_name}.{method.name}",
        "description": f"Transcoded to the gRPC method `{binding.rpc}` (`{binding.verb} {binding.template}`).",
        "responses": _responses(output, streaming=False) if not method.server_streaming else _event_responses(output),
    }
    if params:
        operation["parameters"] = params
    if binding.body:
        body = schemas.message(method.input_type) if binding.body == "*" else schemas.field(method.input_type.fields_by_name[binding.body])
        operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
    return operation


def _responses(schema: dict[str, Any], streaming: bool) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if streaming:
        content["text/event-stream"] = {"schema": {"type": "string", "description": "server-sent events, with `stream: true`"}}
    return {
        "200": {"description": "the answer", "content": content},
        "default": {"description": "an error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    }


def _event_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """A server-streaming RPC: server-sent events, one message per ``data:``."""
    shown = schema.get("$ref", "").rsplit("/", 1)[-1] or "message"
    events = {"type": "string", "description": f"server-sent events: each `data:` is one {shown} as JSON, then `data: [DONE]`"}
    responses = _responses(schema, streaming=False)
    responses["200"] = {"description": "the stream", "content": {"text/event-stream": {"schema": events}}}
    return responses


class _ProtoSchemas:
    """JSON Schemas of proto messages and enums as proto3 JSON writes them, by full name."""

    def __init__(self) -> None:
        self.components: dict[str, dict[str, Any]] = {}

    def message(self, descriptor: Descriptor) -> dict[str, Any]:
        if descriptor.full_name in _WKT:
            return dict(_WKT[descriptor.full_name])
        if descriptor.full_name not in self.components:
            self.components[descriptor.full_name] = {}  # taken before the fields: messages may nest themselves
            properties = {f.json_name: self.field(f) for f in descriptor.fields}
            self.components[descriptor.full_name] = {"type": "object", "properties": properties}
        return {"$ref": _REF.format(model=descriptor.full_name)}

    def enum(self, descriptor: EnumDescriptor) -> dict[str, Any]:
        self.components.setdefault(descriptor.full_name, {"type": "string", "enum": [v.name for v in descriptor.values]})
        return {"$ref": _REF.format(model=descriptor.full_name)}

    def field(self, field: FieldDescriptor) -> dict[str, Any]:
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            return {"type": "object", "additionalProperties": self._single(entry.fields_by_name["value"])}
        single = self._single(field)
        return {"type": "array", "items": single} if field.is_repeated else single

    def _single(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.message_type is not None:
            return self.message(field.message_type)
        if field.enum_type is not None:
            return self.enum(field.enum_type)
        return dict(_SCALARS[field.type])


def _unique(name: str, taken: set[str]) -> str:
    found, n = name, 2
    while found in taken:
        found, n = f"{name}_{n}", n + 1
    taken.add(found)
    return found


def _version() -> str:
    try:
        return version("agent-gateway")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0"
