"""Server settings come from RUNPLANE_* variables only."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from runplane.server.api_keys import Role, accepted_api_keys, read_keys_file
from runplane.server.settings import ServerSettings, SettingsError


def test_home_and_database_from_runplane_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", "/somewhere/else")
    monkeypatch.setenv("RUNPLANE_HOME", str(tmp_path))
    monkeypatch.delenv("RUNPLANE_DATABASE_URL", raising=False)
    settings = ServerSettings()
    assert settings.home == tmp_path
    assert settings.resolved_database_url() == f"sqlite+aiosqlite:///{tmp_path / 'runplane.db'}"


def test_defaults_bind_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNPLANE_SERVER_HOST", raising=False)
    monkeypatch.setenv("RUNPLANE_DATABASE_URL", "postgresql+psycopg://db/runplane")
    settings = ServerSettings()
    assert settings.host == "127.0.0.1"
    assert settings.resolved_database_url() == "postgresql+psycopg://db/runplane"


def test_api_keys_come_from_the_list_and_the_key_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# rotated monthly\nfile-key-1\n\n  file-key-2  \n\t# old: retired-key\n")
    monkeypatch.setenv("RUNPLANE_SERVER_API_KEYS", "listed-key, ,")
    monkeypatch.setenv("RUNPLANE_SERVER_API_KEYS_FILE", str(key_file))
    settings = ServerSettings()
    assert settings.api_keys_file == key_file
    keys = accepted_api_keys(settings)
    assert all(isinstance(key.secret, SecretStr) for key in keys)
    secrets = [key.secret.get_secret_value() for key in keys]
    assert secrets == ["listed-key", "file-key-1", "file-key-2"]
    # Written without a role, a key keeps the full access every key had before roles.
    assert {key.role for key in keys} == {Role.ADMIN}


def test_a_key_written_with_a_role_grants_that_role(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# runners\nworker:runner-key\nADMIN : ops:key:with:colons\n")
    monkeypatch.setenv("RUNPLANE_SERVER_API_KEYS", "read:dash-key, plain-key")
    monkeypatch.setenv("RUNPLANE_SERVER_API_KEYS_FILE", str(key_file))
    keys = accepted_api_keys(ServerSettings())
    assert [(key.role, key.secret.get_secret_value()) for key in keys] == [
        (Role.READ, "dash-key"),
        (Role.ADMIN, "plain-key"),
        (Role.WORKER, "runner-key"),
        (Role.ADMIN, "ops:key:with:colons"),
    ]


@pytest.mark.parametrize(
    ("listed", "reason"),
    [
        ("read:fine-s3cret,wroker:typo-s3cret", "key 2 starts with an unknown role"),
        ("no-role:but-a-colon-s3cret", "key 1 starts with an unknown role"),
        ("worker:", "key 1 has a role but no key"),
        ("read:same-s3cret,admin:same-s3cret", "a key is listed with two roles, read and admin"),
    ],
    ids=["unknown-role", "colon-without-role", "role-without-key", "two-roles"],
)
def test_a_key_whose_role_is_unclear_stops_the_server_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, listed: str, reason: str
) -> None:
    monkeypatch.delenv("RUNPLANE_SERVER_API_KEYS_FILE", raising=False)
    monkeypatch.setenv("RUNPLANE_SERVER_API_KEYS", listed)
    with pytest.raises(SettingsError) as error:
        accepted_api_keys(ServerSettings())
    message = str(error.value)
    assert message.startswith("RUNPLANE_SERVER_API_KEYS")
    assert reason in message
    assert "s3cret" not in message


def test_no_key_setting_means_no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNPLANE_SERVER_API_KEYS", raising=False)
    monkeypatch.delenv("RUNPLANE_SERVER_API_KEYS_FILE", raising=False)
    assert accepted_api_keys(ServerSettings()) == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read"),
        ("", "holds no key"),
        ("\n  \n# only comments\n", "holds no key"),
        (b"\xff\xfe not-utf8-s3cret\n", "is not UTF-8 text"),
    ],
    ids=["missing", "empty", "only-comments", "not-utf8"],
)
def test_a_key_file_without_keys_is_an_error_naming_the_variable(
    tmp_path: Path, content: str | bytes | None, reason: str
) -> None:
    key_file = tmp_path / "keys"
    if isinstance(content, bytes):
        key_file.write_bytes(content)
    elif content is not None:
        key_file.write_text(content)
    with pytest.raises(SettingsError) as error:
        read_keys_file(key_file)
    message = str(error.value)
    assert message.startswith("RUNPLANE_SERVER_API_KEYS_FILE: ")
    assert reason in message
    assert str(key_file) in message
    assert "s3cret" not in message


def test_keys_are_hidden_in_repr_and_str(tmp_path: Path) -> None:
    settings = ServerSettings(api_keys=[SecretStr("listed-s3cret")], api_keys_file=tmp_path)
    for text in (repr(settings), str(settings), str(settings.model_dump())):
        assert "listed-s3cret" not in text
