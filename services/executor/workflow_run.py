"""Run an Agent Builder style ``run_workflow(workflow_input)`` export.

Agent Builder exports take a pydantic ``WorkflowInput`` with ``input_as_text`` and return
``{"output_text": ...}``. The workflow calls ``Runner.run`` itself, so routing reaches it
through the routing runner's context variable rather than a ``RunConfig`` we pass in.
These exports are served non-streaming: the whole reply arrives as one text delta.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, get_type_hints

from pydantic import BaseModel

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
) -> AsyncIterator[Event]:
    text = last_user_text(request.messages)
    finishes = record_finish_reasons()
    with routed_to(provider, earlier_turns(request.messages)) as routing:
        result = await workflow(_workflow_input(workflow, text))
    reply, structured = _reply_text(result)
    if reply:
        yield TextDelta(reply, agent_name)
    yield routing.usage
    yield FinalOutput(reply, agent_name, final_finish_reason(finishes), structured)


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


def _reply_text(result: object) -> tuple[str, bool]:
    if isinstance(result, dict):
        for key in ("output_text", "output", "final_output"):
            if key in result:
                return final_text(result[key])
        return final_text(result)
    if hasattr(result, "final_output"):
        return final_text(result.final_output, getattr(result, "last_agent", None))
    return final_text(result)
