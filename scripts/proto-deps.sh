#!/usr/bin/env bash
# Copy the Google protos our protos import (google/api: the HTTP annotations) or that clients
# need to decode our errors (google/rpc: Status, ErrorInfo...) from the installed
# googleapis-common-protos package into "$1" (default build/proto-deps). Not kept in git: the
# package is the source, at the version pyproject.toml installs. buf.yaml names the folder as a
# module of the workspace (buf's `deps:` would need the network), protoc gets it with -I.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-build/proto-deps}"
python - "$out" <<'PY'
import sys
from importlib.resources import files
from pathlib import Path

out = Path(sys.argv[1])
for package, names in {"google.api": ["annotations.proto", "http.proto"], "google.rpc": ["status.proto", "error_details.proto", "code.proto"]}.items():
    folder = out.joinpath(*package.split("."))
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        source = files(package) / name
        target = folder / name
        if not target.exists() or target.read_bytes() != source.read_bytes():
            target.write_bytes(source.read_bytes())
PY
