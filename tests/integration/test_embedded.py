"""The embedded default: without RUNPLANE_API_URL, clients start a server in the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runplane import FlowRunFilter, Settings, SyncRunplaneClient
from runplane._client.embedded import ensure_api_url
from runplane._client.transport import resolve_api_url

RECORD_RUNS = textwrap.dedent(
    """
    import sys
    import runplane

    with runplane.SyncRunplaneClient() as client:
        flow = client.create_flow("shared-home")
        for _ in range(5):
            client.create_flow_run(flow.id, tags=[sys.argv[1]])
    print("ok")
    """
)


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNPLANE_")}
    env["RUNPLANE_HOME"] = str(home)
    return env


def test_an_explicit_url_wins(tmp_path: Path) -> None:
    settings = Settings(api_url="example.org:1234", home=tmp_path)
    assert ensure_api_url(settings) == "example.org:1234"
    assert resolve_api_url(settings) == "example.org:1234"
    assert not (tmp_path / "runplane.db").exists()


def test_one_server_per_home_in_a_process(tmp_path: Path) -> None:
    settings = Settings(api_url=None, home=tmp_path / "home")
    first = ensure_api_url(settings)
    assert first.startswith("127.0.0.1:")
    assert ensure_api_url(settings) == first
    assert (tmp_path / "home" / "runplane.db").is_file()
    with SyncRunplaneClient(settings) as client:
        flow = client.create_flow("embedded")
        run = client.create_flow_run(flow.id)
        assert client.get_flow_run(run.id).flow_id == flow.id


def test_two_processes_share_one_home(tmp_path: Path) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RECORD_RUNS, tag],
            env=clean_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("first", "second")
    ]
    try:
        # Both are waited for before any assertion, so that none outlives a failure.
        outputs = [process.communicate(timeout=120) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.communicate()
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        assert out.strip() == "ok"
    with SyncRunplaneClient(Settings(api_url=None, home=tmp_path)) as client:
        for tag in ("first", "second"):
            runs = client.list_flow_runs(FlowRunFilter(tags=(tag,)), page_size=50)
            assert len(runs) == 5


@pytest.mark.parametrize("importer", ["import runplane", "import runplane._client.embedded"])
def test_importing_starts_nothing(importer: str, tmp_path: Path) -> None:
    code = f"{importer}; import sys; print('sqlalchemy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == "False"
    assert not (tmp_path / "runplane.db").exists()


FIRST_FLOW = textwrap.dedent(
    """
    import json, sys
    from runplane import flow

    @flow
    def hello() -> int:
        return 1

    assert hello() == 1
    print(json.dumps(sorted(sys.modules)))
    """
)

# What a server on SQLite has no use for: SQLAlchemy's PostgreSQL dialect (and a PostgreSQL
# driver), its ORM (which its asyncio extension imports) and Alembic (a database at head is
# not migrated); nor has a flow on the default thread pool for multiprocessing.
NOT_FOR_SQLITE = (
    "sqlalchemy.dialects.postgresql",
    "psycopg",
    "sqlalchemy.orm",
    "alembic",
    "multiprocessing",
)


def _first_flow(home: Path) -> set[str]:
    """The modules loaded by a new process that runs one flow on the embedded default."""
    result = subprocess.run(
        [sys.executable, "-c", FIRST_FLOW],
        env=clean_env(home),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(result.stdout))


def test_a_first_flow_on_sqlite_loads_nothing_for_postgresql(tmp_path: Path) -> None:
    """The first flow of a process on a migrated SQLite database pays for no module it does
    not use (the process that created the database migrated it, with Alembic)."""
    _first_flow(tmp_path)
    loaded = _first_flow(tmp_path)
    assert "runplane.server.db.engine" in loaded
    assert [name for name in NOT_FOR_SQLITE if name in loaded] == []


def test_reading_commands_get_a_server_without_background_loops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from runplane._client import embedded as _embedded
    from runplane.cli import app

    home = (tmp_path / "home").resolve()
    monkeypatch.delenv("RUNPLANE_API_URL", raising=False)
    monkeypatch.setenv("RUNPLANE_HOME", str(home))
    listed = CliRunner().invoke(app, ["flow-run", "ls"])
    assert listed.exit_code == 0, listed.output
    assert "no flow runs" in listed.output
    reading = _embedded._servers[(home, False)]
    assert not reading.server.context.settings.loops_enabled
    # A command that writes gets the full server, loops included.
    created = CliRunner().invoke(app, ["variable", "set", "answer", "42"])
    assert created.exit_code == 0, created.output
    assert _embedded._servers[(home, True)].server.context.settings.loops_enabled
