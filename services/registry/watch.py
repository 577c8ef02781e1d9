"""Hot reload (``GATEWAY_AGENT_WATCH=1``): the agents folder and each config file, on its own.

The watcher is a table. One entry is the agents folder, watched recursively: any change under
it rescans the folder, and the catalogue re-imports only the drop-ins whose content changed.
Every other entry is one config file — ``agents.yaml`` (the declarative agents),
``security.yaml`` (the policy), ``tools.yaml`` (the tool catalogue) — as a ``WatchedFile``: a
name, a path and the coroutine that reloads it. Config files are watched through their folder,
not recursively. After a burst of events there, each file compares a hash of its content with
the content it last loaded and reloads only when they differ, so one edit reloads one thing and
a save of the same bytes nothing. Hashes rather than event paths, because editors that save
through a temporary file and Kubernetes ConfigMap volumes (a symlinked folder swapped whole)
report other paths than the file's.

One more reloadable file is one more ``WatchedFile`` in ``services.server.Gateway``'s table.
Its ``reload`` raises to reject the new content, and must have validated all of it before
swapping anything in, so the old version stays in force. A rejection is logged (``config
reload rejected``), counted in ``agentgateway_config_reload_failures_total{config=<name>}`` and
reported to ``on_problem`` (the gateway lists it in ``RegistryService/ListDiagnostics``) until
a later reload of that file succeeds. ``agents.yaml``'s reload never raises: the catalogue
keeps its last good agents and lists the problem itself.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from watchfiles import Change, awatch

from services.errors import GatewayError
from services.log import get_logger
from services.metrics import CONFIG_RELOAD_FAILURES
from services.registry.discovery import Failure, is_scratch_file

__all__ = ["WatchedFile", "Watcher"]

log = get_logger("registry")

_DEBOUNCE_MS = 300


@dataclass(frozen=True)
class WatchedFile:
    name: str  # the metric label and log field: agents, security, tools
    path: Path
    reload: Callable[[], Awaitable[object]]  # raises to reject the new content


def _content_hash(path: Path) -> str | None:
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=20).hexdigest()
    except OSError:  # missing (or unreadable: its reload will say so)
        return None


class Watcher:
    """Reloads what changed under ``agents_dir`` (with ``reload_agents``) and each of ``files``."""

    def __init__(
        self,
        files: Sequence[WatchedFile],
        *,
        agents_dir: Path | None = None,
        reload_agents: Callable[[], Awaitable[object]] | None = None,
        on_problem: Callable[[WatchedFile, Failure | None], None] | None = None,
    ) -> None:
        self._files = tuple(files)
        self._agents_dir = agents_dir
        self._reload_agents = reload_agents
        self._on_problem = on_problem
        # What each file held when it was last loaded; taken now, before the gateway loads them.
        self._loaded = {f.path: _content_hash(f.path) for f in self._files}
        self._lock = asyncio.Lock()  # one reload at a time, whichever root saw the change

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until ``stop`` is set."""
        folders = sorted({f.path.parent.absolute() for f in self._files if f.path.parent.is_dir()})
        agents_dir = self._agents_dir if self._agents_dir is not None and self._agents_dir.is_dir() and self._reload_agents is not None else None
        if agents_dir is None and not folders:
            log.warning("hot reload: nothing to watch", extra={"fields": {"agents_dir": str(self._agents_dir)}})
            return
        log.info(
            "hot reload: watching",
            extra={"fields": {"paths": [str(p) for p in ([agents_dir] if agents_dir else []) + folders], "files": [f.name for f in self._files]}},
        )
        try:
            async with asyncio.TaskGroup() as group:
                if agents_dir is not None:
                    group.create_task(self._watch_agents(agents_dir, stop))
                if folders:
                    group.create_task(self._watch_files(folders, stop))
                    group.create_task(self._catch_up())
        except Exception as exc:  # e.g. the inotify watch limit: say so, the gateway serves on
            log.error("hot reload stopped: changes are no longer picked up", exc_info=exc)

    async def _watch_agents(self, agents_dir: Path, stop: asyncio.Event) -> None:
        def relevant(change: Change, path: str) -> bool:
            # Directory events count too: a new agent folder whose agent.py was written before the
            # watcher had added the folder (a race inherent to recursive inotify) is seen this way.
            p = Path(path)
            return "__pycache__" not in p.parts and not is_scratch_file(p.name)

        assert self._reload_agents is not None
        async for changes in awatch(agents_dir, watch_filter=relevant, stop_event=stop, debounce=_DEBOUNCE_MS, recursive=True):
            log.info("hot reload: files changed", extra={"fields": {"files": sorted({Path(p).name for _, p in changes})}})
            async with self._lock:
                try:
                    await self._reload_agents()
                except Exception as exc:
                    log.error("hot reload: refresh failed", exc_info=exc)

    async def _watch_files(self, folders: Sequence[Path], stop: asyncio.Event) -> None:
        async for _ in awatch(*folders, watch_filter=None, stop_event=stop, debounce=_DEBOUNCE_MS, recursive=False):
            async with self._lock:
                await self.check_files()

    async def _catch_up(self) -> None:
        """A config file saved between its load and the watches' start sent no event: the tasks
        above have set up their inotify watches by the time this runs (created last, it runs
        after each of them reached its first await), so a check now misses nothing."""
        await asyncio.sleep(0)
        async with self._lock:
            await self.check_files()

    async def check_files(self) -> None:
        """Reload each file whose content differs from what it last loaded."""
        for watched in self._files:
            content = await asyncio.to_thread(_content_hash, watched.path)
            if content == self._loaded[watched.path]:
                continue
            self._loaded[watched.path] = content  # rejected content is not retried until it changes again
            await self._reload(watched)

    async def _reload(self, watched: WatchedFile) -> None:
        fields: dict[str, object] = {"config": watched.name, "path": str(watched.path)}
        try:
            await watched.reload()
        except Exception as exc:  # noqa: BLE001 - any rejection keeps the old version
            error_type = exc.reason if isinstance(exc, GatewayError) else type(exc).__name__
            message = exc.message if isinstance(exc, GatewayError) else str(exc)
            CONFIG_RELOAD_FAILURES.labels(watched.name).inc()
            log.error("config reload rejected", extra={"fields": {**fields, "error_type": error_type, "error": message}})
            if self._on_problem is not None:
                self._on_problem(watched, Failure("discover", error_type, message))
            return
        log.info("config reloaded", extra={"fields": fields})
        if self._on_problem is not None:
            self._on_problem(watched, None)
