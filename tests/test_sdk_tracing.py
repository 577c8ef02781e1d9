"""The gateway's trace processor on a real SDK run (in process, a scripted model): spans become
OpenTelemetry spans (an in-memory exporter), with inputs and outputs only when asked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from agents import Agent, Model, ModelProvider, ModelResponse, RunConfig, Runner, Usage, function_tool, set_trace_processors, set_tracing_disabled
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.executor.otel import OtelExport
from services.executor.tracing import GatewayTraceProcessor, install_tracing

pytestmark = pytest.mark.asyncio


@function_tool
def lookup(city: str) -> str:
    """The weather of a city."""
    return f"Hailstorms in {city}"


class Scripted(Model, ModelProvider):
    """Asks for the tool once, then answers."""

    def __init__(self) -> None:
        self.calls = 0

    def get_model(self, model_name: str | None) -> Model:
        return self

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        self.calls += 1
        if self.calls == 1:
            call = ResponseFunctionToolCall(id="fc_1", call_id="call_1", type="function_call", name="lookup", arguments='{"city": "Reykjavik"}')
            return ModelResponse(output=[call], usage=Usage(), response_id=None)
        text = ResponseOutputText(type="output_text", text="Take a coat.", annotations=[])
        return ModelResponse(
            output=[ResponseOutputMessage(id="m", type="message", role="assistant", status="completed", content=[text])], usage=Usage(), response_id=None
        )

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


@pytest.fixture
def no_processors() -> Iterator[None]:
    yield
    install_tracing(gateway=False, openai_export=False, include_sensitive=False)  # as the suite had it: no spans, no export


@pytest.mark.parametrize("sensitive", [False, True])
async def test_spans_reach_opentelemetry_with_inputs_and_outputs_only_when_asked(no_processors: None, sensitive: bool) -> None:
    exporter = InMemorySpanExporter()
    export = OtelExport("http://unused.invalid", exporter)
    set_trace_processors([GatewayTraceProcessor(sensitive, export)])
    set_tracing_disabled(False)
    agent = Agent(name="Forecaster", instructions="Use the tool.", tools=[lookup])
    config = RunConfig(model_provider=Scripted(), tracing_disabled=False, trace_include_sensitive_data=True, workflow_name="forecast")
    result = await Runner.run(agent, "Weather in Reykjavik?", run_config=config)
    assert result.final_output == "Take a coat."
    export.force_flush()

    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert {"forecast", "agent Forecaster", "function lookup"} <= set(spans)
    function = spans["function lookup"]
    assert function.parent is not None and function.context is not None
    assert {span.context.trace_id for span in spans.values() if span.context} == {function.context.trace_id}
    attributes = dict(function.attributes or {})
    assert attributes["agentgateway.sdk.kind"] == "function" and attributes["agentgateway.sdk.name"] == "lookup"
    # The SDK recorded the tool's input and output (the run asked it to): the processor decides.
    if sensitive:
        assert "Reykjavik" in str(attributes["agentgateway.sdk.input"]) and "Hailstorms" in str(attributes["agentgateway.sdk.output"])
    else:
        assert "agentgateway.sdk.input" not in attributes and "agentgateway.sdk.output" not in attributes
        assert "Reykjavik" not in str([dict(s.attributes or {}) for s in spans.values()])
