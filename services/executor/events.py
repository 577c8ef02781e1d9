"""What an agent run produces, as plain dataclasses (no transport types).

The executor yields these in order; the servicer encodes them as ``AgentEvent`` protos.
Errors are not events: they are raised as ``GatewayError`` and end the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ChatInput",
    "Event",
    "FinalOutput",
    "FinishReason",
    "GuardrailTripped",
    "Handoff",
    "TextDelta",
    "ToolCallDelta",
    "ToolCalled",
    "ToolOutput",
    "ToolSource",
    "UsageReport",
]

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]
ToolSource = Literal["sdk", "gateway", "mcp"]


@dataclass
class ChatInput:
    """A chat request in OpenAI's own vocabulary (the lingua franca of upstreams and the SDK)."""

    model: str
    messages: list[dict[str, Any]]
    # OpenAI sampling parameter names -> values; only the ones the client set.
    sampling: dict[str, Any] = field(default_factory=dict)
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    user: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    include_usage: bool = False
    request_id: str = ""
    # False for unary callers: the run may then use non-streaming upstream calls.
    stream: bool = True


@dataclass(frozen=True)
class TextDelta:
    text: str
    agent: str = ""


@dataclass(frozen=True)
class ToolCallDelta:
    """A fragment of a call of a *client-sent* tool (OpenAI semantics: the client runs it)."""

    index: int
    id: str = ""
    name: str = ""
    arguments_delta: str = ""


@dataclass(frozen=True)
class ToolCalled:
    call_id: str
    name: str
    arguments: str
    agent: str = ""
    source: ToolSource = "sdk"


@dataclass(frozen=True)
class ToolOutput:
    call_id: str
    name: str
    output: str
    agent: str = ""
    source: ToolSource = "sdk"
    duration_s: float = 0.0


@dataclass(frozen=True)
class Handoff:
    from_agent: str
    to_agent: str


@dataclass(frozen=True)
class GuardrailTripped:
    guardrail: str
    kind: Literal["input", "output"]


@dataclass(frozen=True)
class FinalOutput:
    text: str
    agent: str = ""
    finish_reason: FinishReason = "stop"
    structured: bool = False
    # Calls of client-sent tools, as OpenAI tool_call dicts, when finish_reason is tool_calls.
    tool_calls: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class UsageReport:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


Event = TextDelta | ToolCallDelta | ToolCalled | ToolOutput | Handoff | GuardrailTripped | FinalOutput | UsageReport
