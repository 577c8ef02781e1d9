"""One shared client per upstream, swapped whole when ``upstreams.yaml`` is reloaded.

``UpstreamPool`` holds a snapshot (the parsed file and an ``Upstream`` per entry) that
``reload()`` replaces in one assignment: a run takes its upstream when it starts
(``acquire``) and keeps that object to its end (``release``), whatever reloads happen
meanwhile; new runs get the new snapshot. An upstream whose entry is unchanged is carried
over as it is (clients, connections, health state); a changed or removed one is retired: its
health checks stop at once, and its clients are closed when its last run ends.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx2
from openai import AsyncOpenAI, DefaultAsyncHttpxClient
from yarl import URL

from services import request_ids
from services.config_files import ConfigError
from services.errors import GatewayError
from services.log import get_logger
from services.metrics import UPSTREAM_RETRIES
from services.upstream_http import UpstreamHTTP
from services.upstreams.config import HealthCheckConfig, UpstreamConfig, UpstreamsFile, api_key_of, load_upstreams
from services.upstreams.health import HealthChecker, UpstreamHealth, upstream_down

__all__ = ["Rejection", "Reload", "Upstream", "UpstreamPool", "log_retry"]

log = get_logger("upstream")


@dataclass(eq=False)
class _Life:
    """An upstream's runs in flight and what becomes of it once retired."""

    in_flight: int = 0
    retired: bool = False
    checker: HealthChecker | None = None


