"""A run's output as Responses API items, assembled from its events in the order they come.

A run streams text deltas and, for client tools, function-call argument deltas. The Responses
API wraps them in output items (an assistant ``message`` with one ``output_text`` part, then a
``function_call`` per client-tool call), each opened, filled and closed. ``OutputAssembler``
is the one place that decides those items, their order and their ids: the shim turns its steps
into Open Responses stream events as they happen, and the executor keeps its items as the
stored response's output, so what a stream announced is what a later retrieve returns.

Item ids derive from the response id and the item's output index (``msg_<id>_0``,
``fc_<id>_1``): both sides compute them without telling each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["OutputAssembler", "OutputItem", "Step", "approval_call", "approval_item_id", "item_id"]

ItemKind = Literal["message", "function_call", "approval_request"]
# What happened to an item: opened, more text or arguments, or closed (with all of it).
StepKind = Literal["added", "delta", "done"]


def item_id(response_id: str, kind: ItemKind, output_index: int) -> str:
    prefix = {"message": "msg", "function_call": "fc", "approval_request": "mcpr"}[kind]
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
    label: str = ""  # an approval request's server_label: the agent that made the call
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

    def tool_call(self, index: int, call_id: str, name: str, arguments_delta: str) -> list[Step]:
        """A fragment of client-tool call ``index``: its first opens a function_call item (and
        closes the message before it: the model moved on)."""
        steps: list[Step] = []
        call = self._calls.get(index)
        if call is None:
            if self._message is not None and not self._message.done:
                steps.append(self._close(self._message))
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

    def _open(self, kind: ItemKind) -> OutputItem:
        item = OutputItem(kind, item_id(self.response_id, kind, len(self.items)), len(self.items))
        self.items.append(item)
        return item

    @staticmethod
    def _close(item: OutputItem) -> Step:
        item.done = True
        return Step("done", item)
