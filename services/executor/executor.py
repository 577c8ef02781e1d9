"""The executor: pick the agent, route it to its upstream, run it, bound it in time.

``stream()`` serves callers that want deltas as they happen; ``complete()`` serves unary
callers, whose runs skip streaming (plain SDK runs, non-streaming upstream calls). Either way
the run is driven by the caller's own task (the RPC's: one per call on either transport),
bounded by the run's deadline — for a stream, each wait for the next event, never a yield to
the caller. If the caller is cancelled (client disconnect, gRPC deadline) or stops reading,
the run is cancelled or closed, which cancels the upstream request. No task or queue of the
executor's sits between the run and the caller: an idle stream holds only what its run needs
(the SDK runs its agent loop in a task of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from services.errors import GatewayError, invalid_argument, model_not_found
from services.executor.approval_store import ApprovalStore, PendingApproval
from services.executor.approvals import Resolution, RunApprovals, agent_changed, request_to_resume
from services.executor.events import ChatInput, Completion, Event, FinalOutput, TextDelta, ToolCallDelta, Usage
from services.executor.failures import as_gateway_error
from services.executor.governance import AgentToolGovernor
from services.executor.passthrough import run_passthrough
from services.executor.request_info import RequestInfo, request_info, serving
from services.executor.routing import UpstreamModelProvider, refuse_hosted_tools, settle_implicit_model_settings
from services.executor.sdk_run import run_sdk_agent
from services.executor.tracing import NO_TRACING, RunTracing
from services.executor.workflow_run import run_workflow_export
from services.guest.pools import GuestPool, agent_busy, serving_agent
from services.log import get_logger
from services.metrics import RATE_LIMIT_REJECTIONS, UNKNOWN_MODEL, RunMetrics, requests_for, run_metrics
from services.registry.catalog import AgentCatalog, AgentEntry
from services.security.context import CallContext, caller
from services.security.gatekeeper import Gatekeeper
from services.security.ratelimit import Reservation
from services.tools.runtime import ToolRuntime
from services.tools.timings import open_timings
from services.upstreams import Upstream, UpstreamPool

__all__ = ["Executor"]

log = get_logger("executor")


@dataclass(frozen=True, slots=True)
class _Admitted:
    """A run past its checks: what it runs, for whom, and the budget it reserved."""

    entry: AgentEntry
    call: CallContext
    upstream: Upstream
    pool: GuestPool | None
    info: RequestInfo
    reservation: Reservation | None
    estimate: int
    started: float
    metrics: RunMetrics


# What a streaming client sees first: text, a client tool call, or (a reply with no deltas) the answer.
_OUTPUT = (TextDelta, ToolCallDelta, FinalOutput)


def _agent_timeout(entry: AgentEntry) -> GatewayError:
    return GatewayError("DEADLINE_EXCEEDED", "AGENT_TIMEOUT", f"agent {entry.id!r} did not finish within {entry.timeout_s:g}s")


class Executor:
    def __init__(
        self,
        catalog: AgentCatalog,
        upstreams: UpstreamPool,
        gatekeeper: Gatekeeper,
        *,
        tools: ToolRuntime | None = None,
        trace: RunTracing = NO_TRACING,
        approvals: ApprovalStore | None = None,
        approval_ttl_s: float = 3600.0,
    ) -> None:
        self._catalog = catalog
        self._upstreams = upstreams
        self._gatekeeper = gatekeeper
        self._tools = tools
        self._governor = AgentToolGovernor(gatekeeper)
        self._providers: dict[tuple[str, str | None], UpstreamModelProvider] = {}
        self._generation = catalog.generation
        self._upstream_generation = upstreams.generation
        # Agents (by id; a reload makes new objects) already checked and settled at first use.
        self._first_used: set[int] = set()
        self._trace = trace
        self._approvals = approvals
        self._approval_ttl_s = approval_ttl_s
        # Drop-ins' own thread pools, by (id, threads, queue): kept across reloads of the agent.
        self._pools: dict[tuple[str, int, int], GuestPool] = {}

    async def close(self) -> None:
        await self._governor.close()
        for pool in self._pools.values():
            pool.close()

    def _guest_pool(self, entry: AgentEntry) -> GuestPool | None:
        """Where the drop-in's sync code runs; None for declarative agents (no agent code)."""
        if entry.source != "drop_in":
            return None
        key = (entry.id, entry.threads, entry.queue)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = GuestPool(entry.id, entry.threads, entry.queue)
        return pool

    def resolve(self, model_id: str) -> AgentEntry:
        entry = self._catalog.get(model_id)
        if entry is None:
            raise model_not_found(model_id)
        return entry

    def stream(self, request: ChatInput) -> AsyncIterator[Event]:
        """Yield the run's events in order, deltas included; raise ``GatewayError`` on failure."""
        return self._events(request, streaming=True)

    async def complete(self, request: ChatInput) -> Completion:
        """Run to the end; the result has the tool and handoff events but no deltas."""
        return await self._completed(request)

    async def get_approval(self, approval_id: str) -> PendingApproval:
        """The caller's pending approval (another key's is "not found")."""
        return await self._approval_store().get(approval_id, _key_id(caller()))

    def stream_resumed(self, pending: PendingApproval, resolution: Resolution) -> AsyncIterator[Event]:
        """Resolve ``pending`` (from ``get_approval``) and stream the resumed run, which may pause again."""
        return self._resumed(pending, resolution, streaming=True)

    async def complete_resumed(self, pending: PendingApproval, resolution: Resolution) -> Completion:
        self._check_resumable(pending, resolution)
        return await self._completed(request_to_resume(pending), resolution)

    async def _resumed(self, pending: PendingApproval, resolution: Resolution, *, streaming: bool) -> AsyncIterator[Event]:
        self._check_resumable(pending, resolution)
        async for event in self._events(request_to_resume(pending), streaming=streaming, resolution=resolution):
            yield event

    def _check_resumable(self, pending: PendingApproval, resolution: Resolution) -> None:
        # Checked up front, for a clear error that leaves the approval pending; the run itself
        # claims it (atomically: a concurrent resolve may still win).
        unknown = sorted(set(resolution.calls) - {c.call_id for c in pending.calls})
        if unknown:
            raise invalid_argument(f"approval {pending.approval_id!r} has no call(s) {', '.join(map(repr, unknown))}", "decision.calls")
        if self.resolve(pending.model_id).agent is None:
            raise agent_changed(pending.model_id, pending.approval_id)

    def _approval_store(self) -> ApprovalStore:
        if self._approvals is None:
            raise GatewayError("UNIMPLEMENTED", "APPROVALS_UNAVAILABLE", "this executor keeps no approvals")
        return self._approvals

    async def _admit(self, request: ChatInput, resolution: Resolution | None) -> _Admitted:
        """Checks before a run: the model exists, the caller may use it, the agent has room,
        and the rate limit has budget (reserved here, settled by ``_finish``). A refusal is
        counted and logged here (``_refused``): the run never starts."""
        call = caller()
        entry: AgentEntry | None = None
        upstream: Upstream | None = None
        try:
            if not request.messages and resolution is None:
                raise invalid_argument("messages must contain at least one message", "messages")
            entry = self.resolve(request.model_id)
            await self._gatekeeper.require(call.principal, "use_model", entry.id, call.request_id)
            pool = self._guest_pool(entry)
            if pool is not None and pool.full:
                raise agent_busy(pool)
            estimate = estimate_tokens(request)
            # Before the reservation: an upstream known to be down refuses the run at once, and
            # costs the caller no budget. Held until _finish (a reload closes it only after).
            upstream = self._upstreams.acquire(entry.upstream)
            reservation = await self._gatekeeper.reserve(call.principal, estimate)
        except BaseException as error:
            if upstream is not None:
                self._upstreams.release(upstream, "cancelled")
            if isinstance(error, GatewayError):
                self._refused(request, entry, call, error)
            raise
        started = time.perf_counter()
        return _Admitted(entry, call, upstream, pool, _request_info(entry, request, call), reservation, estimate, started, run_metrics(entry.id))

    def _refused(self, request: ChatInput, entry: AgentEntry | None, call: CallContext, error: GatewayError) -> None:
        if entry is None:  # refused before the model was looked up, or not found
            entry = self._catalog.get(request.model_id)
        model = entry.id if entry is not None else UNKNOWN_MODEL
        reason = error.reason.lower()
        requests_for(model, reason).inc()
        key_id = _key_id(call)
        if error.reason == "RATE_LIMITED":
            RATE_LIMIT_REJECTIONS.labels(key_id, error.metadata.get("limit", "")).inc()
        fields = {"model": model, "reason": reason, "key_id": key_id}
        if entry is None and request.model_id:
            fields["requested_model"] = request.model_id[:128]  # what clients ask for that is not served
        log.info("request refused", extra={"fields": fields})

    def _governed(self, run: _Admitted, request: ChatInput, streaming: bool, resolution: Resolution | None) -> AsyncGenerator[Event, None]:
        """The run's events, with the run's context set in the calling task's context."""
        open_timings()  # this run's tool durations (inherited by the SDK's tool tasks)
        serving(run.info)  # agentgateway.request_info() inside the run
        if run.pool is not None:
            serving_agent(run.pool)  # the run's sync agent code runs in the agent's own threads
        return self._run(run.entry, request, run.upstream, streaming, self._run_approvals(run.entry.id, request, run.call, resolution))

    async def _finish(self, run: _Admitted, outcome: str, usage: Usage | None, streaming: bool) -> None:
        elapsed = time.perf_counter() - run.started
        self._upstreams.release(run.upstream, outcome)
        metrics = run.metrics
        metrics.in_flight.dec()
        if streaming:
            metrics.streams.dec()
        requests_for(run.entry.id, outcome).inc()
        metrics.seconds.observe(elapsed)
        if usage is not None:
            metrics.input_tokens.inc(usage.prompt_tokens)
            metrics.output_tokens.inc(usage.completion_tokens)
        # Real usage replaces the up-front estimate (an aborted run keeps the estimate).
        await self._gatekeeper.settle(run.reservation, usage.total_tokens if usage is not None else run.estimate)
        if log.isEnabledFor(logging.INFO):  # the fields are built for every run otherwise
            fields = {"model": run.entry.id, "request_id": run.call.request_id, "outcome": outcome, "duration_ms": round(elapsed * 1000, 2)}
            log.info("run finished", extra={"fields": fields})

    async def _completed(self, request: ChatInput, resolution: Resolution | None = None) -> Completion:
        """A unary run, in the calling task; one timeout covers the whole run."""
        run = await self._admit(request, resolution)
        outcome, usage = "cancelled", None
        deadline = asyncio.timeout(run.entry.timeout_s)
        run.metrics.in_flight.inc()
        try:
            try:
                async with deadline:
                    completion = await _completion(self._governed(run, request, False, resolution))
            except TimeoutError as exc:
                if deadline.expired():
                    raise _agent_timeout(run.entry) from None
                raise as_gateway_error(exc, run.entry.id, run.upstream.name) from None
            except (GatewayError, asyncio.CancelledError):
                raise
            except Exception as exc:  # noqa: BLE001 - every failure becomes a typed error
                raise as_gateway_error(exc, run.entry.id, run.upstream.name) from None
            outcome, usage = "ok", completion.usage
            return completion
        except GatewayError as error:
            outcome = error.reason.lower()
            raise
        finally:
            await self._finish(run, outcome, usage, False)

    async def _events(self, request: ChatInput, *, streaming: bool, resolution: Resolution | None = None) -> AsyncIterator[Event]:
        """A streamed run, in the calling task: the deadline bounds each wait for the next
        event (never a yield to the caller, which may take its time)."""
        run = await self._admit(request, resolution)
        usage: Usage | None = None
        timeout = run.entry.timeout_s
        deadline = None if timeout is None else run.started + timeout
        events = self._governed(run, request, streaming, resolution)
        metrics = run.metrics
        metrics.in_flight.inc()
        if streaming:
            metrics.streams.inc()
        first_output = streaming  # the time to it is observed once, for streams
        outcome = "cancelled"
        try:
            while True:
                remaining = None if deadline is None else deadline - time.perf_counter()
                if remaining is not None and remaining <= 0:
                    raise _agent_timeout(run.entry)
                failure: GatewayError | None = None
                try:
                    async with asyncio.timeout(remaining) as step:
                        item = await anext(events)
                except StopAsyncIteration:
                    outcome = "ok"
                    break
                except asyncio.CancelledError:
                    raise
                except BaseException as exc:  # noqa: BLE001 - every failure becomes a typed error
                    expired = isinstance(exc, TimeoutError) and step.expired()
                    failure = _agent_timeout(run.entry) if expired else as_gateway_error(exc, run.entry.id, run.upstream.name)
                if failure is not None:
                    raise failure  # outside the except: the error does not hold on to the run's frames
                if isinstance(item, Usage):
                    usage = item
                elif first_output and isinstance(item, _OUTPUT):
                    first_output = False
                    metrics.time_to_first_token.observe(time.perf_counter() - run.started)
                yield item
        except GatewayError as error:
            outcome = error.reason.lower()
            raise
        finally:
            # A run left early (cancelled, timed out, its caller gone) is closed here: its own
            # finally blocks stop the SDK run and its upstream call.
            with contextlib.suppress(Exception):
                await events.aclose()
            await self._finish(run, outcome, usage, streaming)

    def _provider(self, upstream: Upstream, model: str | None) -> UpstreamModelProvider:
        # Long-lived, so per-request caches keyed on it (run configs) stay warm.
        key = (upstream.name, model)
        provider = self._providers.get(key)
        if provider is None or provider.upstream is not upstream:  # none yet, or the upstream was reloaded
            provider = self._providers[key] = UpstreamModelProvider(upstream, model)
        return provider

    def _run_approvals(self, model_id: str, request: ChatInput, call: CallContext, resolution: Resolution | None) -> RunApprovals | None:
        if self._approvals is None:
            return None
        return RunApprovals(self._approvals, self._gatekeeper.audit, _key_id(call), call.request_id, model_id, request, self._approval_ttl_s, resolution)

    async def _run(
        self, entry: AgentEntry, request: ChatInput, upstream: Upstream, streaming: bool, approvals: RunApprovals | None
    ) -> AsyncGenerator[Event, None]:
        provider = self._provider(upstream, entry.upstream_model)
        if approvals is not None and approvals.resolution is not None and entry.agent is None:
            raise agent_changed(entry.id, approvals.resolution.approval_id)  # reloaded since the check
        if entry.agent is not None:
            if self._catalog.generation != self._generation:
                self._generation = self._catalog.generation
                self._first_used.clear()
                await self._governor.retire_unreachable([e.agent for e in self._catalog.list() if e.agent is not None])
            if self._upstreams.generation != self._upstream_generation:  # reloaded: agents may run elsewhere now
                self._upstream_generation = self._upstreams.generation
                self._first_used.clear()
            sources, servers = await self._governor.prepare(entry.agent)
            self._check_first_use(entry, provider, upstream)
            context = await _run_context(entry)
            events = run_sdk_agent(
                entry.agent,
                request,
                provider,
                entry.max_turns,
                self._trace,
                entry.id,
                sources,
                servers,
                streaming=streaming,
                context=context,
                hooks=entry.run_hooks,
                approvals=approvals,
            )
        elif entry.workflow is not None:
            events = run_workflow_export(entry.workflow, request, provider, entry.agent_name, streaming=streaming)
        else:
            events = run_passthrough(request, upstream, entry, self._tools, streaming=streaming)
        async for event in events:
            yield event

    def _check_first_use(self, entry: AgentEntry, provider: UpstreamModelProvider, upstream: Upstream) -> None:
        """Once per agent object: refuse hosted tools this upstream cannot offer, and give the
        agent's implicit model settings the upstream model's defaults."""
        assert entry.agent is not None
        if id(entry.agent) in self._first_used:
            return
        refuse_hosted_tools(entry.agent, entry.id, upstream)  # raises before the agent is remembered
        settle_implicit_model_settings(entry.agent, provider)
        self._first_used.add(id(entry.agent))


