"""Validated OpenAI JSON -> ``ChatRequest`` proto."""

from __future__ import annotations

from agentgateway.v1 import messages_pb2 as pb
from services.rpc.structs import struct_from_json
from services.vocabulary import RESPONSE_FORMAT_TYPE, ROLE, SAMPLING_FIELDS, TOOL_CHOICE_MODE
from shim.schemas import ChatCompletionRequest, ContentPart, Message

__all__ = ["chat_request_from_openai"]


def chat_request_from_openai(body: ChatCompletionRequest) -> pb.ChatRequest:
    sampling = body.model_dump(include=set(SAMPLING_FIELDS), exclude_none=True)
    if body.max_completion_tokens is not None:
        sampling["max_tokens"] = body.max_completion_tokens  # the newer name wins
    chat = pb.ChatRequest(model=body.model, messages=[_message(m) for m in body.messages], user=body.user or "", sampling=pb.SamplingParams(**sampling))
    for index, tool in enumerate(body.tools or ()):
        fn = pb.FunctionDefinition(name=tool.function.name, description=tool.function.description or "")
        if tool.function.parameters is not None:
            fn.parameters.CopyFrom(struct_from_json(tool.function.parameters, f"tools[{index}].function.parameters"))
        if tool.function.strict is not None:
            fn.strict = tool.function.strict
        chat.tools.append(pb.ToolDefinition(type="function", function=fn))
    if isinstance(body.tool_choice, str):
        chat.tool_choice.mode = TOOL_CHOICE_MODE.to_proto(body.tool_choice)
    elif body.tool_choice is not None:
        chat.tool_choice.function_name = body.tool_choice.function.name
    if body.response_format is not None:
        chat.response_format.type = RESPONSE_FORMAT_TYPE.to_proto(body.response_format.type)
        spec = body.response_format.json_schema
        if spec is not None:
            chat.response_format.json_schema.name = spec.name
            chat.response_format.json_schema.description = spec.description or ""
            if spec.schema_ is not None:
                chat.response_format.json_schema.schema.CopyFrom(struct_from_json(spec.schema_, "response_format.json_schema.schema"))
            if spec.strict is not None:
                chat.response_format.json_schema.strict = spec.strict
    extra = body.extra
    if extra:
        chat.extra.CopyFrom(struct_from_json(extra, None))  # names the unknown field at fault
    # Non-streaming replies always carry usage; streams only when the client asks (OpenAI semantics).
    chat.include_usage = not body.stream or bool(body.stream_options and body.stream_options.include_usage)
    return chat


def _message(m: Message) -> pb.ChatMessage:
    out = pb.ChatMessage(role=ROLE.to_proto(m.role), name=m.name or "", tool_call_id=m.tool_call_id or "", refusal=m.refusal or "")
    if isinstance(m.content, str):
        out.content = m.content
    elif m.content is not None:
        out.parts.extend(_part(p) for p in m.content)
    for call in m.tool_calls or ():
        out.tool_calls.append(pb.ToolCall(id=call.id, type="function", function=pb.FunctionCall(name=call.function.name, arguments=call.function.arguments)))
    return out


def _part(p: ContentPart) -> pb.ContentPart:
    if p.type == "image_url" and p.image_url is not None:
        return pb.ContentPart(image_url=pb.ImageUrl(url=p.image_url.url, detail=p.image_url.detail or ""))
    if p.type == "input_audio" and p.input_audio is not None:
        return pb.ContentPart(input_audio=pb.InputAudio(data=p.input_audio.data, format=p.input_audio.format))
    if p.type == "file" and p.file is not None:
        return pb.ContentPart(file=pb.FileData(file_id=p.file.file_id or "", file_data=p.file.file_data or "", filename=p.file.filename or ""))
    return pb.ContentPart(text=p.text or "")
