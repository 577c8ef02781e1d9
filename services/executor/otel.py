"""The SDK's spans as OpenTelemetry spans, exported over OTLP/HTTP (the ``[otel]`` extra).

``GATEWAY_OTEL_ENDPOINT`` is the collector's base URL (as ``OTEL_EXPORTER_OTLP_ENDPOINT``:
spans go to ``<endpoint>/v1/traces``); the exporter's own ``OTEL_*`` variables (headers,
timeouts, ``OTEL_BSP_*`` batching) apply as usual. Each SDK trace becomes a root span named
after its workflow, carrying the gateway's request id and model; each SDK span a child of its
SDK parent, named by kind (``agent Weather``, ``function get_weather``, ``generation``...),
with its fields as ``agentgateway.sdk.*`` attributes (as the trace processor filtered them: inputs and outputs
only with ``GATEWAY_TRACE_INCLUDE_SENSITIVE_DATA=1``) and token usage as ``gen_ai.usage.*``.

The gateway's own tracer provider, not the global one: agent code that sets up OpenTelemetry
for itself is left alone. A batch processor exports from its own thread.
"""

from __future__ import annotations

import json
from typing import Any

from agents import Span, Trace
from opentelemetry import trace as otel
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from services import request_ids
from services.executor.request_info import current_request_info

__all__ = ["OtelExport"]

_Attribute = str | bool | int | float | list[str]


class OtelExport:
    def __init__(self, endpoint: str, exporter: SpanExporter | None = None) -> None:
        """``exporter``: another than OTLP/HTTP to ``endpoint`` (an in-memory one, say)."""
        self._provider = TracerProvider(resource=Resource.create({"service.name": "agent-gateway"}))
        self._provider.add_span_processor(BatchSpanProcessor(exporter or OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")))
        self._tracer = self._provider.get_tracer("agentgateway")
        # SDK trace or span id -> the open OpenTelemetry span (removed when it ends).
        self._open: dict[str, otel.Span] = {}

    def trace_started(self, trace: Trace) -> None:
        attributes: dict[str, _Attribute] = {"agentgateway.sdk.trace_id": trace.trace_id}
        request_id = request_ids.current()
        if request_id:
            attributes["agentgateway.request_id"] = request_id
        info = current_request_info()
        if info is not None:
            attributes["agentgateway.model"] = info.model_id
        self._open[trace.trace_id] = self._tracer.start_span(trace.name or "agent run", attributes=attributes)

    def trace_ended(self, trace: Trace) -> None:
        root = self._open.pop(trace.trace_id, None)
        if root is not None:
            root.end()

    def span_started(self, span: Span[Any]) -> None:
        parent = self._open.get(span.parent_id or "") or self._open.get(span.trace_id)
        context = otel.set_span_in_context(parent) if parent is not None else None
        data = span.span_data
        name = " ".join(str(part) for part in (data.type, getattr(data, "name", None)) if part)
        self._open[span.span_id] = self._tracer.start_span(name, context=context, attributes={"agentgateway.sdk.span_id": span.span_id})

    def span_ended(self, span: Span[Any], kind: str, fields: dict[str, Any]) -> None:
        opened = self._open.pop(span.span_id, None)
        if opened is None:
            return
        opened.set_attribute("agentgateway.sdk.kind", kind)
        for key, value in fields.items():
            if key == "usage" and isinstance(value, dict):
                for token, gen_ai in (
                    ("input_tokens", "input_tokens"),
                    ("output_tokens", "output_tokens"),
                    ("prompt_tokens", "input_tokens"),
                    ("completion_tokens", "output_tokens"),
                ):
                    if isinstance(value.get(token), int):
                        opened.set_attribute(f"gen_ai.usage.{gen_ai}", value[token])
            elif key == "model" and isinstance(value, str):
                opened.set_attribute("gen_ai.request.model", value)
            opened.set_attribute(f"agentgateway.sdk.{key}", _attribute(value))
        if "error" in fields:
            opened.set_status(otel.Status(otel.StatusCode.ERROR, str(fields["error"])))
        opened.end()

    def shutdown(self) -> None:
        self._provider.shutdown()

    def force_flush(self) -> None:
        self._provider.force_flush()


def _attribute(value: Any) -> _Attribute:
    """OpenTelemetry takes scalars and lists of them: anything else as JSON text."""
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return json.dumps(value, default=str)
