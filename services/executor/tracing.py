"""The Agents SDK's traces, as the gateway's own telemetry.

The SDK records a run as a trace of spans (agent, generation/response, function, handoff,
guardrail, MCP tool listing, ...) and hands each to its registered trace processors. The
gateway registers ``GatewayTraceProcessor`` (``agents.set_trace_processors``) and turns every
span that ends into:

- metrics: ``agentgateway_sdk_spans_total{kind,status}`` and ``agentgateway_sdk_span_seconds{kind}``;
- a log line, ``sdk span`` (DEBUG; INFO when the span failed), which carries the request id
  like every line logged in the run (services/log.py);
- with ``GATEWAY_OTEL_ENDPOINT``, an OpenTelemetry span (services/executor/otel.py, the
  ``[otel]`` extra), parented as in the SDK's trace, under a root span for the trace.

Inputs and outputs (model messages, tool arguments and results) are sensitive: they are left
out of all three — and the SDK is asked not to record them — unless
``GATEWAY_TRACE_INCLUDE_SENSITIVE_DATA=1``. The SDK's own export to OpenAI stays off unless
``GATEWAY_OPENAI_TRACING=1`` (it would post every trace to api.openai.com).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from agents import Span, Trace, TracingProcessor, set_trace_processors, set_tracing_disabled
from agents.tracing.processors import default_processor

from services.log import get_logger
from services.metrics import sdk_span_metrics

__all__ = ["NO_TRACING", "GatewayTraceProcessor", "RunTracing", "SpanExport", "install_tracing", "span_fields"]

log = get_logger("executor")

# Span kinds the SDK has (span_data.type); anything else is counted as "other".
_KINDS = frozenset(
    {"agent", "task", "turn", "function", "generation", "response", "handoff", "custom", "guardrail", "transcription", "speech", "speech_group", "mcp_tools"}
)
# What a span may carry of the conversation itself (messages, tool arguments and results).
_SENSITIVE = frozenset({"input", "output"})


@dataclass(frozen=True, slots=True)
class RunTracing:
    """What a run's ``RunConfig`` says about tracing: whether it makes spans at all, and whether
    the SDK may record inputs and outputs in them."""

    enabled: bool = False
    include_sensitive: bool = False


NO_TRACING = RunTracing()


class SpanExport(Protocol):
    """Where spans go besides metrics and logs (OpenTelemetry)."""

    def trace_started(self, trace: Trace) -> None: ...
    def trace_ended(self, trace: Trace) -> None: ...
    def span_started(self, span: Span[Any]) -> None: ...
    def span_ended(self, span: Span[Any], kind: str, fields: dict[str, Any]) -> None: ...
    def shutdown(self) -> None: ...
    def force_flush(self) -> None: ...


def span_fields(span: Span[Any], include_sensitive: bool) -> dict[str, Any]:
    """A span's data without empty values and, unless asked, without its inputs and outputs."""
    data = span.span_data.export()
    if data.get("type") == "custom" and isinstance(data.get("data"), dict):  # task and turn spans nest theirs
        data = {**data, **data.pop("data")}
    return {k: v for k, v in data.items() if v not in (None, [], {}) and k != "type" and (include_sensitive or k not in _SENSITIVE)}


def _seconds(span: Span[Any]) -> float:
    if not span.started_at or not span.ended_at:
        return 0.0
    return max(0.0, (datetime.fromisoformat(span.ended_at) - datetime.fromisoformat(span.started_at)).total_seconds())


class GatewayTraceProcessor(TracingProcessor):
    """Spans -> metrics, log lines and (optionally) OpenTelemetry. Called synchronously by the
    SDK on the run's task: everything here is cheap (the OpenTelemetry exporter batches in a
    thread of its own)."""

    def __init__(self, include_sensitive: bool = False, export: SpanExport | None = None) -> None:
        self._include_sensitive = include_sensitive
        self._export = export

    def on_trace_start(self, trace: Trace) -> None:
        if self._export is not None:
            self._export.trace_started(trace)

    def on_trace_end(self, trace: Trace) -> None:
        if self._export is not None:
            self._export.trace_ended(trace)

    def on_span_start(self, span: Span[Any]) -> None:
        if self._export is not None:
            self._export.span_started(span)

    def on_span_end(self, span: Span[Any]) -> None:
        kind = span.span_data.type
        kind = kind if kind in _KINDS else "other"
        error = span.error
        seconds = _seconds(span)
        sdk_span_metrics(kind).observe("error" if error else "ok", seconds)
        level = logging.INFO if error else logging.DEBUG
        wanted = log.isEnabledFor(level)
        if not wanted and self._export is None:
            return  # the fields are built only for someone who reads them
        fields = span_fields(span, self._include_sensitive)
        if error:
            # The message says what failed; its data may quote the conversation.
            fields["error"] = str(error.get("message", ""))[:300]
            if self._include_sensitive and error.get("data"):
                fields["error_data"] = error.get("data")
        if wanted:
            log.log(
                level,
                "sdk span",
                extra={
                    "fields": {
                        "kind": kind,
                        "trace_id": span.trace_id,
                        "span_id": span.span_id,
                        "parent_id": span.parent_id,
                        "duration_ms": round(seconds * 1000, 2),
                        "status": "error" if error else "ok",
                        "span": fields,
                    }
                },
            )
        if self._export is not None:
            self._export.span_ended(span, kind, fields)

    def shutdown(self) -> None:
        if self._export is not None:
            self._export.shutdown()

    def force_flush(self) -> None:
        if self._export is not None:
            self._export.force_flush()


def install_tracing(*, gateway: bool, openai_export: bool, include_sensitive: bool, otel_endpoint: str = "") -> GatewayTraceProcessor | None:
    """Replace the SDK's trace processors with the gateway's (``gateway``) and, if asked, the
    SDK's own OpenAI exporter; with neither, tracing is off (runs create no spans at all).
    Returns the gateway's processor (to shut down at exit) or None."""
    processors: list[TracingProcessor] = []
    if openai_export:
        processors.append(default_processor())
    ours = None
    if gateway:
        export: SpanExport | None = None
        if otel_endpoint:
            from services.executor.otel import OtelExport  # the [otel] extra: imported only when configured

            export = OtelExport(otel_endpoint)
        ours = GatewayTraceProcessor(include_sensitive, export)
        processors.append(ours)
    set_trace_processors(processors)
    set_tracing_disabled(not processors)
    return ours
