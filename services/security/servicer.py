"""SecurityService over gRPC: transport only; decisions live in ``Gatekeeper`` and ``Policy``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import grpc
from google.protobuf import timestamp_pb2

from agentgateway.v1 import security_service_pb2 as pb
from agentgateway.v1 import security_service_pb2_grpc as pb_grpc
from services.errors import GatewayError, invalid_argument
from services.rpc.enums import ProtoEnum
from services.rpc.paging import page_of
from services.security.audit import AuditAction, AuditEvent
from services.security.context import caller
from services.security.gatekeeper import Gatekeeper
from services.security.keys import Principal
from services.security.overrides import Override, OverrideEffect, new_override, override_id_from_name
from services.security.policy import ACTIONS, Action, Decision

__all__ = ["SecurityServicer"]

ACTION: ProtoEnum[AuditAction, pb.Action] = ProtoEnum(pb.Action, AuditAction)
EFFECT: ProtoEnum[OverrideEffect, pb.OverrideEffect] = ProtoEnum(pb.OverrideEffect, OverrideEffect)
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
        action=_action_to_proto(override.action),
        pattern=override.pattern,
        effect=EFFECT.to_proto(override.effect),
        expire_time=_timestamp(override.expire_time),
        reason=override.reason,
    )


def audit_to_proto(event: AuditEvent) -> pb.AuditEvent:
    return pb.AuditEvent(
        time=_timestamp(event.time),
        request_id=event.request_id,
        key_id=event.key_id,
        action=_action_to_proto(event.action),
        resource=event.resource,
        allowed=event.allowed,
        policy=event.policy,
    )


class SecurityServicer(pb_grpc.SecurityServiceServicer):
    def __init__(self, gatekeeper: Gatekeeper) -> None:
        self._gate = gatekeeper

    async def Authenticate(
        self, request: pb.AuthenticateRequest, context: grpc.aio.ServicerContext[pb.AuthenticateRequest, pb.AuthenticateResponse]
    ) -> pb.AuthenticateResponse:
        return pb.AuthenticateResponse(principal=principal_to_proto(_principal_of_call()))

    async def Authorize(
        self, request: pb.AuthorizeRequest, context: grpc.aio.ServicerContext[pb.AuthorizeRequest, pb.AuthorizeResponse]
    ) -> pb.AuthorizeResponse:
        subject = _principal_of_call()
        if request.key_id and request.key_id != subject.key_id:
            # Asking on behalf of another key is an admin act.
            if not subject.is_admin:
                raise GatewayError("PERMISSION_DENIED", "ADMIN_REQUIRED", "only admin keys may authorize on behalf of another key")
            subject = self._principal(request.key_id, "key_id")
        decision = await self._gate.authorize(subject, _action(request.action), request.resource, caller().request_id)
        return pb.AuthorizeResponse(decision=decision_to_proto(decision))

    async def PreviewDecision(
        self, request: pb.PreviewDecisionRequest, context: grpc.aio.ServicerContext[pb.PreviewDecisionRequest, pb.PreviewDecisionResponse]
    ) -> pb.PreviewDecisionResponse:
        if not request.key_id:
            raise invalid_argument("key_id is required", "key_id")
        subject = self._principal(request.key_id, "key_id")
        decision = await self._gate.authorize(subject, _action(request.action), request.resource, audit=False)
        return pb.PreviewDecisionResponse(decision=decision_to_proto(decision))

    async def CreateOverride(
        self, request: pb.CreateOverrideRequest, context: grpc.aio.ServicerContext[pb.CreateOverrideRequest, pb.CreateOverrideResponse]
    ) -> pb.CreateOverrideResponse:
        spec = request.override
        if request.ttl.ToNanoseconds() <= 0:
            raise invalid_argument('ttl is required and must be positive (e.g. "3600s")', "ttl")
        ttl = timedelta(microseconds=request.ttl.ToMicroseconds())
        if ttl > _MAX_TTL:
            raise invalid_argument(f"ttl may be at most {_MAX_TTL.days} days", "ttl")
        if spec.key_id:
            self._principal(spec.key_id, "override.key_id")
        action = _action(spec.action)
        effect = EFFECT.from_proto(spec.effect)
        if effect is None:
            raise invalid_argument("effect is required (OVERRIDE_EFFECT_GRANT or OVERRIDE_EFFECT_REVOKE)", "override.effect")
        try:
            override = new_override(
                action=action,
                pattern=spec.pattern,
                effect=effect,
                ttl=ttl,
                key_id=spec.key_id or None,
                namespace=spec.namespace or None,
                reason=spec.reason,
            )
        except ValueError as exc:
            raise invalid_argument(str(exc), "override") from None
        created = await self._gate.overrides.create(override)
        return pb.CreateOverrideResponse(override=override_to_proto(created))

    async def ListOverrides(
        self, request: pb.ListOverridesRequest, context: grpc.aio.ServicerContext[pb.ListOverridesRequest, pb.ListOverridesResponse]
    ) -> pb.ListOverridesResponse:
        overrides = sorted(await self._gate.overrides.list(), key=lambda o: o.id)
        page, token = page_of(overrides, lambda o: o.id, request.page_size, request.page_token)
        return pb.ListOverridesResponse(overrides=[override_to_proto(o) for o in page], next_page_token=token)

    async def DeleteOverride(
        self, request: pb.DeleteOverrideRequest, context: grpc.aio.ServicerContext[pb.DeleteOverrideRequest, pb.DeleteOverrideResponse]
    ) -> pb.DeleteOverrideResponse:
        try:
            override_id = override_id_from_name(request.name)
        except ValueError as exc:
            raise invalid_argument(str(exc), "name") from None
        if not await self._gate.overrides.delete(override_id):
            raise GatewayError("NOT_FOUND", "OVERRIDE_NOT_FOUND", f"no live override {request.name!r}")
        return pb.DeleteOverrideResponse()

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: grpc.aio.ServicerContext[pb.ListAuditEventsRequest, pb.ListAuditEventsResponse]
    ) -> pb.ListAuditEventsResponse:
        try:
            events, token = await self._gate.audit.list(
                key_id=request.key_id or None,
                action=ACTION.from_proto(request.action),
                resource=request.resource or None,
                allowed=request.allowed if request.HasField("allowed") else None,
                start_time=request.start_time.ToDatetime(UTC) if request.HasField("start_time") else None,
                page_size=request.page_size,
                page_token=request.page_token,
            )
        except ValueError:
            raise invalid_argument("page_token is not valid", "page_token") from None
        return pb.ListAuditEventsResponse(events=[audit_to_proto(e) for e in events], next_page_token=token)

    async def ReloadPolicy(
        self, request: pb.ReloadPolicyRequest, context: grpc.aio.ServicerContext[pb.ReloadPolicyRequest, pb.ReloadPolicyResponse]
    ) -> pb.ReloadPolicyResponse:
        return pb.ReloadPolicyResponse(key_count=self._gate.reload())

    def _principal(self, key_id: str, param: str) -> Principal:
        principal = self._gate.principal(key_id)
        if principal is None:
            raise GatewayError("NOT_FOUND", "KEY_NOT_FOUND", f"no key with id {key_id!r}", {"param": param})
        return principal


def _principal_of_call() -> Principal:
    principal = caller().principal
    if principal is None:  # the interceptor authenticates first; this is a second lock
        raise GatewayError("UNAUTHENTICATED", "UNAUTHENTICATED", "a valid API key is required")
    return principal


def _action(value: int) -> Action:
    """An action the policy decides (not resolve_approval, which only the audit trail knows)."""
    action = ACTION.from_proto(value)
    if action is None or action not in ACTIONS:
        raise invalid_argument("action is required (ACTION_USE_MODEL, ACTION_USE_TOOL, ACTION_CALL_ADMIN or ACTION_LOAD_MODULE)", "action")
    return cast(Action, action)


def _action_to_proto(action: str) -> pb.Action:
    known = ACTION.parse(action)
    return ACTION.to_proto(known) if known is not None else pb.ACTION_UNSPECIFIED
