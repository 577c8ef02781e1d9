"""``agent-gateway agents install-deps``: install drop-ins' requirements.txt without touching the gateway.

The requirements of the selected agents whose ``requirements.txt`` is not satisfied go to one
``sys.executable -m pip install`` (the environment the gateway runs in), resolved together
under a constraints file that pins:

- every distribution the gateway depends on, transitively, ``==`` its installed version
  (``requirements.gateway_pins``), so no agent upgrades or downgrades a package the gateway
  runs on;
- the version ranges of every other agent whose requirements are met now, so installing for
  one agent does not break another.

A requirement that cannot fit those pins is pip's ``ResolutionImpossible``: it becomes a
message naming the agent's requirement and the pin it collides with, exit code 3, and nothing
is installed. ``--dry-run`` resolves the same way (pip ``--dry-run --report``) and changes
nothing. Index and link options (``--no-index``, ``--find-links``, ``--index-url``, ...) are
passed to pip; options that would install elsewhere or skip the resolver are not offered.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from services.model_ids import model_id_for
from services.registry.requirements import (
    GATEWAY_DISTRIBUTION,
    REQUIREMENTS_FILE,
    Pin,
    RequirementLine,
    RequirementsFileError,
    Unmet,
    gateway_pins,
    read_requirements,
    unmet_requirements,
)

__all__ = ["EXIT_CONFLICT", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "add_pip_options", "install_deps", "pip_arguments"]

EXIT_OK = 0  # installed, or nothing to install; with --dry-run: it would install
EXIT_FAILED = 1  # pip failed (no such distribution, no network, a build error), or still unmet afterwards
EXIT_USAGE = 2  # unknown agent, unreadable requirements.txt, bad option, gateway not installed as a distribution
EXIT_CONFLICT = 3  # a requirement collides with the gateway's pins or another agent's: nothing installed

# pip install options passed through: where packages come from, never where they go
# (--target, --prefix, --user) nor what the resolver may skip (--no-deps, --force-reinstall).
_PIP_OPTIONS: tuple[tuple[tuple[str, ...], bool, str], ...] = (
    (("-i", "--index-url"), True, "base URL of the package index"),
    (("--extra-index-url",), True, "another index (repeatable)"),
    (("--no-index",), False, "use no index: only --find-links"),
    (("-f", "--find-links"), True, "a folder or page of distributions (repeatable)"),
    (("--trusted-host",), True, "a host to trust without valid HTTPS (repeatable)"),
    (("--cert",), True, "CA bundle for the index"),
    (("--client-cert",), True, "client certificate for the index"),
    (("--proxy",), True, "proxy in the form scheme://[user:passwd@]proxy.server:port"),
    (("--retries",), True, "connection retries"),
    (("--timeout",), True, "socket timeout in seconds"),
    (("--pre",), False, "allow pre-releases"),
    (("--only-binary",), True, "wheels only for these (:all:, :none:, names)"),
    (("--no-binary",), True, "build these from source"),
    (("--prefer-binary",), False, "prefer older wheels over newer source"),
    (("--no-cache-dir",), False, "do not use pip's cache"),
    (("--cache-dir",), True, "pip's cache folder"),
    (("--no-build-isolation",), False, "build with the environment's own build tools"),
    (("-c", "--constraint"), True, "more constraints, on top of the gateway's own (repeatable)"),
)


def add_pip_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("pip options", "passed to pip install as they are")
    for flags, takes_value, text in _PIP_OPTIONS:
        dest = "pip_" + flags[-1].lstrip("-").replace("-", "_")
        if takes_value:
            group.add_argument(*flags, dest=dest, action="append", default=[], metavar="VALUE", help=text)
        else:
            group.add_argument(*flags, dest=dest, action="store_true", help=text)


def pip_arguments(args: argparse.Namespace) -> list[str]:
    """The pip options of ``args`` (parsed with ``add_pip_options``) as pip's command line."""
    argv: list[str] = []
    for flags, takes_value, _ in _PIP_OPTIONS:
        value = getattr(args, "pip_" + flags[-1].lstrip("-").replace("-", "_"))
        if takes_value:
            for item in value:
                argv += [flags[-1], item]
        elif value:
            argv.append(flags[-1])
    return argv


# --------------------------------------------------------------------------- the agents


