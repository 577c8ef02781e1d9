"""REST transcoding from ``google.api.http`` annotations (shim/transcoding.py), generically.

A test-only proto, compiled here with grpc_tools, stands for an RPC someone adds: its service
runs on a real gRPC server on loopback, and the shim built by ``create_app`` with that proto's
descriptors serves its annotated methods over HTTP with no shim code for them — path variables
(one segment, several, ``**``), ``body: "*"`` and ``body: "field"``, query parameters of every
kind, ``additional_bindings``, ``response_body``, errors, a server stream as server-sent events
(over a real HTTP server: a client that leaves cancels the call). Annotations the shim cannot serve,
or that would shadow a route of its own, stop it from starting. And the gateway's own route
table is exactly its annotated methods plus the hand-written OpenAI routes, none shadowing
another."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import AsyncIterator, Iterator
from importlib.resources import files
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import httpx
import pytest
import uvicorn
from google.api import annotations_pb2
from grpc_tools import protoc
from openapi_spec_validator import validate
from starlette.routing import Match, Route

from services.demo_model import bind_socket, server_config
from services.errors import GatewayError
from services.rpc.status import to_status
from services.settings import GatewaySettings
from shim.app import create_app
from shim.http_rules import TemplateError, bindings_of, gateway_files
from shim.openapi import openapi_document
from shim.transcoding import TranscodedRoute, example_path, route_conflicts

WIDGETS = """
syntax = "proto3";
package restadmintest.v1;

import "google/api/annotations.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";

service WidgetService {
  rpc GetWidget(GetWidgetRequest) returns (Widget) {
    option (google.api.http) = {get: "/v1/{name=rooms/*/widgets/*}"};
  }
  rpc ListWidgets(ListWidgetsRequest) returns (ListWidgetsResponse) {
    option (google.api.http) = {
      get: "/v1/{parent=rooms/*}/widgets"
      additional_bindings {get: "/v1/widgets"}
    };
  }
  rpc UpdateWidget(UpdateWidgetRequest) returns (UpdateWidgetResponse) {
    option (google.api.http) = {
      patch: "/v1/{widget.name=rooms/*/widgets/*}"
      body: "widget"
    };
  }
  rpc PaintWidget(PaintWidgetRequest) returns (PaintWidgetResponse) {
    option (google.api.http) = {
      post: "/v1/{name=rooms/*/widgets/*}:paint"
      body: "*"
      response_body: "widget"
    };
  }
  rpc FindWidget(FindWidgetRequest) returns (Widget) {
    option (google.api.http) = {get: "/v1/{path=catalog/**}:find"};
  }
  rpc WatchWidgets(WatchWidgetsRequest) returns (stream Widget) {
    option (google.api.http) = {get: "/v1/{parent=rooms/*}/widgets:watch"};
  }
  rpc Unannotated(GetWidgetRequest) returns (Widget);
}

