"""A run's output as Responses API items, assembled from its events in the order they come.

A run streams text deltas and, for client tools, function-call argument deltas; tools the
gateway runs for it are called and return. The Responses API wraps them in output items (an
assistant ``message`` with one ``output_text`` part, an ``mcp_call`` per call of an MCP server's
tool — the specification's type for a tool the server runs, with its output — and a
``function_call`` per client-tool call), each opened, filled and closed. Other tools the
gateway runs (local Python, HTTP) and handoffs have no specification type: they stay in the
opt-in extension events, never in ``output``. ``OutputAssembler``
is the one place that decides those items, their order and their ids: the shim turns its steps
into Open Responses stream events as they happen, and the executor keeps its items as the
stored response's output, so what a stream announced is what a later retrieve returns.

Item ids derive from the response id and the item's output index (``msg_<id>_0``,
``fc_<id>_1``): both sides compute them without telling each other. ``event()`` is the one
reading of the run's events into steps, for both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agentgateway.v1 import messages_pb2 as pb

__all__ = ["OutputAssembler", "OutputItem", "Step", "approval_call", "approval_item_id", "item_id"]

ItemKind = Literal["message", "function_call", "approval_request", "mcp_call"]
# What happened to an item: opened, more text or arguments, or closed (with all of it).
StepKind = Literal["added", "delta", "done"]


def item_id(response_id: str, kind: ItemKind, output_index: int) -> str:
    prefix = {"message": "msg", "function_call": "fc", "approval_request": "mcpr", "mcp_call": "mcp"}[kind]
    return f"{prefix}_{response_id.removeprefix('resp_')}_{output_index}"


def approval_item_id(approval_id: str, call_index: int) -> str:
    """An approval request's item id: the paused run's approval and the call's place in it,
    so a decision names both (``approval_call``)."""
    return f"mcpr_{approval_id}_{call_index}"


def approval_call(item_id: str) -> tuple[str, int] | None:
    """(approval id, call index) of an approval request's item id; None if it is not one."""
    body, _, index = item_id.removeprefix("mcpr_").rpartition("_")
    return (body, int(index)) if item_id.startswith("mcpr_") and body and index.isdigit() else None


@dataclass
class OutputItem:
    kind: ItemKind
    id: str
    output_index: int
    text: str = ""  # a message's output_text
    call_id: str = ""  # a function call's
    name: str = ""
    arguments: str = ""
    label: str = ""  # server_label: an MCP call's server; an approval request's agent that made the call
    output: str = ""  # an MCP call's result
    done: bool = False


@dataclass(frozen=True)
class Step:
    kind: StepKind
    item: OutputItem
    delta: str = ""


@dataclass
class OutputAssembler:
    response_id: str
    items: list[OutputItem] = field(default_factory=list)
    _message: OutputItem | None = None
    _calls: dict[int, OutputItem] = field(default_factory=dict)  # by the run's tool-call index
    _mcp_calls: dict[str, OutputItem] = field(default_factory=dict)  # MCP calls in progress, by call id

    def event(self, event: pb.AgentEvent) -> list[Step]:
        """The steps one event of the run makes; none for events no output item shows."""
        kind = event.WhichOneof("event")
        if kind == "text_delta":
            return self.text(event.text_delta.text)
        if kind == "tool_call_delta":
            delta = event.tool_call_delta
            return self.tool_call(delta.index, delta.id, delta.name, delta.arguments_delta)
        if kind == "tool_called" and event.tool_called.server:
            called = event.tool_called
            return self.mcp_call(called.call_id, called.name, called.arguments, called.server)
        if kind == "tool_output" and event.tool_output.server:
            return self.mcp_output(event.tool_output.call_id, event.tool_output.output)
        if kind == "approval_required":
            paused = event.approval_required
            return [
                step
                for index, asked in enumerate(paused.calls)
                for step in self.approval_request(paused.approval_id, index, asked.tool_name, asked.arguments, asked.agent)
            ]
        return []

    def text(self, delta: str) -> list[Step]:
        """More assistant text: into the open message, or a new one after any calls."""
        if not delta:
            return []
        steps = []
        if self._message is None or self._message.done:
            self._message = self._open("message")
            steps.append(Step("added", self._message))
        self._message.text += delta
        steps.append(Step("delta", self._message, delta))
        return steps

    def mcp_call(self, call_id: str, name: str, arguments: str, server: str) -> list[Step]:
        """A call of an MCP server's tool, made by the gateway: an item opened with its whole
        arguments (closing the message before it), closed when the tool returns."""
        steps = self._close_message()
        item = self._mcp_calls[call_id] = self._open("mcp_call")
        item.name, item.label, item.arguments = name, server, arguments
        return [*steps, Step("added", item), Step("delta", item, arguments)]

    def mcp_output(self, call_id: str, output: str) -> list[Step]:
        item = self._mcp_calls.pop(call_id, None)
        if item is None or item.done:
            return []
        item.output = output
        return [self._close(item)]

    def tool_call(self, index: int, call_id: str, name: str, arguments_delta: str) -> list[Step]:
        """A fragment of client-tool call ``index``: its first opens a function_call item (and
        closes the message before it: the model moved on)."""
        steps: list[Step] = []
        call = self._calls.get(index)
        if call is None:
            steps += self._close_message()
            call = self._calls[index] = self._open("function_call")
            call.call_id, call.name = call_id, name
            steps.append(Step("added", call))
        else:
            call.call_id = call.call_id or call_id
            call.name += name  # the gateway sends a client tool's whole name first; later parts add none
        if arguments_delta:
            call.arguments += arguments_delta
            steps.append(Step("delta", call, arguments_delta))
        return steps

    def approval_request(self, approval_id: str, index: int, name: str, arguments: str, agent: str) -> list[Step]:
        """A call the run paused on: one whole item (opened and closed), after what came before."""
        steps = [self._close(item) for item in self.items if not item.done]
        item = OutputItem("approval_request", approval_item_id(approval_id, index), len(self.items), name=name, arguments=arguments, label=agent)
        self.items.append(item)
        return [*steps, Step("added", item), self._close(item)]

    def finish(self) -> list[Step]:
        """Close every item still open, in output order."""
        return [self._close(item) for item in self.items if not item.done]

    def _close_message(self) -> list[Step]:
        """Close the open message, if any: the model moved on to a call."""
        return [self._close(self._message)] if self._message is not None and not self._message.done else []

    def _open(self, kind: ItemKind) -> OutputItem:
        item = OutputItem(kind, item_id(self.response_id, kind, len(self.items)), len(self.items))
        self.items.append(item)
        return item

    @staticmethod
    def _close(item: OutputItem) -> Step:
        item.done = True
        return Step("done", item)