async def _completion(events: AsyncIterator[Event]) -> Completion:
    final: FinalOutput | None = None
    usage: Usage | None = None
    seen: list[Event] = []
    async for event in events:
        if isinstance(event, FinalOutput):
            final = event
        elif isinstance(event, Usage):
            usage = event
        elif not isinstance(event, TextDelta | ToolCallDelta):
            seen.append(event)
    if final is None:
        raise GatewayError("INTERNAL", "NO_FINAL_OUTPUT", "the run ended without a final output")
    return Completion(final, usage, tuple(seen))


def _key_id(call: CallContext) -> str:
    return call.principal.key_id if call.principal is not None else ""


def _request_info(entry: AgentEntry, request: ChatInput, call: CallContext) -> RequestInfo:
    metadata = request.extra.get("metadata")
    principal = call.principal
    return RequestInfo(
        model_id=entry.id,
        request_id=call.request_id,
        key_id=principal.key_id if principal is not None else "",
        roles=frozenset(principal.roles) if principal is not None else frozenset(),
        user=request.user,
        metadata=MappingProxyType(dict(metadata) if isinstance(metadata, dict) else {}),
    )


async def _run_context(entry: AgentEntry) -> Any:
    """The module's own run context, built from the request info (``__gateway__["context"]``)."""
    if entry.context_builder is None:
        return None
    built = entry.context_builder(request_info())
    return await built if inspect.isawaitable(built) else built


def estimate_tokens(request: ChatInput) -> int:
    """A cheap up-front guess (about four characters a token) reserved against tokens/minute."""
    chars = 0
    for message in request.messages:
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(len(str(part.get("text", ""))) for part in content)
    return chars // 4 + 1
