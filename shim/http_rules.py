"""HTTP bindings read from the ``google.api.http`` annotations of the protos.

Each binding of a method (its rule and its ``additional_bindings``) becomes a ``Binding``: the
HTTP verb, the path template compiled to a regex whose named groups are its variables (the
fields they set), the body field, the response field, and the path as OpenAPI writes it
(``/v1/{name=agents/**}`` is ``/v1/agents/{agent}``). An annotation that cannot be served is a
``TemplateError`` at start. shim/transcoding.py serves the bindings; shim/openapi.py documents
them.

Templates follow google/api/http.proto (``*``, ``**``, ``{field.path=pattern}``, ``:verb``),
with one rule of ours, to keep the route table unambiguous: ``**`` matches one or more
segments (zero would make ``GET /v1/agents``, the listing, also a ``GetAgent``).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor, MethodDescriptor
from google.protobuf.descriptor_pb2 import MethodOptions

if TYPE_CHECKING:
    from google.protobuf.internal.extension_dict import _ExtensionFieldDescriptor

__all__ = ["Binding", "PathParam", "TemplateError", "bindings_of", "field_path", "gateway_files", "query_fields", "query_leaf"]

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
            variables.append((group, field_path(message, field)))
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


def field_path(message: Descriptor, path: str) -> tuple[FieldDescriptor, ...]:
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


def query_fields(binding: Binding, message: Descriptor | None = None, above: tuple[FieldDescriptor, ...] = ()) -> list[tuple[FieldDescriptor, ...]]:
    """The fields a query parameter of ``binding`` may set: those neither the path nor the
    body binds, scalar (or a well-known type with a scalar JSON form), through singular
    message fields. Cyclic messages are followed three levels deep."""
    found: list[tuple[FieldDescriptor, ...]] = []
    for field in (message or binding.method.input_type).fields:
        path = (*above, field)
        if binding.binds(path):
            continue
        if query_leaf(field):
            found.append(path)
        elif field.message_type is not None and not field.is_repeated and len(path) < 3:
            found.extend(query_fields(binding, field.message_type, path))
    return found


def query_leaf(field: FieldDescriptor) -> bool:
    return field.message_type is None or field.message_type.full_name in _SCALAR_WKT
