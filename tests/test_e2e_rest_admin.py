"""The REST admin routes end to end: the real gateway (both shim transports) answers the admin
and registry RPCs over HTTP as their ``google.api.http`` annotations say, with the caller's
key, the request id and OpenAI-shaped errors, and agrees with the same RPCs over gRPC.

What changes a gateway's state — refreshing agents or tools (which restarts MCP sessions that
other tests count), reloading the policy, overrides — runs against a gateway of this module's
own (``own``), never the shared one."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format

from agentgateway.v1 import registry_service_pb2 as reg_pb
from agentgateway.v1 import registry_service_pb2_grpc as reg_grpc
from agentgateway.v1 import security_service_pb2 as sec_pb
from agentgateway.v1 import security_service_pb2_grpc as sec_grpc
from agentgateway.v1 import upstream_service_pb2 as up_pb
from agentgateway.v1 import upstream_service_pb2_grpc as up_grpc
from services.security.interceptor import ADMIN_METHODS
from shim.http_rules import bindings_of, gateway_files
from tests.conftest import ADMIN_HEADERS, ADMIN_KEY, E2E_AGENTS, GATEWAY_ENV, KEYS, UPSTREAM_KEY, write_config
from tests.fake_upstream import FakeUpstream
from tests.gateway_process import REPO, GatewayProcess, make_agents_dir
from tests.grpc_auth import authed_channel
from tests.test_e2e_conversations_rest import docs_commands, run_curl

USER_HEADERS = {"authorization": f"Bearer {KEYS['user']}"}


@pytest.fixture
async def http(gateway: GatewayProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def own(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway for the tests that change its state."""
    root = tmp_path_factory.mktemp("rest-admin-gateway")
    env = {**GATEWAY_ENV, "FAKE_UPSTREAM_KEY": UPSTREAM_KEY}
    process = GatewayProcess(make_agents_dir(root / "agents", [E2E_AGENTS]), write_config(root / "config", upstream), root / "gateway.log", env_extra=env)
    process.start()
    yield process
    process.terminate()


@pytest.fixture
async def own_http(own: GatewayProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=own.http_url, headers=ADMIN_HEADERS, timeout=30) as client:
        yield client


@pytest.fixture
async def own_channel(own: GatewayProcess) -> AsyncIterator[grpc.aio.Channel]:
    async with authed_channel(own.grpc_address, ADMIN_KEY) as channel:
        yield channel


def ok(reply: httpx.Response) -> Any:
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    return reply.json()


def error(reply: httpx.Response, status: int) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body: dict[str, Any] = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def as_json(message: Any) -> Any:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


async def test_agents_list_pages_and_get(http: httpx.AsyncClient, channel: grpc.aio.Channel) -> None:
    first = ok(await http.get("/v1/agents", params={"pageSize": "2"}))
    assert len(first["agents"]) == 2 and first["nextPageToken"]
    second = ok(await http.get("/v1/agents", params={"page_size": "2", "pageToken": first["nextPageToken"]}))  # proto names work too
    assert second["agents"][0]["id"] > first["agents"][-1]["id"]
    over_grpc = await reg_grpc.RegistryServiceStub(channel).ListAgents(reg_pb.ListAgentsRequest(page_size=2))
    assert first == as_json(over_grpc)
    helpdesk = ok(await http.get("/v1/agents/default/helpdesk"))  # `**`: the id's own '/' included
    # Every field, defaults included, under its proto3 JSON name.
    assert helpdesk["agent"]["name"] == "agents/default/helpdesk" and helpdesk["agent"]["source"] == "AGENT_SOURCE_DECLARATIVE"
    assert helpdesk["agent"]["exportKind"] == "EXPORT_KIND_UNSPECIFIED" and helpdesk["agent"]["maxTurns"] == 0
    missing = error(await http.get("/v1/agents/default/nope"), 404)
    assert missing["code"] == "model_not_found" and missing["type"] == "invalid_request_error"


async def test_the_callers_key_decides(gateway: GatewayProcess, http: httpx.AsyncClient) -> None:
    # A key sees only its models (labs/* is denied to `user`), admin routes need the admin role.
    mine = ok(await http.get("/v1/agents", headers=USER_HEADERS, params={"pageSize": "1000"}))
    assert mine["agents"] and all(a["id"].startswith("default/") for a in mine["agents"])
    assert any(a["id"].startswith("labs/") for a in ok(await http.get("/v1/agents", params={"pageSize": "1000"}))["agents"])
    for method, path in (("GET", "/v1/diagnostics"), ("POST", "/v1/agents:refresh"), ("GET", "/v1/auditEvents"), ("POST", "/v1/security:reload")):
        denied = error(await http.request(method, path, headers=USER_HEADERS), 403)
        assert denied["code"] == "admin_required" and denied["type"] == "permission_error"
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=10) as anonymous:
        assert error(await anonymous.get("/v1/agents"), 401)["code"] == "unauthenticated"
    principal = ok(await http.get("/v1/security:authenticate", headers=USER_HEADERS))["principal"]
    assert principal["keyId"] == "user" and principal["roles"] == [] and KEYS["user"] not in str(principal)


