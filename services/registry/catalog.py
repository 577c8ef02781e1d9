"""The agent catalogue: drop-in agents from the agents dir plus declarative ones from agents.yaml.

``AgentCatalog.refresh()`` builds a complete new snapshot (entries, alias lookup, diagnostics)
and swaps it in with one reference assignment; readers (``get``/``list``/``diagnostics``) only
ever see a whole snapshot. A bad module never breaks a refresh: it becomes a ``Diagnostic``
(logged at WARNING once, when it first appears) and the other agents are served.

A refresh re-imports only what changed: each drop-in is kept between refreshes with the
content hash of its folder (``discovery.folder_fingerprint``) and imported again only when
that hash differs, so an untouched module's import side effects run once and its agent
objects (and the MCP servers they hold) live on. ``refresh(drop_ins=False)`` re-reads
``agents.yaml`` alone; ``refresh(declarative=False)`` rescans the folder alone.

A broken edit never takes an agent down: when a drop-in that is served fails to load again
(a syntax error, an exception at import, a bad export or ``__gateway__``), or ``agents.yaml``
no longer parses, the last good version keeps serving, marked stale (``stale_since``,
``stale_reason``: the diagnostic, listed with ``stale=True``) until a load succeeds. An agent
that never loaded is not served, as before. A policy refusal is not a broken edit: that agent
goes.

``watch()`` follows the catalogue: a snapshot, then each refresh's changes as events
(``services.registry.events``), for ``RegistryService/WatchAgents``.

``diagnostics`` also lists the rejected reloads of config files other services own
(``set_config_problem``, from the hot-reload watcher): operators find every load problem in one
place, ``RegistryService/ListDiagnostics``.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import inspect
import itertools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from agents import Agent, RunHooks

from services.config_files import ConfigError
from services.guest.offload import is_sync_callable, offload_agent_graph, offloaded
from services.guest.pools import DEFAULT_QUEUE, DEFAULT_THREADS
from services.guest.watchdog import set_guest_folders
from services.log import get_logger
from services.metrics import AGENTS_STALE, record_load_failure, record_reload
from services.model_ids import bare_name, model_id_for
from services.registry.declarative import DeclarativeAgent, load_agents_config
from services.registry.discovery import (
    ExportKind,
    Failure,
    LoadOutcome,
    ScanProblem,
    Stage,
    check_factory_result,
    describe_agent,
    failure_from_exception,
    first_line,
    folder_fingerprint,
    load_drop_in,
    scan_agents_dir,
    unload_modules,
)
from services.registry.events import Follower, Followers, changes
from services.sdk_agents import hosted_tool_problem, hosted_tools
from services.upstreams import UpstreamResolver

__all__ = ["DEFAULT_EXPORTS", "AgentCatalog", "AgentEntry", "AgentSource", "Diagnostic"]

AgentSource = Literal["drop_in", "declarative"]

DEFAULT_EXPORTS: tuple[str, ...] = ("agent", "build_agent", "create_agent", "get_agent", "run_workflow")

log = get_logger("registry")

_NO_PROCESS_ISOLATION = (
    '__gateway__["isolation"] = "process" is not available in this gateway: the agent is not served rather than run in-process'
    " against its author's wish. Remove the key to run it in-process (sync code in its own thread pool), or serve it from a"
    ' separate gateway process (docs/agents.md, "Guest code")'
)


@dataclass(frozen=True)
class Diagnostic:
    path: str  # relative to the agents dir (posix), or the config file path
    agent_id: str  # the would-be model id ("" when there is none)
    stage: Stage
    error_type: str  # exception class name: SyntaxError, ModuleNotFoundError, ...
    message: str
    traceback: str  # short: the last <=5 frames inside the user's files, <=2000 chars
    time: datetime  # tz-aware UTC
    # What it concerns serves its last good version meanwhile: an agent (AgentEntry.stale_reason),
    # or a config file whose rejected reload left the old one in force.
    stale: bool = False


@dataclass(frozen=True)
class AgentEntry:
    id: str  # model id
    source: AgentSource
    export_kind: ExportKind | None  # None for declarative
    description: str
    upstream: str | None  # from __gateway__ / agents.yaml
    upstream_model: str | None  # the upstream's model name, from __gateway__ / agents.yaml (NOT the SDK agent's own model)
    aliases: tuple[str, ...]
    path: str | None  # module path relative to the agents dir (posix); the config file for declarative
    timeout_s: float | None
    max_turns: int | None
    agent_name: str  # SDK Agent.name, or the id for declarative agents and workflows
    # Equality compares what describes an entry, not the objects of its load: two entries of
    # one drop-in are equal when they come from the same import (same ``revision``).
    agent: Agent[Any] | None = field(compare=False)  # the SDK Agent (agent and factory exports)
    workflow: Callable[..., Awaitable[Any]] | None = field(compare=False)  # run_workflow export
    instructions: str | None = None  # declarative only
    tools: tuple[str, ...] = ()  # declarative only
    max_tool_hops: int = 4
    context_builder: Callable[..., Any] | None = field(default=None, compare=False)  # drop-ins: __gateway__["context"]
    run_hooks: RunHooks[Any] | None = field(default=None, compare=False)  # drop-ins: __gateway__["hooks"] or a module-level `hooks`
    threads: int = DEFAULT_THREADS  # drop-ins: __gateway__["threads"], the agent's own pool for sync code
    queue: int = DEFAULT_QUEUE  # drop-ins: __gateway__["queue"], calls that may wait for one of those threads
    revision: int = 0  # drop-ins: which import of the module this is (one number per successful load)
    # Set while this is the last good version of an agent whose newer version failed to load.
    stale_since: datetime | None = None  # when the first of those failures happened
    stale_reason: Diagnostic | None = None  # the latest one


@dataclass(frozen=True)
class _Snapshot:
    entries: tuple[AgentEntry, ...] = ()  # sorted by id
    lookup: dict[str, AgentEntry] = field(default_factory=dict)  # ids and aliases
    diagnostics: tuple[Diagnostic, ...] = ()


@dataclass(frozen=True)
class _DropIn:
    """One drop-in between refreshes: its folder's content hash at the last load attempt, and
    what that load gave (an entry, or the failure that kept it from being served)."""

    fingerprint: str
    path_id: str  # the model id its path gives (``__gateway__["id"]`` may override it)
    entry: AgentEntry | None = None
    module_names: tuple[str, ...] = ()  # sys.modules entries of the entry's load
    failure: Failure | None = None  # with an entry: the newer version failed, the entry is stale
    failed_id: str = ""  # the would-be model id of the failed load
    stale_since: datetime | None = None


def _diagnostic_key(diagnostic: Diagnostic) -> tuple[str, str, str, str, str, bool]:
    return (diagnostic.path, diagnostic.agent_id, diagnostic.stage, diagnostic.error_type, diagnostic.message, diagnostic.stale)


class _Builder:
    def __init__(self, previous: Iterable[Diagnostic] = ()) -> None:
        self.entries: builtins.list[AgentEntry] = []
        self.owners: dict[str, str] = {}  # id or alias -> where it was registered
        self.diagnostics: builtins.list[Diagnostic] = []
        # Diagnostics the snapshot being replaced lists: the same problem again keeps its time
        # and is not logged again.
        self.previous = {_diagnostic_key(d): d for d in previous}

    def diagnose(self, path: str, agent_id: str, failure: Failure, *, stale: bool = False) -> Diagnostic:
        known = self.previous.get((path, agent_id, failure.stage, failure.error_type, failure.message, stale))
        if known is not None:
            self.diagnostics.append(known)
            return known
        diagnostic = Diagnostic(path, agent_id, failure.stage, failure.error_type, failure.message, failure.traceback, datetime.now(UTC), stale)
        self.diagnostics.append(diagnostic)
        record_load_failure(failure.stage)
        log.warning(
            "agent keeps serving its last good version" if stale else "agent not served",
            extra={"fields": {"path": path, "agent_id": agent_id, "stage": failure.stage, "error_type": failure.error_type, "message": failure.message}},
        )
        return diagnostic

    def register(self, entry: AgentEntry, path: str, label: str | None = None) -> bool:
        """Add ``entry`` unless its id or an alias is taken (then a ``register`` diagnostic)."""
        label = label or path
        for name in (entry.id, *entry.aliases):
            if name in self.owners:
                what = "model id" if name == entry.id else "alias"
                self.diagnose(
                    path, entry.id, Failure("register", "DuplicateModelId", f"{what} {name!r} is already taken by {self.owners[name]}; {label} is not served")
                )
                return False
        for name in (entry.id, *entry.aliases):
            self.owners[name] = label
        self.entries.append(entry)
        return True

    def build(self) -> _Snapshot:
        # Agents of the default namespace answer to their bare name too, unless another
        # agent's id or declared alias has it (declared names always win).
        def with_bare_name(entry: AgentEntry) -> AgentEntry:
            name = bare_name(entry.id)
            return replace(entry, aliases=(*entry.aliases, name)) if name is not None and name not in self.owners else entry

        entries = tuple(sorted(map(with_bare_name, self.entries), key=lambda e: e.id))
        lookup = {name: e for e in entries for name in (e.id, *e.aliases)}
        return _Snapshot(entries, lookup, tuple(self.diagnostics))


class AgentCatalog:
    """Drop-in and declarative agents by model id (and alias)."""

    def __init__(
        self,
        agents_dir: Path,
        agents_config: Path | None,
        exports: Sequence[str] = DEFAULT_EXPORTS,
        module_allowed: Callable[[str], tuple[bool, str]] | None = None,
        upstreams: UpstreamResolver | None = None,
        config_diagnostics: Callable[[], Sequence[Diagnostic]] | None = None,
    ) -> None:
        self._agents_dir = Path(agents_dir).absolute()
        self._agents_config = agents_config
        if isinstance(exports, str):  # GATEWAY_AGENT_EXPORTS as is: "agent,build_agent,..."
            exports = exports.split(",")
        self._exports = tuple(dict.fromkeys(name.strip() for name in exports if name.strip()))
        if not self._exports:
            raise ValueError("exports: at least one export name is needed")
        self._module_allowed = module_allowed
        # Only to warn at load time about agents their upstream cannot run (the executor owns the clients).
        self._upstreams = upstreams
        # Problems of other config files (a rejected upstreams.yaml reload), listed with ours.
        self._config_diagnostics = config_diagnostics
        self._snapshot = _Snapshot()
        self._refresh_lock = asyncio.Lock()
        # What the last refreshes found, kept so the next one redoes only what changed.
        self._drop_ins: dict[PurePosixPath, _DropIn] = {}
        self._scan_problems: tuple[ScanProblem, ...] = ()
        self._declared: tuple[AgentEntry, ...] = ()  # the last good agents.yaml's
        self._declared_failure: Failure | None = None
        self._declared_stale_since: datetime | None = None
        # Rejected reloads of the config files other services own (security.yaml, tools.yaml),
        # by path: listed with the load problems, where operators look (ListDiagnostics).
        self._config_problems: dict[str, Diagnostic] = {}
        self._followers = Followers(self.list)
        self.generation = 0  # bumped by every refresh that changes an entry, so holders of agent objects can notice

    def get(self, id_or_alias: str) -> AgentEntry | None:
        lookup = self._snapshot.lookup
        return lookup.get(id_or_alias) or lookup.get(id_or_alias.lower())

    def list(self) -> builtins.list[AgentEntry]:
        return list(self._snapshot.entries)

    @property
    def diagnostics(self) -> builtins.list[Diagnostic]:
        extra = self._config_diagnostics() if self._config_diagnostics is not None else ()
        return [*self._snapshot.diagnostics, *self._config_problems.values(), *extra]

    def watch(self) -> contextlib.AbstractContextManager[Follower]:
        """Follow the catalogue while the ``with`` block lasts: the entries now, then every
        refresh's changes (``Follower.next()``)."""
        return self._followers.follow()

    @property
    def watches(self) -> int:
        """How many followers are open."""
        return len(self._followers)

    def end_watches(self) -> None:
        """End every follower, now and to come (the server is shutting down)."""
        self._followers.end()

    def set_config_problem(self, path: str, failure: Failure | None) -> None:
        """List (or, with ``None``, stop listing) a rejected reload of ``path``, a config file
        another service owns; its old version is still in force."""
        known = self._config_problems.get(path)
        if failure is None:
            self._config_problems.pop(path, None)
        elif known is None or (known.error_type, known.message) != (failure.error_type, failure.message):
            self._config_problems[path] = Diagnostic(path, "", failure.stage, failure.error_type, failure.message, "", datetime.now(UTC), stale=True)

    async def refresh(self, *, drop_ins: bool = True, declarative: bool = True, retry_failed: bool = True) -> None:
        """Rescan the agents folder (``drop_ins``) and re-read ``agents.yaml`` (``declarative``),
        then swap in the new snapshot. A drop-in is imported again only when its folder's
        content changed, or when its last load failed and ``retry_failed`` (an operator's
        RefreshAgents: a missing dependency may have been installed since). Never raises for a
        bad module or config."""
        async with self._refresh_lock:
            try:
                modules = await self._rescan_drop_ins(retry_failed) if drop_ins else self._drop_ins
                if declarative:
                    self._read_declarative()
            except BaseException:
                record_reload("failed")
                raise
            builder = _Builder(self._snapshot.diagnostics)
            for problem in self._scan_problems:
                builder.diagnose(problem.path, problem.agent_id, Failure("discover", problem.error_type, problem.message))
            for relative, drop_in in modules.items():
                self._register_drop_in(relative, drop_in, builder)
            self._register_declarative(builder)
            old, self._snapshot = self._snapshot, builder.build()
            AGENTS_STALE.set(sum(e.stale_since is not None for e in self._snapshot.entries))
            held, self._drop_ins = self._drop_ins, modules
            if self._snapshot.entries != old.entries:
                self.generation += 1
                # The loop-lag watchdog names the agent whose folder a blocking frame comes from.
                set_guest_folders({str((self._agents_dir / e.path).parent): e.id for e in self._snapshot.entries if e.source == "drop_in" and e.path})
            unload_modules(_module_names(held.values()) - _module_names(modules.values()))
            record_reload("ok")
            log.info("agent catalogue refreshed", extra={"fields": {"agents": len(self._snapshot.entries), "diagnostics": len(self._snapshot.diagnostics)}})
            events = changes(old.entries, self._snapshot.entries, old.diagnostics, self._snapshot.diagnostics)
            if events:
                self._followers.publish(events)

    # ------------------------------------------------------------------ drop-ins

    async def _rescan_drop_ins(self, retry_failed: bool) -> dict[PurePosixPath, _DropIn]:
        """The drop-ins now in the folder, each loaded again if its content changed."""
        scan = await asyncio.to_thread(scan_agents_dir, self._agents_dir)
        self._scan_problems = scan.problems
        modules: dict[PurePosixPath, _DropIn] = {}
        try:
            for relative in scan.modules:
                modules[relative] = await self._rescan_one(relative, self._drop_ins.get(relative), retry_failed)
        except BaseException:
            unload_modules(_module_names(modules.values()) - _module_names(self._drop_ins.values()))
            raise
        return modules

    async def _rescan_one(self, relative: PurePosixPath, known: _DropIn | None, retry_failed: bool) -> _DropIn:
        path_id = model_id_for(relative)
        denied = self._policy_failure(path_id)
        if denied is not None:  # never imported; one that was is unloaded
            return _DropIn("", path_id, failure=denied, failed_id=path_id)
        fingerprint = await asyncio.to_thread(folder_fingerprint, self._agents_dir, relative)
        if known is not None and known.fingerprint == fingerprint:
            # A policy refusal is about the policy, which may have changed since, not the code.
            retry = known.failure is not None and (retry_failed or known.failure.stage == "policy")
            if not retry:
                return known
        outcome = await asyncio.to_thread(load_drop_in, self._agents_dir, relative, self._exports)
        entry, failure, failed_id = await self._entry_from(outcome, relative, path_id)
        if entry is not None:
            return _DropIn(fingerprint, path_id, entry, outcome.module_names)
        unload_modules(outcome.module_names)
        if known is not None and known.entry is not None:  # a broken edit: the last good version serves on
            since = known.stale_since or datetime.now(UTC)
            return _DropIn(fingerprint, path_id, known.entry, known.module_names, failure, failed_id, since)
        return _DropIn(fingerprint, path_id, failure=failure, failed_id=failed_id)

    def _register_drop_in(self, relative: PurePosixPath, drop_in: _DropIn, builder: _Builder) -> None:
        where, entry = relative.as_posix(), drop_in.entry
        if entry is None:
            assert drop_in.failure is not None
            builder.diagnose(where, drop_in.failed_id, drop_in.failure)
            return
        if drop_in.failure is not None:
            reason = builder.diagnose(where, entry.id, drop_in.failure, stale=True)
            entry = replace(entry, stale_since=drop_in.stale_since, stale_reason=reason)
        if entry.id != drop_in.path_id and (denied := self._policy_failure(entry.id)) is not None:
            builder.diagnose(where, entry.id, denied)  # an `id` override must not escape the policy
            return
        if builder.register(entry, where):
            self._check_upstream(entry, builder)

    def _policy_failure(self, model_id: str) -> Failure | None:
        if self._module_allowed is None:
            return None
        try:
            allowed, policy = self._module_allowed(model_id)
        except Exception as exc:  # noqa: BLE001 - fail closed
            return failure_from_exception("policy", exc)
        if allowed:
            return None
        return Failure("policy", "PolicyDenied", f"model id {model_id!r} is not allowed by policy {policy}")

    def _check_upstream(self, entry: AgentEntry, builder: _Builder) -> None:
        """Hosted tools on a Chat Completions upstream: served (each request is a 400 saying
        why), and listed now so operators see it before a client does."""
        upstream = self._upstreams.resolve(entry.upstream) if self._upstreams is not None else None
        if entry.agent is None or upstream is None or upstream.speaks_responses:
            return
        hosted = hosted_tools(entry.agent)
        if hosted:
            assert entry.path is not None
            builder.diagnose(entry.path, entry.id, Failure("register", "HostedToolUnsupported", hosted_tool_problem(entry.id, hosted, upstream.name)))

    async def _entry_from(self, outcome: LoadOutcome, relative: PurePosixPath, path_id: str) -> tuple[AgentEntry | None, Failure | None, str]:
        """The entry of a load, or why there is none (and the model id it would have had)."""
        where = relative.as_posix()
        overrides = outcome.overrides
        model_id = overrides.id if overrides is not None and overrides.id else path_id
        value = outcome.value
        if outcome.failure is None and outcome.kind == "factory":
            try:
                if inspect.isawaitable(value):  # async factory: awaited here, on the event loop
                    value = await value
                value = check_factory_result(outcome.export_name, value)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - user factory code: any failure is a diagnostic
                outcome.failure = failure_from_exception("export", exc, [outcome.folder])
        if outcome.failure is not None:
            if inspect.iscoroutine(value):
                value.close()
            return None, outcome.failure, model_id
        assert overrides is not None and outcome.module is not None and outcome.kind is not None
        if overrides.isolation == "process":
            return None, Failure("register", "IsolationUnavailable", _NO_PROCESS_ISOLATION), model_id
        agent = value if outcome.kind in ("agent", "factory") else None
        workflow = value if outcome.kind == "workflow" else None
        # Sync user callables the SDK would call on the event loop run in the agent's pool
        # instead; a workflow's module-level agents are the ones its runs use.
        for graph in [agent] if agent is not None else [v for v in vars(outcome.module).values() if isinstance(v, Agent)]:
            offload_agent_graph(graph)
        context_builder = overrides.context
        if context_builder is not None and is_sync_callable(context_builder):
            context_builder = offloaded(context_builder)
        if overrides.description is not None:
            description = overrides.description
        elif agent is not None:
            description = describe_agent(agent)
        else:
            description = first_line(outcome.module.__doc__)
        entry = AgentEntry(
            id=model_id,
            source="drop_in",
            export_kind=outcome.kind,
            description=description,
            upstream=overrides.upstream,
            upstream_model=overrides.model,
            aliases=tuple(dict.fromkeys(a for a in overrides.aliases if a != model_id)),
            path=where,
            timeout_s=overrides.timeout_s,
            max_turns=overrides.max_turns,
            context_builder=context_builder,
            run_hooks=overrides.hooks,
            threads=overrides.threads,
            queue=overrides.queue,
            agent_name=agent.name if agent is not None else model_id,
            agent=agent,
            workflow=workflow,
            revision=next(_REVISIONS),
        )
        return entry, None, model_id

    # ------------------------------------------------------------------ declarative

    def _read_declarative(self) -> None:
        if self._agents_config is None:
            return
        where = str(self._agents_config)
        try:
            declared = load_agents_config(self._agents_config)
        except ConfigError as exc:
            # The agents of the last good file serve on (stale); with none, there is nothing to keep.
            self._declared_failure = Failure("discover", "ConfigError", str(exc))
            if self._declared and self._declared_stale_since is None:
                self._declared_stale_since = datetime.now(UTC)
            return
        self._declared, self._declared_failure, self._declared_stale_since = tuple(_declarative_entry(spec, where) for spec in declared), None, None

    def _register_declarative(self, builder: _Builder) -> None:
        where = str(self._agents_config)
        entries = self._declared
        if self._declared_failure is not None:
            reason = builder.diagnose(where, "", self._declared_failure, stale=bool(entries))
            entries = tuple(replace(e, stale_since=self._declared_stale_since, stale_reason=reason) for e in entries)
        for index, entry in enumerate(entries):
            builder.register(entry, where, f"{where} (agents[{index}])")


_REVISIONS = itertools.count(1)


def _module_names(drop_ins: Iterable[_DropIn]) -> set[str]:
    return {name for drop_in in drop_ins for name in drop_in.module_names}


def _declarative_entry(spec: DeclarativeAgent, config_path: str) -> AgentEntry:
    return AgentEntry(
        id=spec.id,
        source="declarative",
        export_kind=None,
        description=spec.description if spec.description is not None else first_line(spec.instructions),
        upstream=spec.upstream,
        upstream_model=spec.model,
        aliases=tuple(dict.fromkeys(a for a in spec.aliases if a != spec.id)),
        path=config_path,
        timeout_s=spec.timeout_s,
        max_turns=None,
        agent_name=spec.id,
        agent=None,
        workflow=None,
        instructions=spec.instructions,
        tools=tuple(spec.tools),
        max_tool_hops=spec.max_tool_hops,
    )
