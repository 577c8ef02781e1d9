"""Offline Python packaging for the agent-dependency tests: hand-built wheels and throwaway
environments layered over the repo's .venv.

A throwaway environment is a ``venv --without-pip`` whose site-packages holds one ``.pth`` that
adds the .venv's site-packages *after* its own: the gateway, pip and every dependency are
importable from there, while ``pip install`` run by the throwaway interpreter installs into the
throwaway site-packages only. The .venv is never written to.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PythonEnv", "build_wheel", "make_env", "pip_environment", "write_dist_info"]


def _metadata(name: str, version: str, requires: Iterable[str], extras: Iterable[str]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Provides-Extra: {extra}" for extra in extras]
    lines += [f"Requires-Dist: {requirement}" for requirement in requires]
    return "\n".join(lines) + "\n"


def build_wheel(
    folder: Path,
    name: str,
    version: str,
    *,
    requires: Iterable[str] = (),
    extras: Iterable[str] = (),
    modules: Mapping[str, str] | None = None,
) -> Path:
    """A pure-Python wheel: ``modules`` (path -> source; default a package that knows its version)."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = dict(modules or {f"{dist}/__init__.py": f"__version__ = {version!r}\n"})
    # The dist-info goes last, as real wheels have it: pip writes files in archive order.
    files[f"{info}/METADATA"] = _metadata(name, version, requires, extras)
    files[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def write_dist_info(site: Path, name: str, version: str, *, requires: Iterable[str] = (), extras: Iterable[str] = ()) -> Path:
    """An installed distribution as importlib.metadata sees one (metadata only, no code)."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(_metadata(name, version, requires, extras))
    return info


def pip_environment(**extra: str) -> dict[str, str]:
    """This process's environment without the machine's pip configuration (indexes, find-links,
    constraints): pip sees only what a test gives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "GATEWAY_", "OPENAI_", "VIRTUAL_ENV"))}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


@dataclass(frozen=True)
class PythonEnv:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def site_packages(self) -> Path:
        return next((self.root / "lib").glob("python3*/site-packages"))

    def installed(self) -> set[str]:
        """Distributions installed into this environment itself (not the layered .venv)."""
        return {p.name.split("-")[0] for p in self.site_packages.glob("*.dist-info")}

    def run(self, *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.python), *args], cwd=cwd, env=dict(env or pip_environment()), capture_output=True, text=True, timeout=timeout)

    def gateway_cli(self, *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``agent-gateway ARGS`` run by this environment's interpreter."""
        return self.run("-m", "services.cli", *args, cwd=cwd, env=env)


def make_env(root: Path) -> PythonEnv:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, capture_output=True, timeout=60)
    env = PythonEnv(root)
    gateway_site = sysconfig.get_path("purelib")
    (env.site_packages / "_gateway_venv.pth").write_text(f"import site; site.addsitedir({gateway_site!r})\n")
    return env
