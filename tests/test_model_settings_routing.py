"""Implicit SDK model settings follow the model an agent really runs on (in-process)."""

from __future__ import annotations

from agents import Agent, ModelSettings
from agents.models.default_models import get_default_model_settings
from openai.types.shared import Reasoning

from services.executor.routing import UpstreamModelProvider, settle_implicit_model_settings
from services.upstreams import UpstreamConfig, UpstreamPool, UpstreamsFile


def _provider(model: str, forced: str | None = None) -> UpstreamModelProvider:
    pool = UpstreamPool(UpstreamsFile(upstreams=[UpstreamConfig(name="u", base_url="http://127.0.0.1:9/v1", model=model)]))
    return UpstreamModelProvider(pool.get("u"), forced)


def test_defaults_are_those_of_the_upstream_model_and_written_settings_stay() -> None:
    specialist = Agent(name="Specialist")  # no model, no settings: GPT-5 defaults from the SDK
    written = ModelSettings(reasoning=Reasoning(effort="high"), verbosity="high", temperature=0.2)
    author = Agent(name="Author", model_settings=written)
    root = Agent(name="Root", handoffs=[specialist, author])
    assert root.model_settings == get_default_model_settings() != ModelSettings()
    settle_implicit_model_settings(root, _provider("llama3.2"))
    assert root.model_settings == ModelSettings() and specialist.model_settings == ModelSettings()
    assert author.model_settings == written
    settle_implicit_model_settings(root, _provider("llama3.2"))  # idempotent
    assert root.model_settings == ModelSettings()


def test_a_gpt5_upstream_keeps_gpt5_defaults() -> None:
    agent = Agent(name="Five")
    settle_implicit_model_settings(agent, _provider("gpt-5"))
    assert agent.model_settings == get_default_model_settings("gpt-5")
