"""The import graph: service packages depend on each other in one direction, and modules
named ``_private`` stay private to their package. Pure AST reads, no imports."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Lowest first: a package may import only from packages before it (and from top-level modules).
LAYERS = ["services.rpc", "services.security", "services.conversations", "services.tools", "services.registry", "services.executor", "shim"]


def _modules() -> dict[str, Path]:
    found = {}
    for root in ("services", "shim", "agentgateway"):
        for path in (REPO / root).rglob("*.py"):
            if "v1" in path.parts:
                continue
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.split(".")[0] in ("services", "shim", "agentgateway") and not n.startswith("agentgateway.v1")}


def _package(module: str) -> str:
    for layer in LAYERS:
        if module == layer or module.startswith(layer + "."):
            return layer
    return module  # a top-level module such as services.errors


MODULES = _modules()


def test_service_packages_import_downwards_only() -> None:
    # services.server and services.cli assemble everything (services.state.stores picks the
    # stores they get); agentgateway is the public facade.
    assemblers = {"services.server", "services.cli", "services.state.stores", "agentgateway"}
    wrong = []
    for module, path in MODULES.items():
        if module in assemblers:
            continue
        here = _package(module)
        for target in _imports(path):
            there = _package(target)
            if there == here or there not in LAYERS:
                continue
            # Top-level modules (errors, log, vocabulary...) sit just above services.rpc.
            if (here not in LAYERS and there != "services.rpc") or (here in LAYERS and LAYERS.index(there) > LAYERS.index(here)):
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_import_cycles_between_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        for target in _imports(path):
            if _package(target) != _package(module):
                graph[_package(module)].add(_package(target))

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(p for p in graph if reaches(p, p, {p}))
    assert cycles == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_private_modules_stay_in_their_package(module: str) -> None:
    here = module.rpartition(".")[0]
    for target in _imports(MODULES[module]):
        if any(part.startswith("_") for part in target.split(".")):
            assert target.rpartition(".")[0] == here, f"{module} imports the private {target}"


def test_the_public_api_is_importable_and_the_old_spelling_warns() -> None:
    import agentgateway
    from services.tools.sdk import gateway_tool

    assert agentgateway.gateway_tool is gateway_tool
    with pytest.warns(DeprecationWarning, match="from agentgateway import gateway_tool"):
        from services.tools import gateway_tool as old
    assert old is gateway_tool
