"""Responses API items and responses: OpenAI's JSON ⇄ the typed messages of agentgateway.v1.

One codec for every side that meets the JSON: the shim parses request items and renders
responses; the executor keeps items and responses in the conversation store as OpenAI's JSON
(what ``GET /v1/responses/{id}`` returns) and reads them back into messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import Struct

from agentgateway.v1 import messages_pb2 as pb
from agentgateway.v1 import responses_pb2 as rpb
from services.errors import invalid_argument
from services.rpc.enums import ProtoEnum
from services.vocabulary import ROLE

__all__ = ["STATUS", "item_from_json", "item_to_json", "other_item", "response_from_json", "response_to_json", "stored_item"]

ResponseStatus = Literal["in_progress", "completed", "incomplete", "failed"]
STATUS: ProtoEnum[ResponseStatus, rpb.ResponseStatus] = ProtoEnum(rpb.ResponseStatus, ResponseStatus)
# The roles a message item may have (tool results are function_call_output items).
_MESSAGE_ROLES = ("user", "assistant", "system", "developer")
_INPUT_TEXT = ("input_text", "output_text", "text", "summary_text")


def _str(value: object, param: str) -> str:
    if not isinstance(value, str):
        raise invalid_argument(f"{param} must be a string", param)
    return value


def _part_from_json(part: object, param: str) -> pb.ContentPart:
    if not isinstance(part, Mapping):
        raise invalid_argument(f"{param} must be an object", param)
    kind = part.get("type")
    if kind in _INPUT_TEXT:
        return pb.ContentPart(text=_str(part.get("text"), f"{param}.text"))
    if kind == "refusal":
        return pb.ContentPart(text=_str(part.get("refusal"), f"{param}.refusal"))
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise invalid_argument(f"{param}.image_url must be a URL (file_id images are not supported)", f"{param}.image_url")
        return pb.ContentPart(image_url=pb.ImageUrl(url=url, detail=str(part.get("detail") or "")))
    if kind == "input_file":
        data = part.get("file_data")
        if not isinstance(data, str) or not data:
            raise invalid_argument(f"{param}.file_data is required (file_id files are not supported)", f"{param}.file_data")
        return pb.ContentPart(file=pb.FileData(file_data=data, filename=str(part.get("filename") or "")))
    raise invalid_argument(f"{param}.type {kind!r} is not a supported content part", f"{param}.type")


def item_from_json(item: object, param: str) -> rpb.ResponseItem:
    """One input item (or a stored one). A ``{"role", "content"}`` object without ``type`` is a
    message, as OpenAI's easy input messages are."""
    if not isinstance(item, Mapping):
        raise invalid_argument(f"{param} must be an object", param)
    kind = item.get("type", "message")
    item_id = str(item.get("id") or "")
    if kind == "message":
        role = item.get("role")
        if role not in _MESSAGE_ROLES:
            raise invalid_argument(f"{param}.role must be one of {', '.join(_MESSAGE_ROLES)}", f"{param}.role")
        content = item.get("content")
        if isinstance(content, str):
            parts = [pb.ContentPart(text=content)]
        elif isinstance(content, list):
            parts = [_part_from_json(p, f"{param}.content[{i}]") for i, p in enumerate(content)]
        else:
            raise invalid_argument(f"{param}.content must be a string or a list of content parts", f"{param}.content")
        message = rpb.MessageItem(role=ROLE.to_proto(role), content=parts, status=str(item.get("status") or ""))
        return rpb.ResponseItem(id=item_id, message=message)
    if kind == "function_call":
        call = rpb.FunctionCallItem(
            call_id=_str(item.get("call_id"), f"{param}.call_id"),
            name=_str(item.get("name"), f"{param}.name"),
            arguments=_str(item.get("arguments", ""), f"{param}.arguments"),
            status=str(item.get("status") or ""),
        )
        return rpb.ResponseItem(id=item_id, function_call=call)
    if kind == "function_call_output":
        output = item.get("output")
        if isinstance(output, list):  # content parts: their text, as chat tool messages carry it
            output = "".join(p.get("text", "") for p in output if isinstance(p, Mapping))
        out = rpb.FunctionCallOutputItem(call_id=_str(item.get("call_id"), f"{param}.call_id"), output=_str(output, f"{param}.output"))
        return rpb.ResponseItem(id=item_id, function_call_output=out)
    if kind == "reasoning":
        summary = [str(s.get("text", "")) for s in item.get("summary") or () if isinstance(s, Mapping)]
        return rpb.ResponseItem(id=item_id, reasoning=rpb.ReasoningItem(summary=summary))
    if kind == "mcp_approval_response":
        approve = item.get("approve")
        if not isinstance(approve, bool):
            raise invalid_argument(f"{param}.approve must be true or false", f"{param}.approve")
        decision = rpb.ApprovalResponseItem(approval_request_id=_str(item.get("approval_request_id"), f"{param}.approval_request_id"), approve=approve)
        decision.reason = str(item.get("reason") or "")
        return rpb.ResponseItem(id=item_id, approval_response=decision)
    if kind == "mcp_call":
        mcp = rpb.McpCallItem(
            server_label=str(item.get("server_label", "")),
            name=_str(item.get("name"), f"{param}.name"),
            arguments=_str(item.get("arguments", ""), f"{param}.arguments"),
            output=str(item.get("output") or ""),
            status=str(item.get("status") or ""),
        )
        return rpb.ResponseItem(id=item_id, mcp_call=mcp)
    if kind == "mcp_approval_request":
        request = rpb.ApprovalRequestItem(
            name=str(item.get("name", "")), arguments=str(item.get("arguments", "")), server_label=str(item.get("server_label", ""))
        )
        return rpb.ResponseItem(id=item_id, approval_request=request)
    raise invalid_argument(f"{param}.type {kind!r} is not a supported input item", f"{param}.type")


