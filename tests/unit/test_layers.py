"""The server's layers import one way: down (see docs/architecture.md).

Every module under server/ is parsed, not imported, and each of its imports of the server
is checked against the order below: a module may import its own layer and the layers under
it, never one above. The wire (generated protobuf modules, gRPC) belongs to the API layer,
so nothing under it speaks protobuf.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"
PACKAGE = "runplane.server"

# From the bottom up. A part is a package under server/ or a module directly in it.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("base", frozenset({"settings", "clock", "hub", "api_keys", "cluster_notices"})),
    ("orchestration", frozenset({"orchestration"})),
    ("db", frozenset({"db"})),
    ("transitions", frozenset({"transitions"})),
    ("delivery and streams", frozenset({"delivery", "streams"})),
    ("loops", frozenset({"loops"})),
    ("api", frozenset({"api"})),
    (
        "composition root",
        frozenset(
            {
                "app",
                "serve",
                "background",
                "listen",
                "reflection",
                "tls",
                "dashboard",
                "registration",
                "workers",
            }
        ),
    ),
)
RANK = {part: rank for rank, (_, parts) in enumerate(LAYERS) for part in parts}
ROOT_RANK = len(LAYERS) - 1
API_RANK = RANK["api"]
# Modules of the wire: only the API layer and the composition root use them.
WIRE = ("runplane.v1", "grpc", "grpc_health", "grpc_reflection", "grpc_status", "google.rpc")


def module_name(path: Path, server: Path) -> tuple[str, bool]:
    """The module's dotted name, and whether it is a package's ``__init__``."""
    parts = list(path.relative_to(server).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join([PACKAGE, *parts]), is_package


def rank_of(module: str) -> int | None:
    """The layer of a server module; None for a part that no layer lists."""
    rest = module.removeprefix(PACKAGE).lstrip(".")
    if not rest:
        return ROOT_RANK  # runplane.server itself: its __init__ builds the server
    return RANK.get(rest.split(".")[0])


def imported(tree: ast.Module, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """Every module the source imports, relative imports resolved, with its line."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                if base == PACKAGE and rank_of(f"{base}.{alias.name}") is None:
                    yield node.lineno, base  # a name the package's __init__ exports
                elif base.count(".") > PACKAGE.count(".") + 1 and base.startswith(PACKAGE):
                    yield node.lineno, base  # a name from a server module
                else:
                    yield node.lineno, f"{base}.{alias.name}"


def is_wire(name: str) -> bool:
    return any(name == wire or name.startswith(f"{wire}.") for wire in WIRE)


def violations(server: Path = SERVER) -> list[str]:
    """Each import that goes up a layer, as `file:line: module imports target (why)`."""
    found: list[str] = []
    for path in sorted(server.rglob("*.py")):
        module, is_package = module_name(path, server)
        rank = rank_of(module)
        where = f"server/{path.relative_to(server)}"
        if rank is None:
            found.append(f"{where}: {module} is in no layer; add its package to LAYERS")
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, target in sorted(set(imported(tree, module, is_package))):
            if is_wire(target) and rank < API_RANK:
                found.append(
                    f"{where}:{line}: {module} imports {target}: the wire belongs to the API "
                    f"layer, above {LAYERS[rank][0]}"
                )
                continue
            if not (target == PACKAGE or target.startswith(f"{PACKAGE}.")):
                continue
            target_rank = rank_of(target)
            if target_rank is None or target_rank > rank:
                layer = "no layer" if target_rank is None else LAYERS[target_rank][0]
                found.append(
                    f"{where}:{line}: {module} imports {target}, of layer {layer}, above "
                    f"{LAYERS[rank][0]}"
                )
    return found


def test_server_modules_import_only_their_layer_and_those_below() -> None:
    found = violations()
    assert not found, "imports that go up a layer:\n" + "\n".join(found)


def test_an_import_going_up_is_found(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "__init__.py").write_text("from . import tables\n")
    (tmp_path / "db" / "tables.py").write_text(
        "from runplane.server.api import convert\nfrom runplane.v1 import states_pb2\n"
    )
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "convert.py").write_text(
        "from ..db import tables\nfrom runplane.server import db\n"
    )
    assert violations(tmp_path) == [
        "server/db/tables.py:1: runplane.server.db.tables imports runplane.server.api.convert, "
        "of layer api, above db",
        "server/db/tables.py:2: runplane.server.db.tables imports runplane.v1.states_pb2: the "
        "wire belongs to the API layer, above db",
    ]
