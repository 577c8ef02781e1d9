"""Finding and loading drop-in agent modules (the machinery behind ``catalog.AgentCatalog``).

Drop-ins are loaded by FILE PATH under a private namespace (``_gateway_agents.<folder>_<n>``),
never as ``agents.X``: ``import agents`` must keep meaning the OpenAI Agents SDK, so ``agents/``
never gets an ``__init__.py``. Each load is a fresh package ``_gateway_agents.<folder>_<n>`` whose
``agent`` submodule is ``agent.py``; helper modules beside it are importable both as top-level
names (``from helpers import x``, the folder is on ``sys.path`` while the module executes) and
relatively (``from . import helpers``). Top-level sibling modules are moved into the private
package after the load, so two agents can each have their own ``helpers.py``.

Sibling imports must happen while the module loads (top level or a synchronous factory); an
``import helpers`` executed later, at request time, no longer finds the folder on ``sys.path``.

Everything here that runs user code is synchronous: callers run it in a worker thread. The
process-wide ``_LOAD_LOCK`` serialises loads because they mutate ``sys.path``/``sys.modules``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import itertools
import linecache
import os
import re
import sys
import threading
import traceback
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from agents import Agent, RunHooks
from agents.lifecycle import RunHooksBase
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.guest.pools import DEFAULT_QUEUE, DEFAULT_THREADS
from services.model_ids import AGENT_MODULE, model_id_for
from services.registry import requirements
from services.registry.declarative import ModelId

__all__ = [
    "AGENTS_NAMESPACE",
    "ExportKind",
    "ExportNotFound",
    "Failure",
    "GatewayOverrides",
    "InvalidExport",
    "LoadOutcome",
    "ScanProblem",
    "ScanResult",
    "Stage",
    "check_factory_result",
    "describe_agent",
    "failure_from_exception",
    "first_line",
    "folder_fingerprint",
    "is_scratch_file",
    "load_drop_in",
    "scan_agents_dir",
    "unload_modules",
]

AGENTS_NAMESPACE = "_gateway_agents"
ExportKind = Literal["agent", "factory", "workflow"]
Stage = Literal["discover", "import", "export", "register", "policy"]

_LOAD_LOCK = threading.Lock()
_LOAD_COUNTER = itertools.count(1)
_MAX_TRACEBACK_CHARS = 2000
_MAX_MESSAGE_CHARS = 1000
_MAX_DESCRIPTION_CHARS = 200
# Already-imported modules with these names are never hidden while an agent loads.
_PROTECTED_NAMES = frozenset({"agents", "services", "agentgateway", "shim"}) | sys.stdlib_module_names


# --------------------------------------------------------------------------- scanning


@dataclass(frozen=True)
class ScanProblem:
    path: str  # relative to the agents dir, posix
    agent_id: str  # would-be model id, "" when there is none
    error_type: str
    message: str


@dataclass(frozen=True)
class ScanResult:
    modules: tuple[PurePosixPath, ...]  # agent.py files relative to the agents dir, sorted
    problems: tuple[ScanProblem, ...]


def _skipped(name: str) -> bool:
    return name.startswith((".", "_"))  # also covers __pycache__


def scan_agents_dir(agents_dir: Path) -> ScanResult:
    """Every ``agent.py`` below ``agents_dir`` plus everything that looks like a mistake."""
    if not agents_dir.exists():
        return ScanResult((), ())
    if not agents_dir.is_dir():
        return ScanResult((), (ScanProblem(".", "", "NotADirectoryError", f"{agents_dir} is not a folder"),))
    modules: list[PurePosixPath] = []
    problems: list[ScanProblem] = []
    agent_dirs: set[PurePosixPath] = set()
    seen: set[str] = set()

    def rel(path: str | os.PathLike[str]) -> PurePosixPath:
        try:
            return PurePosixPath(Path(path).relative_to(agents_dir).as_posix())
        except ValueError:
            return PurePosixPath(Path(path).as_posix())

    def on_error(err: OSError) -> None:
        where = rel(err.filename or agents_dir)
        problems.append(ScanProblem(str(where), _would_be_id(where), type(err).__name__, f"cannot read folder: {err.strerror}"))

    for dirpath, dirnames, filenames in os.walk(agents_dir, onerror=on_error, followlinks=True):
        here = rel(dirpath)
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink loop or a second link to the same folder
            dirnames[:] = []
            problems.append(ScanProblem(str(here), _would_be_id(here), "SymlinkLoop", "folder already scanned through another path"))
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not _skipped(d))
        if AGENT_MODULE in dirnames:
            dirnames.remove(AGENT_MODULE)
            problems.append(ScanProblem(str(here / AGENT_MODULE), _would_be_id(here), "IsADirectoryError", f"{AGENT_MODULE} is a folder, not a Python file"))
        python_files = sorted(f for f in filenames if f.endswith(".py"))
        if here == PurePosixPath("."):
            for name in python_files:
                problems.append(
                    ScanProblem(
                        name, "", "MisplacedAgentModule", f"Python files directly in the agents folder are not loaded; move it to <Name>/{AGENT_MODULE}"
                    )
                )
            continue
        if AGENT_MODULE in filenames:
            module = here / AGENT_MODULE
            try:
                with open(Path(dirpath) / AGENT_MODULE, "rb"):
                    pass
            except OSError as exc:
                problems.append(ScanProblem(str(module), model_id_for(module), type(exc).__name__, f"cannot read {AGENT_MODULE}: {exc.strerror}"))
            else:
                modules.append(module)
            agent_dirs.add(here)
        elif python_files and not any(parent in agent_dirs for parent in here.parents):
            problems.append(
                ScanProblem(
                    str(here),
                    model_id_for(here),
                    "NoAgentModule",
                    f"folder has Python files ({', '.join(python_files[:3])}) but no {AGENT_MODULE}; only {AGENT_MODULE} is loaded",
                )
            )
    return ScanResult(tuple(sorted(modules)), tuple(problems))


def is_scratch_file(name: str) -> bool:
    """Files no agent is made of: bytecode, editor swap and backup files, hidden files."""
    return name.startswith(".") or name.endswith((".pyc", ".pyo", ".swp", ".swx", ".tmp", "~"))


def folder_fingerprint(agents_dir: Path, module: PurePosixPath) -> str:
    """A content hash of the drop-in's folder: every file in it and below (agent.py, helper
    modules and packages, requirements.txt, data files), by relative path and bytes.

    Contents, not mtimes: an edit within the file system's timestamp granularity that keeps
    the size still changes the hash, and a save of the same bytes (or a ``touch``) does not.
    Bytecode caches, editor scratch files and hidden entries are left out, and so are
    sub-folders holding an ``agent.py`` of their own (they are agents of their own).
    """
    root = agents_dir / module.parent
    digest = hashlib.blake2b(digest_size=20)
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink loop
            dirnames[:] = []
            continue
        seen.add(real)
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith(".") and not (here / d / AGENT_MODULE).is_file())
        for name in sorted(filenames):
            if is_scratch_file(name):
                continue
            path = here / name
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            try:
                with open(path, "rb") as file:
                    digest.update(hashlib.file_digest(file, "blake2b").digest())
            except OSError as exc:  # unreadable now: the load will say so
                digest.update(f"unreadable:{exc.errno}".encode())
    return digest.hexdigest()


def _would_be_id(relative: PurePosixPath) -> str:
    try:
        return model_id_for(relative)
    except ValueError:
        return ""


# --------------------------------------------------------------------------- failures


@dataclass(frozen=True)
class Failure:
    stage: Stage
    error_type: str
    message: str
    traceback: str = ""


class ExportNotFound(LookupError):
    """None of the configured export names is defined by the module."""


class InvalidExport(TypeError):
    """The export exists but is not an Agent, an agent factory or a ``run_workflow`` coroutine."""


def _is_within(path: str | None, folder: str) -> bool:
    if not path:
        return False
    try:
        return os.path.commonpath([os.path.abspath(path), folder]) == folder
    except ValueError:
        return False


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else "..." + text[-(limit - 3) :]


def failure_from_exception(stage: Stage, exc: BaseException, user_folders: Iterable[str] = ()) -> Failure:
    """A failure with a short traceback: the last <=5 frames inside the user's folder(s).

    The gateway's own export checks (``ExportNotFound``, ``InvalidExport``) carry no traceback.
    """
    message = str(exc) or type(exc).__name__
    if isinstance(exc, (ExportNotFound, InvalidExport)):
        return Failure(stage, type(exc).__name__, _clip(message, _MAX_MESSAGE_CHARS))
    folders = [os.path.abspath(f) for f in user_folders]
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if any(_is_within(f.filename, d) for d in folders)]
    for frame in frames:
        linecache.checkcache(frame.filename)
    text = "".join(traceback.format_list(frames[-5:])) + "".join(traceback.format_exception_only(type(exc), exc))
    return Failure(stage, type(exc).__name__, _clip(message, _MAX_MESSAGE_CHARS), _clip(text, _MAX_TRACEBACK_CHARS))


# --------------------------------------------------------------------------- __gateway__


class GatewayOverrides(BaseModel):
    """The ``__gateway__`` dict of a drop-in module."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    id: ModelId | None = None
    upstream: str | None = None
    model: str | None = None
    description: str | None = None
    aliases: list[ModelId] = Field(default_factory=list)
    timeout_s: float | None = Field(default=None, gt=0)
    max_turns: int | None = Field(default=None, ge=1)
    # build_context(request_info) -> the run's SDK context (sync or async).
    context: Callable[..., Any] | None = None
    # RunHooks for every run of this agent (a module-level `hooks` works too).
    hooks: RunHooks[Any] | None = None
    # The agent's own thread pool for its sync code, and how many calls may wait for a thread
    # before new requests are refused with AGENT_BUSY (services/guest/pools.py).
    threads: int = Field(default=DEFAULT_THREADS, ge=1, le=256)
    queue: int = Field(default=DEFAULT_QUEUE, ge=0, le=10_000)
    # "thread": in this process, sync code in the pool above. "process" is refused at load
    # (a REGISTER diagnostic): see docs/agents.md, "Guest code".
    isolation: Literal["thread", "process"] = "thread"