def _part_to_json(part: pb.ContentPart, role: int) -> dict[str, Any]:
    kind = part.WhichOneof("part")
    if kind == "image_url":
        out: dict[str, Any] = {"type": "input_image", "image_url": part.image_url.url, "detail": part.image_url.detail or "auto"}
        return out
    if kind == "file":
        return {"type": "input_file", "file_data": part.file.file_data, "filename": part.file.filename}
    if role == pb.ROLE_ASSISTANT:
        return {"type": "output_text", "text": part.text, "annotations": []}
    return {"type": "input_text", "text": part.text}


def item_to_json(item: rpb.ResponseItem) -> dict[str, Any]:
    kind = item.WhichOneof("item")
    out: dict[str, Any] = {"id": item.id} if item.id else {}
    if kind == "message":
        message = item.message
        out.update(type="message", role=ROLE.from_proto(message.role), content=[_part_to_json(p, message.role) for p in message.content])
        if message.status:
            out["status"] = message.status
    elif kind == "function_call":
        call = item.function_call
        out.update(type="function_call", call_id=call.call_id, name=call.name, arguments=call.arguments)
        if call.status:
            out["status"] = call.status
    elif kind == "function_call_output":
        out.update(type="function_call_output", call_id=item.function_call_output.call_id, output=item.function_call_output.output)
    elif kind == "reasoning":
        out.update(type="reasoning", summary=[{"type": "summary_text", "text": s} for s in item.reasoning.summary])
    elif kind == "approval_request":
        request = item.approval_request
        out.update(type="mcp_approval_request", name=request.name, arguments=request.arguments, server_label=request.server_label)
    elif kind == "mcp_call":
        mcp = item.mcp_call
        out.update(type="mcp_call", server_label=mcp.server_label, name=mcp.name, arguments=mcp.arguments, output=mcp.output or None)
        if mcp.status:
            out["status"] = mcp.status
    elif kind == "approval_response":
        decision = item.approval_response
        out.update(type="mcp_approval_response", approval_request_id=decision.approval_request_id, approve=decision.approve, reason=decision.reason or None)
    elif kind == "other":
        out.update(MessageToDict(item.other))
    return out


def response_to_json(response: rpb.Response, *, tools: list[dict[str, Any]] | None = None, tool_choice: object = "auto") -> dict[str, Any]:
    """The Response object of OpenAI's API for ``response``."""
    status = STATUS.from_proto(response.status) if response.status else "completed"
    out: dict[str, Any] = {
        "id": response.id,
        "object": "response",
        "created_at": response.create_time.seconds,
        "status": status,
        "model": response.model,
        "output": [item_to_json(i) for i in response.output],
        "parallel_tool_calls": True,
        "tool_choice": tool_choice,
        "tools": tools or [],
        "previous_response_id": response.previous_response_id or None,
        "metadata": dict(response.metadata),
        "instructions": response.instructions or None,
        "store": response.store,
        "error": {"code": response.error.reason.lower(), "message": response.error.message} if response.HasField("error") else None,
        "incomplete_details": {"reason": response.incomplete_reason} if response.incomplete_reason else None,
        "usage": _usage_json(response.usage) if response.HasField("usage") else None,
    }
    if response.conversation:
        out["conversation"] = {"id": response.conversation}
    return out


def _usage_json(usage: pb.Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def response_from_json(data: Mapping[str, Any]) -> rpb.Response:
    """A stored Response object (as ``response_to_json`` wrote it) back as the typed message."""
    response = rpb.Response(
        id=str(data.get("id", "")),
        model=str(data.get("model", "")),
        status=STATUS.to_proto(data["status"]) if data.get("status") in ("in_progress", "completed", "incomplete", "failed") else rpb.RESPONSE_STATUS_COMPLETED,
        output=[stored_item(i) for i in data.get("output") or ()],
        previous_response_id=str(data.get("previous_response_id") or ""),
        conversation=str((data.get("conversation") or {}).get("id", "")),
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
        instructions=str(data.get("instructions") or ""),
        incomplete_reason=str((data.get("incomplete_details") or {}).get("reason", "")),
        store=bool(data.get("store", True)),
    )
    response.create_time.seconds = int(data.get("created_at") or 0)
    usage = data.get("usage")
    if isinstance(usage, Mapping):
        response.usage.CopyFrom(
            pb.Usage(
                prompt_tokens=int(usage.get("input_tokens", 0)),
                completion_tokens=int(usage.get("output_tokens", 0)),
                total_tokens=int(usage.get("total_tokens", 0)),
            )
        )
    error = data.get("error")
    if isinstance(error, Mapping):
        response.error.CopyFrom(pb.RunError(reason=str(error.get("code", "")).upper(), message=str(error.get("message", ""))))
    return response


def other_item(data: Mapping[str, Any]) -> rpb.ResponseItem:
    struct = Struct()
    ParseDict(dict(data), struct)
    return rpb.ResponseItem(id=str(data.get("id") or ""), other=struct)


_TYPED = frozenset({"message", "function_call", "function_call_output", "reasoning", "mcp_call", "mcp_approval_request", "mcp_approval_response"})


def stored_item(data: Mapping[str, Any]) -> rpb.ResponseItem:
    """An item read back from the store: typed when this API has a message for its type, else
    kept whole as ``other`` (a conversation takes any item type; reading it must not fail)."""
    return item_from_json(data, "item") if data.get("type", "message") in _TYPED else other_item(data)
