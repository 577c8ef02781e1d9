"""Bind SDK model lookups to the gateway's chosen upstream.

``UpstreamModelProvider`` is handed to ``RunConfig`` for drop-in agents, so the agent and
every handoff target resolve their model names against the same upstream client.
Agent Builder workflows call ``Runner.run`` themselves with a default ``RunConfig``; the
``RoutingAgentRunner`` installed as the SDK's default runner gives those runs the provider
of the request being served (a context variable set by the executor), the conversation's
earlier turns, and — when the client streams — live text: such a run is made as a streamed
SDK run and the text of agents that answer in text is relayed as it is generated.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
from typing import Any, Unpack, cast

from agents import (
    Agent,
    Model,
    ModelProvider,
    RunConfig,
    RunResult,
    RunResultStreaming,
    RunState,
    TContext,
    TResponseInputItem,
)
from agents.models.default_models import get_default_model_settings
from agents.models.multi_provider import MultiProvider
from agents.result import RunResultBase
from agents.run import AgentRunner, set_default_agent_runner
from agents.run_config import RunOptions
from agents.stream_events import AgentUpdatedStreamEvent, RawResponsesStreamEvent

from services.errors import GatewayError
from services.executor.events import TextDelta, Usage
from services.executor.upstream_models import ChatModel, ResponsesModel
from services.sdk_agents import agents_reachable_from, hosted_tool_problem, hosted_tools
from services.upstreams import Upstream

__all__ = ["UpstreamModelProvider", "install_routing_runner", "refuse_hosted_tools", "routed_to", "settle_implicit_model_settings"]


class UpstreamModelProvider(ModelProvider):
    def __init__(self, upstream: Upstream, forced_model: str | None = None) -> None:
        self.upstream = upstream
        self._forced_model = forced_model
        self._models: dict[str, Model] = {}

    def model_name(self, requested: str | None) -> str:
        """The upstream model a request for ``requested`` (an agent's own ``model``) goes to."""
        return self._forced_model or requested or self.upstream.config.model or "default"

    def get_model(self, model_name: str | None) -> Model:
        name = self.model_name(model_name)
        model = self._models.get(name)
        if model is None:
            # Stateless and bound to the shared client: one per model name is enough. The
            # upstream's `api` decides which of the SDK's two OpenAI models runs the agent.
            kind = ResponsesModel if self.upstream.config.speaks_responses else ChatModel
            model = self._models[name] = kind(model=name, openai_client=self.upstream.client, upstream=self.upstream.name)
        return model


def refuse_hosted_tools(root: Agent[Any], agent_id: str, upstream: Upstream) -> None:
    """FAILED_PRECONDITION ``HOSTED_TOOL_UNSUPPORTED`` when ``root`` (or a handoff target) has
    tools only the Responses API can offer and ``upstream`` speaks Chat Completions."""
    hosted = hosted_tools(root) if not upstream.config.speaks_responses else ()
    if hosted:
        raise GatewayError(
            "FAILED_PRECONDITION",
            "HOSTED_TOOL_UNSUPPORTED",
            hosted_tool_problem(agent_id, hosted, upstream.name),
            {"tools": ",".join(hosted), "upstream": upstream.name},
        )


def settle_implicit_model_settings(root: Agent[Any], provider: UpstreamModelProvider) -> None:
    """Give agents that set no ``model_settings`` the defaults of the model they really run on.

    An SDK ``Agent`` built without settings carries the defaults of its own ``model`` — with
    no model, those of the SDK's default GPT-5 model (``reasoning.effort``, ``verbosity``) —
    and the SDK swaps them for the new model's defaults when an agent is given another model.
    The gateway gives every agent the upstream's model, so it does the same swap; otherwise
    GPT-5-only parameters reach upstreams that reject them. Settings an author wrote differ
    from the implicit defaults and are kept. Idempotent; handoff targets included.
    """
    for agent in agents_reachable_from(root):
        if isinstance(agent.model, Model):
            continue  # a Model object: the author's own client, not routed by the gateway
        implicit = get_default_model_settings() if agent.model is None else get_default_model_settings(agent.model)
        if agent.model_settings == implicit:
            agent.model_settings = get_default_model_settings(provider.model_name(agent.model))


class routed_to:
    """``with routed_to(provider, history, live):`` — SDK runs started inside use ``provider``,
    their input is preceded by ``history`` (the conversation's earlier turns), and with a
    ``live`` queue the text of agents that answer in text goes there as it is generated.
    Afterwards ``usage`` is the summed token usage of those runs, ``last_run`` the latest one
    and ``streamed`` the text relayed live, in order."""

    def __init__(
        self,
        provider: UpstreamModelProvider,
        history: list[TResponseInputItem] | None = None,
        live: asyncio.Queue[TextDelta] | None = None,
    ) -> None:
        self.provider = provider
        self.history = list(history or ())
        self.live = live
        self.usage = Usage()
        self.last_run: RunResultBase | None = None
        self.streamed = ""
        self._token: contextvars.Token[routed_to | None] | None = None

    def __enter__(self) -> routed_to:
        self._token = _current_route.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _current_route.reset(self._token)

    def _finished(self, result: RunResult | RunResultStreaming) -> None:
        if result.interruptions:
            # A workflow's own run paused for a human approval: the workflow's code would go on
            # with no output. Approvals are served for agent exports, not inside workflows.
            tools = sorted({item.tool_name or item.name or "?" for item in result.interruptions})
            raise GatewayError(
                "UNIMPLEMENTED",
                "APPROVAL_IN_WORKFLOW",
                f"a run inside this workflow stopped to ask for a human approval of {', '.join(map(repr, tools))};"
                " approvals are served for agent exports, not inside run_workflow exports",
                {"tools": ",".join(tools)},
            )
        used = result.context_wrapper.usage
        self.usage = self.usage + Usage(used.input_tokens, used.output_tokens)
        self.last_run = result

    async def _relay(self, result: RunResultStreaming) -> RunResultStreaming:
        """Drive a streamed run to its end, sending the text of text-answering agents live.
        Structured steps (a classifier's JSON, a guardrail check) are not the answer: not sent."""
        assert self.live is not None
        agent: Agent[Any] = result.current_agent
        try:
            async for event in result.stream_events():
                if isinstance(event, AgentUpdatedStreamEvent):
                    agent = event.new_agent
                elif isinstance(event, RawResponsesStreamEvent) and event.data.type == "response.output_text.delta" and event.data.delta:
                    if agent.output_type in (None, str):
                        self.streamed += event.data.delta
                        await self.live.put(TextDelta(event.data.delta, agent.name))
        finally:
            if not result.is_complete:
                result.cancel()  # the request went away: stop the run and its upstream call
        return result


_current_route: contextvars.ContextVar[routed_to | None] = contextvars.ContextVar("agentgateway_route", default=None)


# What ``Runner.run`` takes as ``input``.
_RunInput = str | list[TResponseInputItem] | RunState[TContext]


class RoutingAgentRunner(AgentRunner):
    def _routed(self, starting_agent: Agent[TContext], kwargs: RunOptions[TContext]) -> RunOptions[TContext]:
        route = _current_route.get()
        if route is None:
            return kwargs
        provider = route.provider
        # A workflow's agents are built in its code, out of the registry's sight: checked here.
        refuse_hosted_tools(starting_agent, starting_agent.name, provider.upstream)
        settle_implicit_model_settings(starting_agent, provider)
        config = kwargs.get("run_config")
        if config is None:
            kwargs["run_config"] = RunConfig(model_provider=provider)
        elif isinstance(config, RunConfig) and type(config.model_provider) is MultiProvider:
            # Only replace the SDK default; a workflow that chose its own provider keeps it.
            kwargs["run_config"] = dataclasses.replace(config, model_provider=provider)
        return kwargs

    @staticmethod
    def _with_history(input: _RunInput[TContext]) -> _RunInput[TContext]:
        # Every run the workflow starts sees the earlier turns first: Agent Builder exports
        # build each run's input from the latest message (and what earlier runs produced), so
        # prepending to each run gives every agent of the export the whole conversation.
        route = _current_route.get()
        if route is None or not route.history or isinstance(input, RunState):
            return input  # a resumed RunState carries its own history
        if isinstance(input, str):
            return [*route.history, {"role": "user", "content": input}]
        return [*route.history, *input]

    async def run(self, starting_agent: Agent[TContext], input: _RunInput[TContext], **kwargs: Unpack[RunOptions[TContext]]) -> RunResult:
        route = _current_route.get()
        input, kwargs = self._with_history(input), self._routed(starting_agent, kwargs)
        if route is None:
            return await super().run(starting_agent, input, **kwargs)
        result: RunResult | RunResultStreaming
        if route.live is None:
            result = await super().run(starting_agent, input, **kwargs)
        else:
            # The client streams: the same run, made as a streamed SDK run so its text can be
            # relayed live. Its result has everything exports read from a RunResult
            # (final_output, final_output_as, new_items, to_input_list, last_agent).
            result = await route._relay(super().run_streamed(starting_agent, input, **kwargs))
        route._finished(result)
        return cast(RunResult, result)

    def run_streamed(self, starting_agent: Agent[TContext], input: _RunInput[TContext], **kwargs: Unpack[RunOptions[TContext]]) -> RunResultStreaming:
        return super().run_streamed(starting_agent, self._with_history(input), **self._routed(starting_agent, kwargs))


def install_routing_runner() -> None:
    set_default_agent_runner(RoutingAgentRunner())
