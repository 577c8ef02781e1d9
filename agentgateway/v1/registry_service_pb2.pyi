import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_SOURCE_UNSPECIFIED: _ClassVar[AgentSource]
    AGENT_SOURCE_DROP_IN: _ClassVar[AgentSource]
    AGENT_SOURCE_DECLARATIVE: _ClassVar[AgentSource]

class ExportKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_KIND_UNSPECIFIED: _ClassVar[ExportKind]
    EXPORT_KIND_AGENT: _ClassVar[ExportKind]
    EXPORT_KIND_FACTORY: _ClassVar[ExportKind]
    EXPORT_KIND_WORKFLOW: _ClassVar[ExportKind]

class DiagnosticStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIAGNOSTIC_STAGE_UNSPECIFIED: _ClassVar[DiagnosticStage]
    DIAGNOSTIC_STAGE_DISCOVER: _ClassVar[DiagnosticStage]
    DIAGNOSTIC_STAGE_IMPORT: _ClassVar[DiagnosticStage]
    DIAGNOSTIC_STAGE_EXPORT: _ClassVar[DiagnosticStage]
    DIAGNOSTIC_STAGE_REGISTER: _ClassVar[DiagnosticStage]
    DIAGNOSTIC_STAGE_POLICY: _ClassVar[DiagnosticStage]

class CatalogEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CATALOG_EVENT_TYPE_UNSPECIFIED: _ClassVar[CatalogEventType]
    CATALOG_EVENT_TYPE_ADDED: _ClassVar[CatalogEventType]
    CATALOG_EVENT_TYPE_UPDATED: _ClassVar[CatalogEventType]
    CATALOG_EVENT_TYPE_REMOVED: _ClassVar[CatalogEventType]
    CATALOG_EVENT_TYPE_FAILED: _ClassVar[CatalogEventType]
AGENT_SOURCE_UNSPECIFIED: AgentSource
AGENT_SOURCE_DROP_IN: AgentSource
AGENT_SOURCE_DECLARATIVE: AgentSource
EXPORT_KIND_UNSPECIFIED: ExportKind
EXPORT_KIND_AGENT: ExportKind
EXPORT_KIND_FACTORY: ExportKind
EXPORT_KIND_WORKFLOW: ExportKind
DIAGNOSTIC_STAGE_UNSPECIFIED: DiagnosticStage
DIAGNOSTIC_STAGE_DISCOVER: DiagnosticStage
DIAGNOSTIC_STAGE_IMPORT: DiagnosticStage
DIAGNOSTIC_STAGE_EXPORT: DiagnosticStage
DIAGNOSTIC_STAGE_REGISTER: DiagnosticStage
DIAGNOSTIC_STAGE_POLICY: DiagnosticStage
CATALOG_EVENT_TYPE_UNSPECIFIED: CatalogEventType
CATALOG_EVENT_TYPE_ADDED: CatalogEventType
CATALOG_EVENT_TYPE_UPDATED: CatalogEventType
CATALOG_EVENT_TYPE_REMOVED: CatalogEventType
CATALOG_EVENT_TYPE_FAILED: CatalogEventType

class Agent(_message.Message):
    __slots__ = ("name", "id", "description", "source", "export_kind", "upstream", "model", "aliases", "path", "timeout", "max_turns", "agent_name", "stale_since", "stale_reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    EXPORT_KIND_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MAX_TURNS_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    STALE_SINCE_FIELD_NUMBER: _ClassVar[int]
    STALE_REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    id: str
    description: str
    source: AgentSource
    export_kind: ExportKind
    upstream: str
    model: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    path: str
    timeout: _duration_pb2.Duration
    max_turns: int
    agent_name: str
    stale_since: _timestamp_pb2.Timestamp
    stale_reason: Diagnostic
    def __init__(self, name: _Optional[str] = ..., id: _Optional[str] = ..., description: _Optional[str] = ..., source: _Optional[_Union[AgentSource, str]] = ..., export_kind: _Optional[_Union[ExportKind, str]] = ..., upstream: _Optional[str] = ..., model: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., path: _Optional[str] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_turns: _Optional[int] = ..., agent_name: _Optional[str] = ..., stale_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stale_reason: _Optional[_Union[Diagnostic, _Mapping]] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents", "next_page_token")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[Agent]
    next_page_token: str
    def __init__(self, agents: _Optional[_Iterable[_Union[Agent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetAgentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class RefreshAgentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RefreshAgentsResponse(_message.Message):
    __slots__ = ("agent_count", "diagnostic_count")
    AGENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTIC_COUNT_FIELD_NUMBER: _ClassVar[int]
    agent_count: int
    diagnostic_count: int
    def __init__(self, agent_count: _Optional[int] = ..., diagnostic_count: _Optional[int] = ...) -> None: ...

class Diagnostic(_message.Message):
    __slots__ = ("path", "agent_id", "stage", "error_type", "message", "traceback", "time", "stale")
    PATH_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    path: str
    agent_id: str
    stage: DiagnosticStage
    error_type: str
    message: str
    traceback: str
    time: _timestamp_pb2.Timestamp
    stale: bool
    def __init__(self, path: _Optional[str] = ..., agent_id: _Optional[str] = ..., stage: _Optional[_Union[DiagnosticStage, str]] = ..., error_type: _Optional[str] = ..., message: _Optional[str] = ..., traceback: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stale: _Optional[bool] = ...) -> None: ...

class ListDiagnosticsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDiagnosticsResponse(_message.Message):
    __slots__ = ("diagnostics", "next_page_token")
    DIAGNOSTICS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    diagnostics: _containers.RepeatedCompositeFieldContainer[Diagnostic]
    next_page_token: str
    def __init__(self, diagnostics: _Optional[_Iterable[_Union[Diagnostic, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CatalogEvent(_message.Message):
    __slots__ = ("type", "agent_id", "agent", "diagnostic")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTIC_FIELD_NUMBER: _ClassVar[int]
    type: CatalogEventType
    agent_id: str
    agent: Agent
    diagnostic: Diagnostic
    def __init__(self, type: _Optional[_Union[CatalogEventType, str]] = ..., agent_id: _Optional[str] = ..., agent: _Optional[_Union[Agent, _Mapping]] = ..., diagnostic: _Optional[_Union[Diagnostic, _Mapping]] = ...) -> None: ...

class WatchAgentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchAgentsResponse(_message.Message):
    __slots__ = ("events", "snapshot")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[CatalogEvent]
    snapshot: bool
    def __init__(self, events: _Optional[_Iterable[_Union[CatalogEvent, _Mapping]]] = ..., snapshot: _Optional[bool] = ...) -> None: ...
