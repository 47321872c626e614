"""What a ``runplane`` command loads: ``--help`` no server, a listing on the embedded default
only what serving a read needs; and how help shows flags and arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from runplane.cli import app

# Runs the command line with the given arguments, then prints the modules it loaded to stderr.
RUN_AND_LIST_MODULES = textwrap.dedent(
    """
    import json, sys
    from runplane.cli import main

    sys.argv = ["runplane", *sys.argv[1:]]
    try:
        main()
    except SystemExit as exit:
        code = exit.code
    else:
        code = 0
    print("MODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr)
    sys.exit(code)
    """
)


def loaded_modules(home: Path, *args: str) -> set[str]:
    """The modules ``runplane *args`` loaded, run as a new process on the embedded default."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNPLANE_")}
    env["RUNPLANE_HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    listing = result.stderr.rpartition("MODULES ")[2]
    return set(json.loads(listing))


def loaded_packages(modules: set[str], *packages: str) -> set[str]:
    return {name for name in packages if name in modules}


def test_help_loads_no_server_and_no_format_it_does_not_print(tmp_path: Path) -> None:
    modules = loaded_modules(tmp_path, "--help")
    assert not loaded_packages(modules, "runplane.server", "sqlalchemy", "alembic", "yaml")
    assert not (tmp_path / "runplane.db").exists()


def test_an_embedded_listing_loads_only_what_serving_a_read_needs(tmp_path: Path) -> None:
    # The first command creates and migrates the database: it needs Alembic.
    assert "alembic" in loaded_modules(tmp_path, "flow-run", "ls")
    # Every later one finds it at the newest revision, and serves no schedule, deployment
    # parameters or TLS.
    modules = loaded_modules(tmp_path, "flow-run", "ls")
    assert "runplane.server" in modules
    assert not loaded_packages(
        modules, "alembic", "croniter", "dateutil", "jsonschema", "cryptography", "markdown_it"
    )


def every_command(group: TyperGroup, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            yield from every_command(command, (*path, name))
        else:
            yield (*path, name)


@pytest.fixture
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # Wide enough that rich never folds a usage line.
    monkeypatch.setenv("COLUMNS", "250")


@pytest.mark.usefixtures("wide_terminal")
def test_help_shows_no_type_for_flags_and_arguments_by_name() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    commands = list(every_command(root))
    assert len(commands) > 40
    for path in commands:
        result = CliRunner().invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, path
        usage = next(line for line in result.output.splitlines() if "Usage:" in line)
        assert "{" not in usage, (path, usage)
    inspect = CliRunner().invoke(app, ["flow-run", "inspect", "--help"])
    assert "[OPTIONS] FLOW_RUN_ID" in inspect.output
    run = CliRunner().invoke(app, ["deployment", "run", "--help"])
    assert "[OPTIONS] NAME" in run.output
