from agentgateway.v1 import messages_pb2 as _messages_pb2
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
    __slots__ = ("id", "model", "created", "message", "finish_reason", "usage", "events")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    model: str
    created: int
    message: _messages_pb2.ChatMessage
    finish_reason: _messages_pb2.FinishReason
    usage: _messages_pb2.Usage
    events: _containers.RepeatedCompositeFieldContainer[_messages_pb2.AgentEvent]
    def __init__(self, id: _Optional[str] = ..., model: _Optional[str] = ..., created: _Optional[int] = ..., message: _Optional[_Union[_messages_pb2.ChatMessage, _Mapping]] = ..., finish_reason: _Optional[_Union[_messages_pb2.FinishReason, str]] = ..., usage: _Optional[_Union[_messages_pb2.Usage, _Mapping]] = ..., events: _Optional[_Iterable[_Union[_messages_pb2.AgentEvent, _Mapping]]] = ...) -> None: ...

class StreamChatCompletionRequest(_message.Message):
    __slots__ = ("chat",)
    CHAT_FIELD_NUMBER: _ClassVar[int]
    chat: _messages_pb2.ChatRequest
    def __init__(self, chat: _Optional[_Union[_messages_pb2.ChatRequest, _Mapping]] = ...) -> None: ...

class StreamChatCompletionResponse(_message.Message):
    __slots__ = ("id", "model", "created", "event")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    model: str
    created: int
    event: _messages_pb2.AgentEvent
    def __init__(self, id: _Optional[str] = ..., model: _Optional[str] = ..., created: _Optional[int] = ..., event: _Optional[_Union[_messages_pb2.AgentEvent, _Mapping]] = ...) -> None: ...
