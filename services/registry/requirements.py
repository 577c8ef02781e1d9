"""An agent's ``requirements.txt``: read it, and tell what the running environment lacks.

A drop-in may keep a ``requirements.txt`` beside its ``agent.py``. Discovery checks it before
importing the module (``agent_problem``): when a requirement is not satisfied, the agent is not
imported at all and its diagnostic names each missing or wrong-version distribution and the
command that installs them, rather than a bare ``ModuleNotFoundError`` from somewhere inside the
import. ``agent-gateway agents install-deps`` (services/registry/install_deps.py) installs them.

Satisfied means what pip would see: the distribution is installed (``importlib.metadata``) at a
version the specifier allows (pre-releases count), markers are evaluated for this interpreter,
and the extras asked for (``httpx[http2]``) have their own requirements installed too.

The file format is the common subset of pip's: one PEP 508 requirement per line, ``#``
comments, blank lines, ``\\`` continuations, and ``-r other.txt`` / ``--requirement`` includes
relative to the including file and inside the agent's folder. Every other pip option (``-e``,
``--index-url``, ``--hash``, ...) is refused with the line that has it: index and link options
belong on the ``install-deps`` command line, where they apply to the whole environment.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from services.log import redact_url
from services.model_ids import model_id_for

__all__ = [
    "GATEWAY_DISTRIBUTION",
    "INVALID_REQUIREMENTS",
    "REQUIREMENTS_FILE",
    "REQUIREMENTS_NOT_MET",
    "AgentProblem",
    "Pin",
    "RequirementLine",
    "RequirementsFileError",
    "Unmet",
    "agent_problem",
    "describe",
    "fix_command",
    "gateway_pins",
    "read_requirements",
    "unmet_requirements",
]

REQUIREMENTS_FILE = "requirements.txt"
GATEWAY_DISTRIBUTION = "agent-gateway"
REQUIREMENTS_NOT_MET = "RequirementsNotMet"  # diagnostic error types
INVALID_REQUIREMENTS = "InvalidRequirements"

_MAX_INCLUDES = 20
# pip's rule: a comment starts at a "#" at the start of a line or after whitespace.
_COMMENT = re.compile(r"(^|\s)#.*$")
_INCLUDE = re.compile(r"^(?:--requirement(?:=|\s+)|-r\s*)(?P<path>\S.*)$")
# pip's per-requirement options (--hash, --config-settings, ...) follow the requirement.
_TRAILING_OPTION = re.compile(r"\s(--[A-Za-z][\w-]*)")
_OPTION_HINT = {
    "-e": "editable installs are not supported: install the package yourself or name it with `name @ file:///path`",
    "--editable": "editable installs are not supported: install the package yourself or name it with `name @ file:///path`",
    "-c": "constraint files are not read here: pass `--constraint` to `agent-gateway agents install-deps`",
    "--constraint": "constraint files are not read here: pass `--constraint` to `agent-gateway agents install-deps`",
}


class RequirementsFileError(ValueError):
    """A requirements file the gateway cannot read; the message names the file and line."""


@dataclass(frozen=True)
class RequirementLine:
    requirement: Requirement
    source: str  # "requirements.txt:3" (relative to the agent's folder)

    @property
    def applies(self) -> bool:
        """False when its marker excludes this interpreter (``; python_version < "3.11"``)."""
        return self.requirement.marker is None or self.requirement.marker.evaluate({"extra": ""})


@dataclass(frozen=True)
class Unmet:
    requirement: str  # as written, URLs without credentials
    source: str
    installed: str | None  # the installed version, None when the distribution is missing
    name: str  # the distribution that is missing or at the wrong version
    pinned: bool = False  # the gateway itself depends on that distribution: no agent may change it

    def __str__(self) -> str:
        if self.installed is None:
            state = f"{self.name} is not installed"
        elif self.pinned:
            state = f"the gateway runs {self.name} {self.installed} and an agent cannot change it"
        else:
            state = f"{self.name} {self.installed} is installed"
        return f"{self.requirement} ({self.source}: {state})"


@dataclass(frozen=True)
class Pin:
    name: str  # as the distribution spells it
    version: str

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class AgentProblem:
    """Why an agent folder is not imported: the fields of a registry ``Failure``."""

    stage: Literal["discover", "import"]
    error_type: str
    message: str


# --------------------------------------------------------------------------- reading


def describe(requirement: Requirement) -> str:
    """The requirement for messages: no marker (the source line is named), URLs without
    credentials or query (tokens live there)."""
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    if requirement.url is not None:
        return f"{requirement.name}{extras} @ {redact_url(requirement.url)}"
    return f"{requirement.name}{extras}{requirement.specifier}"


def read_requirements(path: Path, folder: Path) -> tuple[RequirementLine, ...]:
    """Every requirement of ``path`` and the files it includes, in order.

    ``folder`` bounds the includes. Raises ``RequirementsFileError`` naming the file and line.
    """
    root = folder.resolve()
    return tuple(_read(path.resolve(), root, ()))


def _read(path: Path, root: Path, chain: tuple[Path, ...]) -> Iterator[RequirementLine]:
    where = _relative(path, root)
    if path in chain:
        raise RequirementsFileError(f"{_relative(chain[-1], root)}: includes {where}, which includes it again")
    if len(chain) >= _MAX_INCLUDES:
        raise RequirementsFileError(f"{where}: more than {_MAX_INCLUDES} nested -r includes")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RequirementsFileError(f"{where}: not UTF-8 text") from None
    except OSError as exc:
        raise RequirementsFileError(f"{where}: cannot read it: {exc.strerror or exc}") from None
    for number, line in _logical_lines(text):
        source = f"{where}:{number}"
        if line.startswith("-"):
            include = _INCLUDE.match(line)
            if include is None:
                option = line.split(maxsplit=1)[0].split("=", 1)[0]
                hint = _OPTION_HINT.get(
                    option, "pip options are not read from an agent's requirements.txt: pass index and link options to `agent-gateway agents install-deps`"
                )
                raise RequirementsFileError(f"{source}: {option}: {hint}")
            target = (path.parent / include["path"].strip()).resolve()
            if not target.is_relative_to(root):
                raise RequirementsFileError(f"{source}: -r {include['path'].strip()}: included files must be inside the agent's folder")
            yield from _read(target, root, (*chain, path))
            continue
        yield RequirementLine(_parse(line, source), source)


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each non-empty line, comments stripped, ``\\`` continuations joined."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        line = _COMMENT.sub("", raw).rstrip()
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        joined = " ".join(part.strip() for part in (*pending, line) if part.strip())
        pending = []
        if joined:
            yield start, joined
    joined = " ".join(part.strip() for part in pending if part.strip())
    if joined:
        yield start, joined


def _parse(line: str, source: str) -> Requirement:
    option = _TRAILING_OPTION.search(line)
    if option is not None:
        raise RequirementsFileError(f"{source}: {option[1]}: per-requirement options are not supported")
    try:
        return Requirement(line)
    except InvalidRequirement as exc:
        detail = str(exc).splitlines()[0]
        hint = " (a path or URL needs a name: `name @ https://...`)" if "/" in line or line.startswith(".") else ""
        raise RequirementsFileError(f"{source}: not a requirement: {detail}{hint}") from None


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# --------------------------------------------------------------------------- checking


def _installed(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def _extra_requirements(distribution: metadata.Distribution, extras: Iterable[str]) -> Iterator[Requirement]:
    """What ``distribution[extras]`` needs beyond the distribution itself."""
    wanted = {canonicalize_name(e) for e in extras}
    for text in distribution.requires or ():
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue  # the installed package's own metadata: not the agent's problem
        marker = requirement.marker
        if marker is None or marker.evaluate({"extra": ""}):
            continue  # a base requirement, installed with the distribution
        if any(marker.evaluate({"extra": extra}) for extra in wanted):
            yield requirement


def unmet_requirements(lines: Iterable[RequirementLine]) -> list[Unmet]:
    """The requirements the running environment does not satisfy, in file order."""
    unmet: list[Unmet] = []
    seen: set[tuple[str, str]] = set()

    def check(requirement: Requirement, written: str, source: str) -> None:
        key = (str(requirement), source)
        if key in seen:
            return
        seen.add(key)
        distribution = _installed(requirement.name)
        if distribution is None:
            unmet.append(Unmet(written, source, None, requirement.name))
            return
        version = distribution.version
        if requirement.url is None and not requirement.specifier.contains(version, prereleases=True):
            unmet.append(Unmet(written, source, version, distribution.metadata["Name"] or requirement.name))
            return
        for needed in _extra_requirements(distribution, requirement.extras):
            check(needed, f"{written}, which needs {describe(needed)}", source)

    for line in lines:
        if line.applies:
            check(line.requirement, describe(line.requirement), line.source)
    return unmet


def gateway_pins(distribution: str = GATEWAY_DISTRIBUTION) -> dict[str, Pin]:
    """Every distribution the gateway runs on, transitively, at its installed version.

    Keys are canonical names. The gateway's own extras count where they are installed (the
    fast path's uvloop, the dev tools). Raises ``PackageNotFoundError`` when the gateway is not
    installed as a distribution.
    """
    pins: dict[str, Pin] = {}
    root = metadata.distribution(distribution).metadata  # parsed once: each access re-reads METADATA
    queue: list[tuple[metadata.PackageMetadata, frozenset[str]]] = [(root, frozenset(root.get_all("Provides-Extra") or ()))]
    while queue:
        current, extras = queue.pop()
        pins[canonicalize_name(current["Name"])] = Pin(current["Name"], current["Version"])
        for text in current.get_all("Requires-Dist") or ():
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            if canonicalize_name(requirement.name) in pins or not _wanted(requirement.marker, extras):
                continue
            needed = _installed(requirement.name)
            if needed is not None:
                queue.append((needed.metadata, frozenset(requirement.extras)))
    return pins


def _wanted(marker: Marker | None, extras: frozenset[str]) -> bool:
    if marker is None:
        return True
    return any(marker.evaluate({"extra": extra}) for extra in ("", *extras))


# --------------------------------------------------------------------------- discovery


def fix_command(agent_id: str, agents_dir: Path) -> str:
    return f"agent-gateway agents install-deps --agent {agent_id} --agents-dir {agents_dir}"


def agent_problem(agents_dir: Path, relative: PurePosixPath) -> AgentProblem | None:
    """Why the drop-in at ``relative`` must not be imported yet, or None (also: no requirements.txt).

    Cheap enough for every load: a few ``importlib.metadata`` look-ups, no subprocess.
    """
    folder = (agents_dir / relative).parent
    path = folder / REQUIREMENTS_FILE
    if not path.is_file():
        return None
    try:
        lines = read_requirements(path, folder)
    except RequirementsFileError as exc:
        return AgentProblem("discover", INVALID_REQUIREMENTS, f"{exc}; agent.py is not imported until {REQUIREMENTS_FILE} can be read")
    unmet = unmet_requirements(lines)
    if not unmet:
        return None
    if any(u.installed is not None for u in unmet):
        try:
            pins = gateway_pins()
        except metadata.PackageNotFoundError:
            pins = {}
        unmet = [Unmet(u.requirement, u.source, u.installed, u.name, u.installed is not None and canonicalize_name(u.name) in pins) for u in unmet]
    message = f"{REQUIREMENTS_FILE} is not satisfied, so agent.py was not imported: {'; '.join(map(str, unmet))}."
    pinned = [u.requirement for u in unmet if u.pinned]
    if pinned:
        message += f" Relax {', '.join(pinned)}: the gateway's own packages stay at the versions it runs on."
    if len(pinned) < len(unmet):
        message += f" Install {'the others' if pinned else 'them'} with: {fix_command(model_id_for(relative), agents_dir.absolute())}"
    return AgentProblem("import", REQUIREMENTS_NOT_MET, message)
