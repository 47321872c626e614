"""``runplane server start`` with TLS settings it cannot serve with: one line naming the setting
and its file, a non-zero exit, no traceback, and nothing bound."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from tls_support import Pki, make_pki
from typer.testing import CliRunner

from runplane.cli import app

CERT = "RUNPLANE_SERVER_TLS_CERT"
KEY = "RUNPLANE_SERVER_TLS_KEY"
CLIENT_CA = "RUNPLANE_SERVER_TLS_CLIENT_CA"

# Each case: the TLS variables to set, given the certificates, and the line to expect.
Case = Callable[[Pki, Path], tuple[dict[str, Path], str]]


def _garbage(folder: Path) -> Path:
    path = folder / "garbage.pem"
    path.write_bytes(b"not a certificate\n")
    return path


CASES: dict[str, Case] = {
    "cert missing": lambda pki, tmp: (
        {CERT: tmp / "missing.pem", KEY: pki.server.key},
        f"{CERT}: cannot read {tmp / 'missing.pem'}: No such file or directory",
    ),
    "key unreadable": lambda pki, tmp: (
        {CERT: pki.server.cert, KEY: tmp},
        f"{KEY}: cannot read {tmp}: Is a directory",
    ),
    "cert not PEM": lambda pki, tmp: (
        {CERT: _garbage(tmp), KEY: pki.server.key},
        f"{CERT}: {tmp / 'garbage.pem'} is not a PEM certificate "
        "(expected a '-----BEGIN CERTIFICATE-----' block)",
    ),
    "key not PEM": lambda pki, tmp: (
        {CERT: pki.server.cert, KEY: _garbage(tmp)},
        f"{KEY}: {tmp / 'garbage.pem'} is not a PEM private key "
        "(expected a '-----BEGIN PRIVATE KEY-----' block)",
    ),
    "key is a certificate": lambda pki, tmp: (
        {CERT: pki.server.cert, KEY: pki.server.cert},
        f"{KEY}: {pki.server.cert} is not a PEM private key "
        "(expected a '-----BEGIN PRIVATE KEY-----' block)",
    ),
    "key of another certificate": lambda pki, tmp: (
        {CERT: pki.server.cert, KEY: pki.client.key},
        f"{KEY}: the key does not belong to the certificate in {pki.server.cert} ({CERT}); "
        "the certificate file must start with the key's certificate",
    ),
    "key without cert": lambda pki, tmp: (
        {KEY: pki.server.key},
        f"{KEY} is set but {CERT} is not: TLS needs both the certificate and its private key",
    ),
    "cert without key": lambda pki, tmp: (
        {CERT: pki.server.cert},
        f"{CERT} is set but {KEY} is not: TLS needs both the certificate and its private key",
    ),
    "client CA without cert": lambda pki, tmp: (
        {CLIENT_CA: pki.ca},
        f"{CLIENT_CA} is set but {CERT} and {KEY} are not: client certificates need TLS, "
        "which needs the server's certificate and key",
    ),
    "client CA missing": lambda pki, tmp: (
        {CERT: pki.server.cert, KEY: pki.server.key, CLIENT_CA: tmp / "ca.pem"},
        f"{CLIENT_CA}: cannot read {tmp / 'ca.pem'}: No such file or directory",
    ),
    "client CA not PEM": lambda pki, tmp: (
        {CERT: pki.server.cert, KEY: pki.server.key, CLIENT_CA: _garbage(tmp)},
        f"{CLIENT_CA}: {tmp / 'garbage.pem'} is not a PEM CA certificate "
        "(expected a '-----BEGIN CERTIFICATE-----' block)",
    ),
}


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.mark.parametrize("case", CASES)
def test_a_tls_mistake_stops_the_start_with_one_line(case: str, pki: Pki, tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    files, expected = CASES[case](pki, folder)
    home = tmp_path / "home"
    env: dict[str, str | None] = {
        "RUNPLANE_HOME": str(home),
        "RUNPLANE_SERVER_PORT": "0",
        "RUNPLANE_DATABASE_URL": None,
    }
    env |= {variable: str(path) for variable, path in files.items()}
    result = CliRunner().invoke(app, ["server", "start"], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: {expected}"]
    # Refused before the database is touched.
    assert not (home / "runplane.db").exists()


def test_garbage_pem_stops_the_server_process_without_a_traceback(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    env = {**os.environ, "RUNPLANE_HOME": str(tmp_path), "RUNPLANE_SERVER_PORT": "0"}
    env.pop("RUNPLANE_DATABASE_URL", None)
    env |= {CERT: str(garbage), KEY: str(pki.server.key)}
    command = [sys.executable, "-m", "runplane.cli", "server", "start"]
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 2
    assert "Traceback" not in finished.stderr
    assert finished.stderr.splitlines() == [
        f"error: {CERT}: {garbage} is not a PEM certificate "
        "(expected a '-----BEGIN CERTIFICATE-----' block)"
    ]
