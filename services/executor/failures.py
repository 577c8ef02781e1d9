"""Turn what an agent run can raise into ``GatewayError`` (the error table of docs/api.md, "Errors").

Upstream failures are 502-class (reason ``UPSTREAM_*``), timeouts 504-class, agent
misbehaviour 500-class. Messages never carry keys, URLs with credentials or tracebacks.
"""

from __future__ import annotations

import openai
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
from services.log import get_logger

__all__ = ["as_gateway_error", "guardrail_error"]

log = get_logger("executor")


def guardrail_error(name: str, kind: str) -> GatewayError:
    return GatewayError(
        "INVALID_ARGUMENT",
        "GUARDRAIL_TRIGGERED",
        f"the {kind} guardrail {name!r} was triggered",
        {"guardrail": name, "kind": kind},
    )


def as_gateway_error(exc: BaseException, model_id: str) -> GatewayError:
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
    if isinstance(exc, TimeoutError | openai.APITimeoutError | ModelTimeoutError):
        return GatewayError("DEADLINE_EXCEEDED", "UPSTREAM_TIMEOUT", f"the upstream model for {model_id!r} timed out")
    if isinstance(exc, openai.APIConnectionError):
        return GatewayError("UNAVAILABLE", "UPSTREAM_UNREACHABLE", f"the upstream model for {model_id!r} is unreachable")
    if isinstance(exc, openai.APIStatusError):
        return _upstream_status_error(exc, model_id)
    if isinstance(exc, ModelBehaviorError):
        return GatewayError("INTERNAL", "UPSTREAM_BAD_RESPONSE", f"the upstream model for {model_id!r} returned an unusable response")
    log.error("agent run failed", exc_info=exc, extra={"fields": {"model": model_id, "error_type": type(exc).__name__}})
    return GatewayError("INTERNAL", "AGENT_ERROR", f"agent {model_id!r} failed while running ({type(exc).__name__})")


def _upstream_status_error(exc: openai.APIStatusError, model_id: str) -> GatewayError:
    status = exc.status_code
    meta = {"upstream_status": str(status)}
    if status == 400:
        # The upstream rejected what the client asked for (e.g. context too long): the
        # client can act on the upstream's own words.
        return GatewayError("INVALID_ARGUMENT", "UPSTREAM_BAD_REQUEST", f"the upstream rejected the request: {_upstream_message(exc)}", meta)
    if status == 429:
        retry = exc.response.headers.get("retry-after")
        retry_s = float(retry) if retry and retry.replace(".", "", 1).isdigit() else None
        return GatewayError("UNAVAILABLE", "UPSTREAM_RATE_LIMITED", f"the upstream model for {model_id!r} is rate limited", meta, retry_s)
    return GatewayError("UNAVAILABLE", "UPSTREAM_ERROR", f"the upstream model for {model_id!r} failed (HTTP {status})", meta)


def _upstream_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if isinstance(message, str):
            return message[:300]
    return f"HTTP {exc.status_code}"
