"""Fixtures of the unit tests."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Imports one module after the other in a fresh interpreter and notes what each left loaded;
# a later module's list holds what importing it alone would load, since it imports the
# earlier ones first anyway.
_NOTE_IMPORTS = """
import importlib, json, sys
loaded = {}
for name in sys.argv[1:]:
    importlib.import_module(name)
    loaded[name] = sorted(sys.modules)
print(json.dumps(loaded))
"""


@pytest.fixture(scope="session")
def modules_loaded_by() -> dict[str, frozenset[str]]:
    """The modules a fresh interpreter holds after ``import runplane``, and after
    ``import runplane.cli``: one interpreter start serves every test of what imports load."""
    done = subprocess.run(
        [sys.executable, "-c", _NOTE_IMPORTS, "runplane", "runplane.cli"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded: dict[str, list[str]] = json.loads(done.stdout)
    return {name: frozenset(modules) for name, modules in loaded.items()}
