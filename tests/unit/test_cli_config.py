"""``runplane config show``: every setting, where it came from, and no secret in sight."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from runplane._client.settings import Settings
from runplane.cli import app
from runplane.server.settings import ServerSettings

API_KEY = "sekrit-value"
SERVER_KEYS = ("listed-k1-value", "listed-k2-value")
DATABASE_PASSWORD = "db-pass-w0rd"
QUERY_PASSWORD = "query-pass-w0rd"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("RUNPLANE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RUNPLANE_HOME", str(tmp_path))
    # Wide enough that rich never folds a value across lines.
    monkeypatch.setenv("COLUMNS", "250")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["config", "show", *args])
    return result.exit_code, result.stdout, result.stderr


def show_json() -> dict[str, Any]:
    code, stdout, stderr = invoke("--json")
    assert code == 0, stderr
    document: dict[str, Any] = json.loads(stdout)
    return document


def table_row(output: str, variable: str) -> list[str]:
    rows = [line.split() for line in output.splitlines() if line.split()[:1] == [variable]]
    assert len(rows) == 1, output
    return rows[0]


def test_defaults_are_listed_as_defaults(tmp_path: Path) -> None:
    code, output, _ = invoke()
    assert code == 0
    assert table_row(output, "RUNPLANE_API_URL") == ["RUNPLANE_API_URL", "(not", "set)", "default"]
    assert table_row(output, "RUNPLANE_REQUEST_TIMEOUT")[1:] == ["30.0", "default"]
    assert table_row(output, "RUNPLANE_SERVER_PORT")[1:] == ["4200", "default"]
    assert table_row(output, "RUNPLANE_SERVER_LOOPS_ENABLED")[1:] == ["true", "default"]

    document = show_json()
    assert document["RUNPLANE_SERVER_HOST"] == {"value": "127.0.0.1", "source": "default"}
    assert document["RUNPLANE_SERVER_SCHEDULE_MIN_RUNS"] == {"value": 3, "source": "default"}
    # The database in effect, not the unset field behind it.
    assert document["RUNPLANE_DATABASE_URL"] == {
        "value": f"sqlite+aiosqlite:///{tmp_path / 'runplane.db'}",
        "source": "default",
    }


def test_environment_values_are_listed_as_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RUNPLANE_API_URL", "https://api.example.com:8443")
    monkeypatch.setenv("RUNPLANE_SERVER_PORT", "4300")
    monkeypatch.setenv("runplane_server_late_after", "42")
    monkeypatch.setenv("RUNPLANE_SERVER_HOST", "[bold]edge[/bold]")

    code, output, _ = invoke()
    assert code == 0
    assert table_row(output, "RUNPLANE_API_URL")[1:] == [
        "https://api.example.com:8443",
        "environment",
    ]
    assert table_row(output, "RUNPLANE_SERVER_PORT")[1:] == ["4300", "environment"]
    # Shown as given, not read as rich markup.
    assert table_row(output, "RUNPLANE_SERVER_HOST")[1:] == ["[bold]edge[/bold]", "environment"]

    document = show_json()
    assert document["RUNPLANE_SERVER_PORT"] == {"value": 4300, "source": "environment"}
    assert document["RUNPLANE_SERVER_LATE_AFTER"] == {"value": 42.0, "source": "environment"}
    assert document["RUNPLANE_HOME"] == {"value": str(tmp_path), "source": "environment"}


def test_json_holds_every_setting_of_both_classes() -> None:
    document = show_json()
    assert "RUNPLANE_API_URL" in document
    assert "RUNPLANE_API_KEY" in document
    assert "RUNPLANE_SERVER_API_KEYS" in document
    assert "RUNPLANE_DATABASE_URL" in document
    # Read by the client and the server alike, and listed once.
    assert "RUNPLANE_HOME" in document
    assert len(document) == len(Settings.model_fields) + len(ServerSettings.model_fields) - 1
    assert all(set(entry) == {"value", "source"} for entry in document.values())


def test_secrets_are_masked_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPLANE_API_KEY", API_KEY)
    monkeypatch.setenv("RUNPLANE_SERVER_API_KEYS", ",".join(SERVER_KEYS))
    monkeypatch.setenv(
        "RUNPLANE_DATABASE_URL",
        f"postgresql+psycopg://runplane:{DATABASE_PASSWORD}@db.internal/runplane"
        f"?password={QUERY_PASSWORD}&sslmode=require",
    )
    secrets = (API_KEY, *SERVER_KEYS, DATABASE_PASSWORD, QUERY_PASSWORD)

    code, output, stderr = invoke()
    assert code == 0
    for secret in secrets:
        assert secret not in output + stderr
    assert table_row(output, "RUNPLANE_API_KEY")[1:] == ["********", "environment"]
    assert table_row(output, "RUNPLANE_SERVER_API_KEYS")[1:] == ["********", "environment"]
    assert table_row(output, "RUNPLANE_DATABASE_URL")[1:] == [
        "postgresql+psycopg://runplane:***@db.internal/runplane?password=***&sslmode=require",
        "environment",
    ]

    code, stdout, stderr = invoke("--json")
    assert code == 0
    for secret in secrets:
        assert secret not in stdout + stderr
    document = json.loads(stdout)
    assert document["RUNPLANE_API_KEY"] == {"value": "********", "source": "environment"}
    assert document["RUNPLANE_SERVER_API_KEYS"] == {"value": "********", "source": "environment"}
    assert "runplane:***@db.internal" in document["RUNPLANE_DATABASE_URL"]["value"]


def test_unset_secrets_say_so() -> None:
    code, output, _ = invoke()
    assert code == 0
    assert table_row(output, "RUNPLANE_API_KEY")[1:] == ["(not", "set)", "default"]
    assert table_row(output, "RUNPLANE_SERVER_API_KEYS")[1:] == ["(not", "set)", "default"]
    document = show_json()
    assert document["RUNPLANE_API_KEY"] == {"value": None, "source": "default"}


def test_the_path_of_a_key_file_is_shown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A path names where a secret lives, which is what an operator checks; it is no secret."""
    key_file = tmp_path / "tls-private.pem"
    monkeypatch.setenv("RUNPLANE_SERVER_TLS_KEY", str(key_file))
    document = show_json()
    assert document["RUNPLANE_SERVER_TLS_KEY"] == {"value": str(key_file), "source": "environment"}


