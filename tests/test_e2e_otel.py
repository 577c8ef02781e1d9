"""GATEWAY_OTEL_ENDPOINT: an SDK agent's run reaches an OTLP/HTTP collector as OpenTelemetry
spans — a real gateway process, its real OTLP exporter, and a collector stand-in (an HTTP
server that decodes what it is sent)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import ADMIN_KEY, GATEWAY_ENV, write_config
from tests.fake_upstream import FakeUpstream, TextReply, ToolCall, ToolCallReply
from tests.gateway_process import GatewayProcess, make_agents_dir

pytestmark = pytest.mark.asyncio


class Collector:
    """Accepts OTLP/HTTP protobuf exports at /v1/traces and keeps the spans."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.paths: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                collector.paths.append(self.path)
                collector.spans += [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    stand_in = Collector()
    yield stand_in
    stand_in.close()


def _attributes(span: Any) -> dict[str, Any]:
    found = {}
    for kv in span.attributes:
        value = kv.value
        found[kv.key] = getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None
    return found


async def test_an_sdk_run_is_exported_as_spans_under_one_root_with_the_request_id(upstream: FakeUpstream, collector: Collector, tmp_path: Path) -> None:
    env = {**GATEWAY_ENV, "GATEWAY_OTEL_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    gateway = GatewayProcess(make_agents_dir(tmp_path / "agents"), write_config(tmp_path / "config", upstream), tmp_path / "gw.log", env_extra=env).start()
    try:
        upstream.queue(ToolCallReply([ToolCall("get_weather", {"city": "Lisbon"})]), TextReply("Zephyrine skies."))
        async with AsyncOpenAI(base_url=gateway.openai_base_url, api_key=ADMIN_KEY, max_retries=0) as client:
            reply = await client.chat.completions.create(
                model="default/weather",
                messages=[{"role": "user", "content": "Quokka question: weather in Lisbon?"}],
                extra_headers={"x-request-id": "otel-req-1"},
            )
        assert reply.choices[0].message.content == "Zephyrine skies."
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(s.name == "function get_weather" for s in collector.spans):  # noqa: ASYNC110 - another process exports
            await asyncio.sleep(0.1)
    finally:
        assert gateway.terminate() == 0

    assert set(collector.paths) == {"/v1/traces"}
    by_id = {span.span_id: span for span in collector.spans}
    function = next(s for s in collector.spans if s.name == "function get_weather")
    generations = [s for s in collector.spans if s.name == "generation"]
    assert len(generations) == 2 and all(_attributes(g)["gen_ai.request.model"] == "fake-model" for g in generations)
    assert _attributes(generations[0])["gen_ai.usage.output_tokens"] > 0

    # The function span's ancestors end at one root: the trace, with the gateway's request id.
    chain = [function]
    while chain[-1].parent_span_id:
        chain.append(by_id[chain[-1].parent_span_id])
    root = chain[-1]
    assert {s.trace_id for s in chain} == {root.trace_id}
    assert "agent Weather" in [s.name for s in chain]
    assert _attributes(root)["agentgateway.request_id"] == "otel-req-1"
    assert _attributes(root)["agentgateway.model"] == "default/weather"

    # No message, tool argument or tool result unless GATEWAY_TRACE_INCLUDE_SENSITIVE_DATA=1.
    exported = str([_attributes(s) for s in collector.spans])
    assert "Quokka" not in exported and "Zephyrine" not in exported and "Lisbon" not in exported
