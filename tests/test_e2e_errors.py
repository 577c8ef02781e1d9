"""Failures in OpenAI's error shape, with the status codes of docs/api.md."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from tests.conftest import ADMIN_HEADERS
from tests.fake_upstream import BrokenReply, ErrorReply, FakeUpstream, HangReply, TextReply, ToolCall, ToolCallReply
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.asyncio


def assert_openai_error(body: dict, code: str) -> dict:
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    assert "Traceback" not in error["message"]
    return error


async def test_unknown_model_is_404_model_not_found(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="default/nope", messages=[{"role": "user", "content": "hi"}])
    assert_openai_error({"error": caught.value.body}, "model_not_found")
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("default/nope")


async def test_bad_json_is_400(gateway: GatewayProcess) -> None:
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS) as http:
        response = await http.post("/v1/chat/completions", content=b'{"model": "default/weather", "messages": [', headers={"content-type": "application/json"})
        assert response.status_code == 400
        assert_openai_error(response.json(), "invalid_json")
        response = await http.post("/v1/chat/completions", json=["not", "an", "object"])
        assert response.status_code == 400


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "default/weather", "messages": []}, "messages"),
        ({"model": "default/weather", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"model": "default/weather", "messages": [{"role": "user", "content": "hi"}], "temperature": 9}, "temperature"),
        ({"model": "default/weather", "messages": [{"role": "user", "content": "hi"}], "n": 3}, "n"),
        (
            {"model": "default/weather", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x", "detail": "huge"}}]}]},
            "messages[0].content[0].image_url.detail",
        ),
    ],
)
async def test_invalid_fields_are_400_with_param(gateway: GatewayProcess, body: dict, param: str) -> None:
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS) as http:
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 400  # never 422
    error = assert_openai_error(response.json(), "invalid_argument")
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


async def test_body_over_the_limit_is_413(gateway: GatewayProcess) -> None:
    big = "x" * (5 * 1024 * 1024)
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS) as http:
        response = await http.post("/v1/chat/completions", json={"model": "default/weather", "messages": [{"role": "user", "content": big}]})
    assert response.status_code == 413
    assert_openai_error(response.json(), "request_too_large")


async def test_upstream_down_is_502(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(model="default/offline", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 502
    assert_openai_error({"error": caught.value.body}, "upstream_unreachable")


@pytest.mark.parametrize("model", ["default/weather", "default/helpdesk"])
async def test_upstream_500_is_502(client: AsyncOpenAI, upstream: FakeUpstream, model: str) -> None:
    upstream.queue(ErrorReply(500, "boom: internal detail"))
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], stream=True)
    assert caught.value.status_code == 502
    error = assert_openai_error({"error": caught.value.body}, "upstream_error")
    assert "internal detail" not in error["message"]


async def test_run_deadline_is_504(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(HangReply(before_headers=True))
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(model="default/timeboxed", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 504
    assert_openai_error({"error": caught.value.body}, "agent_timeout")
    # The abandoned upstream request was closed, not leaked.
    await upstream.wait_for_async(lambda: upstream.chat_requests[-1].disconnected, timeout=5)


@pytest.mark.parametrize("model", ["default/weather", "default/helpdesk"])
async def test_client_disconnect_cancels_the_upstream_request(gateway: GatewayProcess, upstream: FakeUpstream, model: str) -> None:
    upstream.queue(HangReply(partial="thinking about it"))
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=10) as http:
        async with http.stream(
            "POST", "/v1/chat/completions", json={"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        ) as response:
            assert response.status_code == 200
            received = b""
            async for part in response.aiter_bytes():
                received += part
                if b"thinking" in received:
                    break
    # Leaving the block closed the connection: the gateway must close its upstream call.
    await upstream.wait_for_async(lambda: bool(upstream.chat_requests) and upstream.chat_requests[-1].disconnected, timeout=5)


@pytest.mark.parametrize(("model", "stream"), [("default/weather", True), ("default/weather", False), ("default/helpdesk", False)])
async def test_disconnect_before_first_token_cancels_too(gateway: GatewayProcess, upstream: FakeUpstream, model: str, stream: bool) -> None:
    upstream.queue(HangReply(before_headers=True))
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=10) as http:
        body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
        request = asyncio.ensure_future(http.post("/v1/chat/completions", json=body))
        await upstream.wait_for_async(lambda: bool(upstream.chat_requests), timeout=5)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
    await upstream.wait_for_async(lambda: upstream.chat_requests[-1].disconnected, timeout=5)


async def test_error_after_first_byte_arrives_in_stream(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    # Text already reached the client when the run's deadline passes: the error travels in-band.
    upstream.queue(HangReply(partial="thinking about it"))
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=10) as http:
        response = await http.post("/v1/chat/completions", json={"model": "default/timeboxed", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200
    events = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert any('"thinking ' in e for e in events)
    assert json.loads(events[-1]) == {
        "error": {"message": "agent 'default/timeboxed' did not finish within 1s", "type": "timeout_error", "param": None, "code": "agent_timeout"}
    }
    assert "[DONE]" not in events


async def test_unknown_route_and_method(gateway: GatewayProcess) -> None:
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS) as http:
        missing = await http.get("/v2/whatever")
        wrong = await http.get("/v1/chat/completions")
    assert missing.status_code == 404 and "error" in missing.json()
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


async def test_max_turns_exceeded_is_500_without_internals(client: AsyncOpenAI, upstream: FakeUpstream) -> None:
    upstream.queue(*[ToolCallReply([ToolCall("ping", {})]) for _ in range(3)])
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(model="default/looper", messages=[{"role": "user", "content": "go"}])
    error = assert_openai_error({"error": caught.value.body}, "max_turns_exceeded")
    assert error["type"] == "server_error"
    assert len(upstream.chat_requests) == 2  # max_turns from __gateway__ was honoured


# 200 responses whose body is not a usable completion.
BROKEN_BODIES = {
    "invalid-json": (b"{not json", "upstream_bad_response"),
    "truncated": (b'{"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"ind', "upstream_bad_response"),
    "error-object": (b'{"error": {"message": "model is overloaded, try later", "type": "server_error"}}', "upstream_error"),
    "no-choices": (b'{"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m", "choices": []}', "upstream_bad_response"),
}


@pytest.mark.parametrize("model", ["default/weather", "default/helpdesk"])
@pytest.mark.parametrize("case", list(BROKEN_BODIES))
async def test_a_200_that_is_not_a_completion_is_a_502(client: AsyncOpenAI, upstream: FakeUpstream, model: str, case: str) -> None:
    body, code = BROKEN_BODIES[case]
    upstream.queue(BrokenReply(body=body))
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 502
    error = assert_openai_error({"error": caught.value.body}, code)
    assert "'fake'" in error["message"]  # names the upstream, by its configured name
    if case == "error-object":
        assert "model is overloaded, try later" in error["message"]  # the upstream's own words


@pytest.mark.parametrize("model", ["default/weather", "default/helpdesk"])
@pytest.mark.parametrize(("ending", "code"), [("error", "upstream_error"), ("eof", "upstream_bad_response"), ("drop", "upstream_error")])
async def test_a_stream_that_breaks_ends_with_an_in_band_error_not_a_clean_finish(
    gateway: GatewayProcess, upstream: FakeUpstream, model: str, ending: str, code: str
) -> None:
    upstream.queue(BrokenReply(partial="half an answer", ending=ending, message="overloaded mid-stream"))  # type: ignore[arg-type]
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=10) as http:
        response = await http.post("/v1/chat/completions", json={"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200
    events = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert any('"half ' in e for e in events)
    assert "[DONE]" not in events
    assert not any('"finish_reason":"stop"' in e.replace(" ", "") for e in events)  # never a clean finish
    error = assert_openai_error(json.loads(events[-1]), code)
    if ending == "error":
        assert "overloaded mid-stream" in error["message"]
    if ending == "drop":  # it answered, then went away: not "unreachable"
        assert "closed the connection in the middle of the reply" in error["message"]


async def test_an_upstream_out_of_connections_is_a_503_upstream_busy_not_a_timeout(gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    # default/narrow's upstream allows one connection; a hanging stream holds it.
    upstream.queue(HangReply(partial="holding the only connection"), model="narrow-model")
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=10) as http:
        body = {"model": "default/narrow", "messages": [{"role": "user", "content": "hi"}]}
        async with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as holding:
            received, parts = b"", holding.aiter_bytes()  # not `break`: leaving the loop would close the stream
            while b"holding" not in received:
                received += await anext(parts)
            busy = await http.post("/v1/chat/completions", json=body)
    assert busy.status_code == 503 and busy.headers.get("retry-after") == "1"
    error = assert_openai_error(busy.json(), "upstream_busy")
    assert "'narrow'" in error["message"]
    # The client's one retry waited for a connection too, and said so, naming the upstream only.
    log = gateway.log_text()
    assert '"msg": "retrying upstream request", "upstream": "narrow", "retry": "1"' in log


@pytest.mark.parametrize("stream", [False, True])
async def test_a_failed_attempt_is_retried_logged_and_answered(gateway: GatewayProcess, upstream: FakeUpstream, stream: bool) -> None:
    # default/narrow's upstream allows one retry: the 503 is tried again, and the retry is logged.
    upstream.queue(ErrorReply(503, "try again"), TextReply("second time lucky"), model="narrow-model")
    async with httpx.AsyncClient(base_url=gateway.http_url, headers=ADMIN_HEADERS, timeout=10) as http:
        body = {"model": "default/narrow", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200 and "lucky" in response.text
    attempts = [r for r in upstream.chat_requests if r.model == "narrow-model"]
    assert [r.headers.get("x-stainless-retry-count") for r in attempts] == ["0", "1"]
    assert '"msg": "retrying upstream request", "upstream": "narrow", "retry": "1"' in gateway.log_text()
