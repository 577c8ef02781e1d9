"""Run an Agent Builder style ``run_workflow(workflow_input)`` export.

Agent Builder exports take a pydantic ``WorkflowInput`` with ``input_as_text``, run their
agents with ``Runner.run`` one after another (a guardrail check, a classifier, the agent of
the chosen branch) and return ``{"output_text": ...}`` — or, often, nothing. The workflow
calls ``Runner.run`` itself, so routing, the conversation's earlier turns and live text
reach it through the routing runner's context variable rather than a ``RunConfig`` we pass.

The reply is the workflow's ``output_text`` or, when it returns nothing, the final output
of its last agent run. Streaming clients get the text of each agent that answers in text as
it is generated (structured steps such as classifiers are not shown); a reply that is not
the text already streamed (a guardrail's early-return message) follows as the last chunk.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, get_type_hints

from pydantic import BaseModel

from services.errors import GatewayError, invalid_argument
from services.executor.conversation import earlier_turns, last_user_text
from services.executor.events import ChatInput, Event, FinalOutput, TextDelta
from services.executor.routing import UpstreamModelProvider, routed_to
from services.executor.sdk_run import final_finish_reason, final_text
from services.executor.upstream_models import record_finish_reasons

__all__ = ["run_workflow_export"]


async def run_workflow_export(
    workflow: Callable[..., Awaitable[Any]],
    request: ChatInput,
    provider: UpstreamModelProvider,
    agent_name: str,
    *,
    streaming: bool = False,
) -> AsyncIterator[Event]:
    _refuse_what_a_workflow_cannot_honour(request, agent_name)
    workflow_input = _workflow_input(workflow, last_user_text(request.messages))
    finishes = record_finish_reasons()
    live: asyncio.Queue[TextDelta] | None = asyncio.Queue() if streaming else None
    with routed_to(provider, earlier_turns(request.messages), live) as routing:
        if live is None:
            result = await workflow(workflow_input)
        else:
            task = asyncio.ensure_future(workflow(workflow_input))
            try:
                async for delta in _until_done(task, live):
                    yield delta
            finally:
                if not task.done():  # the client went away: stop the workflow and its runs
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            result = task.result()
    reply, structured = _reply_text(result, routing)
    if reply and not routing.streamed.endswith(reply):
        yield TextDelta(f"\n\n{reply}" if routing.streamed else reply, agent_name)
    yield routing.usage
    yield FinalOutput(reply, agent_name, final_finish_reason(finishes), structured)


def _refuse_what_a_workflow_cannot_honour(request: ChatInput, agent_name: str) -> None:
    """A workflow runs agents it chose itself, in an order only its code knows: there is no one
    agent to give the client's tools, a forced tool call or an output schema to. Say so rather
    than answer as if they had been honoured."""
    why = f"{agent_name!r} is an Agent Builder workflow (run_workflow), which runs its own agents"
    if request.tools:
        raise invalid_argument(f"{why}; it cannot offer client tools", "tools")
    if request.tool_choice not in (None, "auto", "none"):
        raise invalid_argument(f"{why}; it cannot force a tool call", "tool_choice")
    if request.response_format is not None and request.response_format.get("type") != "text":
        raise invalid_argument(f"{why}; its reply cannot follow a response_format other than text", "response_format")


async def _until_done(task: asyncio.Future[Any], live: asyncio.Queue[TextDelta]) -> AsyncIterator[TextDelta]:
    """The live text of ``task``'s runs, as it comes, until ``task`` ends."""
    while True:
        getter = asyncio.ensure_future(live.get())
        await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            yield getter.result()
            continue
        getter.cancel()
        while not live.empty():
            yield live.get_nowait()
        return


# Per export, weakly held so a hot reload lets old modules go.
_SHAPES: weakref.WeakKeyDictionary[Callable[..., Any], tuple[type[BaseModel], str] | None] = weakref.WeakKeyDictionary()


def _workflow_input(workflow: Callable[..., Any], text: str) -> str | BaseModel:
    if workflow not in _SHAPES:
        _SHAPES[workflow] = _input_shape(workflow)
    shape = _SHAPES[workflow]
    if shape is None:
        return text
    model, field = shape
    return model.model_validate({field: text})


def _input_shape(workflow: Callable[..., Any]) -> tuple[type[BaseModel], str] | None:
    """How a workflow takes its input, worked out once per export: a pydantic model and the
    field for the text (Agent Builder's ``WorkflowInput.input_as_text``), or None for plain text."""
    params = [p for p in inspect.signature(workflow).parameters.values() if p.default is inspect.Parameter.empty]
    if not params:
        return None
    try:
        annotation = get_type_hints(workflow).get(params[0].name)
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to plain text
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = annotation.model_fields
        return annotation, "input_as_text" if "input_as_text" in fields else next(iter(fields), "input_as_text")
    return None


def _reply_text(result: object, routing: routed_to) -> tuple[str, bool]:
    if result is None:
        # Agent Builder exports often end without a return: the answer is what the last agent said.
        last = routing.last_run
        if last is None:
            raise GatewayError("INTERNAL", "AGENT_ERROR", "the workflow returned nothing and ran no agent")
        return final_text(last.final_output, last.last_agent)
    if isinstance(result, dict):
        for key in ("output_text", "output", "final_output"):
            if key in result:
                return final_text(result[key])
        return final_text(result)
    if hasattr(result, "final_output"):
        return final_text(result.final_output, getattr(result, "last_agent", None))
    return final_text(result)
