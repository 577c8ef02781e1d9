"""``kind: http`` tools: one configured HTTP endpoint per tool.

Model-supplied arguments can only fill ``{placeholders}`` (each value percent-encoded as one
path segment), the query string (GET/DELETE) or the JSON body (POST/PUT/PATCH): never the
scheme, host or port. Every request and every redirect hop is checked against
``outbound.allow_hosts`` and the address rules in ``_outbound``; headers come from the config
only (``env:NAME`` resolved per call), never from the caller.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, cast
from urllib.parse import quote

import httpx

from services.log import get_logger
from services.rpc.structs import integral_numbers
from services.tools._outbound import GuardedTransport, OutboundPolicy, OutboundRefused
from services.tools.config import HttpToolConfig, OutboundConfig, env_reference, url_placeholders
from services.tools.provider import ToolFailure, ToolProvider, ToolSpec

__all__ = ["MAX_REDIRECTS", "HttpToolProvider"]

log = get_logger("tools")

MAX_REDIRECTS = 5
_EXCERPT_CHARS = 200
_PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
_USER_AGENT = "agent-gateway-tools"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _segment(value: Any) -> str:
    """One path segment: everything reserved is encoded, and "." / ".." cannot walk up."""
    encoded = quote(_text(value), safe="")
    if encoded in (".", ".."):
        encoded = encoded.replace(".", "%2E")
    return encoded


def _query_items(arguments: dict[str, Any]) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for key, value in arguments.items():
        if value is None:
            continue
        if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
            items.extend((key, _text(v)) for v in value)
        else:
            items.append((key, _text(value)))
    return items


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def _excerpt(data: bytes, secrets: list[str]) -> str:
    text = data.decode("utf-8", errors="replace")
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(text.split())
    return text[:_EXCERPT_CHARS] + ("…" if len(text) > _EXCERPT_CHARS else "")


def _output_text(data: bytes, response: httpx.Response) -> str:
    encoding = response.charset_encoding or "utf-8"
    try:
        text = data.decode(encoding, errors="replace")
    except LookupError:
        text = data.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)


class HttpToolProvider(ToolProvider):
    """One ``kind: http`` entry. Owns one ``httpx.AsyncClient`` (unless one is passed in)
    whose connections go through the outbound guard."""

    def __init__(self, config: HttpToolConfig, outbound: OutboundConfig | OutboundPolicy | None = None, *, client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        if isinstance(outbound, OutboundPolicy):
            self.policy = outbound
        else:
            self.policy = OutboundPolicy.from_hosts(outbound.allow_hosts if outbound else ())
        self._client = client
        self._owns_client = client is None
        self._placeholders = list(dict.fromkeys(url_placeholders(config.url)))

    async def start(self) -> None:
        host = httpx.URL(_PLACEHOLDER_RE.sub("x", self.config.url)).host
        if self.policy.match(host) is None:
            # Not fatal: the tool is listed and refuses at invoke, which is easier to diagnose
            # from a model transcript than a missing tool.
            log.warning(
                "http tool host is not allow-listed; calls will be refused",
                extra={"fields": {"tool": self.config.name, "host": host}},
            )
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=GuardedTransport(self.policy),
                follow_redirects=False,
                trust_env=False,
                timeout=httpx.Timeout(self.config.timeout_s),
                headers={"user-agent": _USER_AGENT},
            )

    async def list_tools(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name=self.config.name,
                description=self.config.description,
                parameters=self.config.effective_parameters(),
                kind="http",
            )
        ]

    async def close(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
        self._client = None

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, ref in self.config.headers.items():
            var = env_reference(ref)
            value = os.environ.get(var) if var else None
            if not value:
                raise ToolFailure(f"environment variable {var!r} for header {name!r} of tool {self.config.name!r} is not set")
            headers[name] = value
        return headers

    def _build(self, arguments: dict[str, Any]) -> tuple[httpx.URL, Any]:
        args = integral_numbers(dict(arguments))  # 7.0 from a model or a Struct renders as 7
        missing = [n for n in self._placeholders if args.get(n) is None]
        if missing:
            raise ToolFailure(f"missing argument(s) for the URL: {', '.join(missing)}")
        filled = _PLACEHOLDER_RE.sub(lambda m: _segment(args[m.group(1)]), self.config.url)
        try:
            url = httpx.URL(filled)
        except httpx.InvalidURL as exc:
            raise ToolFailure(f"the arguments do not form a valid URL: {exc}") from None
        rest = {k: v for k, v in args.items() if k not in self._placeholders}
        if self.config.method in _BODY_METHODS:
            return url, rest
        if rest:
            url = url.copy_merge_params(httpx.QueryParams(cast(Any, _query_items(rest))))  # a list of pairs keeps repeated keys
        return url, None

    async def invoke(self, spec: ToolSpec, arguments: dict[str, Any]) -> str:
        if self._client is None:
            raise ToolFailure(f"tool {self.config.name!r} is not started")
        headers = self._headers()
        url, body = self._build(arguments)
        try:
            return await self._send(self._client, self.config.method, url, headers, body)
        except httpx.TimeoutException:
            raise TimeoutError(f"HTTP request timed out after {self.config.timeout_s:g}s") from None
        except httpx.HTTPError as exc:
            raise ToolFailure(f"HTTP request to host {url.host!r} failed: {type(exc).__name__}") from None

    async def _send(self, client: httpx.AsyncClient, method: str, url: httpx.URL, headers: dict[str, str], body: Any) -> str:
        secrets = list(headers.values())
        for hop in range(MAX_REDIRECTS + 1):
            await self.policy.check_url(url)
            request = client.build_request(method, url, headers=headers, json=body if body is not None else None)
            response = await client.send(request, stream=True)
            try:
                if response.is_redirect:
                    if hop == MAX_REDIRECTS:
                        raise ToolFailure(f"too many redirects (more than {MAX_REDIRECTS})")
                    try:
                        target = url.join(response.headers["location"])
                    except httpx.InvalidURL:
                        raise OutboundRefused("redirect to an invalid URL") from None
                    if response.status_code == 303 or (response.status_code in (301, 302) and method not in ("GET", "HEAD")):
                        method, body = "GET", None
                    if not _same_origin(url, target):
                        # Configured credentials are for the configured origin only.
                        headers = {}
                    url = target
                    continue
                return await self._read(response, secrets)
            finally:
                await response.aclose()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _read(self, response: httpx.Response, secrets: list[str]) -> str:
        limit = self.config.max_response_bytes
        ok = response.is_success
        if not ok:
            limit = min(limit, 4096)
        else:
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise ToolFailure(f"response larger than {limit} bytes")
        buf = bytearray()
        async for chunk in response.aiter_bytes():
            buf += chunk
            if len(buf) > limit:
                if ok:
                    raise ToolFailure(f"response larger than {limit} bytes")
                break
        if not ok:
            excerpt = _excerpt(bytes(buf), secrets)
            reason = response.reason_phrase or ""
            raise ToolFailure(f"HTTP {response.status_code} {reason}".rstrip() + (f": {excerpt}" if excerpt else ""))
        return _output_text(bytes(buf), response)
