"""``/openapi.json``: a valid OpenAPI 3.1 document (openapi-spec-validator) of exactly the routes
the shim serves — every route of the app documented, every documented operation served by the
real gateway — whose admin schemas describe what the routes really answer."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from services.settings import GatewaySettings
from shim.app import create_app
from shim.openapi import REQUEST_BODIES, openapi_document
from shim.transcoding import TranscodedRoute
from tests.conftest import ADMIN_HEADERS, KEYS
from tests.gateway_process import GatewayProcess

USER_HEADERS = {"authorization": f"Bearer {KEYS['user']}"}


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


def served(routes: list[Any]) -> set[tuple[str, str]]:
    """(method, path) of every route, parameters written as OpenAPI writes them."""
    return {(m, re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path)) for r in routes if isinstance(r, Route) for m in (r.methods or set()) - {"HEAD"}}


def schema_validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A validator for ``schema`` whose ``#/components/...`` references resolve in ``document``."""
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def test_the_document_is_openapi_31_of_every_route_and_nothing_else() -> None:
    app = create_app(GatewaySettings(), "127.0.0.1:9")
    document = openapi_document(app.routes)
    validate(document)  # raises on anything OpenAPI 3.1 does not allow
    assert document["openapi"] == "3.1.0"
    assert operations(document) == served(app.routes)
    admin = {(r.binding.verb, r.path) for r in app.routes if isinstance(r, TranscodedRoute)}
    assert admin and admin <= operations(document)
    assert ("GET", "/v1/agents/{agent}") in admin and ("POST", "/v1/tools/{tool}:invoke") in admin
    # Hand-written routes carry their pydantic body models; admin routes their messages.
    chat = document["paths"]["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ChatCompletionRequest"}
    assert "text/event-stream" in chat["responses"]["200"]["content"]
    assert set(document["components"]["schemas"]) >= {m.__name__ for m in REQUEST_BODIES.values()}
    audit = document["paths"]["/v1/auditEvents"]["get"]
    assert {p["name"] for p in audit["parameters"]} == {"keyId", "action", "resource", "allowed", "startTime", "pageSize", "pageToken"}
    create = document["paths"]["/v1/overrides"]["post"]
    assert [p["name"] for p in create["parameters"]] == ["ttl"]  # the override is the body
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/agentgateway.v1.Override"}
    assert document["paths"]["/healthz"]["get"]["security"] == []


def test_request_bodies_from_the_docs_fit_their_schemas() -> None:
    document = openapi_document(create_app(GatewaySettings(), "127.0.0.1:9").routes)

    def body_schema(path: str) -> jsonschema.Draft202012Validator:
        return schema_validator(document, document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"])

    body_schema("/v1/overrides").validate({"keyId": "user", "action": "ACTION_USE_MODEL", "pattern": "labs/*", "effect": "OVERRIDE_EFFECT_GRANT"})
    body_schema("/v1/chat/completions").validate({"model": "default/weather", "messages": [{"role": "user", "content": "hi"}]})
    with pytest.raises(jsonschema.ValidationError):
        body_schema("/v1/overrides").validate({"action": "ACTION_FLY"})
    with pytest.raises(jsonschema.ValidationError):
        body_schema("/v1/chat/completions").validate({"model": "default/weather"})


async def test_the_gateway_serves_it_and_every_documented_operation(gateway: GatewayProcess) -> None:
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=30) as http:
        assert (await http.get("/openapi.json")).status_code == 401  # a route like the others: a key is needed
        reply = await http.get("/openapi.json", headers=USER_HEADERS)
        assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
        document = reply.json()
        validate(document)
        for method, path in sorted(operations(document)):
            operation = document["paths"][path][method.lower()]
            url = re.sub(r"\{\w+\}", "x", path)
            # A key without the admin role, and bodies no route accepts: nothing changes, but
            # each request reaches its route (the router's own answers are 404 not_found / 405).
            body = {"json": {"__probe__": 1}} if "requestBody" in operation else {}
            async with http.stream(method, url, headers=USER_HEADERS, **body) as probe:  # an event stream is left at its headers
                text = (await probe.aread()).decode() if probe.status_code >= 400 else ""
            code = json.loads(text)["error"]["code"] if text and "json" in probe.headers["content-type"] else None
            assert probe.status_code != 405 and (probe.status_code, code) != (404, "not_found") and probe.status_code < 500, (method, url, text)


async def test_admin_answers_fit_their_documented_schemas(gateway: GatewayProcess) -> None:
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=30) as http:
        document = (await http.get("/openapi.json")).json()
        for path in (
            "/v1/agents",
            "/v1/agents/default/weather",
            "/v1/diagnostics",
            "/v1/tools",
            "/v1/tools/lookup_ticket",
            "/v1/overrides",
            "/v1/auditEvents",
            "/v1/security:authenticate",
        ):
            documented = "/v1/agents/{agent}" if path.startswith("/v1/agents/") else "/v1/tools/{tool}" if path.startswith("/v1/tools/") else path
            schema = document["paths"][documented]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            reply = await http.get(path)
            assert reply.status_code == 200, reply.text
            schema_validator(document, schema).validate(reply.json())
        created = await http.post(
            "/v1/overrides", params={"ttl": "60s"}, json={"keyId": "user", "action": "ACTION_USE_TOOL", "pattern": "x", "effect": "OVERRIDE_EFFECT_REVOKE"}
        )
        try:
            schema = document["paths"]["/v1/overrides"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
            schema_validator(document, schema).validate(created.json())
        finally:
            assert (await http.delete(f"/v1/{created.json()['override']['name']}")).status_code == 200
