"""The offline demo model: a deterministic OpenAI-compatible upstream (``agent-gateway demo-model``).

``make run`` starts it when no real upstream is configured, so the sample agents answer
without internet or keys. For the last message of each request it

* answers a tool result with ``"<tool> returned: <output>"``;
* calls a tool the user mentions by name (``get_weather`` or "get weather"; for the Agents
  SDK's handoff tools ``transfer_to_<x>`` also the target's name), with arguments filled
  from the tool's JSON schema (strings get the last word of the user's message);
* fills a ``response_format`` json_schema the same way (an enum gets the option the user
  names, so a classifier agent follows the user: "cancel subscription" → ``cancel_subscription``);
* otherwise echoes ``"You said: <text>"``, streamed one word per chunk.

It serves ``POST /v1/chat/completions`` and ``POST /v1/responses`` (streamed or not; a
Responses request is answered as the chat request it amounts to), ``GET /v1/models`` and an
OpenAI-shaped 404 for anything else. Wire shapes live in `services.demo_wire` and
`services.demo_wire_responses`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import string
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.demo_wire import (
    CHAT_API,
    Frame,
    TextReply,
    ToolCall,
    ToolCallReply,
    WireApi,
    message_text,
    models_response,
    not_found_response,
    parse_json,
    sse_response,
)
from services.demo_wire_responses import RESPONSES_API
from services.log import get_logger

__all__ = ["DEMO_MODELS", "bind_socket", "create_app", "demo_reply", "serve", "server_config"]

DEMO_MODELS = ("demo",)  # what /v1/models lists; any model name is answered

_log = get_logger("demo")


# ---------------------------------------------------------------------------- behaviour


def demo_reply(body: dict[str, Any], chunk_delay: float = 0.0) -> TextReply | ToolCallReply:
    """The deterministic reply to a validated chat request body (see the module docs)."""
    messages = [m for m in body["messages"] if isinstance(m, dict)]
    last = messages[-1] if messages else {}
    user_text = _last_user_text(messages)
    word = _last_word(user_text)

    def text(content: str) -> TextReply:
        # One chunk per word so the demo model visibly streams.
        return TextReply(content, chunks=max(1, len(content.split())), chunk_delay=chunk_delay)

    if last.get("role") == "tool":
        return text(f"{_tool_name(messages, last)} returned: {message_text(last.get('content'))}")

    forced = _forced_tool(body.get("tool_choice"))
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            continue
        name: str = function["name"]
        if forced in (name, "*") or (forced is None and _mentions(user_text, name)):
            schema = function.get("parameters")
            schema = schema if isinstance(schema, dict) else {"type": "object", "properties": {}}
            return ToolCallReply([ToolCall(name, json.dumps(_placeholder(schema, schema, word, user_text)))], chunk_delay=chunk_delay)

    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        json_schema = response_format.get("json_schema") or {}
        schema = json_schema.get("schema") if isinstance(json_schema, dict) else None
        schema = schema if isinstance(schema, dict) else {}
        return text(json.dumps(_placeholder(schema, schema, word, user_text)))

    return text(f"You said: {user_text}")


def _forced_tool(choice: Any) -> str | None:
    """``tool_choice`` as the tool the demo must call: a name, ``"*"`` for any (``required``),
    ``""`` for none (``none``), or None (``auto``: call a tool only when the user names it)."""
    if choice == "required":
        return "*"
    if choice == "none":
        return ""
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return str(choice["function"].get("name") or "")
    return None


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message.get("content"))
    return ""


def _last_word(text: str) -> str:
    for word in reversed(text.split()):
        stripped = word.strip(string.punctuation)
        if stripped:
            return stripped
    return "example"  # strings must not be empty placeholders


def _tool_name(messages: list[dict[str, Any]], tool_message: dict[str, Any]) -> str:
    call_id = tool_message.get("tool_call_id")
    for message in reversed(messages):
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict) and call.get("id") == call_id:
                name = (call.get("function") or {}).get("name")
                if isinstance(name, str):
                    return name
    name = tool_message.get("name")
    return name if isinstance(name, str) else str(call_id or "tool")


def _mentions(text: str, name: str) -> bool:
    candidates = {name, name.replace("_", " ")}
    if name.startswith("transfer_to_"):  # Agents SDK handoff tools
        target = name.removeprefix("transfer_to_")
        candidates |= {target, target.replace("_", " ")}
    lowered = text.lower()
    return any(re.search(rf"(?<!\w){re.escape(candidate.lower())}(?!\w)", lowered) for candidate in candidates if candidate.strip())


_SIMPLE_TYPES = {"string", "number", "integer", "boolean"}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow local ``$ref`` pointers (``#/$defs/X``, ``#/definitions/X``)."""
    for _ in range(32):  # guards against ref cycles
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#"):
            return schema
        target: Any = root
        for token in filter(None, ref[1:].split("/")):
            target = target.get(token.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        schema = target if isinstance(target, dict) else {}
    return schema


def _variant(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """The schema after refs and the first non-null anyOf/oneOf/allOf option."""
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            resolved = [_resolve(o, root) for o in options if isinstance(o, dict)]
            non_null = [o for o in resolved if o.get("type") != "null"]
            return _variant((non_null or resolved or [{}])[0], root)
    return schema


def _schema_type(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    return "object" if "properties" in schema else "array" if "items" in schema else "string"


def _placeholder(schema: dict[str, Any], root: dict[str, Any], word: str, text: str = "", depth: int = 0) -> Any:
    """A value satisfying `schema` built from fixed placeholders (no randomness); an enum takes
    the first option `text` mentions, else its first option."""
    schema = _variant(schema, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        options = schema["enum"]
        return next((o for o in options if isinstance(o, str) and _mentions(text, o)), options[0])
    kind = _schema_type(schema)
    if kind == "string":
        return word
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "null" or depth > 16:
        return None
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    required = set(schema.get("required") or [])
    result: dict[str, Any] = {}
    for name, sub in properties.items():
        sub = sub if isinstance(sub, dict) else {}
        resolved = _variant(sub, root)
        simple = "enum" in resolved or "const" in resolved or _schema_type(resolved) in _SIMPLE_TYPES
        if name in required or simple:
            result[name] = _placeholder(sub, root, word, text, depth + 1)
    return result


# ------------------------------------------------------------------------------- server


def create_app(chunk_delay: float = 0.02, models: Sequence[str] = DEMO_MODELS) -> Starlette:
    """The demo model's ASGI app; `chunk_delay` is the pause between streamed chunks."""
    ids = itertools.count(1)

    def endpoint(api: WireApi) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            raw = await request.body()
            body = parse_json(raw)
            error = api.body_error(raw, body)
            if error is not None:
                return error
            reply = demo_reply(api.chat_view(body), chunk_delay)
            built = api.build(body, reply, f"{api.id_prefix}demo{next(ids)}", True)
            stream = body.get("stream") is True
            _log.debug(
                "demo reply", extra={"fields": {"path": api.path, "model": body["model"], "stream": stream, "tool_calls": isinstance(reply, ToolCallReply)}}
            )
            return sse_response(built.id, _paced(built.frames(), chunk_delay)) if stream else built.unary()

        return answer

    async def list_models(request: Request) -> Response:
        return models_response(models, "agent-gateway")

    async def not_found(request: Request) -> Response:
        return not_found_response(request.method, request.url.path)

    return Starlette(
        routes=[
            *(Route(api.path, endpoint(api), methods=["POST"]) for api in (CHAT_API, RESPONSES_API)),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
    )


async def _paced(frames: list[Frame], delay: float) -> AsyncIterator[str]:
    for index, frame in enumerate(frames):
        if index > 0 and frame.paced and delay > 0:
            await asyncio.sleep(delay)
        yield frame.text


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound listening-to-be TCP socket (port 0: any free port) with TCP_NODELAY on."""
    # IPPROTO_TCP, not 0: asyncio turns TCP_NODELAY on only for sockets whose proto says TCP,
    # and without it Nagle's algorithm holds each SSE write for the client's delayed ACK
    # (~40 ms a response on loopback). Linux copies the option to accepted sockets.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def server_config(app: Starlette, **overrides: Any) -> uvicorn.Config:
    """uvicorn settings for a small loopback server; uvicorn's loggers go to whatever
    logging the process configured (``log_config=None``)."""
    options: dict[str, Any] = {
        "log_level": "warning",
        "log_config": None,
        "lifespan": "off",
        "http": "h11",
        "ws": "none",
        "loop": "asyncio",
        "access_log": False,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


def serve(host: str = "127.0.0.1", port: int = 8100, chunk_delay: float = 0.02) -> None:
    """Serve the demo model in the foreground until SIGINT/SIGTERM. Raises OSError when the port is taken."""
    sock = bind_socket(host, port)
    bound = sock.getsockname()[1]
    server = uvicorn.Server(server_config(create_app(chunk_delay)))
    _log.info("demo model starting", extra={"fields": {"base_url": f"http://{host}:{bound}/v1", "models": ",".join(DEMO_MODELS), "chunk_delay": chunk_delay}})
    server.run(sockets=[sock])