def _read_overrides(module: types.ModuleType) -> GatewayOverrides | Failure:
    raw = module.__dict__.get("__gateway__", {})
    if not isinstance(raw, dict):
        return Failure("register", "TypeError", f"__gateway__ must be a dict, not {type(raw).__name__}")
    if "hooks" not in raw and isinstance(module.__dict__.get("hooks"), RunHooksBase):
        raw = {**raw, "hooks": module.__dict__["hooks"]}  # `hooks = MyRunHooks()` at module level
    try:
        return GatewayOverrides.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"__gateway__{''.join(f'.{p}' for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        return Failure("register", "ValidationError", _clip(problems, _MAX_MESSAGE_CHARS))


# --------------------------------------------------------------------------- exports


def _required_params(func: Callable[..., Any]) -> list[inspect.Parameter] | None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p for p in signature.parameters.values() if p.kind in kinds and p.default is inspect.Parameter.empty]


def _is_coroutine_function(obj: object) -> bool:
    # Callable objects count too: their __call__ may be the coroutine function.
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(getattr(obj, "__call__", None))  # noqa: B004


def _classify(name: str, obj: object) -> ExportKind:
    if isinstance(obj, Agent):
        return "agent"
    if not callable(obj):
        raise InvalidExport(f"export {name!r} is a {type(obj).__name__}, not an Agent, an agent factory or an async run_workflow function")
    required = _required_params(obj)
    if required is None:
        raise InvalidExport(f"export {name!r}: cannot inspect its signature")
    if not required:
        return "factory"
    if _is_coroutine_function(obj):
        positional = [p for p in required if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        if len(required) == 1 and len(positional) == 1:
            return "workflow"
        raise InvalidExport(f"export {name!r}: a workflow takes exactly one required argument (the workflow input), not {len(required)}")
    raise InvalidExport(
        f"export {name!r} requires arguments ({', '.join(p.name for p in required)}): a factory "
        f"takes none, a workflow must be `async def {name}(workflow_input)`"
    )


def _find_export(module: types.ModuleType, exports: Sequence[str]) -> tuple[str, ExportKind, Any]:
    for name in exports:
        if name in module.__dict__:
            obj = module.__dict__[name]
            return name, _classify(name, obj), obj
    raise ExportNotFound(f"no export found; tried {', '.join(exports)} (set GATEWAY_AGENT_EXPORTS to change the names)")


def check_factory_result(name: str, result: object) -> Agent[Any]:
    if not isinstance(result, Agent):
        raise InvalidExport(f"factory {name!r} returned {type(result).__name__}, not an Agent")
    return result


# --------------------------------------------------------------------------- descriptions


def first_line(text: str | None, limit: int = _MAX_DESCRIPTION_CHARS) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return ""


def describe_agent(agent: Agent[Any]) -> str:
    if agent.handoff_description:
        return first_line(agent.handoff_description)
    if isinstance(agent.instructions, str):
        return first_line(agent.instructions)
    return ""


# --------------------------------------------------------------------------- loading


class _FreshSourceLoader(importlib.machinery.SourceFileLoader):
    """Compile from source every time: a cached .pyc can be stale when a file is edited twice
    within one second without changing size (hot reload), and agent folders may be read-only."""

    def get_code(self, fullname: str) -> types.CodeType:
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)


