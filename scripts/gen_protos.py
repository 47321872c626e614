"""Regenerate the Python modules of the gRPC contract.

Reads ``proto/runplane/v1/*.proto`` and writes messages, gRPC stubs and typed
``.pyi`` stubs into ``sdk/v1`` so that they import as ``runplane.v1.*_pb2``.
It also writes ``descriptors.binpb``, the contract's descriptors with their comments, which
the server's reflection serves so that ``grpcurl describe`` shows the documentation.
Run with ``python scripts/gen_protos.py``; CI runs it and fails on any diff.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE_DIR = Path("runplane") / "v1"
TARGET = ROOT / "sdk" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
# The generated modules carry descriptors without comments; this set keeps them.
DESCRIPTOR_SET = "descriptors.binpb"


def main() -> int:
    protos = (PROTO_ROOT / PACKAGE_DIR).glob("*.proto")
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in protos)
    # protoc finds the mypy-protobuf plugins on PATH, next to this interpreter.
    bindir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    well_known = str(resources.files("grpc_tools") / "_proto")
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "grpc_tools.protoc",
            f"--proto_path={PROTO_ROOT}",
            f"--proto_path={well_known}",
            f"--python_out={tmp}",
            f"--grpc_python_out={tmp}",
            f"--mypy_out={tmp}",
            f"--mypy_grpc_out={tmp}",
            f"--descriptor_set_out={Path(tmp) / DESCRIPTOR_SET}",
            "--include_source_info",
            *sources,
        ]
        if protoc.main(args) != 0:
            print("protoc failed", file=sys.stderr)
            return 1
        for stale in TARGET.iterdir():
            if stale.name.endswith(GENERATED_SUFFIXES):
                stale.unlink()
        for produced in sorted((Path(tmp) / PACKAGE_DIR).iterdir()):
            shutil.copyfile(produced, TARGET / produced.name)
        shutil.copyfile(Path(tmp) / DESCRIPTOR_SET, TARGET / DESCRIPTOR_SET)
    print(f"generated {len(sources)} files into {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
