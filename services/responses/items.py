"""Responses API items as the chat history an agent runs on, and a run's output as items.

Every agent runs on a conversation of chat messages (drop-ins get them as SDK input items,
declarative agents send them upstream). A Responses request's history (a previous response's
input and output, or a conversation's items) and its new input are items; here they become
messages: a ``message`` item keeps its role and parts, a ``function_call`` joins the assistant
message before it as a tool call (parallel calls share one), a ``function_call_output``
becomes the tool message answering it. Reasoning items stay out: chat history has no place
for them.
"""

from __future__ import annotations

from collections.abc import Iterable

from agentgateway.v1 import messages_pb2 as pb
from agentgateway.v1 import responses_pb2 as rpb
from services.errors import invalid_argument
from services.responses.output import OutputItem

__all__ = ["chat_messages", "output_items"]


def chat_messages(items: Iterable[rpb.ResponseItem], *, param: str = "input") -> list[pb.ChatMessage]:
    messages: list[pb.ChatMessage] = []
    for index, item in enumerate(items):
        kind = item.WhichOneof("item")
        if kind == "message":
            if item.message.role == pb.ROLE_UNSPECIFIED or item.message.role == pb.ROLE_TOOL:
                raise invalid_argument(f"{param}[{index}]: a message's role must be user, assistant, system or developer", f"{param}[{index}].role")
            parts = item.message.content
            if len(parts) == 1 and parts[0].WhichOneof("part") == "text":  # plain text: plain content, as chat clients send it
                messages.append(pb.ChatMessage(role=item.message.role, content=parts[0].text))
            else:
                messages.append(pb.ChatMessage(role=item.message.role, parts=parts))
        elif kind == "function_call":
            call = item.function_call
            tool_call = pb.ToolCall(id=call.call_id, type="function", function=pb.FunctionCall(name=call.name, arguments=call.arguments))
            previous = messages[-1] if messages else None
            if previous is not None and previous.role == pb.ROLE_ASSISTANT:
                previous.tool_calls.append(tool_call)
            else:
                messages.append(pb.ChatMessage(role=pb.ROLE_ASSISTANT, tool_calls=[tool_call]))
        elif kind == "function_call_output":
            output = item.function_call_output
            messages.append(pb.ChatMessage(role=pb.ROLE_TOOL, tool_call_id=output.call_id, content=output.output))
        elif kind == "reasoning":
            continue
        else:
            raise invalid_argument(f"{param}[{index}]: this item type is not supported as input", f"{param}[{index}]")
    return messages


def output_items(items: Iterable[OutputItem]) -> list[rpb.ResponseItem]:
    """The assembler's items as the response's output (all done: a finished run's)."""
    out = []
    for item in items:
        if item.kind == "message":
            message = rpb.MessageItem(role=pb.ROLE_ASSISTANT, content=[pb.ContentPart(text=item.text)], status="completed")
            out.append(rpb.ResponseItem(id=item.id, message=message))
        else:
            call = rpb.FunctionCallItem(call_id=item.call_id, name=item.name, arguments=item.arguments, status="completed")
            out.append(rpb.ResponseItem(id=item.id, function_call=call))
    return out
