"""Client settings, read from ``RUNPLANE_*`` environment variables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_DEFAULT_PORTS = {"https": 443, "http": 80, "grpc": 4200, "": 4200}


@dataclass(frozen=True)
class Endpoint:
    """Where a client connects: a gRPC target (``host:port``) and whether to use TLS."""

    target: str
    tls: bool


def parse_api_url(url: str) -> Endpoint:
    """Reads ``host:port`` with an optional ``http://``, ``https://`` or ``grpc://`` scheme.

    ``https`` means TLS. A missing port defaults to 443 for https, 80 for http and 4200 otherwise.
    """
    text = url.strip()
    scheme = ""
    if "://" in text:
        scheme, _, _ = text.partition("://")
        scheme = scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ValueError(f"unsupported scheme {scheme!r} in API URL {url!r}")
    else:
        text = f"grpc://{text}"
    parts = urlsplit(text)
    if not parts.hostname or parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError(f"API URL {url!r} must look like host:port or https://host:port")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError as err:
        raise ValueError(f"API URL {url!r} has an invalid port") from err
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Endpoint(target=f"{host}:{port}", tls=scheme == "https")


def default_home() -> Path:
    """Where runplane keeps its database, results and state when RUNPLANE_HOME is unset."""
    return Path.home() / ".runplane"


class Settings(BaseSettings):
    """How the SDK reaches the runplane API; every field reads ``RUNPLANE_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="RUNPLANE_", extra="ignore", frozen=True)

    api_url: str | None = None
    """``host:port``, optionally with a scheme; unset means the local default server."""
    api_key: SecretStr | None = None
    """Sent as ``authorization: Bearer <key>`` on every call."""
    home: Path = Field(default_factory=default_home)
    """Where runplane keeps local state."""
    request_timeout: float = Field(default=30.0, gt=0)
    """Deadline of each unary call, in seconds."""
    tls_ca_file: Path | None = None
    """PEM root certificates; setting it turns TLS on."""
    tls_cert_file: Path | None = None
    """PEM client certificate chain, for mutual TLS; setting it turns TLS on too. Without
    ``tls_ca_file`` the server's certificate is checked against gRPC's default roots: the
    public CAs it ships, or the file ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` names."""
    tls_key_file: Path | None = None
    """PEM private key of the client certificate."""
    flow_heartbeat_seconds: float = Field(default=10.0, gt=0)
    """How often the engine heartbeats the flow runs no runner holds (a flow called
    directly, subflows); keep it well below the server's heartbeat timeout (90 s)."""
    results_trusted_storage: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Result storages, besides the home's ``results`` folder, that ``state.result()`` may
    read from: storage names such as ``local-file:/shared/results``, comma-separated in the
    environment. A result reference comes from the server, where any client with a key can
    write one, so a storage belongs here only when every writer to it is trusted."""
    console_lines: bool = True
    """Whether runs and ``serve``/``deploy`` say on the console what they do: a flow run's
    name and id when it begins, its final state and how to see its logs when it ends, the
    deployments registered and where. ``RUNPLANE_CONSOLE_LINES=false`` keeps them quiet."""
    results_allow_pickle: bool = True
    """Whether pickled results (``cloudpickle``, ``pickle``) are loaded at all, from trusted
    storages only; off, loading one raises ``UntrustedResult`` and only JSON is read."""

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None:
            parse_api_url(value)
        return value

    @field_validator("results_trusted_storage", mode="before")
    @classmethod
    def _split_storage_names(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("results_trusted_storage")
    @classmethod
    def _check_storage_names(cls, names: list[str]) -> list[str]:
        for name in names:
            scheme, sep, location = name.partition(":")
            if not scheme or not sep or not location:
                raise ValueError(
                    f"result storage name {name!r} must look like '<scheme>:<location>'"
                )
        return names

    @model_validator(mode="after")
    def _check_client_certificate(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file must be set together")
        return self


def get_settings() -> Settings:
    """Reads the settings from the environment as it is now."""
    return Settings()
