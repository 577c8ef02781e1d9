"""``buf generate`` works from the repository as docs/api.md says: buf.gen.yaml's local plugins
only (no network: any proxy buf would use is a refused port), into a temporary folder, and what
it writes imports on its own and describes exactly the protos of the committed stubs."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import yaml
from google.protobuf import descriptor_pb2

from tests.gateway_process import REPO, refused_port

BUF = REPO / "tools" / "node_modules" / ".bin" / "buf"
VENV_BIN = Path(sys.executable).parent

# Run in a Python of its own whose only agentgateway is the generated one (-S: no site, so no
# editable install of the repository), printing each module's file descriptor.
DUMP = """
import importlib, pkgutil, sys
import agentgateway.v1 as package
for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
    module = importlib.import_module(f"agentgateway.v1.{info.name}")
    assert module.__file__.startswith(sys.argv[1]), module.__file__
    if info.name.endswith("_pb2"):
        print(info.name, module.DESCRIPTOR.serialized_pb.hex())
"""


def _canonical(serialized: bytes) -> bytes:
    """A file descriptor without ``json_name`` (buf fills it in, protoc leaves the default out)."""
    proto = descriptor_pb2.FileDescriptorProto.FromString(serialized)
    for message in _messages(proto.message_type):
        for field in message.field:
            field.ClearField("json_name")
    return proto.SerializeToString(deterministic=True)


def _messages(messages: list[descriptor_pb2.DescriptorProto]) -> list[descriptor_pb2.DescriptorProto]:
    found = []
    for message in messages:
        found += [message, *_messages(list(message.nested_type))]
    return found


def docs_buf_commands() -> list[str]:
    """The ``buf generate`` commands of docs/api.md's "Generated code" (comments dropped)."""
    section = (REPO / "docs" / "api.md").read_text().split("\n### Generated code\n", 1)[1].split("\n### ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.startswith("tools/node_modules/.bin/buf generate")]


def test_buf_generate_offline_matches_the_committed_stubs(tmp_path: Path) -> None:
    assert BUF.exists(), "the buf CLI is installed by `make tools` (npm)"
    template = yaml.safe_load((REPO / "buf.gen.yaml").read_text())
    assert all("remote" not in plugin for plugin in template["plugins"])
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([str(REPO / "scripts" / "proto-deps.sh")], cwd=REPO, env=env, check=True)  # what `make proto-deps` does
    proxy = f"http://127.0.0.1:{refused_port()}"
    offline = {**env, "HTTPS_PROXY": proxy, "HTTP_PROXY": proxy, "https_proxy": proxy, "http_proxy": proxy, "NO_PROXY": ""}
    commands = docs_buf_commands()
    assert len(commands) == 2
    for command in commands:
        run = subprocess.run([*shlex.split(command), "-o", str(tmp_path)], cwd=REPO, env=offline, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
    generated = tmp_path / "gen" / "python"
    # google.rpc, for clients that decode error details (the second command).
    assert {p.name for p in (generated / "google" / "rpc").glob("*_pb2.py")} == {"status_pb2.py", "error_details_pb2.py", "code_pb2.py"}
    committed = REPO / "agentgateway" / "v1"
    names = {p.name for p in (generated / "agentgateway" / "v1").iterdir()}
    assert names == {p.name for p in committed.iterdir() if p.suffix in (".py", ".pyi") and p.name != "__init__.py"}
    # The gRPC stubs and every .pyi are byte for byte what `make proto` commits.
    for name in sorted(n for n in names if not n.endswith("_pb2.py")):
        assert (generated / "agentgateway" / "v1" / name).read_text() == (committed / name).read_text(), name
    site = sysconfig.get_paths()["purelib"]
    dump = subprocess.run(
        [sys.executable, "-S", "-c", DUMP, str(generated)],
        cwd=tmp_path,  # not the repository, whose own agentgateway/ would come first
        env={"PYTHONPATH": os.pathsep.join([str(generated), site]), "PATH": env["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = dict(line.split(" ", 1) for line in dump.stdout.splitlines())
    assert len(seen) == len([n for n in names if n.endswith("_pb2.py")])
    for name, serialized in seen.items():
        mine = importlib.import_module(f"agentgateway.v1.{name}").DESCRIPTOR.serialized_pb
        assert _canonical(bytes.fromhex(serialized)) == _canonical(mine), name
