"""Chat Completions over plain HTTP, for the declarative passthrough.

Declarative agents forward OpenAI chat requests to an OpenAI-compatible upstream and read
back completions and chunks as JSON. The ``openai`` client builds typed request and response
models for every call and chunk, over httpx2; here the body is one orjson encode and the
reply one orjson decode into dicts, over the upstream's aiohttp pool (``Upstream.lean``,
services/upstream_http.py, which says why it is not httpx2).

Its time counts as upstream time for ``x-gateway-overhead-ms`` (upstream_time.py), and its
requests in the upstream metrics, as the other client's do (failures.py). What the
openai client did and this keeps: the retry policy (``max_retries`` more attempts on
timeouts, connection errors, a full pool, 408, 409, 429 and 5xx, with its backoff and
``Retry-After``), the attempt number in ``x-stainless-retry-count``, each retry logged and
counted as the other client's are, and failures mapped to the gateway's upstream errors
(services/executor/failures.py), in-band once a stream has started.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from typing import Any

import aiohttp
from yarl import URL

from services import json_wire, request_ids
from services.errors import GatewayError
from services.executor.failures import bad_response, no_choices, upstream_call, upstream_error, upstream_reported, upstream_status, upstream_stream
from services.upstream_http import PoolExhausted
from services.upstreams import Upstream, log_retry

__all__ = ["ChatHTTP"]

_RETRY_STATUSES = frozenset({408, 409, 429})
# Worth another attempt: the connection failed or dropped, a timeout, or no free connection.
_RETRY_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError, PoolExhausted)
_FAILURES = (aiohttp.ClientError, TimeoutError, PoolExhausted)
_MAX_BACKOFF_S = 8.0


class ChatHTTP:
    """``POST {base_url}/chat/completions`` for one agent's requests to one upstream."""

    def __init__(self, upstream: Upstream, model_id: str) -> None:
        self._upstream = upstream
        self._model_id = model_id
        # Parsed once here, not by aiohttp on every request.
        self._url = URL(upstream.config.base_url.rstrip("/") + "/chat/completions")
        self._path = self._url.path
        self._headers = {**upstream.auth_headers, "content-type": "application/json"}
        request_id = request_ids.current()
        if request_id:
            self._headers[request_ids.HEADER] = request_id  # the upstream's logs can be matched with ours

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """A non-streamed completion, as a dict with choices."""
        raw = await upstream_call(self._read(body), self._model_id, self._upstream.name)
        try:
            completion = json_wire.loads(raw)
        except json_wire.JSONDecodeError:
            raise bad_response(self._model_id, self._upstream.name, "its response is not JSON") from None
        if not isinstance(completion, dict) or not completion.get("choices"):
            raise no_choices(completion, self._model_id, self._upstream.name)
        return completion

    async def _read(self, body: dict[str, Any]) -> bytes:
        async with self._response(body, stream=False) as response:
            try:
                return await response.read()
            except _FAILURES as exc:
                raise upstream_error(exc, self._model_id, self._upstream.name, mid_stream=True) from None

    async def chunks(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The chunks of a streamed completion, as dicts, until ``[DONE]`` or the end of the
        body (the caller judges whether the reply was complete: it has a finish reason)."""
        async with AsyncExitStack() as held:
            response = await upstream_call(held.enter_async_context(self._response(body, stream=True)), self._model_id, self._upstream.name, opens_stream=True)
            # upstream_stream times each wait, maps a broken connection to the upstream error and
            # counts the request when it ends (closed here at [DONE] too, not when collected).
            data_events = await held.enter_async_context(aclosing(upstream_stream(_sse_data(response.content), self._model_id, self._upstream.name)))
            async for data in data_events:
                if data == b"[DONE]":
                    return
                try:
                    chunk = self._chunk(data)
                except GatewayError as error:
                    await data_events.athrow(error)  # ends the stream there: counted as this failure
                    raise
                yield chunk

    def _chunk(self, data: bytes) -> dict[str, Any]:
        """One SSE event's data as a chunk; an upstream error for junk or an in-band error."""
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
        return chunk

    @asynccontextmanager
    async def _response(self, body: dict[str, Any], *, stream: bool) -> AsyncIterator[aiohttp.ClientResponse]:
        """One successful response, retried as the openai client would; an error status or a
        failure on the last attempt is raised as the gateway's upstream error."""
        content = json_wire.dumps({**body, "stream": True} if stream else body)
        retries = self._upstream.config.max_retries
        for attempt in range(retries + 1):
            if attempt:
                log_retry(self._upstream.name, attempt, self._path)
            headers = {**self._headers, "x-stainless-retry-count": str(attempt)}
            async with AsyncExitStack() as held:
                try:
                    response = await held.enter_async_context(self._upstream.lean.post(self._url, content, headers))
                    error_body = await response.read() if response.status >= 400 else b""
                except _FAILURES as exc:
                    if attempt == retries or not isinstance(exc, _RETRY_ERRORS):
                        raise upstream_error(exc, self._model_id, self._upstream.name) from None
                    wait = _backoff(attempt, None)
                else:
                    if response.status < 400:
                        # Outside the try: a failure while the caller reads is not retried here.
                        yield response
                        return
                    retry_after = response.headers.get("retry-after")
                    if attempt == retries or not (response.status in _RETRY_STATUSES or response.status >= 500):
                        raise self._status_error(response.status, retry_after, error_body)
                    wait = _backoff(attempt, retry_after)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _status_error(self, status: int, retry_after: str | None, raw: bytes) -> GatewayError:
        try:
            body: object = json_wire.loads(raw) if raw else None
        except json_wire.JSONDecodeError:
            body = None
        return upstream_status(status, retry_after, body, self._model_id, self._upstream.name)


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


async def _sse_data(body: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The ``data`` of each server-sent event (several ``data:`` lines of one event joined by
    newlines, as the SSE spec says); comments, ``event:`` and ``id:`` lines are skipped.
    Lines end in LF, CRLF or CR; a line cut between two reads waits for the rest (so does one
    ending in CR, which may be half a CRLF)."""
    pending: list[bytes] = []
    partial = b""
    async for piece in body.iter_any():
        lines = (partial + piece).splitlines(keepends=True)
        partial = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        for line in lines:
            if (event := _sse_line(line.rstrip(b"\r\n"), pending)) is not None:
                yield event
    for line in partial.splitlines():
        if (event := _sse_line(line, pending)) is not None:
            yield event
    if pending:
        yield b"\n".join(pending)


def _sse_line(line: bytes, pending: list[bytes]) -> bytes | None:
    """Take one line: a ``data:`` line joins ``pending``; a blank line ends the event."""
    if line.startswith(b"data:"):
        pending.append(line[6:] if line.startswith(b"data: ") else line[5:])
    elif not line and pending:
        event = b"\n".join(pending)
        pending.clear()
        return event
    return None
