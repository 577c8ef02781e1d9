"""A client's ``response_format`` for a drop-in agent, as the SDK's output schema.

OpenAI clients ask for structured output with ``response_format: json_schema`` (that is what
``client.chat.completions.parse(...)`` sends). An agent with no ``output_type`` of its own
runs, for that request, as a clone whose ``output_type`` is the request's schema: the SDK
then sends it upstream and validates the reply, exactly as for an author's ``output_type``.
An agent that has its own ``output_type`` decides its output; a request asking for another
one is refused (400) rather than silently answered in the agent's shape.
"""

from __future__ import annotations

import json
from typing import Any

from agents import Agent
from agents.agent_output import AgentOutputSchemaBase
from agents.exceptions import ModelBehaviorError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from services.errors import invalid_argument
from services.executor.events import ChatInput

__all__ = ["RequestOutputSchema", "agent_for_request"]


class RequestOutputSchema(AgentOutputSchemaBase):
    def __init__(self, name: str, schema: dict[str, Any], strict: bool) -> None:
        self._name, self._schema, self._strict = name, schema, strict
        self._validator = Draft202012Validator(schema)

    def is_plain_text(self) -> bool:
        return False

    def name(self) -> str:
        return self._name

    def json_schema(self) -> dict[str, Any]:
        return self._schema

    def is_strict_json_schema(self) -> bool:
        return self._strict

    def validate_json(self, json_str: str) -> Any:
        try:
            value = json.loads(json_str)
            self._validator.validate(value)
        except (ValueError, ValidationError) as exc:
            raise ModelBehaviorError(f"the model's reply does not match the requested {self._name!r} schema") from exc
        return value


def agent_for_request(agent: Agent[Any], request: ChatInput) -> Agent[Any]:
    """``agent``, or a clone of it carrying the request's JSON schema as its output type."""
    fmt = request.response_format
    if fmt is None or fmt.get("type") == "text":
        return agent
    own = agent.output_type not in (None, str)
    if own:
        raise invalid_argument(
            f"agent {agent.name!r} has its own structured output (output_type); a response_format other than text cannot change it",
            "response_format",
        )
    if fmt.get("type") == "json_object":
        schema = RequestOutputSchema("json_object", {"type": "object"}, strict=False)
    else:
        spec = fmt.get("json_schema") or {}
        schema = RequestOutputSchema(str(spec.get("name") or "response"), dict(spec.get("schema") or {}), bool(spec.get("strict")))
    return agent.clone(output_type=schema)
