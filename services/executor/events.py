"""What an agent run takes and produces, as plain dataclasses (no transport types).

``ChatInput`` is a chat request in OpenAI's own vocabulary (the lingua franca of upstreams and
the SDK). The executor yields ``Event``s in order; the servicer encodes them as ``AgentEvent``
protos. Errors are not events: they are raised as ``GatewayError`` and end the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openai.types.chat import ChatCompletionMessageFunctionToolCallParam

from services.vocabulary import FinishReason, ToolSource

if TYPE_CHECKING:
    from services.executor.run_session import HistorySession

__all__ = [
    "ApprovalCall",
    "ApprovalRequired",
    "ChatInput",
    "Completion",
    "Event",
    "FinalOutput",
    "Handoff",
    "TextDelta",
    "ToolCallDelta",
    "ToolCalled",
    "ToolOutput",
    "Usage",
]


@dataclass
class ChatInput:
    # The served agent, as clients name it in OpenAI's ``model`` field ("default/weather").
    model_id: str
    # OpenAI chat message dicts, the whole conversation.
    messages: list[dict[str, Any]]
    # OpenAI sampling parameter names -> values; only the ones the client set.
    sampling: dict[str, Any] = field(default_factory=dict)
    # Client-sent OpenAI function tools and tool_choice (the client runs those tools).
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    user: str = ""
    # Rare OpenAI fields, already checked for forbidden keys.
    extra: dict[str, Any] = field(default_factory=dict)
    # A Responses run's stored history as the SDK's Session (run_session.py): a drop-in agent
    # runs with it as ``Runner.run(..., session=...)``; None for a stateless request.
    session: HistorySession | None = None


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
    server: str = ""  # the MCP server's label, for an MCP tool


@dataclass(frozen=True)
class ToolOutput:
    call_id: str
    name: str
    output: str
    agent: str = ""
    source: ToolSource = "sdk"
    duration_s: float = 0.0
    server: str = ""  # the MCP server's label, for an MCP tool


@dataclass(frozen=True)
class Handoff:
    from_agent: str
    to_agent: str


@dataclass(frozen=True)
class ApprovalCall:
    """A tool call waiting for a human decision (``needs_approval``)."""

    call_id: str
    tool_name: str
    arguments: str
    agent: str = ""
    source: ToolSource = "sdk"


@dataclass(frozen=True)
class ApprovalRequired:
    """The run paused: ``calls`` wait for a human decision, resolved by ``approval_id`` until
    ``expires_at`` (Unix seconds). A ``FinalOutput`` with ``approval_required`` follows."""

    approval_id: str
    calls: tuple[ApprovalCall, ...]
    expires_at: float


@dataclass(frozen=True)
class FinalOutput:
    text: str
    agent: str = ""
    finish_reason: FinishReason = "stop"
    structured: bool = False
    # Calls of client-sent tools, as OpenAI tool_call dicts, when finish_reason is tool_calls.
    tool_calls: tuple[ChatCompletionMessageFunctionToolCallParam, ...] = ()


@dataclass(frozen=True)
class Usage:
    """Token usage of a run (summed over its upstream calls)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)


Event = TextDelta | ToolCallDelta | ToolCalled | ToolOutput | Handoff | ApprovalRequired | FinalOutput | Usage


@dataclass(frozen=True)
class Completion:
    """A whole run, for unary callers: its final output, usage, and the tool and handoff
    events that happened on the way (no deltas)."""

    final: FinalOutput
    usage: Usage | None
    events: tuple[Event, ...]
