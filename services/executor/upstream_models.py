"""The SDK models drop-ins run with, one per upstream API, each keeping its calls' finish reasons.

``ChatModel`` is the SDK's Chat Completions model, ``ResponsesModel`` its Responses model
(hosted tools, reasoning items). The SDK's ``ModelResponse`` carries no finish reason, yet a
reply cut at the token limit must say ``length`` to the client; both models note the reason of
every call in a context variable that ``record_finish_reasons()`` starts. Each hooks the one
place the SDK sees the raw reply, ``_fetch_response``; tests/test_e2e_dropin.py and
tests/test_e2e_responses.py pin that against SDK changes.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from typing import Any

from agents import OpenAIChatCompletionsModel, OpenAIResponsesModel

# The error the SDK raises for a failed or incomplete Response; private, but the one way to
# fail such a Response exactly as the SDK does (its message names the status and details).
from agents.models._response_terminal import response_terminal_failure_error
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseCompletedEvent, ResponseIncompleteEvent, ResponseStreamEvent

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


class _Passthrough:
    """An upstream event stream, unchanged but for what ``_watch`` does to each event."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:  # response, close(), aclose(): the SDK reads and calls them
        return getattr(self._inner, name)


# ------------------------------------------------------------------------ Chat Completions


class _FinishWatchingChunks(_Passthrough):
    """Chunks as they come, noting choice 0's finish reason on the way."""

    async def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        async for chunk in self._inner:
            for choice in chunk.choices:
                if choice.index == 0 and choice.finish_reason:
                    _record(choice.finish_reason)
            yield chunk


class ChatModel(OpenAIChatCompletionsModel):
    """The SDK's Chat Completions model, keeping each call's ``finish_reason``."""

    async def _fetch_response(self, *args: Any, **kwargs: Any) -> Any:
        fetched = await super()._fetch_response(*args, **kwargs)
        if isinstance(fetched, ChatCompletion):
            _record(fetched.choices[0].finish_reason if fetched.choices else None)
            return fetched
        response, stream = fetched
        return response, _FinishWatchingChunks(stream)


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
        async for event in self._inner:
            if isinstance(event, ResponseCompletedEvent | ResponseIncompleteEvent):
                finish = _finish_of(event.response)
                _record(finish)
                if isinstance(event, ResponseIncompleteEvent) and finish is not None:
                    event = ResponseCompletedEvent(type="response.completed", response=event.response, sequence_number=event.sequence_number)
            yield event


class ResponsesModel(OpenAIResponsesModel):
    """The SDK's Responses model, keeping each call's finish reason.

    The SDK turns an ``incomplete`` Response into a ``ModelBehaviorError`` (unary and streamed),
    where its Chat Completions model returns the text cut at ``length``. The gateway keeps one
    behaviour for both APIs: a Response cut at ``max_output_tokens`` (or by the content filter)
    is the run's reply with finish reason ``length`` (``content_filter``); other incomplete or
    failed Responses stay errors.
    """

    async def _fetch_response(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("stream"):
            return _FinishWatchingEvents(await super()._fetch_response(*args, **kwargs))
        # The SDK's own unary call, without its raise on `incomplete` (inline in the SDK's
        # _fetch_response, after the call, so the call itself is repeated here). Usage-less
        # Responses are not marked for the SDK's request count: the gateway reports tokens only.
        response: Response = await self._get_client().responses.create(**self._build_response_create_kwargs(*args, **kwargs))
        finish = _finish_of(response)
        if finish is None and response.status in ("failed", "incomplete"):
            raise response_terminal_failure_error(f"response.{response.status}", response)
        _record(finish)
        return response
