"""Responses API items as the chat history an agent runs on, and a run's output as items.

Every agent runs on a conversation of chat messages (drop-ins get them as SDK input items,
declarative agents send them upstream). A Responses request's history (a previous response's
input and output, or a conversation's items) and its new input are items; here they become
messages: a ``message`` item keeps its role and parts, a ``function_call`` joins the assistant
message before it as a tool call (parallel calls share one), a ``function_call_output``
becomes the tool message answering it, and an ``mcp_call`` (a tool the gateway ran) becomes
both: the call and its output, so the model sees what it did. Reasoning items stay out: chat
history has no place for them.

The other way, ``input_items`` makes a chat request's messages items, for a chat turn kept in
a conversation: ``chat_messages(input_items(m)) == m`` for every message a conversation can
keep (a message's ``name`` is not kept: items have no place for it).
"""

from __future__ import annotations

from collections.abc import Iterable

from agentgateway.v1 import messages_pb2 as pb
from agentgateway.v1 import responses_pb2 as rpb
from services.errors import invalid_argument
from services.responses.output import OutputItem

__all__ = ["chat_messages", "input_items", "output_items"]


def chat_messages(items: Iterable[rpb.ResponseItem], *, param: str = "input", history: bool = False) -> list[pb.ChatMessage]:
    """``history``: items kept earlier, where any type may stand (a conversation takes every
    item type); those chat history has no place for are left out, as reasoning is."""
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
            _add_tool_call(messages, pb.ToolCall(id=call.call_id, type="function", function=pb.FunctionCall(name=call.name, arguments=call.arguments)))
        elif kind == "mcp_call":
            mcp = item.mcp_call
            call_id = item.id or f"mcp_{index}"  # the call's own id stays internal: the item's stands in
            _add_tool_call(messages, pb.ToolCall(id=call_id, type="function", function=pb.FunctionCall(name=mcp.name, arguments=mcp.arguments)))
            messages.append(pb.ChatMessage(role=pb.ROLE_TOOL, tool_call_id=call_id, content=mcp.output))
        elif kind == "function_call_output":
            output = item.function_call_output
            messages.append(pb.ChatMessage(role=pb.ROLE_TOOL, tool_call_id=output.call_id, content=output.output))
        elif kind == "reasoning" or (history and kind in ("other", "approval_request", "approval_response")):
            continue
        else:
            raise invalid_argument(f"{param}[{index}]: this item type is not supported as input", f"{param}[{index}]")
    return messages


def _add_tool_call(messages: list[pb.ChatMessage], tool_call: pb.ToolCall) -> None:
    """Onto the assistant message before it (parallel calls share one), else a new one."""
    previous = messages[-1] if messages else None
    if previous is not None and previous.role == pb.ROLE_ASSISTANT:
        previous.tool_calls.append(tool_call)
    else:
        messages.append(pb.ChatMessage(role=pb.ROLE_ASSISTANT, tool_calls=[tool_call]))


def output_items(items: Iterable[OutputItem]) -> list[rpb.ResponseItem]:
    """The assembler's items as the response's output (all done: a finished run's)."""
    out = []
    for item in items:
        if item.kind == "message":
            message = rpb.MessageItem(role=pb.ROLE_ASSISTANT, content=[pb.ContentPart(text=item.text)], status="completed")
            out.append(rpb.ResponseItem(id=item.id, message=message))
        elif item.kind == "approval_request":
            request = rpb.ApprovalRequestItem(name=item.name, arguments=item.arguments, server_label=item.label)
            out.append(rpb.ResponseItem(id=item.id, approval_request=request))
        elif item.kind == "mcp_call":
            mcp = rpb.McpCallItem(server_label=item.label, name=item.name, arguments=item.arguments, output=item.output, status="completed")
            out.append(rpb.ResponseItem(id=item.id, mcp_call=mcp))
        else:
            call = rpb.FunctionCallItem(call_id=item.call_id, name=item.name, arguments=item.arguments, status="completed")
            out.append(rpb.ResponseItem(id=item.id, function_call=call))
    return out


def input_items(messages: Iterable[pb.ChatMessage], *, param: str = "messages") -> list[rpb.ResponseItem]:
    """Chat messages as Responses input items, without ids (the store gives them): a message
    item per message with content, a ``function_call`` per assistant tool call (after the
    message's text), a ``function_call_output`` per tool message. INVALID_ARGUMENT naming
    ``param[i]`` for what a conversation cannot keep and give back: audio parts, files by id."""
    items: list[rpb.ResponseItem] = []
    for index, message in enumerate(messages):
        where = f"{param}[{index}]"
        if message.role == pb.ROLE_TOOL:
            output = message.content if not message.parts else "".join(p.text for p in message.parts if p.WhichOneof("part") == "text")
            items.append(rpb.ResponseItem(function_call_output=rpb.FunctionCallOutputItem(call_id=message.tool_call_id, output=output)))
            continue
        if message.role == pb.ROLE_UNSPECIFIED:
            raise invalid_argument(f"{where}.role is required", f"{where}.role")
        for number, part in enumerate(message.parts):
            kind = part.WhichOneof("part")
            if kind == "input_audio":
                raise invalid_argument(f"{where}: audio parts cannot be kept in a conversation", f"{where}.content[{number}]")
            if kind == "file" and not part.file.file_data:
                raise invalid_argument(f"{where}: a conversation keeps files given inline (file_data), not by id", f"{where}.content[{number}]")
        if message.parts:
            parts = list(message.parts)
        elif message.content or message.refusal or not (message.role == pb.ROLE_ASSISTANT and message.tool_calls):
            parts = [pb.ContentPart(text=message.content or message.refusal)]
        else:
            parts = []  # an assistant message of tool calls only
        if parts:
            items.append(rpb.ResponseItem(message=rpb.MessageItem(role=message.role, content=parts)))
        for call in message.tool_calls:
            function_call = rpb.FunctionCallItem(call_id=call.id, name=call.function.name, arguments=call.function.arguments)
            items.append(rpb.ResponseItem(function_call=function_call))
    return items
