"""Open Responses stream events, numbered, from the output assembler's steps.

The sequence (the Open Responses specification, and what the ``openai`` clients parse):
``response.created``, ``response.in_progress``; per output item ``response.output_item.added``,
then for a message ``response.content_part.added`` → ``response.output_text.delta``* →
``response.output_text.done`` → ``response.content_part.done``, for a function call
``response.function_call_arguments.delta``* → ``response.function_call_arguments.done``;
for an MCP call the gateway made ``response.mcp_call.in_progress`` →
``response.mcp_call_arguments.delta`` → ``response.mcp_call_arguments.done`` (its arguments
come whole) → ``response.mcp_call.completed`` when the tool returned;
``response.output_item.done``; and last ``response.completed``, ``response.incomplete`` or
``response.failed`` with the whole response. ``sequence_number`` counts from 0 with no gaps;
each event goes out as SSE with ``event:`` equal to its ``type``.
"""

from __future__ import annotations

from typing import Any, Literal

from services import json_wire
from services.responses.output import OutputItem, Step

__all__ = ["ResponseEvents", "item_json", "sse"]

Ending = Literal["completed", "incomplete", "failed"]


def item_json(item: OutputItem) -> dict[str, Any]:
    """An output item as the Responses API shows it, open (in progress) or done."""
    status = "completed" if item.done else "in_progress"
    if item.kind == "approval_request":
        return {"id": item.id, "type": "mcp_approval_request", "name": item.name, "arguments": item.arguments, "server_label": item.label}
    if item.kind == "mcp_call":
        # Arguments shown once complete, as a function call's; the output once the tool returned.
        return {
            "id": item.id,
            "type": "mcp_call",
            "status": status,
            "server_label": item.label,
            "name": item.name,
            "arguments": item.arguments if item.done else "",
            "output": item.output if item.done else None,
        }
    if item.kind == "message":
        content = [_text_part(item.text)] if item.done else []
        return {"id": item.id, "type": "message", "status": status, "role": "assistant", "content": content}
    arguments = item.arguments if item.done else ""
    return {"id": item.id, "type": "function_call", "status": status, "call_id": item.call_id, "name": item.name, "arguments": arguments}


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def sse(event: dict[str, Any]) -> bytes:
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + json_wire.dumps(event) + b"\n\n"


class ResponseEvents:
    """The events of one streamed response, in order."""

    def __init__(self) -> None:
        self._sequence = 0

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": f"response.{kind}", "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event

    def opening(self, response: dict[str, Any]) -> list[dict[str, Any]]:
        """``response`` is the response object as it starts (status ``in_progress``, no output)."""
        return [self._event("created", response=response), self._event("in_progress", response=response)]

    def steps(self, steps: list[Step]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for step in steps:
            item = step.item
            where = {"item_id": item.id, "output_index": item.output_index}
            if step.kind == "added":
                events.append(self._event("output_item.added", output_index=item.output_index, item=item_json(item)))
                if item.kind == "message":
                    events.append(self._event("content_part.added", **where, content_index=0, part=_text_part("")))
                elif item.kind == "mcp_call":
                    events.append(self._event("mcp_call.in_progress", **where))
            elif step.kind == "delta" and item.kind == "mcp_call":
                if step.delta:
                    events.append(self._event("mcp_call_arguments.delta", **where, delta=step.delta))
                events.append(self._event("mcp_call_arguments.done", **where, arguments=item.arguments))
            elif step.kind == "delta" and item.kind == "message":
                events.append(self._event("output_text.delta", **where, content_index=0, delta=step.delta, logprobs=[]))
            elif step.kind == "delta":
                events.append(self._event("function_call_arguments.delta", **where, delta=step.delta))
            else:
                if item.kind == "message":
                    events.append(self._event("output_text.done", **where, content_index=0, text=item.text, logprobs=[]))
                    events.append(self._event("content_part.done", **where, content_index=0, part=_text_part(item.text)))
                elif item.kind == "function_call":
                    events.append(self._event("function_call_arguments.done", **where, name=item.name, arguments=item.arguments))
                elif item.kind == "mcp_call":
                    events.append(self._event("mcp_call.completed", **where))
                events.append(self._event("output_item.done", output_index=item.output_index, item=item_json(item)))
        return events

    def extension(self, payload: dict[str, Any]) -> dict[str, Any]:
        """An opt-in gateway event (``x-agentgateway-events: tools``): a tool the gateway ran,
        its output, a handoff. Numbered in the sequence; no specification type has them."""
        event = {"type": f"agentgateway.{payload['type']}", "sequence_number": self._sequence, "agentgateway": payload}
        self._sequence += 1
        return event

    def ending(self, ending: Ending, response: dict[str, Any]) -> dict[str, Any]:
        """The last event, with the whole response (its output, usage, and error if it failed)."""
        return self._event(ending, response=response)