class _SiblingFinder(importlib.abc.MetaPathFinder):
    """While a drop-in loads: modules from its folder, loaded with ``_FreshSourceLoader``."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        search = [self.folder] if path is None else [p for p in path if _is_within(p, self.folder)]
        if not search:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, search)
        if spec is None or spec.loader is None:  # namespace portions: leave to the normal finders
            return None
        if type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _FreshSourceLoader(spec.loader.name, spec.loader.path)
        return spec


@dataclass
class LoadOutcome:
    """The result of :func:`load_drop_in`. ``module_names`` are this load's ``sys.modules`` entries."""

    module_names: tuple[str, ...] = ()
    module: types.ModuleType | None = None
    overrides: GatewayOverrides | None = None
    export_name: str = ""
    kind: ExportKind | None = None
    value: Any = None  # Agent, factory result (maybe awaitable) or the workflow function
    failure: Failure | None = None
    folder: str = ""


def _ensure_namespace_root() -> None:
    if AGENTS_NAMESPACE not in sys.modules:
        root = types.ModuleType(AGENTS_NAMESPACE, "Drop-in agent modules loaded by the gateway.")
        root.__path__ = []
        root.__spec__ = importlib.machinery.ModuleSpec(AGENTS_NAMESPACE, None, is_package=True)
        sys.modules[AGENTS_NAMESPACE] = root


