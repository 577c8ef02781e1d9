"""Every document the repo cites is in the repo: markdown links resolve, code that points at
``docs/<page>.md`` points at a page that exists, and nothing cites planning documents that
live outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")
_DOC_PATH = re.compile(r"\bdocs/[A-Za-z0-9_-]+\.md\b")
# Planning documents outside the repo (spelled in pieces so this file does not cite them).
_OUTSIDE = ["CONVEN" + "TIONS.md", "DES" + "IGN.md", "STY" + "LE.md", "ROAD" + "MAP.md", "../" + "shared/"]


def _tracked(*suffixes: str) -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    return [REPO / n for n in names if n.endswith(suffixes) and not n.startswith("agentgateway/v1/")]


def test_markdown_links_resolve() -> None:
    broken = []
    for page in _tracked(".md"):
        for target, _ in _LINK.findall(page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO)} -> {target}")
    assert broken == []


def test_code_cites_existing_docs_only() -> None:
    # Product code and docs (tests use URL paths like /docs/guide.md for a fake HTTP server).
    files = [f for f in _tracked(".py", ".md", ".yaml", ".proto") if "tests" not in f.relative_to(REPO).parts]
    missing = sorted({f"{f.relative_to(REPO)}: {ref}" for f in files for ref in _DOC_PATH.findall(f.read_text()) if not (REPO / ref).exists()})
    assert missing == []


def test_nothing_cites_documents_outside_the_repo() -> None:
    cited = [
        f"{f.relative_to(REPO)} cites {name}"
        for f in _tracked(".py", ".md", ".yaml", ".proto", ".toml", ".sh", "Makefile")
        for name in _OUTSIDE
        if name in f.read_text()
    ]
    assert cited == []
