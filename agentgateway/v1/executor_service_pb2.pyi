import datetime

from agentgateway.v1 import messages_pb2 as _messages_pb2
from agentgateway.v1 import responses_pb2 as _responses_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateChatCompletionRequest(_message.Message):
    __slots__ = ("chat",)
    CHAT_FIELD_NUMBER: _ClassVar[int]
    chat: _messages_pb2.ChatRequest
    def __init__(self, chat: _Optional[_Union[_messages_pb2.ChatRequest, _Mapping]] = ...) -> None: ...

class CreateChatCompletionResponse(_message.Message):
    __slots__ = ("id", "model", "created", "message", "finish_reason", "usage", "events", "upstream_duration")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_DURATION_FIELD_NUMBER: _ClassVar[int]
    id: str
    model: str
    created: int
    message: _messages_pb2.ChatMessage
    finish_reason: _messages_pb2.FinishReason
    usage: _messages_pb2.Usage
    events: _containers.RepeatedCompositeFieldContainer[_messages_pb2.AgentEvent]
    upstream_duration: _duration_pb2.Duration
    def __init__(self, id: _Optional[str] = ..., model: _Optional[str] = ..., created: _Optional[int] = ..., message: _Optional[_Union[_messages_pb2.ChatMessage, _Mapping]] = ..., finish_reason: _Optional[_Union[_messages_pb2.FinishReason, str]] = ..., usage: _Optional[_Union[_messages_pb2.Usage, _Mapping]] = ..., events: _Optional[_Iterable[_Union[_messages_pb2.AgentEvent, _Mapping]]] = ..., upstream_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class StreamChatCompletionRequest(_message.Message):
    __slots__ = ("chat",)
    CHAT_FIELD_NUMBER: _ClassVar[int]
    chat: _messages_pb2.ChatRequest
    def __init__(self, chat: _Optional[_Union[_messages_pb2.ChatRequest, _Mapping]] = ...) -> None: ...

class StreamChatCompletionResponse(_message.Message):
    __slots__ = ("id", "model", "created", "event", "upstream_duration")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_DURATION_FIELD_NUMBER: _ClassVar[int]
    id: str
    model: str
    created: int
    event: _messages_pb2.AgentEvent
    upstream_duration: _duration_pb2.Duration
    def __init__(self, id: _Optional[str] = ..., model: _Optional[str] = ..., created: _Optional[int] = ..., event: _Optional[_Union[_messages_pb2.AgentEvent, _Mapping]] = ..., upstream_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Approval(_message.Message):
    __slots__ = ("name", "approval_id", "model", "calls", "create_time", "expire_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    approval_id: str
    model: str
    calls: _containers.RepeatedCompositeFieldContainer[_messages_pb2.ApprovalCall]
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., approval_id: _Optional[str] = ..., model: _Optional[str] = ..., calls: _Optional[_Iterable[_Union[_messages_pb2.ApprovalCall, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ApprovalDecision(_message.Message):
    __slots__ = ("name", "approve", "reason", "calls")
    NAME_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    name: str
    approve: bool
    reason: str
    calls: _containers.RepeatedCompositeFieldContainer[ToolCallDecision]
    def __init__(self, name: _Optional[str] = ..., approve: _Optional[bool] = ..., reason: _Optional[str] = ..., calls: _Optional[_Iterable[_Union[ToolCallDecision, _Mapping]]] = ...) -> None: ...

class ToolCallDecision(_message.Message):
    __slots__ = ("call_id", "approve", "reason")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    approve: bool
    reason: str
    def __init__(self, call_id: _Optional[str] = ..., approve: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class ResolveApprovalRequest(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: ApprovalDecision
    def __init__(self, decision: _Optional[_Union[ApprovalDecision, _Mapping]] = ...) -> None: ...

class ResolveApprovalResponse(_message.Message):
    __slots__ = ("id", "model", "created", "message", "finish_reason", "usage", "events", "upstream_duration")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_DURATION_FIELD_NUMBER: _ClassVar[int]
    id: str
    model: str
    created: int
    message: _messages_pb2.ChatMessage
    finish_reason: _messages_pb2.FinishReason
    usage: _messages_pb2.Usage
    events: _containers.RepeatedCompositeFieldContainer[_messages_pb2.AgentEvent]
    upstream_duration: _duration_pb2.Duration
    def __init__(self, id: _Optional[str] = ..., model: _Optional[str] = ..., created: _Optional[int] = ..., message: _Optional[_Union[_messages_pb2.ChatMessage, _Mapping]] = ..., finish_reason: _Optional[_Union[_messages_pb2.FinishReason, str]] = ..., usage: _Optional[_Union[_messages_pb2.Usage, _Mapping]] = ..., events: _Optional[_Iterable[_Union[_messages_pb2.AgentEvent, _Mapping]]] = ..., upstream_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class StreamResolveApprovalRequest(_message.Message):
    __slots__ = ("decision", "include_usage")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_USAGE_FIELD_NUMBER: _ClassVar[int]
    decision: ApprovalDecision
    include_usage: bool
    def __init__(self, decision: _Optional[_Union[ApprovalDecision, _Mapping]] = ..., include_usage: _Optional[bool] = ...) -> None: ...

class StreamResolveApprovalResponse(_message.Message):
    __slots__ = ("id", "model", "created", "event", "upstream_duration")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_DURATION_FIELD_NUMBER: _ClassVar[int]
    id: str
    model: str
    created: int
    event: _messages_pb2.AgentEvent
    upstream_duration: _duration_pb2.Duration
    def __init__(self, id: _Optional[str] = ..., model: _Optional[str] = ..., created: _Optional[int] = ..., event: _Optional[_Union[_messages_pb2.AgentEvent, _Mapping]] = ..., upstream_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GetApprovalRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetApprovalResponse(_message.Message):
    __slots__ = ("approval",)
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    approval: Approval
    def __init__(self, approval: _Optional[_Union[Approval, _Mapping]] = ...) -> None: ...

class CreateResponseRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: _responses_pb2.ResponseRequest
    def __init__(self, request: _Optional[_Union[_responses_pb2.ResponseRequest, _Mapping]] = ...) -> None: ...

class CreateResponseResponse(_message.Message):
    __slots__ = ("response", "upstream_duration")
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_DURATION_FIELD_NUMBER: _ClassVar[int]
    response: _responses_pb2.Response
    upstream_duration: _duration_pb2.Duration
    def __init__(self, response: _Optional[_Union[_responses_pb2.Response, _Mapping]] = ..., upstream_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class StreamResponseRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: _responses_pb2.ResponseRequest
    def __init__(self, request: _Optional[_Union[_responses_pb2.ResponseRequest, _Mapping]] = ...) -> None: ...

class StreamResponseResponse(_message.Message):
    __slots__ = ("started", "event", "finished", "upstream_duration")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_DURATION_FIELD_NUMBER: _ClassVar[int]
    started: _responses_pb2.Response
    event: _messages_pb2.AgentEvent
    finished: _responses_pb2.Response
    upstream_duration: _duration_pb2.Duration
    def __init__(self, started: _Optional[_Union[_responses_pb2.Response, _Mapping]] = ..., event: _Optional[_Union[_messages_pb2.AgentEvent, _Mapping]] = ..., finished: _Optional[_Union[_responses_pb2.Response, _Mapping]] = ..., upstream_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GetResponseRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetResponseResponse(_message.Message):
    __slots__ = ("response",)
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    response: _responses_pb2.Response
    def __init__(self, response: _Optional[_Union[_responses_pb2.Response, _Mapping]] = ...) -> None: ...

class DeleteResponseRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteResponseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListResponseInputItemsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListResponseInputItemsResponse(_message.Message):
    __slots__ = ("items", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_responses_pb2.ResponseItem]
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[_responses_pb2.ResponseItem, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