def _make_package(name: str, folder: str) -> types.ModuleType:
    package = types.ModuleType(name)
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [folder]
    package.__spec__ = spec
    package.__path__ = [folder]
    package.__package__ = name
    return package


def _sibling_names(folder: str) -> set[str]:
    suffixes = tuple(importlib.machinery.all_suffixes())
    names: set[str] = set()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return names
    for entry in entries:
        if entry.is_dir() and entry.name.isidentifier():
            names.add(entry.name)
        elif entry.name.endswith(suffixes):
            stem = entry.name.split(".", 1)[0]
            if stem.isidentifier():
                names.add(stem)
    names.discard("agent")
    return names


def _module_in_folder(module: object, folder: str) -> bool:
    if _is_within(getattr(module, "__file__", None), folder):
        return True
    return any(_is_within(p, folder) for p in list(getattr(module, "__path__", None) or []))


def _adopt_siblings(before: set[str], folder: str, package: types.ModuleType) -> list[str]:
    """Move top-level modules loaded from ``folder`` into the private package; return all new names."""
    names: list[str] = []
    for name in [n for n in sys.modules if n not in before]:
        module = sys.modules.get(name)
        if name.startswith(package.__name__ + "."):
            names.append(name)
        elif _module_in_folder(module, folder):
            private = f"{package.__name__}.{name}"
            sys.modules[private] = sys.modules.pop(name)
            if "." not in name:
                setattr(package, name, module)
            names.append(private)
    return names


