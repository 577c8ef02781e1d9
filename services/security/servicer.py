"""SecurityService over gRPC: transport only; decisions live in ``Gatekeeper`` and ``Policy``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import timestamp_pb2

from agentgateway.v1 import security_service_pb2 as pb
from agentgateway.v1 import security_service_pb2_grpc as pb_grpc
from services.errors import GatewayError, invalid_argument
from services.rpc.status import abort
from services.security.audit import AuditEvent
from services.security.context import CallContext, current_call
from services.security.gatekeeper import Gatekeeper
from services.security.keys import Principal
from services.security.overrides import Override, new_override, override_id_from_name
from services.security.policy import Action, Decision

__all__ = ["SecurityServicer"]

_ACTIONS: dict[int, Action] = {
    pb.ACTION_USE_MODEL: "use_model",
    pb.ACTION_USE_TOOL: "use_tool",
    pb.ACTION_CALL_ADMIN: "call_admin",
    pb.ACTION_LOAD_MODULE: "load_module",
}
_ACTION_PB = {v: k for k, v in _ACTIONS.items()}
_EFFECTS = {pb.OVERRIDE_EFFECT_GRANT: "grant", pb.OVERRIDE_EFFECT_REVOKE: "revoke"}
_EFFECT_PB = {v: k for k, v in _EFFECTS.items()}
_MAX_TTL = timedelta(days=30)


def _timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def principal_to_proto(principal: Principal) -> pb.Principal:
    out = pb.Principal(key_id=principal.key_id, roles=sorted(principal.roles), models=list(principal.models), tools=list(principal.tools))
    if principal.rate_limit is not None:
        out.rate_limit.requests_per_minute = principal.rate_limit.requests_per_minute or 0
        out.rate_limit.tokens_per_minute = principal.rate_limit.tokens_per_minute or 0
    return out


def decision_to_proto(decision: Decision) -> pb.Decision:
    return pb.Decision(allowed=decision.allowed, policy=decision.policy, reason=decision.reason)


def override_to_proto(override: Override) -> pb.Override:
    return pb.Override(
        name=override.name,
        key_id=override.key_id or "",
        namespace=override.namespace or "",
        action=_ACTION_PB.get(override.action, pb.ACTION_UNSPECIFIED),  # type: ignore[call-overload]
        pattern=override.pattern,
        effect=_EFFECT_PB[override.effect],
        expire_time=_timestamp(override.expire_time),
        reason=override.reason,
    )


def audit_to_proto(event: AuditEvent) -> pb.AuditEvent:
    return pb.AuditEvent(
        time=_timestamp(event.time),
        request_id=event.request_id,
        key_id=event.key_id,
        action=_ACTION_PB.get(event.action, pb.ACTION_UNSPECIFIED),  # type: ignore[call-overload]
        resource=event.resource,
        allowed=event.allowed,
        policy=event.policy,
    )


class SecurityServicer(pb_grpc.SecurityServiceServicer):
    def __init__(self, gatekeeper: Gatekeeper) -> None:
        self._gate = gatekeeper

    async def Authenticate(self, request: pb.AuthenticateRequest, context: grpc.aio.ServicerContext) -> pb.AuthenticateResponse:
        call = await _call(context)
        return pb.AuthenticateResponse(principal=principal_to_proto(call.principal))  # type: ignore[arg-type]

    async def Authorize(self, request: pb.AuthorizeRequest, context: grpc.aio.ServicerContext) -> pb.AuthorizeResponse:
        call = await _call(context)
        assert call.principal is not None
        subject = call.principal
        if request.key_id and request.key_id != subject.key_id:
            # Asking on behalf of another key is an admin act.
            if not subject.is_admin:
                await abort(context, GatewayError("PERMISSION_DENIED", "ADMIN_REQUIRED", "only admin keys may authorize on behalf of another key"))
            subject = await self._principal(context, request.key_id)
        action = await _action(context, request.action)
        decision = await self._gate.authorize(subject, action, request.resource, call.request_id)
        return pb.AuthorizeResponse(decision=decision_to_proto(decision))

    async def PreviewDecision(self, request: pb.PreviewDecisionRequest, context: grpc.aio.ServicerContext) -> pb.PreviewDecisionResponse:
        if not request.key_id:
            await abort(context, invalid_argument("key_id is required", "key_id"))
        subject = await self._principal(context, request.key_id)
        action = await _action(context, request.action)
        decision = await self._gate.authorize(subject, action, request.resource, audit=False)
        return pb.PreviewDecisionResponse(decision=decision_to_proto(decision))

    async def CreateOverride(self, request: pb.CreateOverrideRequest, context: grpc.aio.ServicerContext) -> pb.CreateOverrideResponse:
        spec = request.override
        if request.ttl.ToNanoseconds() <= 0:
            await abort(context, invalid_argument('ttl is required and must be positive (e.g. "3600s")', "ttl"))
        ttl = timedelta(microseconds=request.ttl.ToMicroseconds())
        if ttl > _MAX_TTL:
            await abort(context, invalid_argument(f"ttl may be at most {_MAX_TTL.days} days", "ttl"))
        if spec.key_id and self._gate_principal(spec.key_id) is None:
            await abort(context, GatewayError("NOT_FOUND", "KEY_NOT_FOUND", f"no key with id {spec.key_id!r}", {"param": "override.key_id"}))
        action = await _action(context, spec.action)
        try:
            override = new_override(
                action=action,
                pattern=spec.pattern,
                effect=_EFFECTS.get(spec.effect, ""),  # type: ignore[arg-type]
                ttl=ttl,
                key_id=spec.key_id or None,
                namespace=spec.namespace or None,
                reason=spec.reason,
            )
        except ValueError as exc:
            await abort(context, invalid_argument(str(exc), "override"))
        created = await self._gate.overrides.create(override)
        return pb.CreateOverrideResponse(override=override_to_proto(created))

    async def ListOverrides(self, request: pb.ListOverridesRequest, context: grpc.aio.ServicerContext) -> pb.ListOverridesResponse:
        overrides = sorted(await self._gate.overrides.list(), key=lambda o: o.id)
        size = 100 if request.page_size <= 0 else min(request.page_size, 1000)
        start = 0
        if request.page_token:
            start = next((i for i, o in enumerate(overrides) if o.id > request.page_token), len(overrides))
        page = overrides[start : start + size]
        token = page[-1].id if start + size < len(overrides) and page else ""
        return pb.ListOverridesResponse(overrides=[override_to_proto(o) for o in page], next_page_token=token)

    async def DeleteOverride(self, request: pb.DeleteOverrideRequest, context: grpc.aio.ServicerContext) -> pb.DeleteOverrideResponse:
        try:
            override_id = override_id_from_name(request.name)
        except ValueError as exc:
            await abort(context, invalid_argument(str(exc), "name"))
        if not await self._gate.overrides.delete(override_id):
            await abort(context, GatewayError("NOT_FOUND", "OVERRIDE_NOT_FOUND", f"no live override {request.name!r}"))
        return pb.DeleteOverrideResponse()

    async def ListAuditEvents(self, request: pb.ListAuditEventsRequest, context: grpc.aio.ServicerContext) -> pb.ListAuditEventsResponse:
        try:
            events, token = self._gate.audit.list(
                key_id=request.key_id or None,
                action=_ACTIONS.get(request.action),
                resource=request.resource or None,
                allowed=request.allowed if request.HasField("allowed") else None,
                start_time=request.start_time.ToDatetime(UTC) if request.HasField("start_time") else None,
                page_size=request.page_size,
                page_token=request.page_token,
            )
        except ValueError:
            await abort(context, invalid_argument("page_token is not valid", "page_token"))
        return pb.ListAuditEventsResponse(events=[audit_to_proto(e) for e in events], next_page_token=token)

    async def ReloadPolicy(self, request: pb.ReloadPolicyRequest, context: grpc.aio.ServicerContext) -> pb.ReloadPolicyResponse:
        try:
            count = self._gate.reload()
        except GatewayError as error:
            await abort(context, error)
        return pb.ReloadPolicyResponse(key_count=count)

    def _gate_principal(self, key_id: str) -> Principal | None:
        return self._gate.principal(key_id)

    async def _principal(self, context: grpc.aio.ServicerContext, key_id: str) -> Principal:
        principal = self._gate.principal(key_id)
        if principal is None:
            await abort(context, GatewayError("NOT_FOUND", "KEY_NOT_FOUND", f"no key with id {key_id!r}", {"param": "key_id"}))
        return principal


async def _call(context: grpc.aio.ServicerContext) -> CallContext:
    call = current_call.get()
    if call is None or call.principal is None:
        await abort(context, GatewayError("UNAUTHENTICATED", "UNAUTHENTICATED", "a valid API key is required"))
    return call


async def _action(context: grpc.aio.ServicerContext, value: int) -> Action:
    action = _ACTIONS.get(value)
    if action is None:
        await abort(context, invalid_argument("action is required (ACTION_USE_MODEL, ACTION_USE_TOOL, ACTION_CALL_ADMIN or ACTION_LOAD_MODULE)", "action"))
    return action