@dataclass(frozen=True)
class _Agent:
    id: str  # the model id its path gives (an `id` in __gateway__ is only known once imported)
    folder: str  # relative to the agents dir, posix
    lines: tuple[RequirementLine, ...] = ()
    unmet: tuple[Unmet, ...] = ()
    problem: str = ""  # requirements.txt cannot be read
    has_file: bool = False


def _agents(agents_dir: Path) -> list[_Agent]:
    from services.registry.discovery import scan_agents_dir  # with the Agents SDK: not for `agent-gateway --help`

    found: list[_Agent] = []
    for relative in scan_agents_dir(agents_dir).modules:
        folder = agents_dir / relative.parent
        base = _Agent(model_id_for(relative), relative.parent.as_posix())
        path = folder / REQUIREMENTS_FILE
        if not path.is_file():
            found.append(base)
            continue
        try:
            lines = read_requirements(path, folder)
        except RequirementsFileError as exc:
            found.append(_Agent(base.id, base.folder, problem=str(exc), has_file=True))
            continue
        found.append(_Agent(base.id, base.folder, lines, tuple(unmet_requirements(lines)), has_file=True))
    return found


_DEPENDS = re.compile(r"^(?P<name>\S+) (?P<version>\S+) depends on (?P<needs>.+)$")


@dataclass
class _Origins:
    """Who asked for what, to turn pip's conflict report into names an operator knows."""

    requested: dict[str, list[str]] = field(default_factory=dict)  # canonical name -> "default/x (requirements.txt:2)"
    kept: dict[str, list[str]] = field(default_factory=dict)  # canonical name -> agents whose met requirements are constraints
    pins: dict[str, Pin] = field(default_factory=dict)

    def explain(self, line: str) -> str:
        text = line.strip()
        constraint = text.startswith("The user requested (constraint) ")
        if not (constraint or text.startswith("The user requested ")):
            depends = _DEPENDS.match(text)  # "agentdeps-legacy 1.0 depends on pydantic<2"
            if depends is None or canonicalize_name(depends["name"]) not in self.requested:
                return text
            return f"{depends['name']} {depends['version']}, required by {', '.join(self.requested[canonicalize_name(depends['name'])])}, depends on {depends['needs']}"
        written = text.removeprefix("The user requested (constraint) ").removeprefix("The user requested ")
        try:
            name = canonicalize_name(Requirement(written).name)
        except InvalidRequirement:
            return text
        if not constraint:
            return f"{written}: required by {', '.join(self.requested.get(name, ['the command line']))}"
        if name in self.pins:
            return f"{written}: the gateway runs on {self.pins[name].name} {self.pins[name].version} (every package it depends on is pinned)"
        if name in self.kept:
            return f"{written}: kept for {', '.join(self.kept[name])}, whose requirements are met now"
        return f"{written}: a --constraint given to install-deps"


def _conflict(pip_output: str, origins: _Origins) -> list[str] | None:
    """The lines of pip's "The conflict is caused by:" block, explained; None when pip failed otherwise."""
    _, found, rest = pip_output.partition("The conflict is caused by:")
    if not found:
        return None
    block = rest.strip("\n").split("\n\n", 1)[0]
    return [_scrubbed(origins.explain(line)) for line in block.splitlines() if line.strip()]


_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def _scrubbed(text: str) -> str:
    """pip masks passwords in URLs; user names can be tokens too."""
    return _CREDENTIALS.sub("***@", text)


def _pip_errors(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("ERROR:")]
    return _scrubbed("\n".join(errors or stderr.strip().splitlines()[-10:]))


# --------------------------------------------------------------------------- the command