def test_a_setting_read_under_its_second_name_is_listed_under_that_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # populate_by_name: the server reads RUNPLANE_SERVER_DATABASE_URL when
    # RUNPLANE_DATABASE_URL is unset.
    monkeypatch.setenv(
        "RUNPLANE_SERVER_DATABASE_URL", f"postgresql+psycopg://app:{DATABASE_PASSWORD}@db/app"
    )
    code, stdout, _ = invoke("--json")
    assert code == 0
    assert DATABASE_PASSWORD not in stdout
    document = json.loads(stdout)
    assert "RUNPLANE_DATABASE_URL" not in document
    assert document["RUNPLANE_SERVER_DATABASE_URL"] == {
        "value": "postgresql+psycopg://app:***@db/app",
        "source": "environment",
    }


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("RUNPLANE_SERVER_PORT", "not-a-port", "valid integer"),
        ("RUNPLANE_SERVER_SCHEDULE_MAX_RUNS", "0", "greater than or equal to 1"),
        ("RUNPLANE_REQUEST_TIMEOUT", "soon", "valid number"),
        ("RUNPLANE_API_URL", "ftp://example.com", "unsupported scheme"),
    ],
)
def test_an_invalid_value_names_its_variable_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)
    for args in ((), ("--json",)):
        code, stdout, stderr = invoke(*args)
        assert code == 2
        assert stdout == ""
        assert stderr.startswith(f"error: {variable}: ")
        assert reason in stderr
        assert len(stderr.splitlines()) == 1
        assert "Traceback" not in stderr


def test_every_invalid_variable_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPLANE_REQUEST_TIMEOUT", "0")
    monkeypatch.setenv("RUNPLANE_SERVER_PORT", "70000")
    code, _, stderr = invoke()
    assert code == 2
    assert [line.split(":")[:2] for line in stderr.splitlines()] == [
        ["error", " RUNPLANE_REQUEST_TIMEOUT"],
        ["error", " RUNPLANE_SERVER_PORT"],
    ]


def test_a_rule_across_settings_is_reported_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RUNPLANE_TLS_CERT_FILE", str(tmp_path / "client.pem"))
    code, _, stderr = invoke()
    assert code == 2
    assert stderr == "error: client settings: tls_cert_file and tls_key_file must be set together\n"


def test_only_the_environment_feeds_the_settings() -> None:
    # Sources are told apart by the environment alone; a settings class that starts reading
    # a .env file or a secrets folder needs config show to learn that source.
    for cls in (Settings, ServerSettings):
        assert cls.model_config.get("env_file") is None
        assert cls.model_config.get("secrets_dir") is None


def test_the_module_runs_it_without_loading_the_server_until_asked(
    modules_loaded_by: dict[str, frozenset[str]],
) -> None:
    loaded = modules_loaded_by["runplane.cli"]
    assert [m for m in ("sqlalchemy", "runplane.server") if m in loaded] == []
    shown = subprocess.run(
        [sys.executable, "-m", "runplane.cli", "config", "show", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "RUNPLANE_API_KEY": API_KEY},
    )
    assert API_KEY not in shown.stdout
    assert json.loads(shown.stdout)["RUNPLANE_API_KEY"]["value"] == "********"


def test_a_rejected_value_is_quoted_without_its_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNPLANE_API_URL", f"ftp://deploy:{API_KEY}@api.example.com")
    code, stdout, stderr = invoke()
    assert code == 2
    assert API_KEY not in stdout + stderr
    assert stderr.startswith("error: RUNPLANE_API_URL: unsupported scheme 'ftp'")
    assert "deploy:***@api.example.com" in stderr
