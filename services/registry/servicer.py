"""RegistryService over gRPC: transport only; the catalogue lives in ``AgentCatalog``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.protobuf import timestamp_pb2

from agentgateway.v1 import registry_service_pb2 as pb
from agentgateway.v1 import registry_service_pb2_grpc as pb_grpc
from services.errors import invalid_argument, model_not_found
from services.registry.catalog import AgentCatalog, AgentEntry, AgentSource, Diagnostic
from services.registry.discovery import ExportKind, Stage
from services.registry.events import CatalogEvent, EventKind
from services.rpc.enums import ProtoEnum
from services.rpc.paging import page_of, page_slice
from services.security.context import caller
from services.security.gatekeeper import Gatekeeper
from services.security.keys import Principal

__all__ = ["RegistryServicer", "agent_to_proto", "event_to_proto"]

SOURCE: ProtoEnum[AgentSource, pb.AgentSource] = ProtoEnum(pb.AgentSource, AgentSource)
EXPORT_KIND: ProtoEnum[ExportKind, pb.ExportKind] = ProtoEnum(pb.ExportKind, ExportKind)
STAGE: ProtoEnum[Stage, pb.DiagnosticStage] = ProtoEnum(pb.DiagnosticStage, Stage)
EVENT_KIND: ProtoEnum[EventKind, pb.CatalogEventType] = ProtoEnum(pb.CatalogEventType, EventKind)


def agent_to_proto(entry: AgentEntry, *, tracebacks: bool = True) -> pb.Agent:
    """``tracebacks``: include the stale reason's traceback (for admin callers only)."""
    agent = pb.Agent(
        name=f"agents/{entry.id}",
        id=entry.id,
        description=entry.description,
        source=SOURCE.to_proto(entry.source),
        export_kind=EXPORT_KIND.to_proto(entry.export_kind) if entry.export_kind else pb.EXPORT_KIND_UNSPECIFIED,
        upstream=entry.upstream or "",
        model=entry.upstream_model or "",
        aliases=list(entry.aliases),
        path=entry.path or "",
        max_turns=entry.max_turns or 0,
        agent_name=entry.agent_name,
    )
    if entry.timeout_s is not None:
        agent.timeout.FromNanoseconds(int(entry.timeout_s * 1e9))
    if entry.stale_since is not None:
        agent.stale_since.FromDatetime(entry.stale_since)
    if entry.stale_reason is not None:
        agent.stale_reason.CopyFrom(diagnostic_to_proto(entry.stale_reason, traceback=tracebacks))
    return agent


def diagnostic_to_proto(diagnostic: Diagnostic, *, traceback: bool = True) -> pb.Diagnostic:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(diagnostic.time)
    return pb.Diagnostic(
        path=diagnostic.path,
        agent_id=diagnostic.agent_id,
        stage=STAGE.to_proto(diagnostic.stage),
        error_type=diagnostic.error_type,
        message=diagnostic.message,
        traceback=diagnostic.traceback if traceback else "",
        time=stamp,
        stale=diagnostic.stale,
    )


def event_to_proto(event: CatalogEvent, *, tracebacks: bool = True) -> pb.CatalogEvent:
    message = pb.CatalogEvent(type=EVENT_KIND.to_proto(event.kind), agent_id=event.agent_id)
    if event.entry is not None:
        message.agent.CopyFrom(agent_to_proto(event.entry, tracebacks=tracebacks))
    if event.diagnostic is not None:
        message.diagnostic.CopyFrom(diagnostic_to_proto(event.diagnostic, traceback=tracebacks))
    return message


def _entry_id(entry: AgentEntry) -> str:
    return entry.id


def _event_agent_id(event: CatalogEvent) -> str:
    return event.agent_id


