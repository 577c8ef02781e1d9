"""OpenAI chat messages -> Agents SDK input items (the whole conversation, not the last turn)."""

from __future__ import annotations

from typing import Any, cast

from agents import TResponseInputItem
from openai.types.responses import (
    EasyInputMessageParam,
    ResponseFunctionToolCallParam,
    ResponseInputAudioParam,
    ResponseInputFileParam,
    ResponseInputImageParam,
    ResponseInputMessageContentListParam,
    ResponseInputTextParam,
)
from openai.types.responses.response_input_audio_param import InputAudio
from openai.types.responses.response_input_param import FunctionCallOutput

from services.errors import invalid_argument

__all__ = ["earlier_turns", "last_user_text", "to_sdk_items"]


def to_sdk_items(messages: list[dict[str, Any]]) -> list[TResponseInputItem]:
    items: list[TResponseInputItem] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            items.append(EasyInputMessageParam(role=role, content=_plain_text(content, index)))
        elif role == "user":
            items.append(EasyInputMessageParam(role="user", content=_user_content(content, index)))
        elif role == "assistant":
            text = _plain_text(content, index)
            if text:
                items.append(EasyInputMessageParam(role="assistant", content=text))
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                items.append(
                    ResponseFunctionToolCallParam(
                        type="function_call",
                        call_id=call.get("id", ""),
                        name=function.get("name", ""),
                        arguments=function.get("arguments") or "{}",
                    )
                )
        elif role == "tool":
            items.append(
                FunctionCallOutput(
                    type="function_call_output",
                    call_id=message.get("tool_call_id", ""),
                    output=_plain_text(content, index),
                )
            )
        else:
            raise invalid_argument(f"unsupported role {role!r}", f"messages[{index}].role")
    return items


def earlier_turns(messages: list[dict[str, Any]]) -> list[TResponseInputItem]:
    """The conversation before its last user message, as SDK items (what a workflow export,
    which takes only the latest text, must also see)."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=0)
    return to_sdk_items(messages[:last])


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return _plain_text(messages[index].get("content"), index)
    return ""


def _plain_text(content: Any, index: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        if part.get("type") != "text":
            raise invalid_argument(
                f"only text content parts are supported for this role, got {part.get('type')!r}",
                f"messages[{index}].content",
            )
        texts.append(part.get("text", ""))
    return "".join(texts)


def _user_content(content: Any, index: int) -> str | ResponseInputMessageContentListParam:
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[_UserPart] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            parts.append(ResponseInputTextParam(type="input_text", text=part.get("text", "")))
        elif kind == "image_url":
            image = part.get("image_url") or {}
            parts.append(ResponseInputImageParam(type="input_image", image_url=image.get("url", ""), detail=image.get("detail") or "auto"))
        elif kind == "input_audio":
            # The client's audio (data, format) and file fields (file_id, file_data, filename) are
            # forwarded as they are; the codec already required what each kind needs.
            parts.append(ResponseInputAudioParam(type="input_audio", input_audio=cast(InputAudio, part.get("input_audio") or {})))
        elif kind == "file":
            file = {k: v for k, v in (part.get("file") or {}).items() if v}
            parts.append(cast(ResponseInputFileParam, {"type": "input_file", **file}))
        else:
            raise invalid_argument(f"unsupported content part type {kind!r}", f"messages[{index}].content")
    # The Responses types leave input_audio out of message content; the SDK's chat-completions
    # converter (the only one the gateway's models use) takes it.
    return cast(ResponseInputMessageContentListParam, parts)


_UserPart = ResponseInputTextParam | ResponseInputImageParam | ResponseInputAudioParam | ResponseInputFileParam
