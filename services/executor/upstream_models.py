"""The SDK models drop-ins run with, one per upstream API, each keeping its calls' finish reasons.

``ChatModel`` is the SDK's Chat Completions model, ``ResponsesModel`` its Responses model
(hosted tools, reasoning items). The SDK's ``ModelResponse`` carries no finish reason, yet a
reply cut at the token limit must say ``length`` to the client; both models note the reason of
every call in a context variable that ``record_finish_reasons()`` starts. Each hooks the one
place the SDK sees the raw reply, ``_fetch_response``; tests/test_e2e_dropin.py and
tests/test_e2e_responses.py pin that against SDK changes. The same place turns a broken
upstream (a body that is not a completion, an error it reports in a 200, a stream cut short)
into the gateway's upstream errors, naming the upstream (tests/test_e2e_errors.py).
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from typing import Any

from agents import OpenAIChatCompletionsModel, OpenAIResponsesModel

# The error the SDK raises for a failed or incomplete Response; private, but the one way to
# fail such a Response exactly as the SDK does (its message names the status and details).
from agents.models._response_terminal import response_terminal_failure_error
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseCompletedEvent, ResponseIncompleteEvent, ResponseStreamEvent

from services.executor.failures import cut_stream, no_choices, upstream_call, upstream_stream
from services.executor.request_info import current_request_info

__all__ = ["ChatModel", "ResponsesModel", "record_finish_reasons"]


# The finish reasons of the model calls of the current run, oldest first. A list, so the
# SDK's own run task, which copies the context, appends to the same one.
_finish_reasons: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("agentgateway_finish_reasons", default=None)


def record_finish_reasons() -> list[str]:
    """Start collecting the finish reasons of the model calls made from this context on."""
    reasons: list[str] = []
    _finish_reasons.set(reasons)
    return reasons


def _record(reason: str | None) -> None:
    reasons = _finish_reasons.get()
    if reasons is not None and reason:
        reasons.append(reason)


def _model_id() -> str:
    info = current_request_info()
    return info.model_id if info is not None else ""


class _UpstreamNamed:
    """What both models add to the SDK's: the configured name of the upstream they call."""

    def __init__(self, *, model: str, openai_client: AsyncOpenAI, upstream: str = "") -> None:
        super().__init__(model=model, openai_client=openai_client)  # type: ignore[call-arg]
        self.upstream = upstream


class _Passthrough:
    """An upstream event stream, unchanged but for what the subclass notes on the way. Reading
    it fails with the gateway's upstream errors; ending it with no terminal event is one."""

    def __init__(self, inner: Any, upstream: str) -> None:
        self._inner = inner
        self._upstream = upstream

    def __getattr__(self, name: str) -> Any:  # response, close(), aclose(): the SDK reads and calls them
        return getattr(self._inner, name)

    def _events(self) -> AsyncIterator[Any]:
        return upstream_stream(aiter(self._inner), _model_id(), self._upstream)


# ------------------------------------------------------------------------ Chat Completions


class _FinishWatchingChunks(_Passthrough):
    """Chunks as they come, noting choice 0's finish reason on the way."""

    async def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        finished = False
        async for chunk in self._events():
            for choice in chunk.choices:
                if choice.index == 0 and choice.finish_reason:
                    finished = True
                    _record(choice.finish_reason)
            yield chunk
        if not finished:
            raise cut_stream(_model_id(), self._upstream)


class ChatModel(_UpstreamNamed, OpenAIChatCompletionsModel):
    """The SDK's Chat Completions model, keeping each call's ``finish_reason``."""

    async def _fetch_response(self, *args: Any, **kwargs: Any) -> Any:
        opens_stream = bool(kwargs.get("stream"))
        fetched = await upstream_call(super()._fetch_response(*args, **kwargs), _model_id(), self.upstream, opens_stream=opens_stream)
        if isinstance(fetched, ChatCompletion):
            if not fetched.choices:
                raise no_choices(fetched, _model_id(), self.upstream)
            _record(fetched.choices[0].finish_reason)
            return fetched
        response, stream = fetched
        return response, _FinishWatchingChunks(stream, self.upstream)


# ------------------------------------------------------------------------------ Responses

# Why a Response stopped short (``incomplete_details.reason``), as the finish reason Chat
# Completions gives the same cut. Other reasons stay what the SDK makes them: an error.
_INCOMPLETE_AS_FINISH = {"max_output_tokens": "length", "content_filter": "content_filter"}


def _finish_of(response: Response) -> str | None:
    """The Chat Completions finish reason of a Response, or None for a cut the SDK must refuse."""
    if response.status == "incomplete":
        return _INCOMPLETE_AS_FINISH.get(response.incomplete_details.reason or "") if response.incomplete_details else None
    if response.status == "completed":
        # As in chat: the model asked for the agent's function tools (hosted tool calls ran upstream).
        return "tool_calls" if any(item.type == "function_call" for item in response.output) else "stop"
    return None


class _FinishWatchingEvents(_Passthrough):
    """Events as they come; the terminal one notes the finish reason, and a reply cut at the
    token limit (``response.incomplete``) goes on as ``response.completed``: see ResponsesModel."""

    async def __aiter__(self) -> AsyncIterator[ResponseStreamEvent]:
        ended = False
        async for event in self._events():
            ended = ended or event.type in _TERMINAL_EVENTS
            if isinstance(event, ResponseCompletedEvent | ResponseIncompleteEvent):
                finish = _finish_of(event.response)
                _record(finish)
                if isinstance(event, ResponseIncompleteEvent) and finish is not None:
                    event = ResponseCompletedEvent(type="response.completed", response=event.response, sequence_number=event.sequence_number)
            yield event
        if not ended:
            raise cut_stream(_model_id(), self._upstream)


# Events that end a Response stream (the SDK raises on the failed and error ones itself).
_TERMINAL_EVENTS = {"response.completed", "response.incomplete", "response.failed", "error", "response.error"}


class ResponsesModel(_UpstreamNamed, OpenAIResponsesModel):
    """The SDK's Responses model, keeping each call's finish reason.

    The SDK turns an ``incomplete`` Response into a ``ModelBehaviorError`` (unary and streamed),
    where its Chat Completions model returns the text cut at ``length``. The gateway keeps one
    behaviour for both APIs: a Response cut at ``max_output_tokens`` (or by the content filter)
    is the run's reply with finish reason ``length`` (``content_filter``); other incomplete or
    failed Responses stay errors.
    """

    async def _fetch_response(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("stream"):
            opened = await upstream_call(super()._fetch_response(*args, **kwargs), _model_id(), self.upstream, opens_stream=True)
            return _FinishWatchingEvents(opened, self.upstream)
        # The SDK's own unary call, without its raise on `incomplete` (inline in the SDK's
        # _fetch_response, after the call, so the call itself is repeated here). Usage-less
        # Responses are not marked for the SDK's request count: the gateway reports tokens only.
        response: Response = await upstream_call(
            self._get_client().responses.create(**self._build_response_create_kwargs(*args, **kwargs)), _model_id(), self.upstream
        )
        finish = _finish_of(response)
        if finish is None and response.status in ("failed", "incomplete"):
            raise response_terminal_failure_error(f"response.{response.status}", response)
        _record(finish)
        return response
