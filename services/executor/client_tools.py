"""Function tools a client sends to a drop-in SDK agent, with OpenAI semantics.

The client sees one model, so its tools are offered beside the agent's own, to the agent and
to every agent a handoff reaches. A call of a client tool is never run here: the run stops at
the turn that made it and the client gets the calls (``finish_reason: "tool_calls"``); its
next request carries the results, and the whole conversation continues the run.

The SDK-native way to do that, per request and only when the client sent tools:

* a clone of the agent with the client's tools as extra ``FunctionTool``s, whose
  ``tool_use_behavior`` ends the run when one of them was called and otherwise defers to the
  agent's own behaviour;
* its handoffs swapped for copies that hand off to the same kind of clone of their target
  (made lazily, so an unused specialist costs nothing).

The agent's own tools called in the same turn as a client tool still run (the SDK runs a
turn's calls together, before it looks for a final output) and stay hidden; only the client's
calls are returned. A handoff in the same turn as a client call is not taken: the run stops
for the client, which may let the model hand off on its next request.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from agents import Agent, FunctionTool, FunctionToolResult, ItemHelpers, RunContextWrapper, ToolsToFinalOutputResult, handoff
from agents.agent import ToolsToFinalOutputFunction
from agents.handoffs import Handoff
from agents.items import ModelResponse
from agents.run_internal.turn_resolution import check_for_final_output_from_tools
from agents.tool_context import ToolContext
from openai.types.chat import ChatCompletionMessageFunctionToolCallParam
from openai.types.chat.chat_completion_message_function_tool_call_param import Function
from openai.types.responses import ResponseStreamEvent

from services.errors import invalid_argument
from services.executor.events import ChatInput, FinalOutput, ToolCallDelta
from services.sdk_agents import agents_reachable_from
from services.vocabulary import ToolSource

__all__ = ["ClientTools", "StoppedForClientTools", "client_tools_for"]

# What the SDK records as the "output" of a client tool. The model never sees it: the run ends
# at that turn, and the client's next request carries the real result under the same call id.
_NOT_RUN_HERE = "This tool is run by the client."


class StoppedForClientTools(Exception):
    """A handoff was called in the same turn as a client tool: the run stops for the client
    before the handoff is taken (the SDK would otherwise take it and go on)."""

    def __init__(self, context: RunContextWrapper[Any], agent: str) -> None:
        super().__init__("the run stopped for the client's tool calls")
        self.context = context
        self.agent = agent


def client_tools_for(agent: Agent[Any], request: ChatInput, sources: dict[str, ToolSource] | None) -> ClientTools | None:
    """The request's client tools for ``agent``, checked; ``None`` when the client sent none.
    Also checks a ``tool_choice`` that names a function."""
    if not request.tools:
        if isinstance(request.tool_choice, dict):
            _check_tool_choice(request, _own_tool_names(agent, sources))
        return None
    own = _own_tool_names(agent, sources)
    tools = ClientTools(request.tools, own)
    _check_tool_choice(request, own | tools.names)
    return tools


def _own_tool_names(agent: Agent[Any], sources: dict[str, ToolSource] | None) -> set[str]:
    """Every tool name the agent's graph offers the model: its function and MCP tools (the
    governor's ``sources``) and its handoffs, through every agent a handoff reaches."""
    names = set(sources or ())
    for reachable in agents_reachable_from(agent):
        names.update(tool.name for tool in reachable.tools if isinstance(tool, FunctionTool))
        names.update(_handoff_tool_name(target) for target in reachable.handoffs)
    return names


def _check_tool_choice(request: ChatInput, offered: set[str]) -> None:
    choice = request.tool_choice
    if not isinstance(choice, dict):
        return  # a mode (auto, none, required): nothing to resolve
    name = str(choice["function"]["name"])
    if name not in offered:
        raise invalid_argument(
            f"tool_choice names the function {name!r}, which is neither one of the agent's tools nor one of the request's tools", "tool_choice"
        )


