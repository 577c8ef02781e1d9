"""Bind SDK model lookups to the gateway's chosen upstream.

``UpstreamModelProvider`` is handed to ``RunConfig`` for drop-in agents, so the agent and
every handoff target resolve their model names against the same upstream client.
Agent Builder workflows call ``Runner.run`` themselves with a default ``RunConfig``; the
``RoutingAgentRunner`` installed as the SDK's default runner gives those runs the provider
of the request being served (a context variable set by the executor).
"""

from __future__ import annotations

import contextvars
import dataclasses
from typing import Any

from agents import Model, ModelProvider, OpenAIChatCompletionsModel, RunConfig, Usage
from agents.models.multi_provider import MultiProvider
from agents.run import AgentRunner, set_default_agent_runner

from services.upstreams import Upstream

__all__ = ["UpstreamModelProvider", "install_routing_runner", "routed_to"]


class UpstreamModelProvider(ModelProvider):
    def __init__(self, upstream: Upstream, forced_model: str | None = None) -> None:
        self.upstream = upstream
        self._forced_model = forced_model
        self._models: dict[str, Model] = {}

    def get_model(self, model_name: str | None) -> Model:
        name = self._forced_model or model_name or self.upstream.config.model or "default"
        model = self._models.get(name)
        if model is None:
            # Stateless and bound to the shared client: one per model name is enough.
            model = self._models[name] = OpenAIChatCompletionsModel(model=name, openai_client=self.upstream.client)
        return model


_current_provider: contextvars.ContextVar[UpstreamModelProvider | None] = contextvars.ContextVar("agentgateway_model_provider", default=None)
# Token usage of the runs a workflow starts, summed so the gateway can report it.
_current_usage: contextvars.ContextVar[Usage | None] = contextvars.ContextVar("agentgateway_usage", default=None)


class routed_to:
    """``with routed_to(provider):`` — SDK runs started inside use ``provider``."""

    def __init__(self, provider: UpstreamModelProvider) -> None:
        self._provider = provider
        self.usage = Usage()
        self._tokens: tuple[contextvars.Token[UpstreamModelProvider | None], contextvars.Token[Usage | None]] | None = None

    def __enter__(self) -> routed_to:
        self._tokens = (_current_provider.set(self._provider), _current_usage.set(self.usage))
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._tokens is not None
        _current_provider.reset(self._tokens[0])
        _current_usage.reset(self._tokens[1])


class RoutingAgentRunner(AgentRunner):
    def _routed(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        provider = _current_provider.get()
        if provider is None:
            return kwargs
        config = kwargs.get("run_config")
        if config is None:
            kwargs["run_config"] = RunConfig(model_provider=provider)
        elif isinstance(config, RunConfig) and type(config.model_provider) is MultiProvider:
            # Only replace the SDK default; a workflow that chose its own provider keeps it.
            kwargs["run_config"] = dataclasses.replace(config, model_provider=provider)
        return kwargs

    async def run(self, starting_agent: Any, input: Any, **kwargs: Any) -> Any:
        result = await super().run(starting_agent, input, **self._routed(kwargs))
        usage = _current_usage.get()
        if usage is not None:
            usage.add(result.context_wrapper.usage)
        return result

    def run_streamed(self, starting_agent: Any, input: Any, **kwargs: Any) -> Any:
        return super().run_streamed(starting_agent, input, **self._routed(kwargs))


def install_routing_runner() -> None:
    set_default_agent_runner(RoutingAgentRunner())