async def test_refresh_and_diagnostics_match_grpc(own_http: httpx.AsyncClient, own_channel: grpc.aio.Channel) -> None:
    refreshed = ok(await own_http.post("/v1/agents:refresh"))  # no body: an empty request
    listed = await reg_grpc.RegistryServiceStub(own_channel).ListAgents(reg_pb.ListAgentsRequest(page_size=1000))
    assert refreshed["agentCount"] == len(listed.agents) and refreshed["diagnosticCount"] > 0
    diagnostics = ok(await own_http.get("/v1/diagnostics", params={"pageSize": "1000"}))
    assert diagnostics == as_json(await reg_grpc.RegistryServiceStub(own_channel).ListDiagnostics(reg_pb.ListDiagnosticsRequest(page_size=1000)))
    assert len(diagnostics["diagnostics"]) == refreshed["diagnosticCount"]


async def test_tools_get_and_invoke(http: httpx.AsyncClient) -> None:
    names = [t["name"] for t in ok(await http.get("/v1/tools", params={"pageSize": "100"}))["tools"]]
    assert "tools/lookup_ticket" in names
    tool = ok(await http.get("/v1/tools/lookup_ticket"))["tool"]
    assert tool["kind"] == "TOOL_KIND_PYTHON" and tool["parameters"]["properties"]["ticket_id"]["type"] == "integer"
    invoked = ok(await http.post("/v1/tools/lookup_ticket:invoke", json={"arguments": {"ticket_id": 7}}))
    assert json.loads(invoked["output"]) == {"id": 7, "status": "open", "title": "Ticket 7"} and invoked["duration"].endswith("s")
    assert error(await http.get("/v1/tools/nope"), 404)["code"] == "tool_not_found"


async def test_tools_refresh(own_http: httpx.AsyncClient) -> None:
    listed = ok(await own_http.get("/v1/tools", params={"pageSize": "100"}))["tools"]
    assert ok(await own_http.post("/v1/tools:refresh", json={}))["toolCount"] == len(listed)


async def test_overrides_create_list_delete(own_http: httpx.AsyncClient, own_channel: grpc.aio.Channel) -> None:
    http, channel = own_http, own_channel
    # body: "override" — the resource is the body, the ttl a query parameter (AIP-133).
    spec = {"keyId": "user", "action": "ACTION_USE_MODEL", "pattern": "labs/planner", "effect": "OVERRIDE_EFFECT_GRANT", "reason": "rest test"}
    created = ok(await http.post("/v1/overrides", params={"ttl": "600s"}, json=spec))["override"]
    assert created["name"].startswith("overrides/") and {k: created[k] for k in spec} == spec and created["namespace"] == ""
    try:
        listed = ok(await http.get("/v1/overrides"))["overrides"]
        assert created in listed
        decided = ok(await http.post("/v1/security:previewDecision", json={"keyId": "user", "action": "ACTION_USE_MODEL", "resource": "labs/planner"}))
        assert decided["decision"]["allowed"] is True
    finally:
        assert ok(await http.delete(f"/v1/{created['name']}")) == {}
    assert created not in ok(await http.get("/v1/overrides"))["overrides"]
    assert error(await http.delete(f"/v1/{created['name']}"), 404)["code"] == "override_not_found"
    live = await sec_grpc.SecurityServiceStub(channel).ListOverrides(sec_pb.ListOverridesRequest())
    assert created["name"] not in [o.name for o in live.overrides]
    missing_ttl = error(await http.post("/v1/overrides", json=spec), 400)
    assert (missing_ttl["param"], missing_ttl["code"]) == ("ttl", "invalid_argument")