class ClientTools:
    """One request's client tools: the agent clones that offer them, and what the run did with them."""

    def __init__(self, definitions: list[dict[str, Any]], own_names: set[str]) -> None:
        self._tools = [_function_tool(d, i, own_names, self._record) for i, d in enumerate(definitions)]
        self.names = frozenset(t.name for t in self._tools)
        if len(self.names) != len(self._tools):
            raise invalid_argument("tools: two client tools have the same name", "tools")
        self._clones: dict[int, Agent[Any]] = {}  # id(original agent) -> its clone for this request
        self._invoked: dict[str, ChatCompletionMessageFunctionToolCallParam] = {}  # call_id -> call
        self.stopped = False  # True once a client call ended the run
        self.calls: tuple[ChatCompletionMessageFunctionToolCallParam, ...] = ()  # what it was stopped for, in the model's order
        self._streamed: dict[int, int] = {}  # output_index of the model response -> the client's tool_calls index

    def agent(self, agent: Agent[Any]) -> Agent[Any]:
        """``agent`` offering the client's tools too (one clone per agent per request)."""
        clone = self._clones.get(id(agent))
        if clone is None:
            clone = agent.clone(
                tools=[*agent.tools, *self._tools],
                tool_use_behavior=self._behaviour_of(agent),
                handoffs=[self._through_clone(target, agent.name) for target in agent.handoffs],
            )
            self._clones[id(agent)] = clone
        return clone

    def stream_delta(self, data: ResponseStreamEvent) -> ToolCallDelta | None:
        """A client tool call fragment from the SDK's raw stream: the SDK announces a call
        (``response.output_item.added``) once its id and name arrived, then forwards each
        argument fragment as the upstream streams it."""
        if data.type == "response.created":
            self._streamed.clear()  # a new model call: its output indexes start again
        elif data.type == "response.output_item.added" and data.item.type == "function_call" and data.item.name in self.names:
            index = self._streamed[data.output_index] = len(self._streamed)
            return ToolCallDelta(index, data.item.call_id, data.item.name, data.item.arguments)
        elif data.type == "response.function_call_arguments.delta" and data.output_index in self._streamed:
            return ToolCallDelta(self._streamed[data.output_index], arguments_delta=data.delta)
        return None

    def final_output(self, responses: list[ModelResponse], agent: str) -> FinalOutput:
        """The assistant message that hands the calls to the client (with any text the model
        wrote beside them)."""
        text = "".join(ItemHelpers.extract_text(item) or "" for item in responses[-1].output) if responses else ""
        return FinalOutput(text, agent, "tool_calls", False, self.calls)

    def _record(self, ctx: ToolContext[Any], arguments: str) -> str:
        function = Function(name=ctx.tool_name, arguments=arguments)
        self._invoked[ctx.tool_call_id] = ChatCompletionMessageFunctionToolCallParam(id=ctx.tool_call_id, type="function", function=function)
        return _NOT_RUN_HERE

    def _behaviour_of(self, agent: Agent[Any]) -> ToolsToFinalOutputFunction[Any]:
        async def stop_for_client_tools(ctx: RunContextWrapper[Any], results: list[FunctionToolResult]) -> ToolsToFinalOutputResult:
            called = [_call_id(r) for r in results if r.tool.name in self.names]
            if called:
                self.stopped, self.calls = True, tuple(self._invoked[c] for c in called if c in self._invoked)
                return ToolsToFinalOutputResult(is_final_output=True, final_output="")
            # The agent's own behaviour, evaluated by the SDK's own code (run_internal: it has no
            # public name; test_e2e_client_tools pins it for run_llm_again and stop_on_first_tool).
            return await check_for_final_output_from_tools(agent, results, ctx)

        return stop_for_client_tools

    def _through_clone(self, target: Agent[Any] | Handoff[Any, Any], source: str) -> Handoff[Any, Any]:
        # copy.copy keeps the handoff's private fields (its weak reference to the target).
        routed = copy.copy(target) if isinstance(target, Handoff) else handoff(target)
        hand_over = routed.on_invoke_handoff

        async def to_clone(ctx: RunContextWrapper[Any], arguments: str) -> Agent[Any]:
            if self._invoked:  # client calls in this turn (the SDK runs a turn's tools before its handoff)
                self.stopped, self.calls = True, tuple(self._invoked.values())
                raise StoppedForClientTools(ctx, source)
            return self.agent(await hand_over(ctx, arguments))

        routed.on_invoke_handoff = to_clone
        return routed


def _function_tool(definition: dict[str, Any], index: int, own_names: set[str], record: Callable[[ToolContext[Any], str], str]) -> FunctionTool:
    if definition.get("type", "function") != "function":
        raise invalid_argument(f"tools[{index}]: only function tools can be sent to an agent, got {definition.get('type')!r}", "tools")
    function = definition.get("function") or {}
    name = str(function.get("name") or "")
    if name in own_names:
        raise invalid_argument(
            f"tools[{index}]: the client tool {name!r} has the name of one of the agent's own tools (or handoffs); rename it", "tools", "TOOL_NAME_COLLISION"
        )

    async def on_invoke(ctx: ToolContext[Any], arguments: str) -> str:
        return record(ctx, arguments)

    parameters = dict(function.get("parameters") or {"type": "object", "properties": {}})
    tool = FunctionTool(
        name=name, description=str(function.get("description") or ""), params_json_schema=parameters, on_invoke_tool=on_invoke, strict_json_schema=False
    )
    # Sent upstream as the client wrote it: with strict_json_schema=True the SDK would rewrite
    # the schema into its own strict form first.
    tool.strict_json_schema = bool(function.get("strict"))
    return tool


def _call_id(result: FunctionToolResult) -> str:
    raw = getattr(result.run_item, "raw_item", None)
    return str(raw.get("call_id", "") if isinstance(raw, dict) else getattr(raw, "call_id", ""))


def _handoff_tool_name(target: Agent[Any] | Handoff[Any, Any]) -> str:
    return target.tool_name if isinstance(target, Handoff) else Handoff.default_tool_name(target)
