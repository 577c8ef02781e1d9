#!/usr/bin/env bash
# Generate Python stubs (messages, gRPC, and .pyi for both) from proto/ into "$1".
set -euo pipefail
out="${1:?usage: gen-proto.sh OUTDIR}"
cd "$(dirname "$0")/.."
mkdir -p "$out/agentgateway/v1"
scripts/proto-deps.sh  # google/api/annotations.proto and the rest, from googleapis-common-protos
python -m grpc_tools.protoc -Iproto -Ibuild/proto-deps \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" --mypy_grpc_out="$out" \
  proto/agentgateway/v1/*.proto 2> >(grep -v "^Writing mypy" >&2)
# Package marker (protoc does not write it). agentgateway/__init__.py is hand-written: the
# public API for drop-in agents.
echo '"""Generated from proto/agentgateway/v1. Do not edit: run `make proto`."""' > "$out/agentgateway/v1/__init__.py"
