"""The tool catalogue against real things: Python functions in tests/tool_fixtures, a real HTTP
server on 127.0.0.1, real MCP servers (tests/mcp_servers) over stdio, real DNS resolution and
real sockets. Nothing of ours is mocked."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from services.config_files import ConfigError
from services.errors import GatewayError
from services.tools._outbound import OutboundPolicy, blocked_reason
from services.tools.catalog import ToolCatalog
from services.tools.config import load_tools_config
from services.tools.provider import ToolFailure

FIXTURES = Path(__file__).parent / "tool_fixtures"
MCP_SERVERS = Path(__file__).parent / "mcp_servers"
SECRET = "tok-7f3e9a1c5b2d-do-not-leak"


# --- a real HTTP server --------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _send(self, status: int, body: bytes, content_type: str = "application/json", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        try:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            route = urlsplit(self.path).path
            if route.startswith("/echo"):
                payload = {
                    "method": self.command,
                    "target": self.path,  # the raw request target, exactly as sent
                    "query": parse_qs(urlsplit(self.path).query),
                    "body": body.decode(),
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                }
                self._send(200, json.dumps(payload, indent=2).encode())
            elif route == "/redirect-evil":
                self._send(302, b"", headers={"location": "http://evil.example/steal"})
            elif route == "/redirect-metadata":
                self._send(302, b"", headers={"location": "http://169.254.169.254/latest/meta-data"})
            elif route == "/redirect-local":
                self._send(302, b"", headers={"location": "/echo/after-redirect"})
            elif route == "/redirect-other-origin":
                port = self.server.server_address[1]
                self._send(307, b"", headers={"location": f"http://localhost:{port}/echo/other-origin"})
            elif route == "/redirect-loop":
                self._send(302, b"", headers={"location": "/redirect-loop"})
            elif route == "/huge":
                # No content-length: the client must cap while streaming.
                self.send_response(200)
                self.send_header("content-type", "text/plain")
                self.send_header("connection", "close")
                self.end_headers()
                self.close_connection = True
                chunk = b"x" * 65536
                for _ in range(64):  # 4 MiB
                    self.wfile.write(chunk)
            elif route == "/huge-declared":
                self._send(200, b"y" * (2 * 1024 * 1024), "text/plain")
            elif route == "/fail":
                self._send(500, b"kaboom: the database exploded\n\n   at line 3", "text/plain")
            elif route == "/slow":
                time.sleep(2)
                self._send(200, b'{"late": true}')
            elif route == "/text":
                self._send(200, "héllo".encode(), "text/plain; charset=utf-8")
            else:
                self._send(404, b"no such route", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


# --- helpers -------------------------------------------------------------------------------


MakeCatalog = Callable[..., Awaitable[ToolCatalog]]


@pytest.fixture
async def make_catalog(tmp_path: Path) -> AsyncIterator[MakeCatalog]:
    catalogs: list[ToolCatalog] = []

    async def make(data: dict[str, Any] | None, *, start: bool = True) -> ToolCatalog:
        path = tmp_path / f"tools-{len(catalogs)}.yaml"
        if data is not None:
            path.write_text(yaml.safe_dump(data))
        catalog = ToolCatalog(path, FIXTURES)
        catalogs.append(catalog)
        if start:
            await catalog.start()
        return catalog

    yield make
    for catalog in catalogs:
        await catalog.close()


def py(name: str, target: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "python", "target": f"gw_sample_tools:{target}", **extra}


def http(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "http", "url": url, **extra}


def mcp(name: str, **extra: Any) -> dict[str, Any]:
    """tests/mcp_servers/calc_server.py over stdio (tools add, echo, fail, ...: ``<name>_add``)."""
    return {"name": name, "kind": "mcp", "command": ["python", str(MCP_SERVERS / "calc_server.py")], **extra}


async def invoke_error(catalog: ToolCatalog, name: str, arguments: dict[str, Any], **kw: Any) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        await catalog.invoke(name, arguments, **kw)
    return info.value


def write(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


# --- Python tools --------------------------------------------------------------------------


async def test_python_schema_comes_from_signature_and_docstring(make_catalog: MakeCatalog) -> None:
    catalog = await make_catalog({"tools": [py("lookup_ticket", "lookup_ticket"), py("adder", "add", description="Sum two numbers.")]})
    assert catalog.diagnostics == []
    spec = catalog.get("lookup_ticket")
    assert spec is not None and spec.kind == "python"
    assert spec.description == "Look up a support ticket by id."
    props = spec.parameters["properties"]
    assert props["ticket_id"] == {"description": 'The ticket identifier, like "T-1".', "title": "Ticket Id", "type": "string"}
    assert props["include_history"]["type"] == "boolean" and props["include_history"]["default"] is False
    assert props["include_history"]["description"] == "Whether to include the change history."
    assert props["priority"]["enum"] == ["low", "high"]
    assert spec.parameters["required"] == ["ticket_id"]  # defaults stay optional for direct callers
    adder = catalog.get("adder")
    assert adder is not None and adder.description == "Sum two numbers."  # config override wins
    assert [s.name for s in catalog.list()] == ["adder", "lookup_ticket"]


async def test_python_outputs(make_catalog: MakeCatalog) -> None:
    catalog = await make_catalog({"tools": [py("lookup_ticket", "lookup_ticket"), py("adder", "add"), py("shout", "shout")]})
    result = await catalog.invoke("lookup_ticket", {"ticket_id": "T-1", "include_history": True})
    assert json.loads(result.output) == {"id": "T-1", "status": "open/low", "history": ["created"]}
    assert result.kind == "python" and result.duration_s >= 0
    # gRPC Struct sends every number as a double; the SDK's pydantic model takes 2.0 as 2.
    assert (await catalog.invoke("adder", {"a": 2.0, "b": 3})).output == "5"
    assert (await catalog.invoke("shout", {"text": "hi"})).output == "HI!"


async def test_sync_tool_runs_off_the_event_loop(make_catalog: MakeCatalog) -> None:
    catalog = await make_catalog({"tools": [py("slow", "slow_sync"), py("echo", "fast_async")]})
    started = time.monotonic()
    finished: dict[str, float] = {}

    async def run(name: str, args: dict[str, Any]) -> None:
        await catalog.invoke(name, args)
        finished[name] = time.monotonic() - started

    await asyncio.gather(run("slow", {"seconds": 1.0}), run("echo", {"word": "quick"}))
    assert finished["slow"] >= 0.95
    assert finished["echo"] < 0.3, finished


async def test_async_tool(make_catalog: MakeCatalog) -> None:
    catalog = await make_catalog({"tools": [py("echo", "fast_async")]})
    result = await catalog.invoke("echo", {"word": "gateway"})
    assert json.loads(result.output) == {"word": "gateway", "length": 7}


async def test_tool_exception_is_tool_failed(make_catalog: MakeCatalog) -> None:
    catalog = await make_catalog({"tools": [py("boom", "boom")]})
    err = await invoke_error(catalog, "boom", {"message": "disk on fire"})
    assert (err.status, err.reason) == ("INTERNAL", "TOOL_FAILED")
    assert "ValueError: disk on fire" in err.message
    long = await invoke_error(catalog, "boom", {"message": "z" * 5000})
    assert len(long.message) < 700


async def test_timeouts(make_catalog: MakeCatalog) -> None:
    catalog = await make_catalog({"tools": [py("hang", "hang"), py("hang_short", "hang", timeout_s=0.2)]})
    started = time.monotonic()
    err = await invoke_error(catalog, "hang", {}, timeout_s=0.2)  # caller's deadline < tool's 30 s
    assert (err.status, err.reason) == ("DEADLINE_EXCEEDED", "TOOL_TIMEOUT")
    err = await invoke_error(catalog, "hang_short", {}, timeout_s=60)  # tool's own timeout_s
    assert err.reason == "TOOL_TIMEOUT"
    assert time.monotonic() - started < 1.5


async def test_bad_arguments_name_the_field(make_catalog: MakeCatalog) -> None:
    catalog = await make_catalog({"tools": [py("adder", "add"), py("lookup_ticket", "lookup_ticket")]})
    err = await invoke_error(catalog, "adder", {"a": 1, "b": "not-a-number-4242"})
    assert (err.status, err.reason) == ("INVALID_ARGUMENT", "TOOL_ARGUMENTS_INVALID")
    assert err.metadata == {"param": "arguments.b"}
    assert "arguments.b" in err.message and "integer" in err.message
    assert "4242" not in err.message  # argument values are never echoed
    err = await invoke_error(catalog, "adder", {"a": 1})
    assert err.metadata == {"param": "arguments.b"} and "required" in err.message
    err = await invoke_error(catalog, "lookup_ticket", {"ticket_id": "T-1", "priority": "urgent"})
    assert err.metadata == {"param": "arguments.priority"}
    err = await invoke_error(catalog, "adder", [1, 2])  # type: ignore[arg-type]
    assert err.reason == "TOOL_ARGUMENTS_INVALID"


async def test_unknown_tool(make_catalog: MakeCatalog) -> None:
    catalog = await make_catalog({"tools": []})
    err = await invoke_error(catalog, "nope", {})
    assert (err.status, err.reason) == ("NOT_FOUND", "TOOL_NOT_FOUND")


async def test_invocations_are_logged_without_argument_values(make_catalog: MakeCatalog, caplog: pytest.LogCaptureFixture) -> None:
    catalog = await make_catalog({"tools": [py("shout", "shout")]})
    caplog.set_level(logging.DEBUG, logger="agentgateway.tools")
    await catalog.invoke("shout", {"text": "very-private-argument"})
    records = [r for r in caplog.records if r.getMessage() == "tool invoked"]
    assert len(records) == 1 and records[0].levelno == logging.INFO
    fields = records[0].fields  # type: ignore[attr-defined]
    assert fields["tool"] == "shout" and fields["kind"] == "python" and fields["outcome"] == "ok"
    assert isinstance(fields["duration_ms"], float)
    assert "very-private-argument" not in caplog.text
    debug = [r for r in caplog.records if r.getMessage() == "tool arguments"]
    assert debug and debug[0].fields["argument_names"] == ["text"]  # type: ignore[attr-defined]


# --- HTTP tools ----------------------------------------------------------------------------


def http_file(server: str, *tools: dict[str, Any], allow: list[str] | None = None) -> dict[str, Any]:
    return {"tools": list(tools), "outbound": {"allow_hosts": allow if allow is not None else ["127.0.0.1"]}}


async def test_http_get_templated_path_stays_one_segment(make_catalog: MakeCatalog, server: str) -> None:
    catalog = await make_catalog(http_file(server, http("fetch", server + "/echo/api/{path}", description="Fetch a doc")))
    spec = catalog.get("fetch")
    assert spec is not None and spec.description == "Fetch a doc"
    assert spec.parameters["required"] == ["path"]  # generated from the placeholder
    result = await catalog.invoke("fetch", {"path": "../../admin?x=1#"})
    seen = json.loads(result.output)
    assert seen["method"] == "GET"
    assert seen["target"] == "/echo/api/..%2F..%2Fadmin%3Fx%3D1%23"
    assert seen["query"] == {}
    assert "\n" not in result.output  # JSON re-serialised compactly
    seen = json.loads((await catalog.invoke("fetch", {"path": "//evil.com/@x"})).output)
    assert seen["target"] == "/echo/api/%2F%2Fevil.com%2F%40x"
    seen = json.loads((await catalog.invoke("fetch", {"path": ".."})).output)
    assert seen["target"] == "/echo/api/%2E%2E"


async def test_http_get_extra_arguments_go_to_the_query(make_catalog: MakeCatalog, server: str) -> None:
    params = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "q": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["id"],
    }
    catalog = await make_catalog(http_file(server, http("search", server + "/echo/items/{id}?fixed=1", parameters=params)))
    seen = json.loads((await catalog.invoke("search", {"id": 7.0, "q": "a b&c", "tags": ["x", "y"]})).output)
    assert urlsplit(seen["target"]).path == "/echo/items/7"
    assert seen["query"] == {"fixed": ["1"], "q": ["a b&c"], "tags": ["x", "y"]}
    err = await invoke_error(catalog, "search", {"id": "seven"})
    assert err.reason == "TOOL_ARGUMENTS_INVALID" and err.metadata == {"param": "arguments.id"}


async def test_http_post_sends_json_body_and_env_headers(make_catalog: MakeCatalog, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_TEST_DOCS_TOKEN", SECRET)
    params = {"type": "object", "properties": {"id": {"type": "string"}, "note": {"type": "string"}, "n": {"type": "integer"}}, "required": ["id"]}
    tool = http("annotate", server + "/echo/tickets/{id}", method="post", parameters=params, headers={"Authorization": "env:GW_TEST_DOCS_TOKEN"})
    catalog = await make_catalog(http_file(server, tool))
    seen = json.loads((await catalog.invoke("annotate", {"id": "T 1", "note": "hi", "n": 3.0})).output)
    assert seen["method"] == "POST"
    assert seen["target"] == "/echo/tickets/T%201"
    assert json.loads(seen["body"]) == {"note": "hi", "n": 3}
    assert seen["headers"]["authorization"] == SECRET
    assert seen["headers"]["content-type"] == "application/json"


async def test_http_missing_env_and_secret_never_in_errors(
    make_catalog: MakeCatalog, server: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("GW_TEST_UNSET_TOKEN", raising=False)
    monkeypatch.setenv("GW_TEST_DOCS_TOKEN", SECRET)
    caplog.set_level(logging.DEBUG)
    catalog = await make_catalog(
        http_file(
            server,
            http("unset", server + "/echo/x", headers={"X-Token": "env:GW_TEST_UNSET_TOKEN"}),
            http("failing", server + "/fail", headers={"Authorization": "env:GW_TEST_DOCS_TOKEN"}),
            http("away", server + "/redirect-evil", headers={"Authorization": "env:GW_TEST_DOCS_TOKEN"}),
        )
    )
    err = await invoke_error(catalog, "unset", {})
    assert err.reason == "TOOL_FAILED" and "GW_TEST_UNSET_TOKEN" in err.message and "X-Token" in err.message
    errors = [await invoke_error(catalog, "failing", {}), await invoke_error(catalog, "away", {})]
    for e in errors:
        assert SECRET not in e.message
    assert SECRET not in caplog.text


async def test_http_5xx_is_tool_failed_with_excerpt(make_catalog: MakeCatalog, server: str) -> None:
    catalog = await make_catalog(http_file(server, http("failing", server + "/fail"), http("missing", server + "/nowhere")))
    err = await invoke_error(catalog, "failing", {})
    assert (err.status, err.reason) == ("INTERNAL", "TOOL_FAILED")
    assert "HTTP 500" in err.message and "kaboom: the database exploded at line 3" in err.message
    err = await invoke_error(catalog, "missing", {})
    assert "HTTP 404" in err.message


async def test_http_plain_text_output(make_catalog: MakeCatalog, server: str) -> None:
    catalog = await make_catalog(http_file(server, http("text", server + "/text")))
    assert (await catalog.invoke("text", {})).output == "héllo"


async def test_http_redirects_are_rechecked(make_catalog: MakeCatalog, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_TEST_DOCS_TOKEN", SECRET)
    auth = {"Authorization": "env:GW_TEST_DOCS_TOKEN"}
    catalog = await make_catalog(
        http_file(
            server,
            http("evil", server + "/redirect-evil"),
            http("metadata", server + "/redirect-metadata"),
            http("local", server + "/redirect-local", headers=auth),
            http("other", server + "/redirect-other-origin", method="POST", headers=auth),
            http("loop", server + "/redirect-loop"),
            # 169.254.169.254 is allow-listed on purpose: link-local is refused regardless.
            allow=["127.0.0.1", "localhost", "169.254.169.254"],
        )
    )
    err = await invoke_error(catalog, "evil", {})
    assert err.reason == "TOOL_FAILED" and "host 'evil.example' is not in outbound.allow_hosts" in err.message
    err = await invoke_error(catalog, "metadata", {})
    assert err.reason == "TOOL_FAILED" and "169.254.169.254" in err.message and "link-local" in err.message
    seen = json.loads((await catalog.invoke("local", {})).output)
    assert seen["target"] == "/echo/after-redirect" and seen["headers"]["authorization"] == SECRET
    seen = json.loads((await catalog.invoke("other", {})).output)  # 307 keeps the method
    assert seen["target"] == "/echo/other-origin" and seen["method"] == "POST"
    assert "authorization" not in seen["headers"]  # credentials stay with their origin
    err = await invoke_error(catalog, "loop", {})
    assert "too many redirects" in err.message


async def test_http_link_local_refused_even_when_allow_listed(make_catalog: MakeCatalog, server: str) -> None:
    catalog = await make_catalog(
        http_file(
            server,
            http("metadata", "http://169.254.169.254/latest/meta-data"),
            http("mapped", "http://[::ffff:169.254.169.254]/latest"),
            http("alibaba", "http://100.100.100.200/latest"),
            allow=["169.254.169.254", "::ffff:169.254.169.254", "100.100.100.200"],
        )
    )
    for name in ("metadata", "mapped", "alibaba"):
        started = time.monotonic()
        err = await invoke_error(catalog, name, {})
        assert err.reason == "TOOL_FAILED" and "refused even if allow-listed" in err.message, err.message
        assert time.monotonic() - started < 0.5  # refused before any connection attempt


async def test_http_host_not_allow_listed_refused_at_invoke(make_catalog: MakeCatalog, server: str) -> None:
    port = urlsplit(server).port
    catalog = await make_catalog(http_file(server, http("by_name", f"http://localhost:{port}/echo/x"), allow=["127.0.0.1"]))
    assert catalog.get("by_name") is not None  # listed; refused when called
    err = await invoke_error(catalog, "by_name", {})
    assert err.reason == "TOOL_FAILED" and "host 'localhost' is not in outbound.allow_hosts" in err.message
    empty = await make_catalog(http_file(server, http("nothing_allowed", server + "/echo/x"), allow=[]))
    err = await invoke_error(empty, "nothing_allowed", {})
    assert "host '127.0.0.1' is not in outbound.allow_hosts" in err.message


async def test_http_response_cap(make_catalog: MakeCatalog, server: str) -> None:
    catalog = await make_catalog(http_file(server, http("huge", server + "/huge", max_response_bytes=100_000), http("declared", server + "/huge-declared")))
    err = await invoke_error(catalog, "huge", {})
    assert err.reason == "TOOL_FAILED" and "response larger than 100000 bytes" in err.message
    err = await invoke_error(catalog, "declared", {})
    assert "response larger than 1048576 bytes" in err.message


async def test_http_timeout(make_catalog: MakeCatalog, server: str) -> None:
    catalog = await make_catalog(http_file(server, http("slow", server + "/slow", timeout_s=0.3)))
    started = time.monotonic()
    err = await invoke_error(catalog, "slow", {})
    assert (err.status, err.reason) == ("DEADLINE_EXCEEDED", "TOOL_TIMEOUT")
    assert time.monotonic() - started < 1.5


def test_outbound_address_rules() -> None:
    ip = ipaddress.ip_address
    for blocked in ("169.254.169.254", "169.254.1.1", "0.0.0.0", "224.0.0.1", "100.100.100.200", "fe80::1", "fd00:ec2::254", "ff02::1"):
        assert blocked_reason(ip(blocked)) is not None, blocked
    for mapped in ("::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "::169.254.169.254"):
        assert blocked_reason(ip(mapped)) is not None, mapped
    for fine in ("127.0.0.1", "10.0.0.1", "8.8.8.8", "::1", "2606:4700::1111"):
        assert blocked_reason(ip(fine)) is None, fine
    policy = OutboundPolicy.from_hosts(["docs.internal", "*.example.com", "127.0.0.1"])
    assert policy.match("DOCS.internal.") == "exact"
    assert policy.match("a.b.example.com") == "wildcard"
    assert policy.match("example.com") is None and policy.match("evilexample.com") is None
    # Private addresses only for exactly listed hosts (a wildcard may cover names others control).
    policy.check_addresses("docs.internal", [ip("10.1.2.3")], "exact")
    with pytest.raises(ToolFailure, match="non-public"):
        policy.check_addresses("x.example.com", [ip("10.1.2.3")], "wildcard")
    policy.check_addresses("x.example.com", [ip("93.184.216.34")], "wildcard")


# --- config --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"tools": [http("t", "http://h/x", headers={"Authorization": "Bearer abc123"})]}, ["tools.0.http.headers", "env:NAME"]),
        ({"tools": [py("same", "add"), py("same", "shout")]}, ["tools", "duplicate tool name 'same'", "tools.1.name"]),
        ({"tools": [py("bad name!", "add")]}, ["tools.0.python.name"]),
        ({"tools": [py("x" * 65, "add")]}, ["tools.0.python.name"]),
        ({"tools": [{"name": "calc", "kind": "mcp", "command": ["python", "s.py"], "url": "http://127.0.0.1:9/mcp"}]}, ["tools.0.mcp", "exactly one"]),
        ({"tools": [{"name": "calc", "kind": "mcp"}]}, ["tools.0.mcp", "exactly one"]),
        ({"tools": [{"name": "calc", "kind": "mcp", "command": ["x"], "env": {"K": "literal"}}]}, ["tools.0.mcp.env", "env:NAME"]),
        ({"tools": [{"name": "t", "kind": "ftp"}]}, ["tools.0", "'python', 'http', 'mcp'"]),
        ({"tools": [py("t", "add", colour="red")]}, ["tools.0.python.colour", "Extra inputs"]),
        ({"tools": [http("t", "http://{host}/x")]}, ["tools.0.http.url", "host"]),
        ({"tools": [http("t", "ftp://h/x")]}, ["tools.0.http.url", "http"]),
        ({"tools": [http("t", "http://h/{p}", parameters={"type": "object", "properties": {}})]}, ["tools.0.http", "{p}"]),
        ({"tools": [http("t", "http://h/x", method="TRACE")]}, ["tools.0.http.method"]),
        ({"tools": [{"name": "t", "kind": "python", "target": "no-colon"}]}, ["tools.0.python.target", "module:function"]),
        ({"outbound": {"allow_hosts": ["http://docs.internal/"]}}, ["outbound.allow_hosts"]),
        ({"outbound": {"allow_hosts": ["*"]}}, ["outbound.allow_hosts"]),
        ({"tools": [py("t", "add", timeout_s=0)]}, ["tools.0.python.timeout_s"]),
    ],
)
def test_config_errors_name_the_field(tmp_path: Path, data: dict[str, Any], expected: list[str]) -> None:
    path = write(tmp_path / "tools.yaml", data)
    with pytest.raises(ConfigError) as info:
        load_tools_config(path)
    for fragment in expected:
        assert fragment in str(info.value), str(info.value)
    assert "abc123" not in str(info.value)  # a literal secret is never echoed


def test_config_valid_and_missing(tmp_path: Path) -> None:
    assert load_tools_config(tmp_path / "absent.yaml") is None
    path = write(
        tmp_path / "tools.yaml",
        {
            "tools": [
                py("lookup_ticket", "lookup_ticket"),
                http("fetch_doc", "http://docs.internal/api/{path}", method="GET", headers={"Authorization": "env:DOCS_TOKEN"}, timeout_s=10),
                {"name": "calc", "kind": "mcp", "command": ["python", "calc_server.py"], "env": {"KEY": "env:NAME"}},
                {"name": "remote", "kind": "mcp", "url": "http://127.0.0.1:9000/mcp"},
            ],
            "outbound": {"allow_hosts": ["docs.internal", "*.Example.com", "[::1]"]},
        },
    )
    config = load_tools_config(path)
    assert config is not None
    assert [t.kind for t in config.tools] == ["python", "http", "mcp", "mcp"]
    assert config.tools[0].timeout_s == 30 and config.tools[1].max_response_bytes == 1024 * 1024  # type: ignore[union-attr]
    assert config.outbound.allow_hosts == ["docs.internal", "*.example.com", "::1"]


async def test_missing_and_malformed_file(make_catalog: MakeCatalog, tmp_path: Path) -> None:
    catalog = await make_catalog(None)
    assert catalog.list() == [] and catalog.diagnostics == []
    bad = await make_catalog({"tools": [{"name": "x"}]}, start=False)
    with pytest.raises(ConfigError):
        await bad.start()


# --- providers, diagnostics, refresh ---------------------------------------------------------


async def test_failed_providers_become_diagnostics(make_catalog: MakeCatalog, caplog: pytest.LogCaptureFixture) -> None:
    # A valid entry name, but its tools' "<name>_<tool>" names are longer than the 64 characters OpenAI accepts.
    long = "m" * 61
    catalog = await make_catalog(
        {
            "tools": [
                py("adder", "add"),
                {**py("broken", "add"), "target": "gw_broken_tools:anything"},
                {**py("missing_mod", "x"), "target": "gw_no_such_module:fn"},
                py("missing_fn", "no_such_function"),
                mcp("calc"),
                {"name": "down", "kind": "mcp", "command": ["python", "-c", "raise SystemExit(1)"]},  # exits during start-up
                {"name": "calc_add", "kind": "python", "target": "gw_sample_tools:add"},  # clashes with calc's calc_add
                mcp(long),
                py("unrenderable", "unrenderable"),
            ]
        },
    )
    diags = {d.name: d for d in catalog.diagnostics}
    assert "RuntimeError: this module is broken on purpose" in diags["broken"].message and "gw_broken_tools:anything" in diags["broken"].message
    assert "gw_no_such_module" in diags["missing_mod"].message and "ModuleNotFoundError" in diags["missing_mod"].message
    assert "'no_such_function' not found" in diags["missing_fn"].message
    assert diags["down"].kind == "mcp" and "closed the connection during start-up" in diags["down"].message
    assert "duplicate tool name 'calc_add'" in diags["calc_add"].message and diags["calc_add"].kind == "python"
    assert diags[f"{long}_add"].kind == "mcp" and "tool name must match" in diags[f"{long}_add"].message
    names = [t.name for t in catalog.list()]
    assert {"adder", "calc_add", "calc_fail", "unrenderable"} <= set(names)
    assert not [n for n in names if n.startswith((long, "down", "broken", "missing"))]
    assert catalog.get("calc_add").kind == "mcp"  # type: ignore[union-attr]
    assert (await catalog.invoke("adder", {"a": 1, "b": 2})).output == "3"
    assert (await catalog.invoke("calc_add", {"a": 1, "b": 2})).output == "3"
    err = await invoke_error(catalog, "calc_fail", {})
    assert err.reason == "TOOL_FAILED" and "calc exploded on purpose" in err.message
    # A provider bug (the Python provider lets an exception from rendering the result escape)
    # is TOOL_FAILED naming only the exception type, and logged with its traceback.
    caplog.set_level(logging.INFO)
    err = await invoke_error(catalog, "unrenderable", {})
    assert err.reason == "TOOL_FAILED" and "KeyError" in err.message and "internal detail" not in err.message
    assert any(r.exc_info for r in caplog.records if r.getMessage() == "tool raised unexpectedly")


def _pids(starts: Path) -> list[int]:
    return [int(pid) for pid in starts.read_text().split()] if starts.exists() else []


async def test_refresh(make_catalog: MakeCatalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    starts = tmp_path / "calc-starts.txt"  # calc_server.py appends its pid at every start
    monkeypatch.setenv("AGW_TEST_CALC_STARTS", str(starts))
    counted = {"env": {"CALC_SERVER_STARTS_FILE": "env:AGW_TEST_CALC_STARTS"}}
    catalog = await make_catalog({"tools": [py("adder", "add"), mcp("calc", **counted)]})
    [first] = _pids(starts)
    generation = catalog.generation
    # A malformed file raises and the old catalogue keeps serving.
    write(catalog.config_path, "tools: [ {name: oops, kind: python, target: 'not valid' ")
    with pytest.raises(ConfigError):
        await catalog.refresh()
    write(catalog.config_path, {"tools": [{"name": "bad name", "kind": "python", "target": "m:f"}]})
    with pytest.raises(ConfigError):
        await catalog.refresh()
    assert catalog.generation == generation
    assert {"adder", "calc_add"} <= {t.name for t in catalog.list()}
    assert (await catalog.invoke("calc_add", {"a": 1, "b": 1})).output == "2"
    assert _pids(starts) == [first] and Path(f"/proc/{first}").exists()
    # A good file swaps in; the old providers are closed once idle (the old server process ends).
    write(catalog.config_path, {"tools": [py("shout", "shout"), mcp("calc2", **counted)]})
    await catalog.refresh()
    assert catalog.generation == generation + 1
    names = {t.name for t in catalog.list()}
    assert {"calc2_add", "shout"} <= names and not names & {"adder", "calc_add"}
    assert (await catalog.invoke("calc2_add", {"a": 2, "b": 2})).output == "4"
    for _ in range(200):
        if not Path(f"/proc/{first}").exists():
            break
        await asyncio.sleep(0.05)
    assert not Path(f"/proc/{first}").exists()  # exited and reaped, not a zombie
    assert len(_pids(starts)) == 2
    # Deleting the file means "no tools".
    catalog.config_path.unlink()
    await catalog.refresh()
    assert catalog.list() == []
