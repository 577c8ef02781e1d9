"""Chat Completions over plain HTTP, for the declarative passthrough.

Declarative agents forward OpenAI chat requests to an OpenAI-compatible upstream and read
back completions and chunks as JSON. The ``openai`` client builds typed request and response
models for every call and chunk (~0.6 ms of a ~2 ms request); here the body is one orjson
encode, the reply one orjson decode into dicts, over the upstream's shared connection pool
(``Upstream.http``, the one the openai client of SDK agents uses too).

Its time counts as upstream time for ``x-gateway-overhead-ms`` (upstream_time.py). What the
openai client did and this keeps: the retry policy (``max_retries`` more attempts on
timeouts, connection errors, 408, 409, 429 and 5xx, with its backoff and ``Retry-After``), the
attempt number in ``x-stainless-retry-count`` (so the one retry hook logs both clients), and
failures mapped to the gateway's upstream errors (services/executor/failures.py), in-band once
a stream has started.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx2

from services import json_wire
from services.errors import GatewayError
from services.executor.failures import bad_response, no_choices, upstream_error, upstream_reported, upstream_status, upstream_stream
from services.executor.upstream_time import current_upstream_clock, timed
from services.upstreams import Upstream

__all__ = ["ChatHTTP"]

_RETRY_STATUSES = frozenset({408, 409, 429})
_MAX_BACKOFF_S = 8.0


class ChatHTTP:
    """``POST {base_url}/chat/completions`` for one agent's requests to one upstream."""

    def __init__(self, upstream: Upstream, model_id: str) -> None:
        self._upstream = upstream
        self._model_id = model_id
        self._url = upstream.config.base_url.rstrip("/") + "/chat/completions"

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """A non-streamed completion, as a dict with choices."""
        response = await timed(self._send(body, stream=False), current_upstream_clock())
        try:
            completion = json_wire.loads(response.content)
        except json_wire.JSONDecodeError:
            raise bad_response(self._model_id, self._upstream.name, "its response is not JSON") from None
        if not isinstance(completion, dict) or not completion.get("choices"):
            raise no_choices(completion, self._model_id, self._upstream.name)
        return completion

    async def chunks(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The chunks of a streamed completion, as dicts, until ``[DONE]`` or the end of the
        body (the caller judges whether the reply was complete: it has a finish reason)."""
        response = await timed(self._send(body, stream=True), current_upstream_clock())
        try:
            # upstream_stream times each wait and maps a broken connection to the upstream error.
            async for data in upstream_stream(_sse_data(response), self._model_id, self._upstream.name):
                if data == "[DONE]":
                    return
                try:
                    chunk = json_wire.loads(data)
                except json_wire.JSONDecodeError:
                    raise bad_response(self._model_id, self._upstream.name, "a chunk of its stream is not JSON") from None
                if not isinstance(chunk, dict):
                    raise bad_response(self._model_id, self._upstream.name, "a chunk of its stream is not a JSON object")
                error = chunk.get("error")
                if error is not None and not chunk.get("choices"):  # `data: {"error": ...}` mid-stream
                    message = error.get("message") if isinstance(error, dict) else error
                    raise upstream_reported(str(message or "no message"), self._model_id, self._upstream.name)
                yield chunk
        finally:
            await response.aclose()

    async def _send(self, body: dict[str, Any], *, stream: bool) -> httpx2.Response:
        """One request, retried as the openai client would; an error status is raised."""
        content = json_wire.dumps({**body, "stream": True} if stream else body)
        retries = self._upstream.config.max_retries
        for attempt in range(retries + 1):
            headers = {**self._upstream.auth_headers, "content-type": "application/json", "x-stainless-retry-count": str(attempt)}
            request = self._upstream.http.build_request("POST", self._url, content=content, headers=headers)
            try:
                response = await self._upstream.http.send(request, stream=stream)
            except httpx2.HTTPError as exc:
                if attempt < retries and isinstance(exc, httpx2.TimeoutException | httpx2.NetworkError | httpx2.RemoteProtocolError):
                    await asyncio.sleep(_backoff(attempt, None))
                    continue
                raise upstream_error(exc, self._model_id, self._upstream.name) from None
            if response.status_code < 400:
                return response
            await response.aread()
            await response.aclose()
            if attempt < retries and (response.status_code in _RETRY_STATUSES or response.status_code >= 500):
                await asyncio.sleep(_backoff(attempt, response.headers.get("retry-after")))
                continue
            raise self._status_error(response)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _status_error(self, response: httpx2.Response) -> GatewayError:
        try:
            body: object = json_wire.loads(response.content) if response.content else None
        except json_wire.JSONDecodeError:
            body = None
        return upstream_status(response.status_code, response.headers.get("retry-after"), body, self._model_id, self._upstream.name)


def _backoff(attempt: int, retry_after: str | None) -> float:
    """The openai client's wait before a retry: the upstream's ``Retry-After`` when it is
    reasonable, else 0.5 s doubling per attempt up to 8 s, less up to a quarter of jitter."""
    if retry_after is not None:
        try:
            seconds = float(retry_after)
        except ValueError:
            seconds = -1.0
        if 0 <= seconds <= 60:
            return seconds
    backoff: float = min(0.5 * 2.0**attempt, _MAX_BACKOFF_S)
    return backoff * (1 - 0.25 * random.random())  # jitter, not security


async def _sse_data(response: httpx2.Response) -> AsyncIterator[str]:
    """The ``data`` of each server-sent event (several ``data:`` lines of one event joined by
    newlines, as the SSE spec says); comments, ``event:`` and ``id:`` lines are skipped."""
    pending: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            pending.append(line[6:] if line.startswith("data: ") else line[5:])
        elif not line and pending:
            yield "\n".join(pending)
            pending = []
    if pending:
        yield "\n".join(pending)
