"""The shim's outer HTTP layer, driven in-process (httpx.ASGITransport): every response,
errors and the last-resort 500 included, carries ``x-request-id`` and OpenAI's error shape."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.settings import GatewaySettings
from shim.app import create_app

KEY = {"authorization": "Bearer any-key"}


async def _boom(request: Request) -> Response:
    raise RuntimeError("secret internals at /srv/app.py")


@pytest.fixture
def client() -> httpx.AsyncClient:
    # No lifespan: nothing here reaches the executor (its gRPC target is never dialled).
    app = create_app(GatewaySettings(), "127.0.0.1:9")
    app.router.routes.append(Route("/boom", _boom))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://gateway")


def _assert_openai_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code


async def test_an_unhandled_error_is_a_500_with_the_request_id(client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="agentgateway.shim"):
        response = await client.get("/boom", headers={**KEY, "x-request-id": "req-boom-1"})
    _assert_openai_error(response, 500, "internal")
    assert response.headers["x-request-id"] == "req-boom-1"
    assert "secret" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert len(logged) == 1 and logged[0].fields["request_id"] == "req-boom-1"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "code"),
    [
        ("GET", "/v1/models", {}, 401, "unauthenticated"),
        ("GET", "/nowhere", KEY, 404, "not_found"),
        ("DELETE", "/v1/chat/completions", KEY, 405, "method_not_allowed"),
        ("POST", "/v1/chat/completions", KEY, 400, "invalid_json"),
    ],
)
async def test_every_error_carries_a_request_id(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], status: int, code: str) -> None:
    response = await client.request(method, path, headers=headers, content=b"{not json")
    _assert_openai_error(response, status, code)
    generated = response.headers["x-request-id"]
    assert len(generated) == 32 and int(generated, 16) >= 0  # generated when the client sent none
    echoed = await client.request(method, path, headers={**headers, "x-request-id": "mine-42"}, content=b"{not json")
    assert echoed.headers["x-request-id"] == "mine-42"


async def test_a_malformed_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere", headers={**KEY, "x-request-id": "bad id with spaces"})
    assert response.headers["x-request-id"] != "bad id with spaces"
    assert response.headers.get_list("x-request-id") == [response.headers["x-request-id"]]


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "default/weather", "messages": [{"role": "user", "content": "\\ud800"}]}',
        b'{"model": "default/weather", "messages": [{"role": "user", "content": "hi"}], "temperature": NaN}',
        b'{"model": "default/weather", "messages": [{"role": "user", "content": "hi"}], "logit_bias": {"1": Infinity}}',
        b'{"model": "default/weather", "messages": [{"role": "user", "content": "hi"}], "metadata": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        b'{"model": "default/weather", "messages": [{"role": "user", "content": "hi"}], "extra_thing": ' + b'{"a": ' * 60 + b"1" + b"}" * 60 + b"}",
    ],
    ids=["lone-surrogate", "nan", "infinity", "nested-10000", "nested-60"],
)
async def test_json_that_protobuf_cannot_carry_is_a_400(client: httpx.AsyncClient, body: bytes) -> None:
    # Each of these passes Python's JSON parser; none may reach the encoder (a 500 before).
    response = await client.post("/v1/chat/completions", headers={**KEY, "content-type": "application/json"}, content=body)
    _assert_openai_error(response, 400, "invalid_json")