enum Color {
  COLOR_UNSPECIFIED = 0;
  COLOR_RED = 1;
  COLOR_BLUE = 2;
}
message Size {
  int32 width = 1;
  int32 height = 2;
}
message Widget {
  string name = 1;
  Color color = 2;
  int64 weight = 3;
  repeated string tags = 4;
  Size size = 5;
  google.protobuf.Struct extra = 6;
  map<string, string> labels = 7;
}
message GetWidgetRequest { string name = 1; }
message Filter {
  string tag = 1;
  google.protobuf.Duration max_age = 2;
}
message ListWidgetsRequest {
  string parent = 1;
  int32 page_size = 2;
  repeated Color colors = 3;
  Filter filter = 4;
  google.protobuf.Timestamp since = 5;
  optional bool shiny = 6;
  repeated int64 ids = 7;
  double ratio = 8;
}
message ListWidgetsResponse { ListWidgetsRequest echo = 1; }
message UpdateWidgetRequest {
  Widget widget = 1;
  bool validate_only = 2;
}
message UpdateWidgetResponse { UpdateWidgetRequest echo = 1; }
message PaintWidgetRequest {
  string name = 1;
  Color color = 2;
}
message PaintWidgetResponse {
  Widget widget = 1;
  int32 coats = 2;
}
message FindWidgetRequest { string path = 1; }
message WatchWidgetsRequest {
  string parent = 1;
  int32 count = 2;
  optional int32 fail_at = 3;
  bool forever = 4;
}
"""

# Annotations the shim refuses at start, one file each (the refusal names the method).
REFUSED = {
    "clash": ('get: "/v1/models"', "clash with the shim's routes"),
    "template": ('get: "/v1/{name=rooms/*"', "unbalanced"),
    "field": ('get: "/v1/{nope}"', "has no field 'nope'"),
    "body": ('post: "/v1/things" body: "name"', "must name a singular message field"),
    "stream": ('post: "/v1/things:upload" body: "*"', "unary and server-streaming methods only"),
}
REFUSED_PROTO = """
syntax = "proto3";
package restadmintest.{case};
import "google/api/annotations.proto";
service ThingService {{
  rpc Thing({stream}ThingRequest) returns (ThingResponse) {{
    option (google.api.http) = {{{rule}}};
  }}
}}
message ThingRequest {{ string name = 1; }}
message ThingResponse {{}}
"""


WATCHES_CANCELLED = asyncio.Event()  # set by the widget server when a watch's client is gone


def _include(proto: str) -> str:
    """The folder ``proto`` (``google/api/annotations.proto``) is found in, from the installed
    googleapis-common-protos."""
    package, name = proto.rsplit("/", 1)
    return str(Path(str(files(package.replace("/", ".")) / name)).parents[package.count("/") + 1])


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("protos")
    source = root / "src" / "restadmintest"
    source.mkdir(parents=True)
    (source / "widgets.proto").write_text(WIDGETS)
    for case, (rule, _) in REFUSED.items():
        (source / f"{case}.proto").write_text(REFUSED_PROTO.format(case=case, rule=rule, stream="stream " if case == "stream" else ""))
    out = root / "out"
    out.mkdir()
    argv = [
        "protoc",
        f"-I{root / 'src'}",
        f"-I{_include('google/api/annotations.proto')}",
        f"-I{files('grpc_tools') / '_proto'}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
    ]
    assert protoc.main([*argv, *(str(p.relative_to(root / "src")) for p in sorted(source.glob("*.proto")))]) == 0
    sys.path.insert(0, str(out))
    yield out
    sys.path.remove(str(out))


def generated(name: str) -> ModuleType:
    return importlib.import_module(f"restadmintest.{name}")


@pytest.fixture(scope="module")
async def widget_server(compiled: Path) -> AsyncIterator[str]:
    pb, pb_grpc = generated("widgets_pb2"), generated("widgets_pb2_grpc")

    class Widgets(pb_grpc.WidgetServiceServicer):
        async def GetWidget(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            if request.name.endswith("/missing"):
                await context.abort_with_status(to_status(GatewayError("NOT_FOUND", "WIDGET_NOT_FOUND", f"no widget {request.name!r}")))
            metadata = dict(context.invocation_metadata() or ())
            return pb.Widget(name=request.name, weight=2**40, tags=[metadata["x-request-id"], metadata["authorization"]])

        async def ListWidgets(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            return pb.ListWidgetsResponse(echo=request)

        async def UpdateWidget(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            return pb.UpdateWidgetResponse(echo=request)

        async def PaintWidget(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            return pb.PaintWidgetResponse(widget=pb.Widget(name=request.name, color=request.color), coats=2)

        async def FindWidget(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            return pb.Widget(name=request.path)

        async def WatchWidgets(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            for index in range(request.count):
                if request.HasField("fail_at") and index == request.fail_at:
                    await context.abort_with_status(to_status(GatewayError("NOT_FOUND", "WIDGET_GONE", f"widget {index} is gone")))
                yield pb.Widget(name=f"{request.parent}/widgets/w{index}", weight=index)
            if request.forever:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    WATCHES_CANCELLED.set()
                    raise

    server = grpc.aio.server()
    pb_grpc.add_WidgetServiceServicer_to_server(Widgets(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


@pytest.fixture(scope="module")
async def shim_url(widget_server: str) -> AsyncIterator[str]:
    """The shim as the gateway builds it, but for the widget proto, served by uvicorn on
    loopback with a real channel to the widget server."""
    app = create_app(GatewaySettings(), widget_server, http_files=[generated("widgets_pb2").DESCRIPTOR])
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(server_config(app, lifespan="on"))
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        assert not serving.done(), serving
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await serving


@pytest.fixture
async def shim(shim_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=shim_url, headers={"authorization": "Bearer k-123"}, timeout=10) as client:
        yield client


def transcoded(app: Any) -> list[TranscodedRoute]:
    return [r for r in app.routes if isinstance(r, TranscodedRoute)]


async def test_each_annotation_is_a_route_and_nothing_else(compiled: Path) -> None:
    app = create_app(GatewaySettings(), "127.0.0.1:9", http_files=[generated("widgets_pb2").DESCRIPTOR])
    assert [(r.binding.verb, r.binding.template, r.path, r.binding.method.name) for r in transcoded(app)] == [
        ("GET", "/v1/{name=rooms/*/widgets/*}", "/v1/rooms/{room}/widgets/{widget}", "GetWidget"),
        ("GET", "/v1/{parent=rooms/*}/widgets", "/v1/rooms/{room}/widgets", "ListWidgets"),
        ("GET", "/v1/widgets", "/v1/widgets", "ListWidgets"),
        ("PATCH", "/v1/{widget.name=rooms/*/widgets/*}", "/v1/rooms/{room}/widgets/{widget}", "UpdateWidget"),
        ("POST", "/v1/{name=rooms/*/widgets/*}:paint", "/v1/rooms/{room}/widgets/{widget}:paint", "PaintWidget"),
        ("GET", "/v1/{path=catalog/**}:find", "/v1/catalog/{catalog}:find", "FindWidget"),
        ("GET", "/v1/{parent=rooms/*}/widgets:watch", "/v1/rooms/{room}/widgets:watch", "WatchWidgets"),
    ]
    # /openapi.json documents them from the descriptors alone, as valid OpenAPI 3.1.
    document = openapi_document(app.routes)
    validate(document)
    listing = document["paths"]["/v1/rooms/{room}/widgets"]["get"]
    assert {p["name"]: p["in"] for p in listing["parameters"]} == {
        "room": "path",
        "pageSize": "query",
        "colors": "query",
        "filter.tag": "query",
        "filter.maxAge": "query",
        "since": "query",
        "shiny": "query",
        "ids": "query",
        "ratio": "query",
    }
    widget = document["components"]["schemas"]["restadmintest.v1.Widget"]["properties"]
    assert widget["weight"]["type"] == ["string", "integer"] and widget["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert widget["tags"] == {"type": "array", "items": {"type": "string"}} and widget["extra"] == {"type": "object"}
    paint = document["paths"]["/v1/rooms/{room}/widgets/{widget}:paint"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert paint == {"$ref": "#/components/schemas/restadmintest.v1.Widget"}  # the response_body field
    watch = document["paths"]["/v1/rooms/{room}/widgets:watch"]["get"]["responses"]["200"]["content"]
    assert list(watch) == ["text/event-stream"] and "restadmintest.v1.Widget" in watch["text/event-stream"]["schema"]["description"]


async def test_path_variables_and_the_callers_metadata(shim: httpx.AsyncClient) -> None:
    reply = await shim.get("/v1/rooms/s1/widgets/w1", headers={"x-request-id": "rid-77"})
    assert reply.status_code == 200, reply.text
    # proto3 JSON with every field: int64 as a string, enums by name, empty lists and maps.
    assert reply.json() == {
        "name": "rooms/s1/widgets/w1",
        "color": "COLOR_UNSPECIFIED",
        "weight": str(2**40),
        "tags": ["rid-77", "Bearer k-123"],
        "labels": {},
    }
    found = await shim.get("/v1/catalog/a/b/c:find")
    assert found.status_code == 200 and found.json()["name"] == "catalog/a/b/c"
    assert (await shim.get("/v1/catalog:find")).status_code == 404  # `**` is one segment or more


async def test_query_parameters_of_every_kind(shim: httpx.AsyncClient) -> None:
    query = [
        ("pageSize", "5"),
        ("colors", "COLOR_RED"),
        ("colors", "2"),  # an enum by number
        ("filter.tag", "blue"),  # a field of a message field
        ("filter.max_age", "30s"),  # proto names work too; a Duration from its JSON string
        ("since", "2024-05-01T12:00:00Z"),
        ("shiny", "false"),  # optional: false is sent, and shown
        ("ids", "1"),
        ("ids", "9007199254740993"),  # beyond a double's integers: exact
        ("ratio", "0.5"),
    ]
    reply = await shim.get("/v1/rooms/s1/widgets", params=query)
    assert reply.status_code == 200, reply.text
    assert reply.json()["echo"] == {
        "parent": "rooms/s1",
        "pageSize": 5,
        "colors": ["COLOR_RED", "COLOR_BLUE"],
        "filter": {"tag": "blue", "maxAge": "30s"},
        "since": "2024-05-01T12:00:00Z",
        "shiny": False,
        "ids": ["1", "9007199254740993"],
        "ratio": 0.5,
    }
    # The additional binding has no path variable: `parent` is a query parameter there.
    other = await shim.get("/v1/widgets", params={"parent": "rooms/s9"})
    assert other.status_code == 200 and other.json()["echo"]["parent"] == "rooms/s9" and "shiny" not in other.json()["echo"]
    bound = await shim.get("/v1/rooms/s1/widgets", params={"parent": "rooms/s9"})
    assert bound.status_code == 400 and bound.json()["error"]["param"] == "parent"


async def test_a_field_body_with_a_path_variable_inside_it(shim: httpx.AsyncClient) -> None:
    widget = {"name": "ignored", "color": "COLOR_BLUE", "size": {"width": 3}, "extra": {"a": [1, {"b": None}]}, "labels": {"k": "v"}}
    reply = await shim.patch("/v1/rooms/s1/widgets/w1", params={"validateOnly": "true"}, json=widget)
    assert reply.status_code == 200, reply.text
    echo = reply.json()["echo"]
    assert echo["validateOnly"] is True
    # The path wins over the body for the field it binds; the rest of the body is kept.
    assert echo["widget"] == {**widget, "name": "rooms/s1/widgets/w1", "size": {"width": 3, "height": 0}, "weight": "0", "tags": []}


async def test_a_whole_body_and_a_response_body(shim: httpx.AsyncClient) -> None:
    reply = await shim.post("/v1/rooms/s1/widgets/w1:paint", json={"color": "COLOR_RED"})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"name": "rooms/s1/widgets/w1", "color": "COLOR_RED", "weight": "0", "tags": [], "labels": {}}  # no `coats`
    bad = await shim.post("/v1/rooms/s1/widgets/w1:paint", json={"colour": "COLOR_RED"})
    assert bad.status_code == 400 and (bad.json()["error"]["code"], bad.json()["error"]["param"]) == ("unknown_parameter", "colour")


async def test_errors_are_openai_shaped(shim: httpx.AsyncClient) -> None:
    missing = await shim.get("/v1/rooms/s1/widgets/missing")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {"message": "no widget 'rooms/s1/widgets/missing'", "type": "invalid_request_error", "param": None, "code": "widget_not_found"}
    }
    unserved = await shim.post("/v1/rooms/s1/widgets/w1")  # an RPC without a binding has no route
    assert unserved.status_code == 405 and unserved.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_annotations_the_shim_cannot_serve_stop_it(compiled: Path, case: str) -> None:
    _, expected = REFUSED[case]
    with pytest.raises((TemplateError, ValueError)) as caught:
        create_app(GatewaySettings(), "127.0.0.1:9", http_files=[generated(f"{case}_pb2").DESCRIPTOR])
    assert expected in str(caught.value) and ("ThingService" in str(caught.value) or "Thing" in str(caught.value))


def test_the_gateways_routes_are_its_annotated_methods_and_the_openai_routes() -> None:
    app = create_app(GatewaySettings(), "127.0.0.1:9")
    annotated = set()
    for file in gateway_files():  # read here straight from the descriptors, not through the shim
        for service in file.services_by_name.values():
            for method in service.methods:
                if method.GetOptions().HasExtension(annotations_pb2.http):
                    annotated.add(f"/{service.full_name}/{method.name}")
    assert len(annotated) >= 16  # registry, tools, security
    assert {r.binding.rpc for r in transcoded(app)} == annotated
    assert len(transcoded(app)) == len(bindings_of(gateway_files()))
    handwritten = [r for r in app.routes if isinstance(r, Route) and not isinstance(r, TranscodedRoute)]
    assert all(r.endpoint.__module__.startswith("shim.") and r.endpoint.__module__ != "shim.transcoding" for r in handwritten)


def test_no_route_of_the_gateway_shadows_another() -> None:
    app = create_app(GatewaySettings(), "127.0.0.1:9")
    assert route_conflicts(app.routes) == []
    routes = [r for r in app.routes if isinstance(r, Route)]
    for route in routes:
        for method in (route.methods or set()) - {"HEAD"}:
            scope = {"type": "http", "method": method, "path": example_path(route), "root_path": ""}
            first = next(r for r in routes if r.matches(scope)[0] == Match.FULL)
            assert first is route, f"{method} {example_path(route)} reaches {first.path}, not {route.path}"
    openai = ("/v1/models", "/v1/chat", "/v1/responses", "/v1/conversations", "/v1/approvals", "/healthz", "/metrics")
    assert not [r.path for r in transcoded(app) if r.path.startswith(openai)]


def frames(body: str) -> list[Any]:
    """The ``data:`` payloads of an SSE body, JSON-decoded (``[DONE]`` as is)."""
    found = [line.removeprefix("data: ") for line in body.split("\n\n") if line]
    return [f if f == "[DONE]" else json.loads(f) for f in found]


async def test_a_server_stream_is_server_sent_events(shim: httpx.AsyncClient) -> None:
    reply = await shim.get("/v1/rooms/r1/widgets:watch", params={"count": "3"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
    sent = frames(reply.text)
    assert sent[-1] == "[DONE]" and [(w["name"], w["weight"]) for w in sent[:-1]] == [(f"rooms/r1/widgets/w{i}", str(i)) for i in range(3)]
    empty = await shim.get("/v1/rooms/r1/widgets:watch")
    assert empty.status_code == 200 and frames(empty.text) == ["[DONE]"]


async def test_a_server_stream_that_fails(shim: httpx.AsyncClient) -> None:
    # Before its first message: an ordinary error reply, with its status.
    early = await shim.get("/v1/rooms/r1/widgets:watch", params={"count": "3", "failAt": "0"})
    assert early.status_code == 404 and early.json()["error"]["code"] == "widget_gone"
    # After it: the error is the last frame, and there is no [DONE].
    late = await shim.get("/v1/rooms/r1/widgets:watch", params={"count": "3", "failAt": "2"})
    assert late.status_code == 200
    *widgets, last = frames(late.text)
    assert len(widgets) == 2 and last["error"]["code"] == "widget_gone" and last["error"]["message"] == "widget 2 is gone"


async def test_a_client_that_leaves_cancels_the_stream(shim: httpx.AsyncClient) -> None:
    WATCHES_CANCELLED.clear()
    async with shim.stream("GET", "/v1/rooms/r1/widgets:watch", params={"count": "1", "forever": "true"}) as reply:
        assert reply.status_code == 200
        async for line in reply.aiter_lines():
            if line.startswith("data: "):
                assert json.loads(line.removeprefix("data: "))["name"] == "rooms/r1/widgets/w0"
                break
    await asyncio.wait_for(WATCHES_CANCELLED.wait(), 10)