def _package_name(relative: PurePosixPath) -> str:
    key = re.sub(r"[^0-9A-Za-z_]", "_", relative.parent.as_posix())
    return f"{AGENTS_NAMESPACE}.{key}_{next(_LOAD_COUNTER)}"


def load_drop_in(agents_dir: Path, relative: PurePosixPath, exports: Sequence[str]) -> LoadOutcome:
    """Import ``agents_dir/relative``, read ``__gateway__``, find its export and call a sync factory;
    but not when a ``requirements.txt`` beside it is unmet or unreadable (requirements.py).

    Runs user code: call it from a worker thread. Never raises for a bad module; failed loads
    leave nothing behind in ``sys.modules``. An async factory's coroutine is returned unawaited
    in ``value`` (await it on the event loop).
    """
    path = os.path.abspath(agents_dir / relative)
    folder = os.path.dirname(path)
    outcome = LoadOutcome(folder=folder)
    # A requirements.txt the environment does not satisfy: a diagnostic naming what is missing, no import.
    if (unmet := requirements.agent_problem(agents_dir, relative)) is not None:
        outcome.failure = Failure(unmet.stage, unmet.error_type, unmet.message)
        return outcome
    with _LOAD_LOCK:
        _ensure_namespace_root()
        package_name = _package_name(relative)
        module_name = f"{package_name}.agent"
        package = _make_package(package_name, folder)
        hidden = {
            n: sys.modules.pop(n)
            for n in _sibling_names(folder)
            if n in sys.modules and n not in _PROTECTED_NAMES and not _module_in_folder(sys.modules[n], folder)
        }
        sys.modules[package_name] = package
        before = set(sys.modules)
        finder = _SiblingFinder(folder)
        sys.meta_path.insert(0, finder)
        on_path = sys.path.count(folder)
        sys.path.insert(0, folder)
        importlib.invalidate_caches()
        try:
            loader = _FreshSourceLoader(module_name, path)
            spec = importlib.util.spec_from_file_location(module_name, path, loader=loader)
            assert spec is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                loader.exec_module(module)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - user module code: any failure is a diagnostic
                outcome.failure = failure_from_exception("import", exc, [folder])
            else:
                outcome.module = module
                _resolve(module, exports, outcome)
        finally:
            if finder in sys.meta_path:
                sys.meta_path.remove(finder)
            while sys.path.count(folder) > on_path:  # ours, and any the module added itself
                sys.path.remove(folder)
            names = [package_name, *_adopt_siblings(before, folder, package)]
            sys.modules.update({n: m for n, m in hidden.items() if n not in sys.modules})
        outcome.module_names = tuple(names)
    if outcome.failure is not None:
        unload_modules(outcome.module_names)
    return outcome


def _resolve(module: types.ModuleType, exports: Sequence[str], outcome: LoadOutcome) -> None:
    overrides = _read_overrides(module)
    if isinstance(overrides, Failure):
        outcome.failure = overrides
        return
    outcome.overrides = overrides
    try:
        outcome.export_name, outcome.kind, outcome.value = _find_export(module, exports)
        if outcome.kind == "factory":
            outcome.value = outcome.value()  # sync factories run here, with the folder importable
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - user factory code: any failure is a diagnostic
        outcome.failure = failure_from_exception("export", exc, [outcome.folder])


def unload_modules(names: Iterable[str]) -> None:
    """Forget a load's modules (objects still referenced, e.g. by a running request, keep working)."""
    with _LOAD_LOCK:
        for name in names:
            sys.modules.pop(name, None)
