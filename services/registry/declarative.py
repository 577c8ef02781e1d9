"""``config/agents.yaml``: declarative agents (docs/agents.md, "Declarative agents").

Unknown keys are rejected so a typo fails with a message naming the field, e.g.
``config/agents.yaml: agents.0.instruction: Extra inputs are not permitted``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.config_files import load_yaml_model
from services.model_ids import MODEL_ID_PATTERN

__all__ = ["AgentsConfig", "DeclarativeAgent", "ModelId", "load_agents_config"]

ModelId = Annotated[str, Field(pattern=MODEL_ID_PATTERN)]


class DeclarativeAgent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: ModelId
    upstream: str | None = None
    model: str | None = None
    instructions: str | None = None
    description: str | None = None
    tools: list[str] = Field(default_factory=list)
    aliases: list[ModelId] = Field(default_factory=list)  # extension: extra model ids for this agent
    max_tool_hops: int = Field(default=4, ge=0)
    timeout_s: float | None = Field(default=None, gt=0)


class AgentsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    agents: list[DeclarativeAgent] = Field(default_factory=list)


def load_agents_config(path: Path | None) -> list[DeclarativeAgent]:
    """The declarative agents in ``path``; none when ``path`` is None or missing.

    Raises ``services.config_files.ConfigError`` (message names the file and field) when malformed.
    """
    if path is None:
        return []
    config = load_yaml_model(path, AgentsConfig)
    return list(config.agents) if config is not None else []
