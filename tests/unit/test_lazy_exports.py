"""The packages' public names load on first use, and are the names the type checkers see."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys
from types import ModuleType

import pytest

import runplane
import runplane.runner
import runplane.server

# What the state rules, the SDK and the server are built on: none of it is needed to import
# a pure module, or a package's __init__.
HEAVY = ("grpc", "google.protobuf", "sqlalchemy", "pydantic", "runplane._engine")

_LOADED = "import importlib, json, sys; importlib.import_module(sys.argv[1]); " + (
    "print(json.dumps(sorted(sys.modules)))"
)


def _loaded_by(module: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, module],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(json.loads(done.stdout))


@pytest.mark.parametrize(
    "module",
    [
        "runplane",
        "runplane.server",
        "runplane.runner",
        "runplane.server.orchestration",
        "runplane.server.orchestration.rules",
    ],
)
def test_importing_loads_no_heavy_module(module: str) -> None:
    loaded = _loaded_by(module)
    assert module in loaded
    assert [name for name in HEAVY if name in loaded] == []


def _type_checking_imports(package: ModuleType) -> dict[str, tuple[str, str]]:
    """What the package imports under ``if TYPE_CHECKING:``: name -> (module, name)."""
    tree = ast.parse(inspect.getsource(package))
    (block,) = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    ]
    found: dict[str, tuple[str, str]] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom)
        assert node.module is not None
        for alias in node.names:
            found[alias.asname or alias.name] = (node.module, alias.name)
    return found


_PACKAGES = [runplane, runplane.server, runplane.runner]


def _lazy_locations(package: ModuleType) -> dict[str, tuple[str, str]]:
    exported_from: dict[str, tuple[str, ...]] = package._EXPORTED_FROM
    renamed: dict[str, tuple[str, str]] = getattr(package, "_RENAMED", {})
    located = {name: (module, name) for module, names in exported_from.items() for name in names}
    return located | renamed


@pytest.mark.parametrize("package", _PACKAGES, ids=lambda p: p.__name__)
def test_lazy_names_are_the_type_checked_names(package: ModuleType) -> None:
    assert _lazy_locations(package) == _type_checking_imports(package)
    assert sorted(_lazy_locations(package)) == sorted(package.__all__)


@pytest.mark.parametrize("package", _PACKAGES, ids=lambda p: p.__name__)
def test_each_name_is_its_module_object(package: ModuleType) -> None:
    for name, (module, attribute) in _lazy_locations(package).items():
        assert getattr(package, name) is getattr(importlib.import_module(module), attribute)
    assert set(package.__all__) <= set(dir(package))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="'runplane' has no attribute 'flw'"):
        runplane.flw  # type: ignore[attr-defined]  # noqa: B018


def test_the_runtime_module_is_an_attribute_after_importing_the_package() -> None:
    # ``import runplane`` then ``runplane.runtime.flow_run.id``, as ``prefect.runtime`` reads.
    done = subprocess.run(
        [sys.executable, "-c", "import runplane; print(runplane.runtime.__name__)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip() == "runplane.runtime"
    assert "runtime" in dir(runplane)