async def test_authorize_is_audited_under_the_request_id(http: httpx.AsyncClient) -> None:
    request_id = "audit-over-rest-4b1e"
    body = {"action": "ACTION_USE_MODEL", "resource": "labs/planner"}
    decided = ok(await http.post("/v1/security:authorize", json=body, headers={**USER_HEADERS, "x-request-id": request_id}))
    # A refusal says so: `allowed` is there although false is proto3's default.
    assert decided["decision"]["allowed"] is False and decided["decision"]["policy"]
    query = {"keyId": "user", "action": "ACTION_USE_MODEL", "resource": "labs/planner", "allowed": "false", "pageSize": "50"}
    events = ok(await http.get("/v1/auditEvents", params=query))["events"]
    assert request_id in [e["requestId"] for e in events]
    assert all((e["keyId"], e["allowed"], e["resource"]) == ("user", False, "labs/planner") for e in events)
    assert ok(await http.get("/v1/auditEvents", params={"startTime": "2999-01-01T00:00:00Z"}))["events"] == []


async def test_policy_reload(own_http: httpx.AsyncClient) -> None:
    assert ok(await own_http.post("/v1/security:reload"))["keyCount"] == len(KEYS)


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "param", "code"),
    [
        ("GET", "/v1/agents", {"pageSize": "many"}, None, "pageSize", "invalid_argument"),
        ("GET", "/v1/agents", {"pageSize": str(2**40)}, None, "pageSize", "invalid_argument"),
        ("GET", "/v1/agents", {"colour": "red"}, None, "colour", "unknown_parameter"),
        ("GET", "/v1/agents", {"pageSize": ["1", "2"]}, None, "pageSize", "invalid_argument"),
        ("GET", "/v1/auditEvents", {"allowed": "maybe"}, None, "allowed", "invalid_argument"),
        ("GET", "/v1/auditEvents", {"action": "ACTION_FLY"}, None, "action", "invalid_argument"),
        ("GET", "/v1/auditEvents", {"startTime": "yesterday"}, None, "startTime", "invalid_argument"),
        ("POST", "/v1/security:authorize", {}, {"action": "ACTION_USE_MODEL", "colour": "red"}, "colour", "unknown_parameter"),
        ("POST", "/v1/security:authorize", {}, {"action": "ACTION_FLY"}, "action", "invalid_argument"),
        ("POST", "/v1/security:authorize", {"resource": "x"}, {}, "resource", "unknown_parameter"),  # body "*": nothing in the query
        ("POST", "/v1/overrides", {"ttl": "soon"}, {}, "ttl", "invalid_argument"),
        ("POST", "/v1/overrides", {"override.keyId": "user"}, {}, "override.keyId", "invalid_argument"),  # the body's field
        ("POST", "/v1/overrides", {"ttl": "60s"}, {"keyId": "user", "colour": "red"}, "override.colour", "unknown_parameter"),
        ("POST", "/v1/tools/lookup_ticket:invoke", {}, {"arguments": [1]}, "arguments", "invalid_argument"),
    ],
)
async def test_bad_requests_are_400s_naming_the_parameter(
    http: httpx.AsyncClient, method: str, path: str, params: dict[str, Any], body: Any, param: str, code: str
) -> None:
    reply = await http.request(method, path, params=params, json=body)
    found = error(reply, 400)
    assert (found["param"], found["code"], found["type"]) == (param, code, "invalid_request_error"), found
    assert "Traceback" not in found["message"] and not re.search(r"Failed to parse \w+ field", found["message"]), found["message"]


async def test_bodies_that_are_not_json_objects(http: httpx.AsyncClient) -> None:
    for content in (b"{not json", b"[1, 2]", b'{"a": NaN}'):
        found = error(await http.post("/v1/security:authorize", content=content), 400)
        assert found["code"] == "invalid_json"
    assert error(await http.post("/v1/security:authorize", content=b"{" * 40 + b"}" * 40), 400)["code"] == "invalid_json"
    assert error(await http.post("/v1/security:authorize", content=b" " * (5 * 1024 * 1024)), 413)["code"] == "request_too_large"


async def test_wrong_methods_and_unknown_routes(http: httpx.AsyncClient) -> None:
    assert error(await http.delete("/v1/agents"), 405)["code"] == "method_not_allowed"
    assert error(await http.get("/v1/agents:refresh"), 405)["code"] == "method_not_allowed"
    assert error(await http.get("/v1/overrides/a/b"), 404)["code"] == "not_found"
    assert error(await http.post("/v1/agents:rescan"), 404)["code"] == "not_found"


async def test_a_refused_reload_is_a_400_and_the_old_catalogue_stays(own: GatewayProcess, own_http: httpx.AsyncClient) -> None:
    http = own_http
    tools = own.config_dir / "tools.yaml"
    good = tools.read_text()
    before = ok(await http.get("/v1/tools", params={"pageSize": "100"}))
    tools.write_text("tools: [this is not valid")
    try:
        refused = error(await http.post("/v1/tools:refresh"), 400)
        assert refused["code"] == "tools_config_invalid" and "the old catalogue stays" in refused["message"]
    finally:
        tools.write_text(good)
    assert ok(await http.get("/v1/tools", params={"pageSize": "100"})) == before


