import datetime

from agentgateway.v1 import messages_pb2 as _messages_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResponseStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESPONSE_STATUS_UNSPECIFIED: _ClassVar[ResponseStatus]
    RESPONSE_STATUS_IN_PROGRESS: _ClassVar[ResponseStatus]
    RESPONSE_STATUS_COMPLETED: _ClassVar[ResponseStatus]
    RESPONSE_STATUS_INCOMPLETE: _ClassVar[ResponseStatus]
    RESPONSE_STATUS_FAILED: _ClassVar[ResponseStatus]
RESPONSE_STATUS_UNSPECIFIED: ResponseStatus
RESPONSE_STATUS_IN_PROGRESS: ResponseStatus
RESPONSE_STATUS_COMPLETED: ResponseStatus
RESPONSE_STATUS_INCOMPLETE: ResponseStatus
RESPONSE_STATUS_FAILED: ResponseStatus

class ResponseItem(_message.Message):
    __slots__ = ("id", "message", "function_call", "function_call_output", "reasoning", "approval_request", "approval_response", "mcp_call", "other")
    ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_CALL_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_CALL_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_REQUEST_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    MCP_CALL_FIELD_NUMBER: _ClassVar[int]
    OTHER_FIELD_NUMBER: _ClassVar[int]
    id: str
    message: MessageItem
    function_call: FunctionCallItem
    function_call_output: FunctionCallOutputItem
    reasoning: ReasoningItem
    approval_request: ApprovalRequestItem
    approval_response: ApprovalResponseItem
    mcp_call: McpCallItem
    other: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., message: _Optional[_Union[MessageItem, _Mapping]] = ..., function_call: _Optional[_Union[FunctionCallItem, _Mapping]] = ..., function_call_output: _Optional[_Union[FunctionCallOutputItem, _Mapping]] = ..., reasoning: _Optional[_Union[ReasoningItem, _Mapping]] = ..., approval_request: _Optional[_Union[ApprovalRequestItem, _Mapping]] = ..., approval_response: _Optional[_Union[ApprovalResponseItem, _Mapping]] = ..., mcp_call: _Optional[_Union[McpCallItem, _Mapping]] = ..., other: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class MessageItem(_message.Message):
    __slots__ = ("role", "content", "status")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    role: _messages_pb2.Role
    content: _containers.RepeatedCompositeFieldContainer[_messages_pb2.ContentPart]
    status: str
    def __init__(self, role: _Optional[_Union[_messages_pb2.Role, str]] = ..., content: _Optional[_Iterable[_Union[_messages_pb2.ContentPart, _Mapping]]] = ..., status: _Optional[str] = ...) -> None: ...

class FunctionCallItem(_message.Message):
    __slots__ = ("call_id", "name", "arguments", "status")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    name: str
    arguments: str
    status: str
    def __init__(self, call_id: _Optional[str] = ..., name: _Optional[str] = ..., arguments: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class FunctionCallOutputItem(_message.Message):
    __slots__ = ("call_id", "output")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    output: str
    def __init__(self, call_id: _Optional[str] = ..., output: _Optional[str] = ...) -> None: ...

class ReasoningItem(_message.Message):
    __slots__ = ("summary",)
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    summary: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, summary: _Optional[_Iterable[str]] = ...) -> None: ...

class ApprovalRequestItem(_message.Message):
    __slots__ = ("name", "arguments", "server_label")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    SERVER_LABEL_FIELD_NUMBER: _ClassVar[int]
    name: str
    arguments: str
    server_label: str
    def __init__(self, name: _Optional[str] = ..., arguments: _Optional[str] = ..., server_label: _Optional[str] = ...) -> None: ...

class ApprovalResponseItem(_message.Message):
    __slots__ = ("approval_request_id", "approve", "reason")
    APPROVAL_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    approval_request_id: str
    approve: bool
    reason: str
    def __init__(self, approval_request_id: _Optional[str] = ..., approve: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class McpCallItem(_message.Message):
    __slots__ = ("server_label", "name", "arguments", "output", "status")
    SERVER_LABEL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    server_label: str
    name: str
    arguments: str
    output: str
    status: str
    def __init__(self, server_label: _Optional[str] = ..., name: _Optional[str] = ..., arguments: _Optional[str] = ..., output: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class ResponseRequest(_message.Message):
    __slots__ = ("model", "input", "instructions", "tools", "tool_choice", "text_format", "sampling", "metadata", "user", "store", "previous_response_id", "conversation", "extra")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CHOICE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELD_NUMBER: _ClassVar[int]
    model: str
    input: _containers.RepeatedCompositeFieldContainer[ResponseItem]
    instructions: str
    tools: _containers.RepeatedCompositeFieldContainer[_messages_pb2.ToolDefinition]
    tool_choice: _messages_pb2.ToolChoice
    text_format: _messages_pb2.ResponseFormat
    sampling: _messages_pb2.SamplingParams
    metadata: _containers.ScalarMap[str, str]
    user: str
    store: bool
    previous_response_id: str
    conversation: str
    extra: _struct_pb2.Struct
    def __init__(self, model: _Optional[str] = ..., input: _Optional[_Iterable[_Union[ResponseItem, _Mapping]]] = ..., instructions: _Optional[str] = ..., tools: _Optional[_Iterable[_Union[_messages_pb2.ToolDefinition, _Mapping]]] = ..., tool_choice: _Optional[_Union[_messages_pb2.ToolChoice, _Mapping]] = ..., text_format: _Optional[_Union[_messages_pb2.ResponseFormat, _Mapping]] = ..., sampling: _Optional[_Union[_messages_pb2.SamplingParams, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., user: _Optional[str] = ..., store: _Optional[bool] = ..., previous_response_id: _Optional[str] = ..., conversation: _Optional[str] = ..., extra: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ("id", "create_time", "model", "status", "output", "usage", "previous_response_id", "conversation", "metadata", "instructions", "incomplete_reason", "error", "store", "events")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    INCOMPLETE_REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    create_time: _timestamp_pb2.Timestamp
    model: str
    status: ResponseStatus
    output: _containers.RepeatedCompositeFieldContainer[ResponseItem]
    usage: _messages_pb2.Usage
    previous_response_id: str
    conversation: str
    metadata: _containers.ScalarMap[str, str]
    instructions: str
    incomplete_reason: str
    error: _messages_pb2.RunError
    store: bool
    events: _containers.RepeatedCompositeFieldContainer[_messages_pb2.AgentEvent]
    def __init__(self, id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., model: _Optional[str] = ..., status: _Optional[_Union[ResponseStatus, str]] = ..., output: _Optional[_Iterable[_Union[ResponseItem, _Mapping]]] = ..., usage: _Optional[_Union[_messages_pb2.Usage, _Mapping]] = ..., previous_response_id: _Optional[str] = ..., conversation: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., instructions: _Optional[str] = ..., incomplete_reason: _Optional[str] = ..., error: _Optional[_Union[_messages_pb2.RunError, _Mapping]] = ..., store: _Optional[bool] = ..., events: _Optional[_Iterable[_Union[_messages_pb2.AgentEvent, _Mapping]]] = ...) -> None: ...
