"""Turn what an agent run can raise into ``GatewayError`` (the error table of docs/api.md, "Errors").

Upstream failures are 502-class (reason ``UPSTREAM_*``), timeouts 504-class, agent
misbehaviour 500-class. Messages never carry keys, URLs with credentials or tracebacks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import TypeVar

import aiohttp
import httpx2
import openai
import pydantic
from agents.exceptions import (
    InputGuardrailTripwireTriggered,
    MaxTurnsExceeded,
    ModelBehaviorError,
    ModelTimeoutError,
    OutputGuardrailTripwireTriggered,
    ToolInputGuardrailTripwireTriggered,
    ToolOutputGuardrailTripwireTriggered,
    ToolTimeoutError,
)

from services.errors import GatewayError
from services.executor.upstream_time import current_upstream_clock
from services.log import get_logger
from services.metrics import Outcomes, upstream_metrics
from services.upstream_http import PoolExhausted

__all__ = [
    "as_gateway_error",
    "bad_response",
    "cut_stream",
    "guardrail_error",
    "no_choices",
    "upstream_call",
    "upstream_error",
    "upstream_reported",
    "upstream_status",
    "upstream_stream",
]

T = TypeVar("T")

log = get_logger("executor")


def guardrail_error(name: str, kind: str) -> GatewayError:
    return GatewayError(
        "INVALID_ARGUMENT",
        "GUARDRAIL_TRIGGERED",
        f"the {kind} guardrail {name!r} was triggered",
        {"guardrail": name, "kind": kind},
    )


def as_gateway_error(exc: BaseException, model_id: str, upstream: str = "") -> GatewayError:
    """What a run raised, as the documented error. ``upstream`` (the configured name of the
    agent's upstream) is named in upstream failures."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, InputGuardrailTripwireTriggered):
        return guardrail_error(exc.guardrail_result.guardrail.get_name(), "input")
    if isinstance(exc, OutputGuardrailTripwireTriggered):
        return guardrail_error(exc.guardrail_result.guardrail.get_name(), "output")
    if isinstance(exc, ToolInputGuardrailTripwireTriggered):
        return guardrail_error(exc.guardrail.get_name(), "tool_input")
    if isinstance(exc, ToolOutputGuardrailTripwireTriggered):
        return guardrail_error(exc.guardrail.get_name(), "tool_output")
    if isinstance(exc, ToolTimeoutError):  # a function tool's own ``timeout`` with timeout_behavior="raise_exception"
        return GatewayError("DEADLINE_EXCEEDED", "TOOL_TIMEOUT", f"the tool {exc.tool_name!r} of {model_id!r} timed out")
    if isinstance(exc, MaxTurnsExceeded):
        return GatewayError("INTERNAL", "MAX_TURNS_EXCEEDED", f"agent {model_id!r} exceeded its maximum number of turns")
    if isinstance(exc, TimeoutError | ModelTimeoutError | openai.APIError):
        return upstream_error(exc, model_id, upstream)
    if isinstance(exc, ModelBehaviorError):
        # As every other unusable reply (bad_response): the upstream's fault, 502 / UNAVAILABLE.
        return bad_response(model_id, upstream, "its reply does not fit the agent (output that breaks its output type, or a call to a tool it does not have)")
    log.error("agent run failed", exc_info=exc, extra={"fields": {"model": model_id, "error_type": type(exc).__name__}})
    return GatewayError("INTERNAL", "AGENT_ERROR", f"agent {model_id!r} failed while running ({type(exc).__name__})")


def _where(upstream: str) -> str:
    return f"upstream {upstream!r}" if upstream else "the upstream"


def _meta(upstream: str) -> dict[str, str]:
    return {"upstream": upstream} if upstream else {}


def upstream_error(exc: BaseException, model_id: str, upstream: str, *, mid_stream: bool = False) -> GatewayError:
    """A failed call to ``upstream`` (timeout, connection, HTTP status, an error the upstream
    sent, a body that is not a completion) as the gateway's ``UPSTREAM_*`` error. ``exc`` is
    what the openai client raised, or the aiohttp error of the passthrough's pool (chat_http.py)."""
    where, meta = _where(upstream), _meta(upstream)
    # The openai client wraps transport failures; look at the httpx2 error underneath.
    transport = exc.__cause__ if isinstance(exc, openai.APIConnectionError) and isinstance(exc.__cause__, httpx2.HTTPError) else exc
    if isinstance(transport, httpx2.PoolTimeout | PoolExhausted):
        # Not the upstream being slow: every connection to it is taken (upstreams.yaml max_connections).
        return GatewayError("UNAVAILABLE", "UPSTREAM_BUSY", f"{where} has no free connection for {model_id!r} (all its connections are in use)", meta, 1.0)
    if isinstance(exc, TimeoutError | openai.APITimeoutError | ModelTimeoutError | httpx2.TimeoutException):
        return GatewayError("DEADLINE_EXCEEDED", "UPSTREAM_TIMEOUT", f"{where} timed out serving {model_id!r}", meta)
    if isinstance(exc, openai.APIConnectionError | httpx2.HTTPError | aiohttp.ClientError):
        if mid_stream or _dropped(transport):
            # It answered (or accepted the request), then the connection dropped: not "unreachable".
            return GatewayError("UNAVAILABLE", "UPSTREAM_ERROR", f"{where} closed the connection in the middle of the reply for {model_id!r}", meta)
        return GatewayError("UNAVAILABLE", "UPSTREAM_UNREACHABLE", f"{where} is unreachable (serving {model_id!r})", meta)
    if isinstance(exc, openai.APIStatusError):
        return upstream_status(exc.status_code, exc.response.headers.get("retry-after"), exc.body, model_id, upstream)
    if isinstance(exc, openai.APIError):  # an error the upstream sent in a 200 (a stream event)
        return upstream_reported(_upstream_message(exc), model_id, upstream)
    return bad_response(model_id, upstream, "its response is not a chat completion")


def _dropped(transport: BaseException) -> bool:
    """The upstream accepted the connection (or answered), then it broke."""
    if isinstance(transport, aiohttp.ClientConnectorError):  # never connected
        return False
    return isinstance(
        transport, httpx2.RemoteProtocolError | httpx2.ReadError | aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientOSError
    )


def upstream_reported(message: str, model_id: str, upstream: str) -> GatewayError:
    """An error the upstream itself reported in a 200 (an ``{"error": ...}`` body or stream
    event): its own words, shortened, since they are what the client can act on."""
    return GatewayError("UNAVAILABLE", "UPSTREAM_ERROR", f"{_where(upstream)} failed serving {model_id!r}: {message[:300]}", _meta(upstream))


def no_choices(response: object, model_id: str, upstream: str) -> GatewayError:
    """A 200 completion without choices: an ``{"error": ...}`` body (some servers answer errors
    so; the openai client keeps the unknown field), or junk."""
    error = response.get("error") if isinstance(response, dict) else getattr(response, "error", None)
    if isinstance(error, dict):
        return upstream_reported(str(error.get("message") or "no message"), model_id, upstream)
    return bad_response(model_id, upstream, "its response has no choices")


def cut_stream(model_id: str, upstream: str) -> GatewayError:
    """A stream that ended without saying why it stopped (no finish reason, no terminal event):
    cut short, never to be passed off as a complete answer."""
    return bad_response(model_id, upstream, "its stream ended before the reply was complete")


def bad_response(model_id: str, upstream: str, what: str) -> GatewayError:
    return GatewayError("UNAVAILABLE", "UPSTREAM_BAD_RESPONSE", f"{_where(upstream)} answered unusably for {model_id!r}: {what}", _meta(upstream))


def upstream_status(status: int, retry_after: str | None, body: object, model_id: str, upstream: str) -> GatewayError:
    """An HTTP error status from ``upstream``, with its body if it had one."""
    where, meta = _where(upstream), {**_meta(upstream), "upstream_status": str(status)}
    if status == 400:
        # The upstream rejected what the client asked for (e.g. context too long): the
        # client can act on the upstream's own words.
        return GatewayError("INVALID_ARGUMENT", "UPSTREAM_BAD_REQUEST", f"the upstream rejected the request: {_message_of(body, status)}", meta)
    if status == 429:
        retry_s = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
        return GatewayError("UNAVAILABLE", "UPSTREAM_RATE_LIMITED", f"{where} is rate limiting requests for {model_id!r}", meta, retry_s)
    # A 5xx body may carry the upstream's internals: only the status is shown.
    return GatewayError("UNAVAILABLE", "UPSTREAM_ERROR", f"{where} failed serving {model_id!r} (HTTP {status})", meta)


def _message_of(body: object, status: int) -> str:
    return _message_in(body) or f"HTTP {status}"


def _message_in(body: object) -> str | None:
    """The ``message`` of an OpenAI error body (``{"error": {"message": ...}}``, or the inner
    object the openai client keeps), shortened."""
    if isinstance(body, dict):
        inner = body.get("error")
        message = body.get("message") or (inner.get("message") if isinstance(inner, dict) else None)
        if isinstance(message, str):
            return message[:300]
    return None


def _upstream_message(exc: openai.APIError) -> str:
    """What the upstream said: its error body's message, else the openai client's message."""
    message = _message_in(exc.body)
    if message is not None:
        return message
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    return exc.message[:300] if exc.message else "no message"


async def upstream_call(call: Awaitable[T], model_id: str, upstream: str, *, opens_stream: bool = False) -> T:
    """Await one upstream call; whatever the openai client raises (HTTP status, connection,
    timeout, a 200 body that is not JSON or not a completion) becomes ``upstream_error``.
    Its time counts as upstream time (services/executor/upstream_time.py) and is the upstream's
    request latency; the call is counted by outcome — a call that ``opens_stream`` only if it
    fails: ``upstream_stream`` counts it when the stream ends."""
    metrics = upstream_metrics(upstream)
    clock = current_upstream_clock()
    started = time.perf_counter()
    try:
        result = await call
    except GatewayError as error:  # the lean client's own mapping (chat_http.py)
        _failed(metrics, error, model_id, upstream)
        raise
    except (openai.APIError, ValueError, pydantic.ValidationError) as exc:  # JSONDecodeError is a ValueError
        mapped = upstream_error(exc, model_id, upstream)
        _failed(metrics, mapped, model_id, upstream)
        raise mapped from None
    except asyncio.CancelledError:
        metrics.count("cancelled")
        raise
    finally:
        elapsed = time.perf_counter() - started
        metrics.seconds.observe(elapsed)
        if clock is not None:
            clock.seconds += elapsed
    if not opens_stream:
        metrics.count("ok")
    return result


async def upstream_stream(stream: AsyncIterator[T], model_id: str, upstream: str) -> AsyncGenerator[T, None]:
    """The chunks of an upstream stream (the openai client's, or the lean client's SSE data);
    a failure while reading (an ``error`` event, a broken connection, a chunk that does not
    parse) becomes ``upstream_error``. Waiting for each chunk counts as upstream time. The
    request is counted when the stream ends: ``ok`` (also when its reader stops early),
    ``cancelled``, or the error's reason."""
    received = False
    clock = current_upstream_clock()
    metrics = upstream_metrics(upstream)
    outcome = "ok"
    try:
        while True:
            started = time.perf_counter()  # inline: this runs once per chunk
            try:
                chunk = await anext(stream)
            except StopAsyncIteration:
                return
            except (openai.APIError, httpx2.HTTPError, aiohttp.ClientError, ValueError, pydantic.ValidationError) as exc:
                mapped = upstream_error(exc, model_id, upstream, mid_stream=received)
                outcome = ""  # counted by _failed
                _failed(metrics, mapped, model_id, upstream)
                raise mapped from None
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            finally:
                if clock is not None:
                    clock.seconds += time.perf_counter() - started
            received = True
            try:
                yield chunk
            except GatewayError as error:  # thrown in by a reader that found the chunk unusable (chat_http.py)
                outcome = ""
                _failed(metrics, error, model_id, upstream)
                raise
    finally:
        if outcome:
            metrics.count(outcome)


def _failed(metrics: Outcomes, error: GatewayError, model_id: str, upstream: str) -> None:
    reason = error.reason.lower()
    metrics.count(reason)
    # The upstream's configured name and the reason only: its URL may carry credentials.
    fields = {"upstream": upstream, "model": model_id, "reason": reason}
    if "upstream_status" in error.metadata:
        fields["upstream_status"] = error.metadata["upstream_status"]
    log.log(logging.INFO if error.status == "INVALID_ARGUMENT" else logging.WARNING, "upstream request failed", extra={"fields": fields})
