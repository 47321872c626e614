"""Client settings come from RUNPLANE_* variables and never show the API key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from runplane import Settings, get_settings
from runplane._client.settings import Endpoint, parse_api_url

VARIABLES = (
    "RUNPLANE_API_URL",
    "RUNPLANE_API_KEY",
    "RUNPLANE_HOME",
    "RUNPLANE_REQUEST_TIMEOUT",
    "RUNPLANE_TLS_CA_FILE",
    "RUNPLANE_TLS_CERT_FILE",
    "RUNPLANE_TLS_KEY_FILE",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_without_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = get_settings()
    assert settings.api_url is None
    assert settings.api_key is None
    assert settings.home == tmp_path / ".runplane"
    assert settings.request_timeout == 30.0
    assert settings.tls_ca_file is None


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RUNPLANE_API_URL", "https://api.example.com")
    monkeypatch.setenv("RUNPLANE_API_KEY", "k-123")
    monkeypatch.setenv("RUNPLANE_HOME", str(tmp_path))
    monkeypatch.setenv("RUNPLANE_REQUEST_TIMEOUT", "2.5")
    monkeypatch.setenv("RUNPLANE_TLS_CA_FILE", str(tmp_path / "ca.pem"))
    settings = get_settings()
    assert settings.api_url == "https://api.example.com"
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "k-123"
    assert settings.home == tmp_path
    assert settings.request_timeout == 2.5
    assert settings.tls_ca_file == tmp_path / "ca.pem"


def test_api_key_is_not_in_repr_or_str(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPLANE_API_KEY", "very-secret-key")
    settings = get_settings()
    assert "very-secret-key" not in repr(settings)
    assert "very-secret-key" not in str(settings)
    assert "very-secret-key" not in settings.model_dump_json()


def test_empty_api_url_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPLANE_API_URL", "")
    assert get_settings().api_url is None


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("127.0.0.1:4200", Endpoint("127.0.0.1:4200", tls=False)),
        ("localhost", Endpoint("localhost:4200", tls=False)),
        ("grpc://runplane:5000", Endpoint("runplane:5000", tls=False)),
        ("http://runplane:8080/", Endpoint("runplane:8080", tls=False)),
        ("https://api.example.com", Endpoint("api.example.com:443", tls=True)),
        ("HTTPS://api.example.com:8443", Endpoint("api.example.com:8443", tls=True)),
        ("[::1]:4200", Endpoint("[::1]:4200", tls=False)),
    ],
)
def test_api_urls_are_parsed(url: str, endpoint: Endpoint) -> None:
    assert parse_api_url(url) == endpoint


@pytest.mark.parametrize(
    "url", ["ftp://host:21", "host:notaport", "https://host/path", "://", "host:99999"]
)
def test_bad_api_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="api_url"):
        Settings(api_url=url)


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="request_timeout"):
        Settings(request_timeout=0)


def test_client_certificate_needs_its_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="tls_key_file"):
        Settings(tls_cert_file=tmp_path / "cert.pem")
