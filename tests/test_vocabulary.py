"""Every ProtoEnum table: names <-> proto enum values, both ways, derived from descriptors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import pytest

from agentgateway.v1 import messages_pb2 as pb
from agentgateway.v1 import registry_service_pb2 as reg_pb
from agentgateway.v1 import responses_pb2 as rpb
from agentgateway.v1 import security_service_pb2 as sec_pb
from agentgateway.v1 import tool_service_pb2 as tool_pb
from agentgateway.v1 import upstream_service_pb2 as up_pb
from services import vocabulary
from services.registry import servicer as registry_servicer
from services.registry.catalog import AgentSource
from services.registry.discovery import ExportKind, Stage
from services.registry.events import EventKind
from services.responses import wire as responses_wire
from services.rpc.enums import ProtoEnum
from services.security import servicer as security_servicer
from services.security.audit import AuditAction
from services.security.overrides import OverrideEffect
from services.tools import servicer as tools_servicer
from services.tools.provider import ToolKind
from services.upstreams import HealthState, UpstreamApi
from services.upstreams import servicer as upstreams_servicer

# (table, generated enum, the domain's Literal)
TABLES: dict[str, tuple[ProtoEnum[Any, Any], Any, Any]] = {
    "ROLE": (vocabulary.ROLE, pb.Role, vocabulary.Role),
    "TOOL_CHOICE_MODE": (vocabulary.TOOL_CHOICE_MODE, pb.ToolChoiceMode, vocabulary.ToolChoiceMode),
    "RESPONSE_FORMAT_TYPE": (vocabulary.RESPONSE_FORMAT_TYPE, pb.ResponseFormatType, vocabulary.ResponseFormatType),
    "FINISH_REASON": (vocabulary.FINISH_REASON, pb.FinishReason, vocabulary.FinishReason),
    "TOOL_SOURCE": (vocabulary.TOOL_SOURCE, pb.ToolSource, vocabulary.ToolSource),
    "ACTION": (security_servicer.ACTION, sec_pb.Action, AuditAction),
    "EFFECT": (security_servicer.EFFECT, sec_pb.OverrideEffect, OverrideEffect),
    "SOURCE": (registry_servicer.SOURCE, reg_pb.AgentSource, AgentSource),
    "EXPORT_KIND": (registry_servicer.EXPORT_KIND, reg_pb.ExportKind, ExportKind),
    "STAGE": (registry_servicer.STAGE, reg_pb.DiagnosticStage, Stage),
    "EVENT_KIND": (registry_servicer.EVENT_KIND, reg_pb.CatalogEventType, EventKind),
    "KIND": (tools_servicer.KIND, tool_pb.ToolKind, ToolKind),
    "STATUS": (responses_wire.STATUS, rpb.ResponseStatus, responses_wire.ResponseStatus),
    "UPSTREAM_API": (upstreams_servicer.API, up_pb.UpstreamApi, UpstreamApi),
    "HEALTH_STATE": (upstreams_servicer.HEALTH, up_pb.HealthState, HealthState),
}
IDS = list(TABLES)
PARAMS = list(TABLES.values())
REPO = Path(__file__).resolve().parents[1]
ENUM_MODULES = [vocabulary, security_servicer, registry_servicer, tools_servicer, responses_wire, upstreams_servicer]


def _cases() -> list[tuple[str, ProtoEnum[Any, Any], str, int]]:
    """(table id, table, name, value) for every name of every table."""
    return [(key, table, name, table.to_proto(name)) for key, (table, _, _) in TABLES.items() for name in table.names]


def _nonzero_values() -> list[tuple[str, ProtoEnum[Any, Any], int, str]]:
    out = []
    for key, (table, enum, _) in TABLES.items():
        for value in enum.DESCRIPTOR.values:
            if value.number != 0:
                out.append((key, table, value.number, value.name))
    return out


def test_every_table_is_covered() -> None:
    found = {id(v) for module in ENUM_MODULES for v in vars(module).values() if isinstance(v, ProtoEnum)}
    assert found == {id(table) for table, _, _ in PARAMS}
    # ...and there are no tables elsewhere: a new one must be added to TABLES.
    defined = {
        f"{path.relative_to(REPO)}:{line.split(':')[0].strip()}"
        for root in ("services", "shim")
        for path in (REPO / root).rglob("*.py")
        for line in path.read_text().splitlines()
        if "= ProtoEnum(" in line
    }
    assert len(defined) == len(TABLES), sorted(defined)


@pytest.mark.parametrize(("table", "enum", "literal"), PARAMS, ids=IDS)
def test_names_are_exactly_the_literal(table: ProtoEnum[Any, Any], enum: Any, literal: Any) -> None:
    assert sorted(table.names) == sorted(get_args(literal))
    assert len(table.names) == len(enum.DESCRIPTOR.values) - 1  # every value but UNSPECIFIED


@pytest.mark.parametrize(("key", "table", "name", "value"), _cases(), ids=[f"{c[0]}-{c[2]}" for c in _cases()])
def test_name_round_trips(key: str, table: ProtoEnum[Any, Any], name: str, value: int) -> None:
    assert value != 0
    assert table.from_proto(table.to_proto(name)) == name
    assert table.parse(name) == name


@pytest.mark.parametrize(("key", "table", "value", "proto_name"), _nonzero_values(), ids=[f"{c[0]}-{c[3]}" for c in _nonzero_values()])
def test_value_round_trips(key: str, table: ProtoEnum[Any, Any], value: int, proto_name: str) -> None:
    name = table.from_proto(value)
    assert name is not None
    assert table.to_proto(name) == value
    assert proto_name.endswith("_" + name.upper())  # ROLE_USER <-> "user"


@pytest.mark.parametrize(
    ("table", "name", "value"),
    [
        (vocabulary.ROLE, "user", pb.ROLE_USER),
        (vocabulary.ROLE, "developer", pb.ROLE_DEVELOPER),
        (vocabulary.TOOL_CHOICE_MODE, "required", pb.TOOL_CHOICE_MODE_REQUIRED),
        (vocabulary.RESPONSE_FORMAT_TYPE, "json_schema", pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA),
        (vocabulary.FINISH_REASON, "tool_calls", pb.FINISH_REASON_TOOL_CALLS),
        (vocabulary.FINISH_REASON, "content_filter", pb.FINISH_REASON_CONTENT_FILTER),
        (vocabulary.TOOL_SOURCE, "mcp", pb.TOOL_SOURCE_MCP),
        (security_servicer.ACTION, "use_model", sec_pb.ACTION_USE_MODEL),
    ],
)
def test_known_pairs(table: ProtoEnum[Any, Any], name: str, value: int) -> None:
    # Multi-word names keep their underscores; the prefix is stripped exactly once.
    assert table.to_proto(name) == value
    assert table.from_proto(value) == name


@pytest.mark.parametrize(("table", "enum", "literal"), PARAMS, ids=IDS)
def test_unspecified_and_unknown_values_are_none(table: ProtoEnum[Any, Any], enum: Any, literal: Any) -> None:
    assert table.from_proto(0) is None
    beyond = max(v.number for v in enum.DESCRIPTOR.values) + 1
    assert table.from_proto(beyond) is None
    assert table.from_proto(-1) is None


JUNK = [None, "", "unspecified", "UNSPECIFIED", " ", "nope", "0", "1"]


@pytest.mark.parametrize(("table", "enum", "literal"), PARAMS, ids=IDS)
def test_parse_junk_is_none(table: ProtoEnum[Any, Any], enum: Any, literal: Any) -> None:
    junk: list[str | None] = [*JUNK, *(n.upper() for n in table.names), *(f" {n}" for n in table.names), *(v.name for v in enum.DESCRIPTOR.values)]
    # Case, whitespace and the proto spelling (ROLE_USER) are not domain names.
    assert {text: table.parse(text) for text in junk} == dict.fromkeys(junk)


@pytest.mark.parametrize(("table", "enum", "literal"), PARAMS, ids=IDS)
def test_to_proto_of_unknown_name_raises(table: ProtoEnum[Any, Any], enum: Any, literal: Any) -> None:
    with pytest.raises(KeyError):
        table.to_proto("unspecified")


@pytest.mark.parametrize(
    ("enum", "literal"),
    [
        (pb.Role, Literal["system", "developer", "user", "assistant"]),  # one missing
        (pb.Role, Literal["system", "developer", "user", "assistant", "tool", "function"]),  # one extra
        (pb.FinishReason, Literal["stop", "length", "tool-calls", "content_filter"]),  # misspelt
        (pb.ToolSource, Literal["SDK", "GATEWAY", "MCP"]),  # wrong case
        (pb.ToolChoiceMode, Literal["unspecified", "none", "auto", "required"]),  # UNSPECIFIED is not a name
    ],
)
def test_disagreeing_literal_raises(enum: Any, literal: Any) -> None:
    with pytest.raises(TypeError, match=enum.DESCRIPTOR.full_name):
        ProtoEnum(enum, literal)


def test_agreeing_literal_builds_a_fresh_table() -> None:
    table: ProtoEnum[Any, Any] = ProtoEnum(pb.Role, Literal["tool", "assistant", "user", "developer", "system"])
    # Order of the Literal does not matter; the table follows the descriptor's order.
    assert table.names == vocabulary.ROLE.names == ("system", "developer", "user", "assistant", "tool")
    assert table.to_proto("tool") == pb.ROLE_TOOL


def test_sampling_fields_are_the_proto_fields() -> None:
    assert vocabulary.SAMPLING_FIELDS == (
        "temperature",
        "top_p",
        "max_tokens",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "parallel_tool_calls",
        "n",
        "reasoning_effort",
    )