def docs_section() -> str:
    text = (REPO / "docs" / "api.md").read_text()
    return text.split("\n## REST admin\n", 1)[1].split("\n## ", 1)[0]


def test_the_docs_route_table_is_the_annotations() -> None:
    rows = re.findall(r"^\| `([A-Z]+ /\S+)` \| `(\w+)\.(\w+)`( \(admin\))? \|", docs_section(), re.M)
    documented = {(route, f"/agentgateway.v1.{service}/{method}", bool(admin)) for route, service, method, admin in rows}
    annotated = {(f"{b.verb} {b.path}", b.rpc, b.rpc in ADMIN_METHODS) for b in bindings_of(gateway_files())}
    assert documented == annotated
    assert len(rows) == len(annotated)


async def test_the_curl_examples_in_the_docs_work(own: GatewayProcess) -> None:
    gateway = own
    agents, agent, refresh, diagnostics, invoke, create, audit, delete = docs_commands("## REST admin")
    listed = run_curl(agents, gateway)
    assert 0 < len(listed["agents"]) <= 10
    assert run_curl(agent, gateway)["agent"]["id"] == "default/weather"
    assert run_curl(refresh, gateway)["agentCount"] > 0
    assert "diagnostics" in run_curl(diagnostics, gateway)
    assert json.loads(run_curl(invoke, gateway)["output"])["id"] == 42
    override = run_curl(create, gateway)["override"]
    assert override["name"].startswith("overrides/ovr_") and (override["keyId"], override["pattern"]) == ("user", "labs/*")
    events = run_curl(audit, gateway)["events"]
    assert all((e["keyId"], e["allowed"]) == ("user", False) for e in events)
    assert run_curl(delete.replace("overrides/ovr_5c1d", override["name"]), gateway) == {}
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=10) as http:
        assert override["name"] not in [o["name"] for o in ok(await http.get("/v1/overrides"))["overrides"]]


async def test_upstreams_over_rest(http: httpx.AsyncClient, channel: grpc.aio.Channel) -> None:
    listed = ok(await http.get("/v1/upstreams", params={"pageSize": "100"}))
    over_grpc = await up_grpc.UpstreamServiceStub(channel).ListUpstreams(up_pb.ListUpstreamsRequest(page_size=100))
    # Names and settings as gRPC has them (health check times move on between the two calls).
    assert [(u["name"], u["baseUrl"], u["model"]) for u in listed["upstreams"]] == [(u.name, u.base_url, u.model) for u in over_grpc.upstreams]
    fake = ok(await http.get("/v1/upstreams/fake"))["upstream"]
    assert (fake["name"], fake["apiKeyEnv"], fake["apiKeySet"]) == ("upstreams/fake", "FAKE_UPSTREAM_KEY", True)
    assert UPSTREAM_KEY not in json.dumps(listed) + json.dumps(fake)
    assert error(await http.get("/v1/upstreams/nope"), 404)["code"].endswith("not_found")
    assert error(await http.get("/v1/upstreams", headers=USER_HEADERS), 403)["code"] == "admin_required"


async def test_upstreams_refresh(own_http: httpx.AsyncClient) -> None:
    # The file did not change: every upstream is kept as it was.
    assert ok(await own_http.post("/v1/upstreams:refresh")) == {"upstreamCount": 4, "added": [], "changed": [], "removed": []}


async def test_watching_the_catalogue_over_server_sent_events(gateway: GatewayProcess, http: httpx.AsyncClient) -> None:
    listed = ok(await http.get("/v1/agents", headers=USER_HEADERS, params={"pageSize": "1000"}))["agents"]
    ended = gateway.log_text().count('"msg": "agent watch ended"')
    async with http.stream("GET", "/v1/agents:watch", headers=USER_HEADERS) as reply:
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        async for line in reply.aiter_lines():
            if line.startswith("data: "):
                first = json.loads(line.removeprefix("data: "))
                break
    # The snapshot: the agents the key may use, as ListAgents shows them, each an ADDED event.
    assert first["snapshot"] is True
    assert [(e["type"], e["agent"]) for e in first["events"]] == [("CATALOG_EVENT_TYPE_ADDED", a) for a in listed]
    # Leaving cancels the gRPC stream behind it: the gateway logs the watch's end.
    for _ in range(100):
        if gateway.log_text().count('"msg": "agent watch ended"') > ended:
            break
        await asyncio.sleep(0.1)
    assert gateway.log_text().count('"msg": "agent watch ended"') > ended
