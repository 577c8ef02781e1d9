"""Structured logging: one JSON object per line (or plain text for humans).

Every module logs through ``get_logger("<area>")`` (the ``agentgateway.<area>`` logger) with a
short, stable message and the details as structured fields, ``extra={"fields": {...}}``
(never %-arguments or f-strings); this formatter merges them into the JSON record. Nothing
here ever receives an API key: callers log key ids only.

A line logged while a request is served carries its ``request_id`` (services/request_ids.py:
the id bound to the serving task's context), whoever logs it — the shim, the executor, a tool,
an upstream client's retry hook — unless the line names one itself.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from services import request_ids

__all__ = ["configure_logging", "get_logger", "redact_url"]

_RESERVED = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    def __init__(self, process_fields: dict[str, Any] | None = None) -> None:
        super().__init__()
        # With several workers: which one logged (worker index and pid) on every line.
        self._process_fields = process_fields or {}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **self._process_fields,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if "request_id" not in payload and (request_id := request_ids.current()):
            payload["request_id"] = request_id
        if record.exc_info and record.levelno >= logging.ERROR:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if not isinstance(fields, dict):
            fields = {}
        if "request_id" not in fields and (request_id := request_ids.current()):
            fields = {**fields, "request_id": request_id}
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line


def configure_logging(level: str = "INFO", fmt: str = "json", *, worker: int | None = None) -> None:
    """``worker``: this process is worker N of several (services/supervisor.py): every line says so."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(None if worker is None else {"worker": worker, "pid": os.getpid()}))
    else:
        prefix = "" if worker is None else f"[worker {worker} pid %(process)d] "
        handler.setFormatter(TextFormatter(f"%(asctime)s %(levelname)s {prefix}%(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter stays at WARNING: httpx and httpx2 (under openai and mcp) log every
    # request URL at INFO, the mcp client its session ids and stream reconnects.
    for noisy in ("httpx", "httpcore", "httpx2", "httpcore2", "mcp", "openai", "openai.agents", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(area: str) -> logging.Logger:
    return logging.getLogger(f"agentgateway.{area}")


def redact_url(url: str) -> str:
    """The URL without credentials or query string, for logs and messages (tokens live there)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    except ValueError:
        return "<invalid url>"
