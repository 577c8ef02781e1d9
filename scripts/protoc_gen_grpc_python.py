"""A protoc plugin for gRPC Python stubs, for ``buf generate`` (buf.gen.yaml).

grpcio-tools builds its gRPC generator into its own protoc (``--grpc_python_out``) and ships
no ``protoc-gen-grpc_python`` program, and buf runs a built-in generator of protoc only for
the languages protoc itself knows. This plugin hands buf's request to grpcio-tools' protoc as
a descriptor set (``--descriptor_set_in``: the files as buf compiled them, no .proto reread)
and returns what it writes. Local, offline, and the same generator ``make proto`` runs.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def main() -> int:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse(supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL)
    with tempfile.TemporaryDirectory() as tmp:
        descriptors, out = Path(tmp) / "descriptors.binpb", Path(tmp) / "out"
        out.mkdir()
        descriptors.write_bytes(descriptor_pb2.FileDescriptorSet(file=request.proto_file).SerializeToString())
        options = f"{request.parameter}:" if request.parameter else ""
        argv = ["protoc", f"--descriptor_set_in={descriptors}", f"--grpc_python_out={options}{out}", *request.file_to_generate]
        if protoc.main(argv) != 0:
            response.error = "grpc_tools.protoc failed (its message is above)"
        else:
            for path in sorted(p for p in out.rglob("*") if p.is_file()):
                response.file.add(name=path.relative_to(out).as_posix(), content=path.read_text())
    sys.stdout.buffer.write(response.SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main())