class RegistryServicer(pb_grpc.RegistryServiceServicer):
    def __init__(self, catalog: AgentCatalog, gatekeeper: Gatekeeper) -> None:
        self._catalog = catalog
        self._gatekeeper = gatekeeper

    async def ListAgents(
        self, request: pb.ListAgentsRequest, context: grpc.aio.ServicerContext[pb.ListAgentsRequest, pb.ListAgentsResponse]
    ) -> pb.ListAgentsResponse:
        # A key sees only the models it may use.
        principal = caller().principal
        entries = await self._gatekeeper.visible(principal, "use_model", self._catalog.list(), _entry_id)
        page, token = page_of(entries, _entry_id, request.page_size, request.page_token)
        tracebacks = await self._reads_tracebacks(principal)
        return pb.ListAgentsResponse(agents=[agent_to_proto(e, tracebacks=tracebacks) for e in page], next_page_token=token)

    async def GetAgent(self, request: pb.GetAgentRequest, context: grpc.aio.ServicerContext[pb.GetAgentRequest, pb.GetAgentResponse]) -> pb.GetAgentResponse:
        model_id = request.name.removeprefix("agents/")
        if not model_id:
            raise invalid_argument("name is required, e.g. agents/default/weather", "name")
        entry = self._catalog.get(model_id)
        if entry is None:
            raise model_not_found(model_id)
        call = caller()
        await self._gatekeeper.require(call.principal, "use_model", entry.id, call.request_id)
        return pb.GetAgentResponse(agent=agent_to_proto(entry, tracebacks=await self._reads_tracebacks(call.principal)))

    async def WatchAgents(
        self, request: pb.WatchAgentsRequest, context: grpc.aio.ServicerContext[pb.WatchAgentsRequest, pb.WatchAgentsResponse]
    ) -> AsyncIterator[pb.WatchAgentsResponse]:
        principal = caller().principal
        tracebacks = await self._reads_tracebacks(principal)
        with self._catalog.watch() as follower:
            # What a key may see is decided per response: a policy reload applies to open watches.
            entries = await self._gatekeeper.visible(principal, "use_model", follower.snapshot, _entry_id)
            added = [pb.CatalogEvent(type=pb.CATALOG_EVENT_TYPE_ADDED, agent_id=e.id, agent=agent_to_proto(e, tracebacks=tracebacks)) for e in entries]
            yield pb.WatchAgentsResponse(events=added, snapshot=True)
            while (batch := await follower.next()) is not None:
                events = await self._gatekeeper.visible(principal, "use_model", batch, _event_agent_id)
                if events:
                    yield pb.WatchAgentsResponse(events=[event_to_proto(e, tracebacks=tracebacks) for e in events])

    async def _reads_tracebacks(self, principal: Principal | None) -> bool:
        """Tracebacks show lines of agent code: for the keys that may read ListDiagnostics."""
        decision = await self._gatekeeper.authorize(principal, "call_admin", "RegistryService/ListDiagnostics", audit=False)
        return decision.allowed

    async def RefreshAgents(
        self, request: pb.RefreshAgentsRequest, context: grpc.aio.ServicerContext[pb.RefreshAgentsRequest, pb.RefreshAgentsResponse]
    ) -> pb.RefreshAgentsResponse:
        await self._catalog.refresh()
        return pb.RefreshAgentsResponse(agent_count=len(self._catalog.list()), diagnostic_count=len(self._catalog.diagnostics))

    async def ListDiagnostics(
        self, request: pb.ListDiagnosticsRequest, context: grpc.aio.ServicerContext[pb.ListDiagnosticsRequest, pb.ListDiagnosticsResponse]
    ) -> pb.ListDiagnosticsResponse:
        diagnostics: list[Diagnostic] = sorted(self._catalog.diagnostics, key=lambda d: (d.path, d.agent_id, d.stage))
        keys = [f"{d.path}\x00{d.agent_id}\x00{i:06d}" for i, d in enumerate(diagnostics)]
        start, end, token = page_slice(keys, request.page_size, request.page_token)
        return pb.ListDiagnosticsResponse(diagnostics=[diagnostic_to_proto(d) for d in diagnostics[start:end]], next_page_token=token)
