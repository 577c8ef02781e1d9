"""OpenAI chat completions request, validated. Unknown top-level fields are kept in ``extra``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["ChatCompletionRequest", "ValidationError", "param_of"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageUrl(_Strict):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class InputAudio(_Strict):
    data: str
    format: str


class FileRef(_Strict):
    file_id: str | None = None
    file_data: str | None = None
    filename: str | None = None


class ContentPart(_Strict):
    type: Literal["text", "image_url", "input_audio", "file"]
    text: str | None = None
    image_url: ImageUrl | None = None
    input_audio: InputAudio | None = None
    file: FileRef | None = None


class FunctionCall(_Strict):
    name: str
    arguments: str = ""


class ToolCall(_Strict):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(BaseModel):
    # OpenAI clients send a few extra per-message fields (e.g. audio); ignore them.
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None


class FunctionDefinition(_Strict):
    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(_Strict):
    type: Literal["function"]
    function: FunctionDefinition


class NamedToolChoice(_Strict):
    class _Fn(_Strict):
        name: str

    type: Literal["function"]
    function: _Fn


class JsonSchemaSpec(_Strict):
    name: str
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool | None = None


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    # Bounded by the proto field types (int32 max_tokens, int64 seed): larger values are a 400, not a crash.
    max_tokens: int | None = Field(default=None, ge=1, le=2**31 - 1)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=2**31 - 1)
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    n: int | None = Field(default=None, ge=1, le=1)
    tools: list[ToolDefinition] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    user: str | None = None
    reasoning_effort: str | None = None

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, value: str | list[str] | None) -> list[str] | None:
        if isinstance(value, str):
            return [value]
        if value is not None and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    @property
    def extra(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


_UNION_BRANCHES = frozenset({"str", "list[ContentPart]", "literal['none','auto','required']", "NamedToolChoice", "list[str]"})


def _param(loc: tuple[int | str, ...]) -> str:
    param = ""
    for part in loc:
        if isinstance(part, int):
            param += f"[{part}]"
        elif part not in _UNION_BRANCHES:  # union branch names pydantic adds to locations
            param += ("." if param else "") + str(part)
    return param


def param_of(error: ValidationError) -> tuple[str, str]:
    """OpenAI-style ``param`` (``messages[0].role``) and a message for the first problem.

    A union field (``content: str | list[ContentPart]``) fails once per branch; the deepest
    failure under the same field names the real problem (``messages[0].content[0].image_url.detail``,
    not "should be a valid string")."""
    errors = error.errors()
    field = _param(errors[0]["loc"])
    under = [e for e in errors if _param(e["loc"]) == field or _param(e["loc"]).startswith((field + ".", field + "["))]
    first = max(under, key=lambda e: len(_param(e["loc"])))
    param = _param(first["loc"])
    message = first["msg"]
    if first["type"] == "missing":
        message = f"Missing required parameter: '{param}'."
    elif first["type"] == "extra_forbidden":
        message = f"Unrecognized request argument supplied: {param}"
    else:
        message = f"Invalid value for '{param}': {message}"
    return param, message