def install_deps(
    agents_dir: Path,
    agent: str | None = None,
    *,
    dry_run: bool = False,
    pip_options: Sequence[str] = (),
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Install (or with ``dry_run`` resolve) the unmet requirements of ``agent`` or of every agent; an exit code."""

    def fail(code: int, message: str) -> int:
        print(f"agent-gateway: {message}", file=err)
        return code

    agents_dir = agents_dir.absolute()
    if not agents_dir.is_dir():
        return fail(EXIT_USAGE, f"agents folder {agents_dir} not found (--agents-dir, GATEWAY_AGENT_DISCOVERY_PATH)")
    everyone = _agents(agents_dir)
    selected = everyone
    if agent is not None:
        wanted = agent.strip().strip("/").lower()
        selected = [a for a in everyone if wanted in (a.id, a.folder.lower())]
        if not selected:
            known = ", ".join(a.id for a in everyone) or "none"
            return fail(EXIT_USAGE, f"no agent {agent!r} in {agents_dir} (agents there: {known}; use the id its folder gives)")
    broken = [a for a in selected if a.problem]
    for each in broken:
        print(f"agent-gateway: {each.id}: {each.folder}/{each.problem}", file=err)
    if broken:
        return EXIT_USAGE
    todo = [a for a in selected if a.unmet]
    if not todo:
        with_files = [a.id for a in selected if a.has_file]
        what = (
            f"the requirements of {', '.join(with_files)} are met" if with_files else f"no {REQUIREMENTS_FILE} beside {'that agent' if agent else 'any agent'}"
        )
        print(f"{what}: nothing to install", file=out)
        return EXIT_OK
    try:
        pins = gateway_pins()
    except importlib.metadata.PackageNotFoundError:
        return fail(EXIT_USAGE, f"the gateway is not installed as the distribution {GATEWAY_DISTRIBUTION!r} in this environment: its pins cannot be computed")

    origins = _Origins(pins=pins)
    requirements: list[str] = []
    for each in todo:
        for line in each.lines:
            if line.applies:
                requirements.append(str(line.requirement))
                origins.requested.setdefault(canonicalize_name(line.requirement.name), []).append(f"{each.id} ({each.folder}/{line.source})")
    constraints = [f"{pin}\n" for pin in pins.values()]
    for other in everyone:
        if other.unmet or other.problem:  # the selected ones are requested above
            continue
        for line in other.lines:
            name = canonicalize_name(line.requirement.name)
            if line.applies and line.requirement.url is None and line.requirement.specifier and name not in pins:
                constraints.append(f"{line.requirement.name}{line.requirement.specifier}\n")
                origins.kept.setdefault(name, []).append(f"{other.id} ({other.folder}/{line.source})")

    ids = ", ".join(a.id for a in todo)
    print(
        f"{'resolving' if dry_run else 'installing'} the requirements of {ids} with pip ({len(pins)} packages pinned at the gateway's versions)",
        file=out,
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="agent-gateway-deps-") as scratch:
        pins_file, report_file = Path(scratch) / "constraints.txt", Path(scratch) / "report.json"
        pins_file.write_text("# the gateway's own distributions and other agents' requirements\n" + "".join(constraints), encoding="utf-8")
        command = [sys.executable, "-m", "pip", "install", "--no-input", "--disable-pip-version-check"]
        command += ["--constraint", str(pins_file), "--report", str(report_file), *(["--dry-run"] if dry_run else []), *pip_options, *requirements]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        report: dict[str, Any] = json.loads(report_file.read_text(encoding="utf-8")) if done.returncode == 0 and report_file.exists() else {}
    if done.returncode != 0:
        conflict = _conflict(done.stdout, origins)
        if conflict is not None:
            lines = "\n".join(f"  {line}" for line in conflict)
            return fail(
                EXIT_CONFLICT,
                f"the requirements of {ids} conflict with what this environment must keep; nothing was installed:\n{lines}\n"
                "An agent cannot change a package the gateway or another working agent depends on: relax the agent's requirement.",
            )
        return fail(EXIT_FAILED, f"pip install failed (exit {done.returncode}):\n{_pip_errors(done.stderr)}")

    installs = [f"{item['metadata']['name']} {item['metadata']['version']}" for item in report.get("install", [])]
    if dry_run:
        print(f"would install: {', '.join(installs)}" if installs else "would install nothing", file=out)
        return EXIT_OK
    print(f"installed: {', '.join(installs)}" if installs else "installed nothing", file=out)
    importlib.invalidate_caches()
    still = [(a, unmet_requirements(a.lines)) for a in todo]
    if any(unmet for _, unmet in still):
        lines = "\n".join(f"  {a.id}: {'; '.join(map(str, unmet))}" for a, unmet in still if unmet)
        return fail(EXIT_FAILED, f"pip succeeded, but this environment still does not satisfy:\n{lines}")
    print(
        f"requirements met: {ids}. A gateway watching its agents (GATEWAY_AGENT_WATCH=1) serves them within seconds;"
        " otherwise call RegistryService/RefreshAgents or restart it.",
        file=out,
    )
    return EXIT_OK