@dataclass(frozen=True, eq=False)
class Upstream:
    config: UpstreamConfig
    # For SDK agents, which need the openai client.
    client: AsyncOpenAI
    # The declarative passthrough's own pool (services/upstream_http.py says why).
    lean: UpstreamHTTP
    # Sent on every request (and health check); never logged.
    auth_headers: dict[str, str]
    health: UpstreamHealth | None = None  # None: built outside a pool, never checked
    _life: _Life = field(default_factory=_Life, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def has_key(self) -> bool:
        return api_key_of(self.config) is not None


@dataclass(frozen=True)
class Reload:
    """What a reload did, by upstream name."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    count: int


@dataclass(frozen=True)
class Rejection:
    """The last reload's file, rejected: the old upstreams stayed."""

    path: str
    message: str
    time: datetime


@dataclass(frozen=True)
class _Snapshot:
    config: UpstreamsFile
    upstreams: dict[str, Upstream]


class UpstreamPool:
    """The upstreams of ``upstreams.yaml``, each with one shared client (and connection pool)."""

    def __init__(self, config: UpstreamsFile, *, path: Path | None = None, default_model: str = "gpt-4.1-mini") -> None:
        self.path = path  # None: built from a config in code, nothing to reload
        self._default_model = default_model
        self._snapshot = _Snapshot(config, {u.name: _upstream(u, config.health_check_of(u)) for u in config.upstreams})
        self._checking = False
        self._retired: set[Upstream] = set()  # retired, not closed yet
        self._closing: set[asyncio.Task[None]] = set()
        self.generation = 0  # bumped by every reload that changed something
        self.rejected: Rejection | None = None

    @classmethod
    def from_file(cls, path: Path, default_model: str) -> UpstreamPool:
        """Parse ``path`` (a malformed file raises ``ConfigError``); a missing one means the
        upstream of ``OPENAI_BASE_URL``, as ``load_upstreams`` says."""
        return cls(load_upstreams(path, default_model), path=path, default_model=default_model)

    # ------------------------------------------------------------------ reading

    @property
    def config(self) -> UpstreamsFile:
        return self._snapshot.config

    def resolve(self, name: str | None) -> UpstreamConfig | None:
        """The config an agent naming ``name`` is routed to now (the registry's ``UpstreamResolver``)."""
        return self._snapshot.config.resolve(name)

    def list(self) -> list[Upstream]:
        return sorted(self._snapshot.upstreams.values(), key=lambda u: u.name)

    def find(self, name: str) -> Upstream | None:
        return self._snapshot.upstreams.get(name)

    def get(self, name: str | None) -> Upstream:
        """The upstream an agent naming ``name`` (None: the default) is routed to."""
        snapshot = self._snapshot
        resolved = snapshot.config.resolve(name)
        upstream = snapshot.upstreams.get(resolved.name) if resolved is not None else None
        if upstream is None:
            wanted = name or "(default)"
            raise GatewayError(
                "FAILED_PRECONDITION",
                "UPSTREAM_NOT_CONFIGURED",
                f"upstream {wanted!r} is not configured: upstreams.yaml has no upstream of that name",
                {"upstream": wanted},
            )
        return upstream

    # ------------------------------------------------------------------ runs

    def acquire(self, name: str | None) -> Upstream:
        """``get`` for a run: refused at once when the upstream is known to be down; else held
        until ``release``, so a reload closes its clients only after the run."""
        upstream = self.get(name)
        if upstream.health is not None and upstream.health.down:
            raise upstream_down(upstream.health)
        upstream._life.in_flight += 1
        return upstream

    def release(self, upstream: Upstream, outcome: str) -> None:
        """The run that acquired ``upstream`` ended with ``outcome`` ("ok" or an error reason, lower-case)."""
        life = upstream._life
        life.in_flight -= 1
        if upstream.health is not None and not life.retired:
            if outcome == "ok":
                upstream.health.request_succeeded()
            elif outcome == "upstream_unreachable" and life.checker is not None:
                life.checker.poke()
        if life.retired and life.in_flight == 0:
            self._close_later(upstream)

    # ------------------------------------------------------------------ health checks

    def start(self) -> None:
        """Start the health checks (on the running loop); upstreams added by reloads get theirs too."""
        self._checking = True
        for upstream in self._snapshot.upstreams.values():
            self._start_checks(upstream)

    def _start_checks(self, upstream: Upstream) -> None:
        health = upstream.health
        if not self._checking or health is None or not health.check.enabled or upstream._life.checker is not None:
            return
        url = URL(upstream.config.base_url.rstrip("/") + health.check.path)
        headers = upstream.auth_headers

        async def probe(timeout_s: float) -> int:
            return await upstream.lean.probe(url, headers, timeout_s)

        checker = upstream._life.checker = HealthChecker(health, probe)
        checker.start()

    # ------------------------------------------------------------------ reload

    async def reload(self) -> Reload:
        """Re-read the file and swap the upstreams in. A malformed file raises ``GatewayError``
        INVALID_ARGUMENT ``UPSTREAMS_CONFIG_INVALID`` (logged, kept in ``rejected``) and
        changes nothing."""
        if self.path is None:
            raise GatewayError("FAILED_PRECONDITION", "UPSTREAMS_NOT_RELOADABLE", "these upstreams were not read from a file")
        try:
            config = load_upstreams(self.path, self._default_model)
        except ConfigError as exc:
            self.rejected = Rejection(str(self.path), str(exc), datetime.now(UTC))
            log.error("upstreams reload rejected", extra={"fields": {"path": str(self.path), "error": str(exc)}})
            raise GatewayError(
                "INVALID_ARGUMENT", "UPSTREAMS_CONFIG_INVALID", f"upstreams not reloaded, the old ones stay: {exc}", {"path": str(self.path)}
            ) from None
        self.rejected = None
        return self._swap(config)

    def _swap(self, config: UpstreamsFile) -> Reload:
        before = self._snapshot
        old = before.upstreams
        upstreams: dict[str, Upstream] = {}
        for entry in config.upstreams:
            check = config.health_check_of(entry)
            kept = old.get(entry.name)
            if kept is None or kept.config != entry or kept.health is None or kept.health.check != check or kept.auth_headers != _auth_headers(entry):
                kept = _upstream(entry, check)
            upstreams[entry.name] = kept
        # The swap: one assignment, so no reader ever sees half of a reload.
        self._snapshot = _Snapshot(config, upstreams)
        retired = [u for name, u in old.items() if upstreams.get(name) is not u]
        for upstream in retired:
            self._retire(upstream)
        for upstream in upstreams.values():
            self._start_checks(upstream)
        result = Reload(
            added=tuple(sorted(set(upstreams) - set(old))),
            changed=tuple(sorted(u.name for u in retired if u.name in upstreams)),
            removed=tuple(sorted(set(old) - set(upstreams))),
            count=len(upstreams),
        )
        if config == before.config:
            log.debug("upstreams unchanged", extra={"fields": {"upstreams": result.count}})
            return result
        self.generation += 1  # routing may differ (a new default, a changed `api`)
        log.info(
            "upstreams reloaded",
            extra={"fields": {"upstreams": result.count, "added": list(result.added), "changed": list(result.changed), "removed": list(result.removed)}},
        )
        return result

    def _retire(self, upstream: Upstream) -> None:
        life = upstream._life
        life.retired = True
        if life.checker is not None:
            life.checker.stop()
        if upstream.health is not None:
            upstream.health.forget()
        log.info("upstream retired", extra={"fields": {"upstream": upstream.name, "in_flight": life.in_flight}})
        if life.in_flight == 0:
            self._close_later(upstream)
        else:
            self._retired.add(upstream)

    def _close_later(self, upstream: Upstream) -> None:
        self._retired.discard(upstream)
        task = asyncio.get_running_loop().create_task(_close(upstream), name=f"upstream-close:{upstream.name}")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        self._checking = False
        for upstream in [*self._snapshot.upstreams.values(), *self._retired]:
            if upstream._life.checker is not None:
                upstream._life.checker.stop()
            await _close(upstream)
        self._retired.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


async def _close(upstream: Upstream) -> None:
    await upstream.client.close()
    await upstream.lean.aclose()
    if upstream._life.retired:
        log.info("upstream closed", extra={"fields": {"upstream": upstream.name}})


def _auth_headers(config: UpstreamConfig) -> dict[str, str]:
    # A missing key is fine for local servers (Ollama, vLLM); the openai client insists on a value.
    return {"authorization": f"Bearer {api_key_of(config) or 'not-needed'}"}


def _upstream(config: UpstreamConfig, check: HealthCheckConfig) -> Upstream:
    auth = _auth_headers(config)
    api_key = auth["authorization"].removeprefix("Bearer ")
    timeout = httpx2.Timeout(config.timeout_s, pool=config.pool_timeout_s)
    # The openai client's own HTTP client type (openai 3 is built on httpx2), with a pool sized
    # for a gateway rather than a single script.
    http = DefaultAsyncHttpxClient(
        timeout=timeout,
        limits=httpx2.Limits(max_connections=config.max_connections, max_keepalive_connections=min(config.max_connections, 64)),
        event_hooks={"request": [_send_request_id, _RetryLog(config.name)]},
    )
    client = AsyncOpenAI(base_url=config.base_url, api_key=api_key, timeout=timeout, max_retries=config.max_retries, http_client=http)
    lean = UpstreamHTTP(config.base_url, timeout_s=config.timeout_s, max_connections=config.max_connections, pool_timeout_s=config.pool_timeout_s)
    return Upstream(config, client, lean, auth, UpstreamHealth(config.name, check))


def log_retry(upstream: str, attempt: int | str, path: str) -> None:
    """Log and count one retry to ``upstream`` (by its configured name only: never its key)."""
    UPSTREAM_RETRIES.labels(upstream).inc()
    log.warning("retrying upstream request", extra={"fields": {"upstream": upstream, "retry": str(attempt), "path": path}})


async def _send_request_id(request: httpx2.Request) -> None:
    """The gateway request's id goes upstream as ``x-request-id`` (each attempt of it), so the
    upstream's logs can be matched with the gateway's."""
    request_id = request_ids.current()
    if request_id:
        request.headers[request_ids.HEADER] = request_id


class _RetryLog:
    """Logs and counts each retry the openai client makes (it numbers its attempts in the
    ``x-stainless-retry-count`` header), naming the upstream by its configured name only."""

    def __init__(self, upstream: str) -> None:
        self._upstream = upstream

    async def __call__(self, request: httpx2.Request) -> None:
        attempt = request.headers.get("x-stainless-retry-count", "0")
        if attempt != "0":
            log_retry(self._upstream, attempt, request.url.path)
